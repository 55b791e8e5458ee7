import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pixeldcn.benchmark.upsamplers import run, to_markdown, unet_decoder_shapes

ROOT = Path(__file__).resolve().parents[2]


def test_decoder_shapes_follow_the_unet_channel_plan():
    labels = [s.label for s in unet_decoder_shapes(64, 256)]
    assert labels == ["512@16x16", "256@32x32", "128@64x64", "64@128x128"]


def test_tiny_run_reports_ratios_macs_and_checkerboard():
    report = run(["deconv", "deconv6", "pixeldcl"], torch.device("cpu"), width=4, image_size=32, warmup=0, repeats=1,
                 matmul_size=64, progress=False)  # fmt: skip
    rows = report["results"]
    assert rows["deconv"]["forward_backward_vs_deconv"] == 1.0
    # Per input pixel of each decoder layer (C channels, S x S): 9C^2 (deconv), 36C^2 (deconv6),
    # 26C^2 (pixeldcl) plus, in the 2-tap form its auto takes below 128 channels, C^2 (2S)/S^2 for
    # the padded border row/column of its 2-tap convolutions.
    shapes = [(32, 2), (16, 4), (8, 8), (4, 16)]
    pixeldcl = sum(c * c * (26 * s * s + 4 * 2 * s) for c, s in shapes)
    assert rows["pixeldcl"]["macs_vs_deconv6"] == pytest.approx(pixeldcl / sum(36 * c * c * s * s for c, s in shapes))
    assert rows["deconv"]["macs_vs_deconv6"] == pytest.approx(9 / 36)
    assert all(0.0 <= r["checkerboard_at_init"] <= 1.0 for r in rows.values())
    table = to_markdown(report)
    assert table.count("\n| ") == 1 + 3 and "pixeldcl" in table
    assert "| 1-4 (uneven) |" in table and "| 9-9 (even) |" in table and "Roofline ceiling:" in table


def test_roofline_counts_the_flops_each_layer_runs():
    report = run(["deconv", "deconv6"], torch.device("cpu"), width=4, image_size=32, warmup=0, repeats=1,
                 matmul_size=64, progress=False)  # fmt: skip
    peak = report["peak"]
    # The ceiling is the faster of a 64 x 64 product and a 16-channel 3x3 convolution at 32 x 32.
    assert set(peak["candidates"]) == {"64x64 float32 torch.mm", "3x3 conv 16->16 at 32x32 float32"}
    assert peak["gflops_per_s"] == max(peak["candidates"].values()) == peak["candidates"][peak["source"]]
    for row in report["results"].values():
        # A transposed convolution's forward is 2 FLOPs per MAC; its backward computes the input's
        # and the weight's gradients, twice the forward again.
        assert row["forward_flops"] == 2 * row["macs"]
        assert row["forward_backward_flops"] == 3 * row["forward_flops"]
        rate = row["forward_backward_flops"] / row["forward_backward_seconds"] / 1e9
        assert row["forward_backward_gflops_per_s"] == pytest.approx(rate)
        assert row["forward_backward_percent_of_peak"] == pytest.approx(100 * rate / peak["gflops_per_s"])
        low, high = row["forward_seconds_range"]
        assert low <= row["forward_seconds"] <= high
    load = report["load"]
    assert {"before", "after", "cores", "warnings"} <= set(load) and load["cores"] >= 1
    assert report["results"]["deconv"]["overlap"] == {"min_taps": 1, "max_taps": 4, "even": False}


@pytest.mark.slow
def test_script_writes_json_and_markdown(tmp_path):
    cmd = [sys.executable, "scripts/bench_upsamplers.py", "--device", "cpu", "--width", "4", "--size", "32",
           "--names", "pixeldcl", "--warmup", "0", "--repeats", "1", "--matmul-size", "64",
           "--out-dir", str(tmp_path)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    (json_file,) = tmp_path.glob("*.json")
    assert set(json.loads(json_file.read_text())["results"]) == {"deconv", "deconv6", "pixeldcl"}
    assert len(list(tmp_path.glob("*.md"))) == 1
