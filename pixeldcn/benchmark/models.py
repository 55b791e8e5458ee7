"""The paper's Table 2 protocol on synthetic tensors: whole models, one per up-sampler.

Each model trains for ``iters`` iterations and predicts ``predict_batches`` batches. Models are
visited round-robin (one training step and one prediction batch each per round) so all share the
machine's conditions; the first ``warmup`` rounds are left out and every figure is a median.
Per-iteration medians are then extrapolated to the paper's workload (10 epochs of training,
prediction of 2109 images) and printed in the K40 table's ``XmYs`` format beside the paper's.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..models import VAE, DeepLabResNet, UNet
from ..models.vae import vae_loss
from ..report.paper import PAPER_TABLE2
from ..upsamplers import UPSAMPLERS, build_upsampler
from ..upsamplers.costs import count_macs
from ..utils.timing import Stopwatch, device_description, median

MODELS = ("unet", "deeplab_resnet", "vae")
BASELINES = ("deconv6", "deconv")


@dataclass(frozen=True)
class Workload:
    """The paper's Table 2 workload: 10,000 training iterations (as the NIPS version states it;
    arXiv v4 says "10 epochs" without the split size) and prediction of 2109 images."""

    train_iterations: int = 10_000
    predict_images: int = 2109


@dataclass(frozen=True)
class Setup:
    model: str = "unet"
    width: int = 64
    size: int = 256
    batch_size: int = 8
    num_classes: int = 21
    depth: int = 101  # DeepLab-ResNet backbone
    amp: bool = False
    channels_last: bool = False
    compile: bool = False


def build_model(setup: Setup, upsampler: str) -> nn.Module:
    factory = functools.partial(build_upsampler, upsampler)
    if setup.model == "unet":
        return UNet(setup.num_classes, factory, width=setup.width)
    if setup.model == "deeplab_resnet":
        return DeepLabResNet(setup.num_classes, factory, depth=setup.depth)
    if setup.model == "vae":
        return VAE(factory, image_size=setup.size, width=setup.width)
    raise ValueError(f"unknown model {setup.model!r}; choose one of: {', '.join(MODELS)}")


def _loss_fn(setup: Setup) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    if setup.model == "vae":

        def elbo_loss(model, images, _):
            recon, mu, logvar = model(images)
            return vae_loss(recon, images, mu, logvar)["loss"]

        return elbo_loss
    return lambda model, images, masks: F.cross_entropy(model(images), masks)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=enabled)


def run(
    setup: Setup,
    names: Sequence[str],
    device: torch.device,
    iters: int = 5,
    warmup: int = 2,
    workload: Workload = Workload(),
    seed: int = 0,
) -> dict:
    """Time training steps and prediction batches of ``setup.model`` for every up-sampler in ``names``."""
    unknown = sorted(set(names) - set(UPSAMPLERS))
    if unknown:
        raise ValueError(f"unknown up-sampler(s) {unknown}; valid names: {', '.join(UPSAMPLERS)}")
    torch.manual_seed(seed)
    memory_format = torch.channels_last if setup.channels_last else torch.contiguous_format
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(setup.batch_size, 3, setup.size, setup.size, generator=gen)
    masks = torch.randint(0, setup.num_classes, (setup.batch_size, setup.size, setup.size), generator=gen)
    images, masks = images.to(device, memory_format=memory_format), masks.to(device)
    loss_fn = _loss_fn(setup)

    entries = {}
    for name in names:
        model = build_model(setup, name).to(device, memory_format=memory_format)
        macs = count_macs(model.eval(), (1, 3, setup.size, setup.size))
        entries[name] = {
            "model": model,
            "forward": torch.compile(model) if setup.compile else model,
            "optimizer": torch.optim.Adam(model.parameters(), lr=1e-3),
            "macs_per_image": macs,
            "parameters": sum(p.numel() for p in model.parameters()),
        }

    def train_step(entry):
        entry["model"].train()
        entry["optimizer"].zero_grad(set_to_none=True)
        with _autocast(device, setup.amp):
            loss = loss_fn(entry["forward"], images, masks)
        loss.backward()
        entry["optimizer"].step()

    def predict(entry):
        entry["model"].eval()
        with torch.no_grad(), _autocast(device, setup.amp):
            entry["forward"](images)

    samples = {name: {"train": [], "predict": []} for name in names}
    for round_index in tqdm(range(warmup + iters), desc=f"benchmark {setup.model}", leave=False):
        shift = round_index % len(names)
        for name in [*names[shift:], *names[:shift]]:
            for mode, step in (("train", train_step), ("predict", predict)):
                with Stopwatch(device) as watch:
                    step(entries[name])
                seconds = watch.seconds
                if round_index >= warmup:
                    samples[name][mode].append(seconds)

    train_batches = workload.train_iterations
    predict_batches = math.ceil(workload.predict_images / setup.batch_size)
    results = {}
    for name in names:
        train_iter, predict_batch = median(samples[name]["train"]), median(samples[name]["predict"])
        results[name] = {
            "train_seconds_per_iter": train_iter,
            "predict_seconds_per_batch": predict_batch,
            "train_seconds_extrapolated": train_iter * train_batches,
            "predict_seconds_extrapolated": predict_batch * predict_batches,
            "predict_images_per_second": setup.batch_size / predict_batch,
            "macs_per_image": entries[name]["macs_per_image"],
            "parameters": entries[name]["parameters"],
        }
    for row in results.values():
        for base in BASELINES:
            if base in results:
                row[f"train_vs_{base}"] = row["train_seconds_per_iter"] / results[base]["train_seconds_per_iter"]
                row[f"predict_vs_{base}"] = (
                    row["predict_seconds_per_batch"] / results[base]["predict_seconds_per_batch"]
                )
                row[f"macs_vs_{base}"] = row["macs_per_image"] / results[base]["macs_per_image"]
    return {
        "environment": device_description(device),
        "setup": setup.__dict__,
        "workload": workload.__dict__,
        "iters": iters,
        "warmup": warmup,
        "results": results,
    }


def format_minutes(seconds: float) -> str:
    """The paper's Table 2 format: 365m26s."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def to_markdown(report: dict) -> str:
    """Table 2 as measured, extrapolated to the paper's workload, with the paper's ratios beside."""
    env, setup, work = report["environment"], report["setup"], report["workload"]
    lines = [
        f"{setup['model']} (width {setup['width']}, {setup['size']}x{setup['size']}, batch {setup['batch_size']}"
        f"{', amp' if setup['amp'] else ''}{', channels-last' if setup['channels_last'] else ''}"
        f"{', compiled' if setup['compile'] else ''}) on {env['device_name']} ({env['device']}), torch {env['torch']}; "
        f"median of {report['iters']} iterations after {report['warmup']} warm-up, extrapolated to "
        f"{work['train_iterations']:,} training iterations and {work['predict_images']} predicted images.",
        "",
        "| up-sampler | GMACs/image | training | prediction | train / deconv6 | predict / deconv6 "
        "| train / deconv | predict / deconv | paper train / DCL | paper predict / DCL |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    paper = {row["upsampler"]: row for row in PAPER_TABLE2["rows"]}
    for name, row in report["results"].items():

        def ratio(key, row=row):
            return f"{row[key]:.2f}" if key in row else "—"

        ref = paper.get(name)
        paper_train = f"{ref['train_ratio']:.2f}" if ref else "—"
        paper_predict = f"{ref['predict_ratio']:.2f}" if ref else "—"
        lines.append(
            f"| {name} | {row['macs_per_image'] / 1e9:.2f} | {format_minutes(row['train_seconds_extrapolated'])} "
            f"| {format_minutes(row['predict_seconds_extrapolated'])} | {ratio('train_vs_deconv6')} "
            f"| {ratio('predict_vs_deconv6')} | {ratio('train_vs_deconv')} | {ratio('predict_vs_deconv')} "
            f"| {paper_train} | {paper_predict} |"
        )
    lines += ["", f"Paper (Tesla K40): {PAPER_TABLE2['summary']}"]
    return "\n".join(lines) + "\n"
