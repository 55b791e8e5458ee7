"""Every command the framework prints works when pasted: hints are split with shlex and run."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess

import pytest
from conftest import QUIET_SMOKE
from hydra.core.override_parser.overrides_parser import OverridesParser

import pixeldcn.engine.loop as loop
from pixeldcn.config.resolvers import MAX_NAME_LENGTH, job_dir_name
from pixeldcn.engine import load_checkpoint
from pixeldcn.engine.checkpoint import CheckpointError
from pixeldcn.utils.commands import override

# Run directories a user may choose: spaces, Hydra's separators, quotes, a dollar, a backslash.
AWKWARD_DIRS = ["plain", "with space", "upsampler=deconv6,seed=1", "it's [x]", "$HOME", "back\\slash"]


def quoted_command(message: str) -> str:
    """The command a message shows between backticks."""
    (command,) = re.findall(r"`([^`]+)`", message)
    return command


@pytest.mark.parametrize("name", AWKWARD_DIRS)
def test_an_override_word_gives_hydra_the_value_back(tmp_path, name):
    value = str(tmp_path / name / "best.pt")
    (word,) = shlex.split(override("ckpt_path", value))
    assert OverridesParser.create().parse_override(word).value() == value


def test_job_directory_names_need_no_quoting():
    assert job_dir_name(3, "upsampler-deconv6+seed-1") == "3_upsampler-deconv6+seed-1"
    assert job_dir_name(0, "") == "0"
    awkward = job_dir_name(12, "dataset.scale_range-[0.5,2.0]+model.name-'a b'=c$x" + "+k-v" * 50)
    assert re.fullmatch(r"12_dataset.scale_range-_0.5_2.0_\+model.name-_a_b_c_x(\+k-v)+\+?k?", awkward)
    assert len(awkward) == MAX_NAME_LENGTH
    assert shlex.split(f"ckpt_path={awkward}") == [f"ckpt_path={awkward}"]
    assert OverridesParser.create().parse_override(f"ckpt_path=/o/{awkward}/best.pt").value() == f"/o/{awkward}/best.pt"


def test_the_resume_hint_of_an_interrupted_run_resumes_it(run_train, tmp_path, monkeypatch):
    run_dir = tmp_path / "upsampler=deconv,seed=1 (copy)"
    monkeypatch.setattr(loop, "stop_requested", lambda: signal.SIGTERM)
    with pytest.raises(SystemExit):
        run_train(None, *shlex.split(override("hydra.run.dir", run_dir)), *QUIET_SMOKE)
    monkeypatch.undo()
    assert load_checkpoint(run_dir / "last.pt")["step"] == 1
    hint = quoted_command(re.search(r"continue with .*", (run_dir / "train.log").read_text()).group())
    program, script, *arguments = shlex.split(hint)
    assert (program, script) == ("python", "train.py")
    run_train(None, *arguments)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final"] is not None and [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    assert load_checkpoint(run_dir / "last.pt")["step"] == 4


def test_the_mv_hint_of_a_damaged_checkpoint_restores_the_previous_one(run_train, tmp_path):
    run_dir = tmp_path / "it's a run"
    run_train(None, *shlex.split(override("hydra.run.dir", run_dir)), *QUIET_SMOKE)
    previous = load_checkpoint(run_dir / "last.pt.prev")
    (run_dir / "last.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(run_dir / "last.pt")
    subprocess.run(shlex.split(quoted_command(str(error.value))), check=True)
    assert load_checkpoint(run_dir / "last.pt")["step"] == previous["step"] == 2
