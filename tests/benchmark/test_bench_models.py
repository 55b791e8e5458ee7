import pytest
import torch

from pixeldcn.benchmark.models import Setup, Workload, format_minutes, run, to_markdown


def test_format_minutes_matches_the_papers_style():
    assert format_minutes(21926) == "365m26s"
    assert format_minutes(162) == "2m42s"
    assert format_minutes(59.6) == "1m00s"


@pytest.mark.parametrize("model,size,width", [("unet", 32, 4), ("vae", 16, 4)])
def test_tiny_benchmark_extrapolates_and_reports_ratios(model, size, width):
    setup = Setup(model=model, width=width, size=size, batch_size=2)
    report = run(setup, ["deconv6", "deconv", "pixeldcl"], torch.device("cpu"), iters=1, warmup=0,
                 workload=Workload(train_iterations=100, predict_images=10))  # fmt: skip
    rows = report["results"]
    assert rows["deconv6"]["train_vs_deconv6"] == 1.0
    for row in rows.values():
        assert row["train_seconds_extrapolated"] == pytest.approx(100 * row["train_seconds_per_iter"])
        assert row["predict_seconds_extrapolated"] == pytest.approx(5 * row["predict_seconds_per_batch"])
        assert row["macs_per_image"] > 0
    # The deconv6 decoder costs more multiplies than the 3x3 one in every model.
    assert rows["deconv6"]["macs_per_image"] > rows["deconv"]["macs_per_image"]
    table = to_markdown(report)
    assert "paper train / DCL" in table and "| pixeldcl |" in table and "1.27" in table


def test_unknown_upsampler_is_rejected_before_any_work():
    with pytest.raises(ValueError, match="valid names"):
        run(Setup(), ["deconv6", "nope"], torch.device("cpu"))
