"""Everything that needs a GPU, in one command of under 8 minutes: ``make gpu-check``.

    python scripts/gpu_check.py                       # on a CUDA machine; writes outputs/gpu_check/<time>/
    python scripts/gpu_check.py --out /tmp/gpu        # into a folder of your choice
    python scripts/gpu_check.py --dry-run             # the same logic on the CPU: tiny sizes, Gloo

Steps, each under its own time limit, run in this order:

1. ``cuda_tests``: the tests that skip without CUDA (``pytest -k cuda``); none may be skipped.
2. ``resume_bf16`` / ``resume_fp16``: ``train.py`` at that ``trainer.precision`` (fp16 with its
   gradient scaler) is stopped by SIGTERM mid-run, resumed with ``resume=``, and must end with the
   weights of an uninterrupted run (deterministic kernels).
3. ``channels_last`` and ``compile``: a smoke training run with each setting.
4. ``ddp``: ``torchrun`` on one process per GPU (at most two), NCCL.
5. ``benchmark``: ``scripts/benchmark.py`` at the paper's configuration (U-Net width 64, 256x256)
   for batch 1 and 8, precision 32 and bf16, compile off then on; eager configurations first, and
   a compiled one is left out (and recorded as such) once the remaining budget is below the time
   the previous compiled one took.

Writes ``gpu_check.json`` and ``gpu_check.md`` (every step's status, time and reason; the benchmark
ratios), each command's log under ``logs/``, the training runs under ``runs/`` and the benchmark
reports under ``bench/``. Exit code 0 when no step failed.

``--dry-run`` runs the same steps on the CPU at tiny sizes (Gloo for DDP, bf16 autocast on the
CPU) and skips, with the reason recorded, what needs CUDA (the CUDA tests, fp16) or takes minutes
on a CPU (torch.compile; the engine's tests run a CPU compile smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from pixeldcn.utils.io import atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "train.py"
BENCHMARK = ROOT / "scripts" / "benchmark.py"
BUDGET_S = 480
SMOKE = ["debug=smoke", "trainer.progress_bar=false"]
PAPER_NAMES = ["deconv6", "deconv", "ipixeldcl", "pixeldcl"]


@dataclass
class Step:
    """The record of one step: ``passed``, ``failed``, ``skipped`` or ``timeout``, and why."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    command: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Where a check runs and at what size; the dry run's values keep it to seconds on a CPU."""

    dry_run: bool
    out: Path
    device: str
    budget_s: float
    gpus: int
    ddp_processes: int
    # Long enough that a SIGTERM sent when the first last.pt appears lands inside the run.
    interruptible: list
    bench_sizes: dict
    bench_configs: list  # (batch size, precision, compile) in the order they run
    clock: Callable[[], float] = time.monotonic
    started: float | None = None

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return self.budget_s - self.elapsed()

    def limit(self, cap: float) -> float:
        """A step's time limit: ``cap`` seconds (four times that in the CPU dry run, whose tiny runs are
        still slower than the GPU's and share the CPU with the test suite), or what is left of the budget."""
        return max(1.0, min(cap * (4 if self.dry_run else 1), self.remaining()))


# The stop-and-resume check reads last.pt, which debug=smoke does not keep by default.
KEEP_LAST = ("checkpoint.save_last=true",)


def make_plan(dry_run: bool, out: Path, budget_s: float) -> Plan:
    if dry_run:
        sizes = {"width": 4, "size": 32, "iters": 1, "warmup": 0, "names": ["pixeldcl"], "matmul_size": 64}
        configs = [(2, "bf16", False), (2, "bf16", True)]
        interruptible = [*KEEP_LAST, "trainer.limit_train_batches=4", "trainer.max_epochs=3"]
        interruptible.append("trainer.deterministic=true")
        return Plan(True, out, "cpu", budget_s, 0, 2, interruptible, sizes, configs)
    sizes = {"width": 64, "size": 256, "iters": 10, "warmup": 3, "names": PAPER_NAMES, "matmul_size": None}
    eager = [(batch, precision, False) for precision in ("32", "bf16") for batch in (1, 8)]
    compiled = [(8, "bf16", True), (8, "32", True), (1, "bf16", True), (1, "32", True)]
    interruptible = [*KEEP_LAST, "trainer.limit_train_batches=30", "trainer.max_epochs=4", "trainer.deterministic=true"]
    gpus = torch.cuda.device_count()
    return Plan(False, out, "cuda", budget_s, gpus, min(2, gpus), interruptible, sizes, eager + compiled)


# ---------------------------------------------------------------------- running commands


def run_command(plan: Plan, name: str, command: Sequence[str], cap: float, env: dict | None = None) -> Step:
    """Run ``command`` with its output in ``logs/<name>.log``; passed when it exits 0 in time."""
    log_file = plan.out / "logs" / f"{name}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with log_file.open("w") as log:
        try:
            result = subprocess.run(
                list(command), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=plan.limit(cap),
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return Step(name, "timeout", time.monotonic() - start, f"over {plan.limit(cap):.0f} s", list(command))
    seconds = time.monotonic() - start
    if result.returncode != 0:
        return Step(name, "failed", seconds, f"exit {result.returncode}: {_tail(log_file)}", list(command))
    return Step(name, "passed", seconds, "", list(command))


def _tail(log_file: Path, lines: int = 3) -> str:
    return " / ".join(log_file.read_text(errors="replace").strip().splitlines()[-lines:])


def train_command(plan: Plan, run_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(TRAIN), *SMOKE, f"trainer.device={plan.device}", *overrides, f"hydra.run.dir={run_dir}"]


# ---------------------------------------------------------------------- the steps


def cuda_tests(plan: Plan) -> Step:
    if plan.dry_run:
        return Step("cuda_tests", "skipped", detail="needs a CUDA device")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-k", "cuda", "-rs", "tests"]
    step = run_command(plan, "cuda_tests", command, cap=150)
    log = (plan.out / "logs" / "cuda_tests.log").read_text(errors="replace")
    if step.status == "passed" and " skipped" in log.splitlines()[-1]:
        return Step(
            step.name,
            "failed",
            step.seconds,
            f"CUDA tests were skipped: {_tail(plan.out / 'logs' / 'cuda_tests.log', 1)}",
        )
    return step


def model_state(run_dir: Path) -> dict:
    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)


def interrupt_resume(plan: Plan, precision: str) -> Step:
    """SIGTERM mid-run, ``resume=``, and the weights of an uninterrupted run at ``precision``."""
    name = f"resume_{precision}"
    if precision == "fp16" and plan.dry_run:
        return Step(name, "skipped", detail="fp16 autocast with a gradient scaler needs CUDA")
    runs = plan.out / "runs" / name
    overrides = [f"trainer.precision={precision}", *plan.interruptible]
    start = time.monotonic()
    straight = run_command(plan, f"{name}_straight", train_command(plan, runs / "straight", *overrides), cap=60)
    if straight.status != "passed":
        return Step(name, straight.status, time.monotonic() - start, f"uninterrupted run: {straight.detail}")
    interrupted = runs / "interrupted"
    command = train_command(plan, interrupted, *overrides)
    log_file = plan.out / "logs" / f"{name}_interrupted.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + plan.limit(60)
        while not (interrupted / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=plan.limit(30))
        except subprocess.TimeoutExpired:
            process.kill()
            return Step(name, "timeout", time.monotonic() - start, "the interrupted run did not stop after SIGTERM")
    if code == 0:
        return Step(name, "failed", time.monotonic() - start, "the run ended before SIGTERM arrived: lengthen it")
    if code != 143:
        return Step(name, "failed", time.monotonic() - start, f"SIGTERM: exit {code}, expected 143: {_tail(log_file)}")
    stopped_at = model_state(interrupted)["step"]
    resumed = run_command(plan, f"{name}_resume", [sys.executable, str(TRAIN), f"resume={interrupted}"], cap=60)
    if resumed.status != "passed":
        return Step(name, resumed.status, time.monotonic() - start, f"resume: {resumed.detail}")
    a, b = model_state(runs / "straight"), model_state(interrupted)
    differences = {key: (a["model"][key].double() - b["model"][key].double()).abs().max().item() for key in a["model"]}
    worst = max(differences.values())
    detail = f"stopped at step {stopped_at} of {a['step']}, resumed to {b['step']}; max weight difference {worst:.3g}"
    same = a["step"] == b["step"] and worst == 0.0
    return Step(name, "passed" if same else "failed", time.monotonic() - start, detail)


def training_setting(plan: Plan, name: str, *overrides: str, cap: float = 60) -> Step:
    if name == "compile" and plan.dry_run:
        return Step(name, "skipped", detail="torch.compile takes minutes on a CPU (the engine's tests compile on it)")
    step = run_command(plan, name, train_command(plan, plan.out / "runs" / name, *overrides), cap=cap)
    if step.status == "passed" and not (plan.out / "runs" / name / "metrics.json").is_file():
        return Step(name, "failed", step.seconds, "no metrics.json written")
    return step


def ddp(plan: Plan) -> Step:
    """``torchrun`` of a smoke run; the engine must log that it joined a process group (NCCL on GPUs).

    On a machine with one GPU that is one process, which still joins a process group of one and
    trains through DistributedDataParallel, so NCCL runs.
    """
    processes = plan.ddp_processes
    run_dir = plan.out / "runs" / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               *train_command(plan, run_dir)[1:]]  # fmt: skip
    step = run_command(plan, "ddp", command, cap=90, env={"OMP_NUM_THREADS": "1"})
    backend = "gloo" if plan.dry_run else "nccl"
    log = (plan.out / "logs" / "ddp.log").read_text(errors="replace")
    if step.status == "passed" and f"backend {backend}" not in log:
        why = f"{processes} process(es) trained without joining a process group: {backend.upper()} was not exercised"
        return Step("ddp", "failed", step.seconds, why, step.command)
    step.detail = f"{processes} process(es), {backend}"
    return step


def benchmarks(plan: Plan) -> tuple[list[Step], list[dict]]:
    """``scripts/benchmark.py`` for every configuration of the plan that fits the budget."""
    steps, reports = [], []
    last_compiled_s = 0.0
    sizes = plan.bench_sizes
    for batch, precision, compiled in plan.bench_configs:
        name = f"benchmark_b{batch}_p{precision}{'_compiled' if compiled else ''}"
        if compiled and plan.dry_run:
            steps.append(Step(name, "skipped", detail="torch.compile takes minutes on a CPU"))
            continue
        if plan.remaining() < max(10.0, 1.2 * last_compiled_s if compiled else 10.0):
            steps.append(Step(name, "skipped", detail=f"over the {plan.budget_s:.0f} s budget"))
            continue
        out = plan.out / "bench" / name
        command = [sys.executable, str(BENCHMARK), "--device", plan.device, "--model", "unet",
                   "--width", str(sizes["width"]), "--size", str(sizes["size"]), "--batch-size", str(batch),
                   "--precision", precision, "--iters", str(sizes["iters"]), "--warmup", str(sizes["warmup"]),
                   "--names", *sizes["names"], "--out-dir", str(out)]  # fmt: skip
        command += ["--compile"] * compiled
        if sizes["matmul_size"]:
            command += ["--matmul-size", str(sizes["matmul_size"])]
        step = run_command(plan, name, command, cap=240)
        if compiled:
            last_compiled_s = step.seconds
        steps.append(step)
        for report_file in sorted(out.glob("*.json")):
            reports.append({"step": name, "batch": batch, "precision": precision, "compile": compiled,
                            "file": str(report_file), "report": json.loads(report_file.read_text())})  # fmt: skip
    return steps, reports


# ---------------------------------------------------------------------- reporting


def environment(plan: Plan) -> dict:
    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "dry_run": plan.dry_run,
        "budget_s": plan.budget_s,
    }
    if not plan.dry_run:
        info["gpus"] = [torch.cuda.get_device_name(index) for index in range(plan.gpus)]
        info["cudnn"] = torch.backends.cudnn.version()
        info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    return info


def to_markdown(summary: dict) -> str:
    env = summary["environment"]
    where = "dry run on the CPU" if env["dry_run"] else ", ".join(env["gpus"])
    lines = [
        f"# GPU check ({where}; torch {env['torch']}, CUDA {env['cuda']}); "
        f"{summary['seconds']:.0f} s of a {env['budget_s']:.0f} s budget",
        "",
        "| step | status | seconds | detail |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['detail']} |" for s in summary["steps"]]
    if summary["benchmarks"]:
        lines += [
            "",
            "Table 2 protocol (the trainer's step; medians; ratios in the same run):",
            "",
            "| batch | precision | compiled | up-sampler | train ms | predict ms | train / deconv6 | predict / deconv6 "
            "| train / deconv | train % peak |",
            "|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for entry in summary["benchmarks"]:
            for name, row in entry["report"]["results"].items():
                lines.append(
                    f"| {entry['batch']} | {entry['precision']} | {'yes' if entry['compile'] else 'no'} | {name} "
                    f"| {row['train_seconds_per_iter'] * 1e3:.1f} | {row['predict_seconds_per_batch'] * 1e3:.1f} "
                    f"| {row['train_vs_deconv6']:.2f} | {row['predict_vs_deconv6']:.2f} | {row['train_vs_deconv']:.2f} "
                    f"| {row['train_percent_of_peak']:.0f} |"
                )
    return "\n".join(lines) + "\n"


def check(plan: Plan, progress: Callable[[Step], None] = lambda step: None) -> dict:
    """Run every step of ``plan``; returns the summary written to ``gpu_check.json``."""
    steps: list[Step] = []

    def record(step: Step) -> None:
        steps.append(step)
        progress(step)

    record(cuda_tests(plan))
    for precision in ("bf16", "fp16"):
        record(interrupt_resume(plan, precision))
    record(training_setting(plan, "channels_last", "trainer.channels_last=true"))
    record(training_setting(plan, "compile", "trainer.compile=true", cap=120))
    record(ddp(plan))
    bench_steps, reports = benchmarks(plan)
    for step in bench_steps:
        record(step)
    return {
        "environment": environment(plan),
        "seconds": plan.elapsed(),
        "steps": [asdict(step) for step in steps],
        "benchmarks": reports,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the results (default: outputs/gpu_check/<time>)"
    )
    parser.add_argument("--dry-run", action="store_true", help="run the logic on the CPU at tiny sizes")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="time for all steps (default: 8 minutes)")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --dry-run to check the script's logic on the CPU", file=sys.stderr)
        return 1
    out = args.out or ROOT / "outputs" / "gpu_check" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    print(f"gpu_check: writing into {out}")
    plan = make_plan(args.dry_run, out, args.budget_s)
    summary = check(
        plan, progress=lambda step: print(f"  {step.name}: {step.status} ({step.seconds:.1f} s) {step.detail}")
    )
    atomic_write_json(out / "gpu_check.json", summary)
    atomic_write_text(out / "gpu_check.md", to_markdown(summary))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 1 if any(step["status"] in ("failed", "timeout") for step in summary["steps"]) else 0


if __name__ == "__main__":
    sys.exit(main())
