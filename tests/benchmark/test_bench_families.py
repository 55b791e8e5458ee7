"""The benchmark's 3D up-samplers and same-size convolutions: shapes, baselines, MAC ratios, tables."""

import pytest
import torch

from pixeldcn.benchmark.upsamplers import (
    ALL_NAMES,
    baselines_for,
    decoder_conv_shapes,
    run,
    to_markdown,
    unet3d_decoder_shapes,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_3d_and_convolution_shapes_follow_the_decoders():
    labels = [s.label for s in unet3d_decoder_shapes(16, 64, 4)]
    assert labels == ["128@4x4x4", "64@8x8x8", "32@16x16x16", "16@32x32x32"]
    assert [s.label for s in decoder_conv_shapes(64, 256)] == ["512@32x32", "256@64x64", "128@128x128", "64@256x256"]


def test_each_family_brings_its_own_baselines():
    assert baselines_for(["pixeldcl3d"]) == ["deconv3d"]
    assert baselines_for(["pixelcl", "pixeldcl"]) == ["deconv", "deconv6", "conv"]
    assert {"deconv3d", "pixeldcl3d", "ipixeldcl3d", "conv", "pixelcl", "pixeldcl"} <= set(ALL_NAMES)


def test_tiny_run_of_the_3d_and_convolution_families():
    names = ["deconv3d", "pixeldcl3d", "conv", "pixelcl"]
    tiny = {"width": 2, "image_size": 32, "width_3d": 2, "volume_size": 8, "depth_3d": 2}
    report = run(names, torch.device("cpu"), warmup=0, repeats=1, matmul_size=64, progress=False, **tiny)
    rows = report["results"]
    assert report["config"]["shapes_3d"] == ["4@2x2x2", "2@4x4x4"]
    assert rows["pixeldcl3d"]["family"] == "3d" and rows["pixelcl"]["family"] == "conv"
    # Per input voxel (C channels, S^3): deconv3d 27 C^2, pixeldcl3d (27 + 105) C^2.
    assert rows["pixeldcl3d"]["macs_vs_deconv3d"] == pytest.approx(132 / 27)
    # Per pixel: conv 9 C^2, pixelcl 13 C^2 (9 from the input, 4 from the dependencies).
    assert rows["pixelcl"]["macs_vs_conv"] == pytest.approx(13 / 9)
    assert "macs_vs_deconv" not in rows["pixelcl"] and "macs_vs_conv" not in rows["pixeldcl3d"]
    assert all(0.0 <= r["checkerboard_at_init"] <= 1.0 for r in rows.values())
    table = to_markdown(report)
    assert table.count("\n| up-sampler |") == 1 and table.count("\n| convolution |") == 1
    assert table.count("\n| ") == 2 + 4 and "fwd+bwd / deconv3d" in table and "fwd+bwd / conv" in table
    assert "| 1-8 (uneven) |" in table and rows["pixelcl"]["overlap"] is None


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['pixeldcl4d'\]"):
        run(["pixeldcl4d"], torch.device("cpu"))
