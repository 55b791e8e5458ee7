"""Resume and eval compare the saved configuration, choices and class count before loading weights;
damaged run files and a deleted last.pt get one line saying what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import QUIET_SMOKE

import pixeldcn.build as build


def error_lines(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "train.log").read_text().splitlines() if "ERROR" in line]


def no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("data was read before the mismatch was found")

    monkeypatch.setattr(build, "build_dataset", refuse)


def test_resume_refuses_a_changed_network_before_reading_data(run_train, tmp_path, monkeypatch):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    no_data(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={run_dir}", "trainer.max_epochs=3", "model.width=16")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert "last.pt was trained with a different network (model.width=8; configured: model.width=16)" in error
    assert "resume cannot change the network" in error


def test_resume_refuses_a_last_pt_of_another_upsampler(run_train, tmp_path, monkeypatch):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    other = run_train(tmp_path / "other", *QUIET_SMOKE, "upsampler=deconv")
    shutil.copy(other / "last.pt", run_dir / "last.pt")
    no_data(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={run_dir}", "trainer.max_epochs=3")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert "last.pt was trained with a different network (upsampler." in error


def test_eval_refuses_a_checkpoint_of_another_class_count(run_train, tmp_path):
    trained = run_train(tmp_path / "trained", *QUIET_SMOKE, "+dataset.num_classes=4")
    run_dir = tmp_path / "eval"
    with pytest.raises(SystemExit) as exit_info:
        # mode=eval rebuilds the dataset from the checkpoint's config: the override asks for other data.
        run_train(run_dir, *QUIET_SMOKE, "mode=eval", f"ckpt_path={trained / 'best.pt'}", "+dataset.num_classes=5")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert "was trained on data with num_classes=4 but the configured dataset gives num_classes=5" in error


@pytest.mark.parametrize("damage", ["", "{[: not yaml\n", "- a list\n"], ids=["empty", "not-yaml", "no-sections"])
def test_a_damaged_saved_config_is_one_line(run_train, tmp_path, damage):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(damage)
    (run_dir / "last.pt").write_bytes(b"")  # existence is all the check before reading the config needs
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={run_dir}")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert f"{run_dir / '.hydra' / 'config.yaml'} " in error
    assert "is empty or damaged" in error or "cannot be read" in error


def test_a_deleted_last_pt_with_its_prev_names_the_command_to_restore_it(run_train, tmp_path):
    run_dir = run_train(tmp_path / "run", *QUIET_SMOKE)
    (run_dir / "last.pt").unlink()
    with pytest.raises(SystemExit) as exit_info:
        run_train(None, f"resume={run_dir}", "trainer.max_epochs=3")
    assert exit_info.value.code == 1
    (error,) = error_lines(run_dir)
    assert f"`mv {run_dir / 'last.pt.prev'} {run_dir / 'last.pt'}`" in error
    (run_dir / "last.pt.prev").rename(run_dir / "last.pt")  # following it works
    run_train(None, f"resume={run_dir}", "trainer.max_epochs=3")
