"""Shared helpers: run ``train.py`` in this process or as a subprocess, and compose its configs."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import pixeldcn.config  # noqa: F401  (registers the schema and resolvers train.yaml is composed with)
from pixeldcn.upsamplers import build_upsampler

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"
TRAIN_SCRIPT = REPO_ROOT / "train.py"
# Seconds-long runs without progress bars that keep best.pt and last.pt (debug=smoke alone keeps no
# checkpoint; tests resume, evaluate and inspect them); every test run starts from these.
QUIET_SMOKE = ["debug=smoke", "trainer.progress_bar=false", "checkpoint.save_last=true", "checkpoint.save_top_k=1"]


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs one pytest-xdist worker per core: each worker, and every train.py it starts,
    # then computes on one thread (two threads per worker would oversubscribe the cores).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture
def float64_default() -> Iterator[None]:
    """Layer math is checked in float64, where a 1e-10 tolerance is meaningful."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Standard-normal values in every parameter, biases included, so no comparison passes thanks to
    the default initialisation; weights a layer keeps at zero through a mask stay zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
        for part in module.modules():
            if hasattr(part, "conv3_mask"):  # PixelDCL's masked conv3 (2D and 3D)
                part.conv3.weight.mul_(part.conv3_mask)
            if hasattr(part, "dependency_masks"):  # PixelCL's masked dependency kernels
                part.dependencies.mul_(part.dependency_masks)
    return module


def reference_and_fast(name: str, cin: int, cout: int, seed: int = 0, impl: str = "fast"):
    """The ``reference`` form and the ``impl`` form of up-sampler ``name`` holding the same random weights."""
    reference = randomize(build_upsampler(name, cin, cout, impl="reference"), seed)
    fast = build_upsampler(name, cin, cout, impl=impl)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def set_matmul_forms_pay(monkeypatch, pay: bool) -> None:
    """Make ``auto`` forms decide as on a machine where matrix products do (or do not) pay."""
    monkeypatch.setattr("pixeldcn.layers.matmul_forms._intel_cpu_with_mkl", lambda: pay)


def autograd_steps(out: torch.Tensor) -> set[str]:
    """The names of every backward step in ``out``'s autograd graph: which operations computed it."""
    steps, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        steps.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions if next_node is not None)
    return steps


def _outputs_and_grads(module: torch.nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(x)
    (out * upstream).sum().backward()
    return out.detach(), x.grad, {k: p.grad for k, p in module.named_parameters()}


def assert_same_outputs_and_gradients(
    reference: torch.nn.Module, fast: torch.nn.Module, x: torch.Tensor, upstream: torch.Tensor
) -> None:
    """Both modules give the same output for ``x`` and, for the output gradient ``upstream``, the
    same input and parameter gradients (to 1e-10: meant for float64)."""
    out_r, gx_r, gp_r = _outputs_and_grads(reference, x, upstream)
    out_f, gx_f, gp_f = _outputs_and_grads(fast, x, upstream)
    torch.testing.assert_close(out_f, out_r, rtol=0, atol=1e-10)
    torch.testing.assert_close(gx_f, gx_r, rtol=0, atol=1e-10)
    assert gp_f.keys() == gp_r.keys()
    for key in gp_r:
        torch.testing.assert_close(gp_f[key], gp_r[key], rtol=0, atol=1e-10, msg=key)


def load_script(name: str):
    """``scripts/<name>.py`` imported as a module, so tests call its ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_train_module():
    # Named "train" as when run as a script, so Hydra's job (and its log file) is called "train".
    spec = importlib.util.spec_from_file_location("train", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Run torch on one thread: the tiny tensors of smoke runs gain nothing from more, and several
    threads slow down by an order of magnitude when other processes compete for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_train(monkeypatch: pytest.MonkeyPatch, single_thread: None):
    """``run_train(run_dir, *overrides)`` runs train.py's Hydra entry point in this process.

    It goes through the real command line path (argument parsing, composition, run directory,
    ``.hydra/``, logging) with ``hydra.run.dir=run_dir`` unless ``resume=`` is among the overrides.
    Exceptions propagate (HYDRA_FULL_ERROR); process-wide state that a run changes (deterministic
    algorithms, cuDNN flags, logging handlers) is restored afterwards.
    """
    train = _load_train_module()
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(run_dir: Path | None, *overrides: str) -> Path | None:
        args = [*overrides] if run_dir is None else [f"hydra.run.dir={run_dir}", *overrides]
        # A module loaded from a file path is not train.py's __main__, so Hydra needs the config
        # directory spelled out (the same one train.py names).
        monkeypatch.setattr(sys, "argv", [str(TRAIN_SCRIPT), f"--config-path={CONFIG_DIR}", *args])
        train.main()
        return run_dir

    yield run
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def run_train_subprocess(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python train.py *args`` from the repository root, capturing its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def composed(*overrides: str, hydra_node: bool = False) -> Iterator[DictConfig]:
    """The configuration ``train.py`` would compose for ``overrides`` (Hydra's compose API).

    With ``hydra_node`` the ``hydra`` node stays in and ``${hydra:...}`` interpolations resolve
    (``hydra.runtime.output_dir`` excepted: only a launched job has one).
    """
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        try:
            if not hydra_node:
                with open_dict(cfg):
                    del cfg["hydra"]
            yield cfg
        finally:
            HydraConfig.instance().cfg = None
