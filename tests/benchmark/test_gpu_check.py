"""scripts/gpu_check.py: its plan, budget and report on the CPU, and the whole --dry-run."""

import dataclasses
import importlib.util
import json
import sys

import pytest
import torch
from conftest import REPO_ROOT


def _load_gpu_check():
    # Registered in sys.modules while it runs: its dataclasses look their module up there.
    spec = importlib.util.spec_from_file_location("gpu_check", REPO_ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()


def test_the_gpu_plan_is_the_papers_configuration_eager_first():
    plan = gpu_check.make_plan(False, None, 480)
    assert plan.device == "cuda" and plan.budget_s == 480
    assert (plan.bench_sizes["width"], plan.bench_sizes["size"]) == (64, 256)
    assert plan.bench_sizes["names"] == ["deconv6", "deconv", "ipixeldcl", "pixeldcl"]
    configs = plan.bench_configs
    assert sorted(configs) == sorted((b, p, c) for b in (1, 8) for p in ("32", "bf16") for c in (False, True))
    assert [compiled for _, _, compiled in configs] == [False] * 4 + [True] * 4


def test_compiled_configurations_yield_to_the_budget(tmp_path, monkeypatch):
    now = [0.0]
    plan = dataclasses.replace(gpu_check.make_plan(False, tmp_path, 200), clock=lambda: now[0])
    ran = []

    def fake_run(plan, name, command, cap, env=None):
        ran.append(name)
        seconds = 50.0 if "--compile" in command else 30.0
        now[0] += seconds
        return gpu_check.Step(name, "passed", seconds)

    monkeypatch.setattr(gpu_check, "run_command", fake_run)
    steps, reports = gpu_check.benchmarks(plan)
    # 4 eager runs (120 s) leave 80 s: the first compiled one runs (50 s); 30 s < 1.2 x 50 s stops the rest.
    assert ran == [s.name for s in steps[:5]] and ran[4] == "benchmark_b8_pbf16_compiled"
    assert [s.status for s in steps] == ["passed"] * 5 + ["skipped"] * 3
    assert steps[-1].detail == "over the 200 s budget" and reports == []


def test_dry_run_plan_skips_what_needs_cuda_with_reasons(tmp_path):
    plan = gpu_check.make_plan(True, tmp_path, 480)
    assert plan.device == "cpu" and plan.ddp_processes == 2
    assert gpu_check.cuda_tests(plan).detail == "needs a CUDA device"
    fp16 = gpu_check.interrupt_resume(plan, "fp16")
    assert (fp16.status, fp16.detail) == ("skipped", "fp16 autocast with a gradient scaler needs CUDA")
    assert gpu_check.training_setting(plan, "compile", "trainer.compile=true").status == "skipped"


def test_markdown_reports_steps_and_ratios():
    row = {"train_seconds_per_iter": 0.012, "predict_seconds_per_batch": 0.004, "train_vs_deconv6": 0.95,
           "predict_vs_deconv6": 0.9, "train_vs_deconv": 1.1, "train_percent_of_peak": 41.0}  # fmt: skip
    summary = {
        "environment": {"dry_run": False, "gpus": ["NVIDIA H200"], "torch": "2.x", "cuda": "13.0", "budget_s": 480},
        "seconds": 300.0,
        "steps": [{"name": "ddp", "status": "passed", "seconds": 20.0, "detail": "2 process(es), nccl"}],
        "benchmarks": [{"batch": 8, "precision": "bf16", "compile": True, "report": {"results": {"pixeldcl": row}}}],
    }
    text = gpu_check.to_markdown(summary)
    assert "# GPU check (NVIDIA H200; torch 2.x, CUDA 13.0); 300 s of a 480 s budget" in text
    assert "| ddp | passed | 20.0 | 2 process(es), nccl |" in text
    assert "| 8 | bf16 | yes | pixeldcl | 12.0 | 4.0 | 0.95 | 0.90 | 1.10 | 41 |" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_without_cuda_it_points_to_the_dry_run(capsys):
    assert gpu_check.main([]) == 1
    assert "use --dry-run" in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_end_to_end(tmp_path):
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    status = {step["name"]: step["status"] for step in summary["steps"]}
    assert status == {
        "cuda_tests": "skipped", "resume_bf16": "passed", "resume_fp16": "skipped", "channels_last": "passed",
        "compile": "skipped", "ddp": "passed", "benchmark_b2_pbf16": "passed",
        "benchmark_b2_pbf16_compiled": "skipped",
    }  # fmt: skip
    assert "max weight difference 0" in next(s["detail"] for s in summary["steps"] if s["name"] == "resume_bf16")
    assert len(summary["benchmarks"]) == 1 and (tmp_path / "gpu_check.md").is_file()
