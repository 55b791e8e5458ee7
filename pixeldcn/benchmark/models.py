"""The paper's Table 2 protocol on the code that trains: whole models, one per up-sampler.

Each configuration is composed from ``configs/`` exactly as ``train.py`` composes it (the same
groups and overrides: ``upsampler=...``, ``model.width=...``, ``dataset.image_size=...``,
``trainer.precision=...``) and built by the engine's builders: the model, the task (its loss,
``ignore_index`` included), the optimizer of ``trainer.optimizer`` and the :class:`Trainer` with
its precision handling (autocast, the fp16 gradient scaler), channels-last and compile settings.
What is timed is the trainer's own training step and prediction call, on synthetic tensors shaped
like the configured dataset's samples, so no data is read.

Models are visited round-robin by :func:`~pixeldcn.benchmark.harness.round_robin` (one training
step and one prediction batch each per round, and the roofline's two dense kernels); the first
``warmup`` rounds are left out and every figure is a median. Each ratio to a baseline is also taken
round by round, with a 95 % confidence interval for its median
(:func:`~pixeldcn.benchmark.harness.paired_ratio`). Per-iteration medians are then
extrapolated to the paper's workload (10,000 training iterations, prediction of 2109 images) and
printed in the K40 table's ``XmYs`` format beside the paper's ratios.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from .. import config as _registers_schema_and_resolvers  # noqa: F401
from ..data.palette import pascal_palette
from ..engine.seed import configure_determinism
from ..report.paper import PAPER_TABLE2
from ..upsamplers import UPSAMPLERS
from ..utils.duration import format_minutes
from ..utils.host_memory import keep_freed_host_memory
from ..utils.timing import device_description, median
from . import engine_steps
from .costs import count_flops, count_macs, count_parameters
from .harness import add_ratios, device_timer, paired_ratio, round_robin, spread
from .machine import (
    ceiling,
    ceiling_calls,
    ceiling_markdown,
    ceiling_tasks,
    default_matmul_size,
    finish_load_watch,
    gflops,
    load_markdown,
    start_load_watch,
)
from .upsampler_share import clock_upsamplers

BASELINES = ("deconv6", "deconv")
# Models timed on the synthetic stand-in, with the dataset whose configuration (image size) they
# take by default: the paper's Table 2 runs U-Net on PASCAL VOC; the VAE is the paper's CelebA one.
MODEL_DATASETS = {"unet": "voc", "deeplab_resnet": "voc", "vae": "celeba"}
PRECISION_DTYPES = {"32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Where a result row keeps its up-samplers' share of the training step, and the columns shown of it.
SHARE_KEY = "upsamplers_in_training_step"
SHARE_COLUMNS = ("step_seconds", "upsampler_forward_seconds", "upsampler_backward_seconds", "rest_seconds")


@dataclass(frozen=True)
class Workload:
    """The paper's Table 2 workload: 10,000 training iterations (as the NIPS version states it;
    arXiv v4 says "10 epochs" without the split size) and prediction of 2109 images."""

    train_iterations: int = 10_000
    predict_images: int = 2109


@dataclass(frozen=True)
class Setup:
    """What is benchmarked; ``None`` keeps the composed configuration's value."""

    model: str = "unet"
    width: int | None = None
    size: int | None = None
    batch_size: int | None = None
    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    num_classes: int = 21  # PASCAL VOC's, as in the paper's Table 2

    def overrides(self, upsampler: str, device: torch.device) -> list[str]:
        """The ``train.py`` overrides of this setup for ``upsampler`` on ``device``."""
        if self.model not in MODEL_DATASETS:
            raise ValueError(f"unknown model {self.model!r}; choose one of: {', '.join(MODEL_DATASETS)}")
        chosen = {
            "model.width": self.width,
            "dataset.image_size": self.size,
            "trainer.batch_size": self.batch_size,
        }
        return [
            f"dataset={MODEL_DATASETS[self.model]}",
            f"model={self.model}",
            f"upsampler={upsampler}",
            f"trainer.device={device}",
            f"trainer.precision={self.precision}",
            f"trainer.channels_last={str(self.channels_last).lower()}",
            f"trainer.compile={str(self.compile).lower()}",
            "trainer.progress_bar=false",
            *(f"{key}={value}" for key, value in chosen.items() if value is not None),
        ]


def compose_config(config_dir: Path, overrides: Sequence[str]) -> DictConfig:
    """``configs/train.yaml`` with ``overrides``, composed as ``train.py`` composes it (with the
    schema and resolvers that importing :mod:`pixeldcn.config` registers)."""
    with initialize_config_dir(str(Path(config_dir).resolve()), version_base="1.3"):
        return compose("train", overrides=list(overrides))


class SyntheticImages:
    """A stand-in for the configured dataset: its labels' description and random batches of its shape.

    Segmentation tasks read ``num_classes``, ``class_names``, ``palette`` and ``ignore_index``;
    generation tasks ``channels`` and ``image_size``. Masks hold random classes with about one
    pixel in ten set to ``ignore_index``, so the loss's ignored pixels are exercised.
    """

    ignore_index = 255

    def __init__(self, image_size: int, channels: int = 3, num_classes: int = 21) -> None:
        self.image_size = image_size
        self.channels = channels
        self.num_classes = num_classes
        self.class_names = [f"class {index}" for index in range(num_classes)]
        self.palette = pascal_palette(num_classes)

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        size = (batch_size, self.image_size, self.image_size)
        images = torch.rand(batch_size, self.channels, self.image_size, self.image_size, generator=generator)
        masks = torch.randint(0, self.num_classes, size, generator=generator)
        masks[torch.rand(size, generator=generator) < 0.1] = self.ignore_index
        return images, masks


@contextlib.contextmanager
def kernels_as_in_training(device: torch.device, mode: bool | str) -> Iterator[bool]:
    """The kernel choice ``train.py`` makes for ``trainer.deterministic`` (on GPUs by default: cuDNN
    autotuning, non-deterministic kernels), put back as it was afterwards; yields whether deterministic."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    try:
        yield configure_determinism(device, mode)
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]


def run(
    config_dir: Path,
    setup: Setup,
    names: Sequence[str],
    device: torch.device,
    iters: int = 5,
    warmup: int = 2,
    workload: Workload = Workload(),
    seed: int = 0,
    matmul_size: int | None = None,
    extra_overrides: Sequence[str] = (),
    progress: bool = True,
    share_rounds: int = 3,
) -> dict:
    """Time the trainer's training step and prediction of ``setup`` for every up-sampler in ``names``;
    then ``share_rounds`` more training steps per model with its up-samplers clocked inside the step
    (:mod:`~pixeldcn.benchmark.upsampler_share`; 0 skips them)."""
    unknown = sorted(set(names) - set(UPSAMPLERS))
    if unknown:
        raise ValueError(f"unknown up-sampler(s) {unknown}; valid names: {', '.join(UPSAMPLERS)}")
    started = time.perf_counter()
    keep_freed_host_memory()  # as train.py does: freed tensors are reused, not faulted in again
    load = start_load_watch()
    generator = torch.Generator().manual_seed(seed)
    with tempfile.TemporaryDirectory(prefix="pixeldcn-bench-") as scratch:
        # No data is read and no run is written: the paths only need to resolve.
        paths = [f"paths.data_dir={scratch}", f"paths.output_dir={scratch}"]
        configs = {
            name: compose_config(config_dir, [*setup.overrides(name, device), *paths, *extra_overrides])
            for name in names
        }
        composed = configs[names[0]]
        batch_size, image_size = int(composed.trainer.batch_size), int(composed.dataset.image_size)
        dataset = SyntheticImages(image_size, num_classes=setup.num_classes)
        batch = dataset.batch(batch_size, generator)
        with kernels_as_in_training(device, composed.trainer.deterministic) as deterministic:
            tasks: dict[Any, Any] = {}
            facts = {}
            steps = {}
            for name, cfg in configs.items():
                torch.manual_seed(seed)  # the same initialisation of the shared layers for every up-sampler
                steps[name] = step = engine_steps.build(cfg, dataset, Path(scratch) / name, batch)
                tasks[(name, "train")], tasks[(name, "predict")] = step.train, step.predict
                facts[name] = {
                    "parameters": count_parameters(step.model),
                    "macs_per_image": count_macs(step.model.eval(), (1, dataset.channels, image_size, image_size)),
                    # Counted on the eager model: the compiled one runs the same operations.
                    "train_flops": count_flops(step.eager_train),
                    "predict_flops": count_flops(step.predict),
                }
            dtype = PRECISION_DTYPES[setup.precision]
            matmul_size = matmul_size or default_matmul_size(device)
            candidates = ceiling_tasks(device, matmul_size, dtype)
            tasks |= ceiling_calls(candidates)
            samples = round_robin(tasks, iters, warmup, device_timer(device), f"benchmark {setup.model}", progress)
            # On the eager model, whose modules the hooks see (a compiled step would break its graph there).
            eager_steps = {name: (step.model, step.eager_train) for name, step in steps.items()}
            shares = clock_upsamplers(eager_steps, device, share_rounds, progress) if share_rounds > 0 else {}
    peak = ceiling(candidates, samples, matmul_size, dtype)
    results = summarize(
        {name: {mode: samples[(name, mode)] for mode in ("train", "predict")} for name in names},
        facts,
        batch_size,
        workload,
        peak["gflops_per_s"],
    )
    for name, share in shares.items():
        results[name][SHARE_KEY] = share
    return {
        "environment": device_description(device),
        "setup": {**asdict(setup), "width": composed.model.get("width"), "size": image_size, "batch_size": batch_size},
        "optimizer": dict(composed.trainer.optimizer),
        "overrides": [*setup.overrides("<name>", device), *extra_overrides],
        "workload": asdict(workload),
        "iters": iters,
        "warmup": warmup,
        "deterministic": deterministic,
        "peak": peak,
        "load": finish_load_watch(load, peak).as_dict(),
        "duration_s": time.perf_counter() - started,
        "results": results,
    }


def summarize(
    samples: Mapping[str, Mapping[str, Sequence[float]]],
    facts: Mapping[str, Mapping[str, float]],
    batch_size: int,
    workload: Workload,
    peak_gflops: float,
) -> dict[str, dict[str, Any]]:
    """Per up-sampler: medians of its ``train`` / ``predict`` samples (seconds), their extrapolation to
    ``workload``, achieved GFLOP/s against ``peak_gflops``, and ratios to the baselines present."""
    predict_batches = math.ceil(workload.predict_images / batch_size)
    results = {}
    for name, timings in samples.items():
        train, predict = median(list(timings["train"])), median(list(timings["predict"]))
        fact = facts[name]
        results[name] = {
            "train_seconds_per_iter": train,
            "train_seconds_range": spread(timings["train"]),
            "predict_seconds_per_batch": predict,
            "predict_seconds_range": spread(timings["predict"]),
            "train_seconds_extrapolated": train * workload.train_iterations,
            "predict_seconds_extrapolated": predict * predict_batches,
            "predict_images_per_second": batch_size / predict,
            "train_gflops_per_s": gflops(fact["train_flops"], train),
            "predict_gflops_per_s": gflops(fact["predict_flops"], predict),
            "train_percent_of_peak": 100 * gflops(fact["train_flops"], train) / peak_gflops,
            "predict_percent_of_peak": 100 * gflops(fact["predict_flops"], predict) / peak_gflops,
            **fact,
        }
    measures = {"train": "train_seconds_per_iter", "predict": "predict_seconds_per_batch", "macs": "macs_per_image"}
    add_ratios(results, measures, BASELINES)
    for name, row in results.items():
        for base in (base for base in BASELINES if base in samples and base != name):
            for mode in ("train", "predict"):
                row[f"{mode}_vs_{base}_paired"] = paired_ratio(samples[name][mode], samples[base][mode])
    return results


def to_markdown(report: dict) -> str:
    """Table 2 as measured, extrapolated to the paper's workload, with the paper's ratios beside."""
    env, setup, work, peak = report["environment"], report["setup"], report["workload"], report["peak"]
    options = [
        f"precision {setup['precision']}",
        *(["channels-last"] if setup["channels_last"] else []),
        *(["compiled"] if setup["compile"] else []),
    ]
    lines = [
        f"{setup['model']} (width {setup['width']}, {setup['size']}x{setup['size']}, batch {setup['batch_size']}, "
        f"{', '.join(options)}) on {env['device_name']} ({env['device']}, {env['cpu_threads']} threads), "
        f"torch {env['torch']}; the trainer's training step and prediction, median of {report['iters']} "
        f"round-robin rounds after {report['warmup']} warm-up, extrapolated to {work['train_iterations']:,} "
        f"training iterations and {work['predict_images']} predicted images.",
        "",
        "| up-sampler | GMACs/image | training | prediction | train GFLOP/s | train % peak "
        "| train / deconv6 | predict / deconv6 | train / deconv | predict / deconv "
        "| paper train / DCL | paper predict / DCL |",
        "|---|" + "---:|" * 11,
    ]
    paper = {row["upsampler"]: row for row in PAPER_TABLE2["rows"]}
    for name, row in report["results"].items():

        def shown(key: str, row: dict = row) -> str:
            return f"{row[key]:.2f}" if key in row else "—"

        ref = paper.get(name)
        paper_train = f"{ref['train_ratio']:.2f}" if ref else "—"
        paper_predict = f"{ref['predict_ratio']:.2f}" if ref else "—"
        lines.append(
            f"| {name} | {row['macs_per_image'] / 1e9:.2f} | {format_minutes(row['train_seconds_extrapolated'])} "
            f"| {format_minutes(row['predict_seconds_extrapolated'])} | {row['train_gflops_per_s']:.1f} "
            f"| {row['train_percent_of_peak']:.0f} | {shown('train_vs_deconv6')} | {shown('predict_vs_deconv6')} "
            f"| {shown('train_vs_deconv')} | {shown('predict_vs_deconv')} | {paper_train} | {paper_predict} |"
        )
    lines += ["", *_paired_ratio_table(report["results"]), *_share_table(report["results"])]
    lines += ["", f"Paper (Tesla K40): {PAPER_TABLE2['summary']}"]
    lines += [
        f"{ceiling_markdown(peak)} Run time {format_minutes(report['duration_s'])}.",
        load_markdown(report["load"]),
    ]
    return "\n".join(lines) + "\n"


def _share_table(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each model's up-samplers inside its training step, and the rest of the step."""
    shares = {name: row[SHARE_KEY] for name, row in results.items() if SHARE_KEY in row}
    if not shares:
        return []
    steps = next(iter(shares.values()))["steps"]
    lines = [
        "",
        f"The up-samplers inside the training step: {steps} more steps per model (eager, models in turn), "
        "each up-sampling layer's forward and backward timed by hooks that synchronise at every mark; "
        "medians, ms (the rest: the step less its up-samplers).",
        "",
        "| up-sampler | layers | step | up-samplers forward | up-samplers backward | rest of the step "
        "| up-samplers' share |",
        "|---|" + "---:|" * 6,
    ]
    for name, share in shares.items():
        times = " | ".join(f"{share[key] * 1e3:.1f}" for key in SHARE_COLUMNS)
        lines.append(f"| {name} | {share['layers']} | {times} | {100 * share['upsampler_share']:.0f} % |")
    return lines


def _paired_ratio_table(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The ratios to the baselines taken round by round: median and 95 % interval of the median."""
    columns = [(mode, base) for base in BASELINES for mode in ("train", "predict")]
    rows = [name for name, row in results.items() if any(f"{m}_vs_{b}_paired" in row for m, b in columns)]
    if not rows:
        return []

    def cell(row: Mapping[str, Any], mode: str, base: str) -> str:
        paired = row.get(f"{mode}_vs_{base}_paired")
        if paired is None:
            return "—"
        if paired["interval"] is None:
            return f"{paired['median']:.3f} (not enough rounds for an interval)"
        low, high = paired["interval"]
        return f"{paired['median']:.3f} [{low:.3f}, {high:.3f}]"

    lines = [
        "Ratios taken round by round (each model's step over the baseline's in the same round): median "
        "[95 % confidence interval of the median].",
        "",
        "| up-sampler | " + " | ".join(f"{mode} / {base}" for mode, base in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [f"| {name} | " + " | ".join(cell(results[name], m, b) for m, b in columns) + " |" for name in rows]
    return lines
