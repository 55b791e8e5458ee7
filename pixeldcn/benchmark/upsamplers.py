"""Time up-samplers and same-size convolutions at the decoder shapes of the U-Nets.

Three families, each timed at its own shapes and compared with its own baselines:

* 2D up-samplers (``UPSAMPLERS``) at the four up-sampling inputs of the paper's U-Net,
  against ``deconv`` and ``deconv6``;
* 3D up-samplers (``UPSAMPLERS_3D``) at the up-sampling inputs of a ``UNet3D``, against ``deconv3d``;
* same-size convolutions (``pixeldcn.convs.CONVS``: ``conv``, ``pixelcl``) at the resolution the
  U-Net decoder's convolutions run at (C -> C at twice each up-sampler's input), against ``conv``.

All layers are timed in one process by :func:`~pixeldcn.benchmark.harness.round_robin` (every
round visits every layer and shape, and the roofline's dense kernels), so they share the machine's
conditions; each figure is a median over rounds after warm-up, and ratios against the baselines
come from the same run. Beside the times: each layer's achieved GFLOP/s (FLOPs counted on the
operations it runs) against the faster dense kernel's, the roofline's ceiling; the overlap of each
deconvolution's taps (:mod:`~pixeldcn.benchmark.overlap`); the load average around the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..convs import CONVS, build_conv
from ..metrics.checkerboard import checkerboard_score
from ..upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler
from ..utils.duration import format_minutes
from ..utils.host_memory import keep_freed_host_memory
from ..utils.timing import device_description, median
from .costs import count_flops, count_macs, count_parameters
from .harness import add_ratios, device_timer, round_robin, spread
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
from .overlap import is_deconvolution, overlap

BASELINES = ("deconv", "deconv6")


@dataclass(frozen=True)
class DecoderShape:
    """Input of one decoder layer: ``channels`` in and out, ``size`` along each of ``dims`` axes."""

    channels: int
    size: int
    dims: int = 2

    @property
    def label(self) -> str:
        return f"{self.channels}@{'x'.join([str(self.size)] * self.dims)}"

    def input_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size, self.channels, *[self.size] * self.dims)


@dataclass(frozen=True)
class Family:
    """Layers timed at the same shapes and compared with the same baselines (the last one for MACs)."""

    key: str
    column: str  # heading of the name column in its Markdown table
    names: tuple[str, ...]
    baselines: tuple[str, ...]
    build: Callable[..., nn.Module]  # (name, channels, **options) -> layer mapping channels to channels
    output_scale: int  # output size / input size along each axis


def _channels_to_channels(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """``builder(name, in, out, **options)`` as ``(name, channels, **options)``, keeping the width."""
    return lambda name, channels, **options: builder(name, channels, channels, **options)


FAMILIES = (
    Family("2d", "up-sampler", tuple(UPSAMPLERS), BASELINES, _channels_to_channels(build_upsampler), 2),
    Family("3d", "up-sampler", tuple(UPSAMPLERS_3D), ("deconv3d",), _channels_to_channels(build_upsampler), 2),
    Family("conv", "convolution", tuple(CONVS), ("conv",), _channels_to_channels(build_conv), 1),
)
ALL_NAMES = tuple(name for family in FAMILIES for name in family.names)


def split_variant(label: str) -> tuple[str, dict[str, str]]:
    """``"pixeldcl:two_tap"`` -> ``("pixeldcl", {"impl": "two_tap"})``: a layer in another of its
    forms, timed beside the default one (a plain name builds the default form)."""
    name, _, impl = label.partition(":")
    return name, ({"impl": impl} if impl else {})


def unet_decoder_shapes(width: int = 64, image_size: int = 256) -> list[DecoderShape]:
    """The paper's U-Net up-samples 8w, 4w, 2w, w channels from 1/16, 1/8, 1/4, 1/2 of the input."""
    return [DecoderShape(width * 2 ** (3 - k), image_size // 2 ** (4 - k)) for k in range(4)]


def unet3d_decoder_shapes(width: int = 16, volume_size: int = 64, depth: int = 4) -> list[DecoderShape]:
    """``UNet3D(width, depth)`` up-samples ``2^(depth-1) w, ..., w`` channels from ``1/2^depth, ..., 1/2`` of
    the side."""
    return [DecoderShape(width * 2 ** (depth - 1 - k), volume_size // 2 ** (depth - k), dims=3) for k in range(depth)]


def decoder_conv_shapes(width: int = 64, image_size: int = 256) -> list[DecoderShape]:
    """Where the U-Net decoder's 3x3 convolutions run: each up-sampler's channels at its output size."""
    return [DecoderShape(s.channels, 2 * s.size) for s in unet_decoder_shapes(width, image_size)]


def baselines_for(names: Sequence[str]) -> list[str]:
    """The baselines of every family that ``names`` (plain or ``name:impl``) draws from, in family order."""
    layers = {split_variant(name)[0] for name in names}
    return [base for family in FAMILIES if layers & set(family.names) for base in family.baselines]


def smooth_noise(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Random input without high frequencies: noise at 1/4 resolution, (bi/tri)linearly enlarged."""
    n, c, *sizes = shape
    coarse = torch.randn(n, c, *[max(1, s // 4) for s in sizes], generator=generator)
    mode = "bilinear" if len(sizes) == 2 else "trilinear"
    return F.interpolate(coarse, size=tuple(sizes), mode=mode, align_corners=False)


def _as_images(y: torch.Tensor) -> torch.Tensor:
    """Volumes N x C x D x H x W as N*D images C x H x W (the checkerboard score is in-plane)."""
    return y if y.dim() == 4 else y.transpose(1, 2).flatten(0, 1)


MODES = ("forward", "forward_backward")


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
    width_3d: int = 16,
    volume_size: int = 64,
    depth_3d: int = 4,
    matmul_size: int | None = None,
    progress: bool = True,
) -> dict:
    """Benchmark ``names`` (must include their families' baselines for ratios); returns a JSON-ready dict.

    A name may select one of the layer's forms, ``name:impl`` (``split_variant``), to time it beside the default.

    2D up-samplers run at ``unet_decoder_shapes(width, image_size)``, convolutions at
    ``decoder_conv_shapes(width, image_size)`` and 3D up-samplers at
    ``unet3d_decoder_shapes(width_3d, volume_size, depth_3d)``; the roofline's dense kernels are a
    ``matmul_size`` square matrix product (default :func:`default_matmul_size`) and a 3x3
    convolution of a quarter as many channels (:func:`~pixeldcn.benchmark.machine.ceiling_tasks`).
    """
    unknown = sorted(label for label in names if split_variant(label)[0] not in ALL_NAMES)
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; valid names: {', '.join(ALL_NAMES)}")
    started = time.perf_counter()
    keep_freed_host_memory()  # as train.py does: freed tensors are reused, not faulted in again
    load = start_load_watch()
    torch.manual_seed(seed)
    family_shapes = {
        "2d": unet_decoder_shapes(width, image_size),
        "3d": unet3d_decoder_shapes(width_3d, volume_size, depth_3d),
        "conv": decoder_conv_shapes(width, image_size),
    }
    family_of = {label: family for family in FAMILIES for label in names if split_variant(label)[0] in family.names}
    gen = torch.Generator().manual_seed(seed)
    modules, inputs, grads = {}, {}, {}
    for name in names:
        family = family_of[name]
        for s in family_shapes[family.key]:
            if s not in inputs:
                inputs[s] = torch.randn(s.input_shape(batch_size), generator=gen).to(device)
            out_shape = (batch_size, s.channels, *[family.output_scale * s.size] * s.dims)
            if (family.output_scale, s) not in grads:
                grads[(family.output_scale, s)] = torch.randn(out_shape, generator=gen).to(device)
            layer, options = split_variant(name)
            modules[(name, s)] = family.build(layer, s.channels, **options).to(device)

    def forward(key):
        module, x = modules[key], inputs[key[1]]

        @torch.no_grad()
        def call():
            module(x)

        return call

    def train_step(key):
        module, x = modules[key], inputs[key[1]].detach().requires_grad_(True)
        grad = grads[(family_of[key[0]].output_scale, key[1])]
        return lambda: _forward_backward(module, x, grad)

    tasks: dict = {(mode, key): make(key) for key in modules for mode, make in zip(MODES, (forward, train_step))}
    flops = {task_key: count_flops(call) for task_key, call in tasks.items()}
    matmul_size = matmul_size or default_matmul_size(device)
    candidates = ceiling_tasks(device, matmul_size)
    tasks |= ceiling_calls(candidates)
    samples = round_robin(tasks, repeats, warmup, device_timer(device), "bench rounds", progress)
    peak = ceiling(candidates, samples, matmul_size)

    results = {}
    for name in names:
        family = family_of[name]
        shapes = family_shapes[family.key]
        keys = [(name, s) for s in shapes]
        per_shape = {key[1].label: {mode: median(samples[(mode, key)]) for mode in MODES} for key in keys}
        row = {"family": family.key, "per_shape_seconds": per_shape}
        for mode in MODES:
            seconds = sum(v[mode] for v in per_shape.values())
            # The same rounds' samples summed over the shapes: the range of the layer's total.
            totals = [sum(round_samples) for round_samples in zip(*(samples[(mode, key)] for key in keys))]
            mode_flops = sum(flops[(mode, key)] for key in keys)
            row |= {
                f"{mode}_seconds": seconds,
                f"{mode}_seconds_range": spread(totals),
                f"{mode}_flops": mode_flops,
                f"{mode}_gflops_per_s": gflops(mode_flops, seconds),
                f"{mode}_percent_of_peak": 100 * gflops(mode_flops, seconds) / peak["gflops_per_s"],
            }
        module = modules[keys[-1]]
        probe = smooth_noise(shapes[-1].input_shape(1), gen).to(device)
        with torch.no_grad():
            score = checkerboard_score(_as_images(module(probe)).float().cpu())
        taps = overlap(split_variant(name)[0]) if family.key != "conv" and is_deconvolution(module) else None
        results[name] = row | {
            "parameters": sum(count_parameters(modules[key]) for key in keys),
            "macs": sum(count_macs(modules[(name, s)], s.input_shape(1)) for s in shapes) * batch_size,
            "checkerboard_at_init": score,
            "overlap": None
            if taps is None
            else {"min_taps": taps.min_taps, "max_taps": taps.max_taps, "even": taps.even},
        }
    for family in FAMILIES:
        measures = {"forward": "forward_seconds", "forward_backward": "forward_backward_seconds", "macs": "macs"}
        add_ratios(results, measures, family.baselines, names=[name for name in results if family_of[name] is family])
    return {
        "environment": device_description(device),
        "config": {
            "width": width,
            "image_size": image_size,
            "batch_size": batch_size,
            "warmup": warmup,
            "repeats": repeats,
            "shapes": [s.label for s in family_shapes["2d"]],
            "width_3d": width_3d,
            "volume_size": volume_size,
            "depth_3d": depth_3d,
            "shapes_3d": [s.label for s in family_shapes["3d"]],
            "conv_shapes": [s.label for s in family_shapes["conv"]],
            "matmul_size": matmul_size,
        },  # fmt: skip
        "peak": peak,
        "load": finish_load_watch(load, peak).as_dict(),
        "duration_s": time.perf_counter() - started,
        "results": results,
    }


def _overlap_cell(row: dict) -> str:
    taps = row.get("overlap")
    if taps is None:
        return "—"
    return f"{taps['min_taps']}-{taps['max_taps']} ({'even' if taps['even'] else 'uneven'})"


def to_markdown(report: dict) -> str:
    """One summary table per family present: times summed over its shapes, ratios, the roofline
    (GFLOP/s and % of the measured ceiling), tap overlap, checkerboard score; then the load."""
    env, cfg, peak = report["environment"], report["config"], report["peak"]
    where = (
        f"on {env['device_name']} ({env['device']}, {env['cpu_threads']} threads), torch {env['torch']}; "
        f"medians of {cfg['repeats']} rounds after {cfg['warmup']} warm-up."
    )
    titles = {
        "2d": f"Up-samplers of the U-Net decoder (width {cfg['width']}, {cfg['image_size']}x{cfg['image_size']} input, "
        f"batch {cfg['batch_size']}; shapes {', '.join(cfg['shapes'])}) {where}",
        "3d": f"3D up-samplers of a UNet3D decoder (width {cfg['width_3d']}, depth {cfg['depth_3d']}, "
        f"{cfg['volume_size']}^3 input, batch {cfg['batch_size']}; shapes {', '.join(cfg['shapes_3d'])}; "
        f"checkerboard score in-plane over all depth slices) {where}",
        "conv": f"Same-size convolutions C -> C at the U-Net decoder's resolutions (batch {cfg['batch_size']}; "
        f"shapes {', '.join(cfg['conv_shapes'])}) {where}",
    }
    sections = []
    for family in FAMILIES:
        rows = {name: row for name, row in report["results"].items() if row["family"] == family.key}
        if not rows:
            continue
        ratio_columns = [f"fwd+bwd / {base}" for base in family.baselines] + [f"MACs / {family.baselines[-1]}"]
        overlap_column = " taps per output (overlap) |" if family.key != "conv" else ""
        lines = [
            titles[family.key],
            "",
            f"| {family.column} | params | GMACs | fwd ms | fwd GFLOP/s | fwd % peak | fwd+bwd ms | fwd+bwd GFLOP/s "
            f"| fwd+bwd % peak | {' | '.join(ratio_columns)} |{overlap_column} checkerboard at init |",
            "|---|" + "---:|" * (9 + len(ratio_columns)) + ("---|" if overlap_column else ""),
        ]
        for name, row in rows.items():
            ratios = [f"forward_backward_vs_{base}" for base in family.baselines] + [f"macs_vs_{family.baselines[-1]}"]
            shown = " | ".join(f"{row[key]:.2f}" if key in row else "—" for key in ratios)
            roofline = " | ".join(
                f"{row[f'{mode}_seconds'] * 1e3:.1f} | {row[f'{mode}_gflops_per_s']:.1f} "
                f"| {row[f'{mode}_percent_of_peak']:.0f}"
                for mode in MODES
            )
            taps = f" {_overlap_cell(row)} |" if overlap_column else ""
            lines.append(
                f"| {name} | {row['parameters']:,} | {row['macs'] / 1e9:.2f} | {roofline} | {shown} |{taps} "
                f"{row['checkerboard_at_init']:.3f} |"
            )
        sections.append("\n".join(lines) + "\n")
    sections.append(
        f"{ceiling_markdown(peak)} Run time {format_minutes(report['duration_s'])}.\n{load_markdown(report['load'])}\n"
    )
    return "\n".join(sections)
