"""Run directories written file by file, in the formats a run writes them (see /tmp smoke runs)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# The composed configuration of a Table 1 offline run, as .hydra/config.yaml holds it
# (interpolations unresolved).
BASE_CONFIG: dict[str, Any] = {
    "dataset": {"_target_": "pixeldcn.data.FashionScenes", "root": "${paths.data_dir}/fashion", "image_size": 64,
                "num_samples": 2000},
    "task": {"_target_": "pixeldcn.tasks.SegmentationTask", "num_vis_images": 8},
    "model": {"_target_": "pixeldcn.models.UNet", "in_channels": 1, "width": 16, "decoder_conv": "conv"},
    "upsampler": {"_target_": "pixeldcn.upsamplers.build_upsampler", "_partial_": True, "_args_": ["pixeldcl"],
                  "impl": "fast"},
    "trainer": {"max_epochs": 6, "max_steps": None, "limit_train_batches": None, "batch_size": 16, "num_workers": 0,
                "device": "auto", "deterministic": "auto", "log_every_n_steps": 10, "timing_warmup_iters": 5,
                "progress_bar": True, "precision": 32, "channels_last": False, "compile": False,
                "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.001}, "scheduler": None},
    "paths": {"data_dir": "${oc.env:PIXELDCN_DATA,${hydra:runtime.cwd}/data}", "log_dir": "outputs",
              "output_dir": "${hydra:runtime.output_dir}"},
    "mode": "train", "ckpt_path": None, "resume": None, "seed": 0,
    "eval": {"split": "val", "batch_size": "${trainer.batch_size}", "num_batches": None, "num_images": 1000},
}  # fmt: skip
STEPS_PER_EPOCH = 125


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def write_run(
    root: Path,
    name: str,
    upsampler: str = "pixeldcl",
    seed: int = 0,
    *,
    mean_iou: float = 0.5,
    pixel_acc: float = 0.9,
    dataset: str = "fashion_scenes",
    model: str = "unet",
    experiment: str | None = "table1_offline",
    debug: str | None = None,
    mode: str = "train",
    settings: dict[str, Any] | None = None,
    epochs: int | None = None,
    extra_metrics: dict[str, float] | None = None,
    final: bool = True,
    iteration_s: float = 0.1,
    images_per_s: float = 50.0,
    device_name: str = "test-cpu",
    status: dict | None = None,
    hydra: bool = True,
    record_choices: bool = True,
) -> Path:
    """A run directory as ``python train.py`` leaves it: metrics.json, timing.json, .hydra/.

    ``settings``: dotted overrides of :data:`BASE_CONFIG`; ``epochs``: epochs in the history
    (default: the configured ``trainer.max_epochs``; none for ``mode=eval``); ``final=False``:
    no final evaluation yet; ``hydra=False``: no .hydra/ (a hydra.compose run); ``record_choices=False``:
    null group choices in metrics.json (as a hydra.compose run records them).
    """
    run_dir = root / name
    config = OmegaConf.create(copy.deepcopy(BASE_CONFIG))
    config.upsampler._args_ = [upsampler]
    config.seed, config.mode = seed, mode
    for key, value in (settings or {}).items():
        OmegaConf.update(config, key, value, force_add=True)
    if epochs is None:
        epochs = 0 if mode == "eval" else config.trainer.max_epochs
    history = [{"epoch": e, "complete": True, "step": e * STEPS_PER_EPOCH, "train": {"loss": 1.0 / e}}
               for e in range(1, epochs + 1)]  # fmt: skip
    choices = {"dataset": dataset, "model": model, "upsampler": upsampler, "task": "segmentation",
               "experiment": experiment, "debug": debug}  # fmt: skip
    run = {**(choices if record_choices else dict.fromkeys(choices)), "mode": mode, "seed": seed,
           "run_dir": str(run_dir)}  # fmt: skip
    summary = {"split": "val", "checkpoint": "best.pt" if mode == "train" else f"/runs/{name}/best.pt", "epoch": 1,
               "num_images": 1000, "pixel_acc": pixel_acc, "mean_iou": mean_iou, "per_class_iou": [0.1, 0.2],
               **(extra_metrics or {})}  # fmt: skip
    write_json(run_dir / "metrics.json", {"run": run, "final": summary if final else None, "best": None,
                                          "history": history})  # fmt: skip
    if final:
        train = {"epochs": epochs, "steps": epochs * STEPS_PER_EPOCH, "total_s": 100 * iteration_s,
                 "iteration_s_median": iteration_s}  # fmt: skip
        write_json(run_dir / "timing.json", {
            "device": "cpu", "device_name": device_name, "batch_size": config.trainer.batch_size,
            "train": train if mode == "train" else None,
            "predict": {"split": "val", "num_images": 1000, "total_s": 1000 / images_per_s,
                        "images_per_s": images_per_s},
        })  # fmt: skip
    if hydra:
        (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, run_dir / ".hydra" / "config.yaml")
        hydra_node = {"hydra": {"mode": "RUN", "runtime": {"output_dir": str(run_dir), "choices": {
            **choices, "hydra": "default", "trainer": "default"}}}}  # fmt: skip
        OmegaConf.save(OmegaConf.create(hydra_node), run_dir / ".hydra" / "hydra.yaml")
    if status is not None:
        write_json(run_dir / "status.json", status)
    return run_dir
