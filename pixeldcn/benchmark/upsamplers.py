"""Time every up-sampler at the four decoder shapes of the paper's U-Net.

All layers are timed in one process, round-robin (every round visits every layer and shape), so
they share the machine's conditions; each figure is a median over rounds after warm-up, and
ratios against ``deconv`` and ``deconv6`` come from the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..metrics.checkerboard import checkerboard_score
from ..upsamplers import UPSAMPLERS, build_upsampler
from ..upsamplers.costs import count_macs, count_parameters
from ..utils.timing import device_description, median, time_once

BASELINES = ("deconv", "deconv6")


@dataclass(frozen=True)
class DecoderShape:
    """Input of one U-Net up-sampler: ``channels`` in and out, ``size`` x ``size`` in."""

    channels: int
    size: int

    @property
    def label(self) -> str:
        return f"{self.channels}@{self.size}x{self.size}"


def unet_decoder_shapes(width: int = 64, image_size: int = 256) -> list[DecoderShape]:
    """The paper's U-Net up-samples 8w, 4w, 2w, w channels from 1/16, 1/8, 1/4, 1/2 of the input."""
    return [DecoderShape(width * 2 ** (3 - k), image_size // 2 ** (4 - k)) for k in range(4)]


def smooth_noise(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Random input without high frequencies: noise at 1/4 resolution, bilinearly enlarged."""
    n, c, h, w = shape
    coarse = torch.randn(n, c, max(1, h // 4), max(1, w // 4), generator=generator)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def _forward_backward(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    module(x).backward(grad)


def run(
    names: Sequence[str],
    device: torch.device,
    width: int = 64,
    image_size: int = 256,
    batch_size: int = 1,
    warmup: int = 2,
    repeats: int = 5,
    seed: int = 0,
) -> dict:
    """Benchmark ``names`` (must include the baselines for ratios); returns a JSON-ready dict."""
    unknown = sorted(set(names) - set(UPSAMPLERS))
    if unknown:
        raise ValueError(f"unknown up-sampler(s) {unknown}; valid names: {', '.join(UPSAMPLERS)}")
    torch.manual_seed(seed)
    shapes = unet_decoder_shapes(width, image_size)
    gen = torch.Generator().manual_seed(seed)
    inputs = {s: torch.randn(batch_size, s.channels, s.size, s.size, generator=gen).to(device) for s in shapes}
    grads = {s: torch.randn(batch_size, s.channels, 2 * s.size, 2 * s.size, generator=gen).to(device) for s in shapes}
    modules = {(n, s): build_upsampler(n, s.channels, s.channels).to(device) for n in names for s in shapes}

    def forward(key):
        module, x = modules[key], inputs[key[1]]

        def call():
            with torch.no_grad():
                module(x)

        return call

    def train_step(key):
        module, x = modules[key], inputs[key[1]].detach().requires_grad_(True)
        return lambda: _forward_backward(module, x, grads[key[1]])

    timed = {"forward": forward, "forward_backward": train_step}
    samples = {(mode, key): [] for mode in timed for key in modules}
    for round_index in tqdm(range(warmup + repeats), desc="bench rounds", leave=False):
        # Rotate the visiting order each round so no layer always runs right after the same one.
        order = list(modules)[round_index % len(modules) :] + list(modules)[: round_index % len(modules)]
        for key in order:
            for mode, make in timed.items():
                seconds = time_once(make(key), device)
                if round_index >= warmup:
                    samples[(mode, key)].append(seconds)

    results = {}
    for name in names:
        per_shape = {
            s.label: {mode: median(samples[(mode, (name, s))]) for mode in timed} for s in shapes
        }
        module = modules[(name, shapes[-1])]
        probe = smooth_noise((1, shapes[-1].channels, shapes[-1].size, shapes[-1].size), gen).to(device)
        with torch.no_grad():
            score = checkerboard_score(module(probe).float().cpu())
        results[name] = {
            "per_shape_seconds": per_shape,
            "forward_seconds": sum(v["forward"] for v in per_shape.values()),
            "forward_backward_seconds": sum(v["forward_backward"] for v in per_shape.values()),
            "parameters": sum(count_parameters(modules[(name, s)]) for s in shapes),
            "macs": sum(count_macs(modules[(name, s)], (1, s.channels, s.size, s.size)) for s in shapes) * batch_size,
            "checkerboard_at_init": score,
        }
    for name, row in results.items():
        for base in BASELINES:
            if base in results:
                for mode in ("forward", "forward_backward"):
                    row[f"{mode}_vs_{base}"] = row[f"{mode}_seconds"] / results[base][f"{mode}_seconds"]
                row[f"macs_vs_{base}"] = row["macs"] / results[base]["macs"]
    return {
        "environment": device_description(device),
        "config": {
            "width": width, "image_size": image_size, "batch_size": batch_size,
            "warmup": warmup, "repeats": repeats, "shapes": [s.label for s in shapes],
        },  # fmt: skip
        "results": results,
    }


def to_markdown(report: dict) -> str:
    """The summary table: times summed over the four decoder shapes, ratios, checkerboard score."""
    env, cfg = report["environment"], report["config"]
    lines = [
        f"Up-samplers of the U-Net decoder (width {cfg['width']}, {cfg['image_size']}x{cfg['image_size']} input, "
        f"batch {cfg['batch_size']}; shapes {', '.join(cfg['shapes'])}) on {env['device_name']} "
        f"({env['device']}, {env['cpu_threads']} threads), torch {env['torch']}; "
        f"medians of {cfg['repeats']} rounds after {cfg['warmup']} warm-up.",
        "",
        "| up-sampler | params | GMACs | fwd ms | fwd+bwd ms | fwd+bwd / deconv | fwd+bwd / deconv6 "
        "| MACs / deconv6 | checkerboard at init |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in report["results"].items():
        def ratio(key):
            return f"{row[key]:.2f}" if key in row else "—"

        lines.append(
            f"| {name} | {row['parameters']:,} | {row['macs'] / 1e9:.2f} | {row['forward_seconds'] * 1e3:.1f} "
            f"| {row['forward_backward_seconds'] * 1e3:.1f} | {ratio('forward_backward_vs_deconv')} "
            f"| {ratio('forward_backward_vs_deconv6')} | {ratio('macs_vs_deconv6')} | {row['checkerboard_at_init']:.3f} |"
        )
    return "\n".join(lines) + "\n"
