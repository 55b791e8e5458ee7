"""Fig. 9's sample panels take their labels from the run records, not from Hydra's internals."""

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixeldcn.report
from pixeldcn.report.samples import compare_samples, load_run_samples
from report.conftest import write_json


def generation_run(root, name, upsampler, *, in_record=True, in_hydra=True, score=0.25):
    run_dir = root / name
    (run_dir / "images").mkdir(parents=True)
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(run_dir / "images" / "samples.png")
    run = {"dataset": "celeba", "model": "vae", "upsampler": upsampler if in_record else None}
    write_json(run_dir / "metrics.json", {"run": run, "final": {"checkerboard_samples": score,
                                                                "checkerboard_real": 0.1}})  # fmt: skip
    if in_hydra:
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "hydra.yaml").write_text(
            f"hydra:\n  runtime:\n    choices:\n      upsampler: {upsampler}\n      model: vae\n"
        )
    return run_dir


def test_the_upsampler_comes_from_the_run_record_or_hydras_choices(tmp_path):
    # A config.yaml whose upsampler node says otherwise is not read.
    recorded = generation_run(tmp_path, "a", "deconv6", in_hydra=False)
    (recorded / ".hydra").mkdir()
    (recorded / ".hydra" / "config.yaml").write_text("upsampler:\n  _args_: [not_this]\n")
    assert load_run_samples(recorded).upsampler == "deconv6"
    assert load_run_samples(generation_run(tmp_path, "b", "pixeldcl", in_record=False)).upsampler == "pixeldcl"
    with pytest.raises(FileNotFoundError, match="does not record its up-sampler"):
        load_run_samples(generation_run(tmp_path, "c", "deconv", in_record=False, in_hydra=False))


def test_compare_samples_labels_each_panel(tmp_path):
    runs = [generation_run(tmp_path, "d6", "deconv6", score=0.5), generation_run(tmp_path, "p", "pixeldcl")]
    assert [load_run_samples(r).label for r in runs] == ["deconv6\ncheckerboard score 0.5",
                                                         "pixeldcl\ncheckerboard score 0.25"]  # fmt: skip
    out = compare_samples(runs, tmp_path / "fig9.png")
    assert Image.open(out).width > Image.open(out).height


def test_runs_with_enlarged_crops_get_a_second_row_and_their_grid_energy_in_the_label(tmp_path):
    runs = [generation_run(tmp_path, name, name) for name in ("deconv", "pixeldcl")]
    flat = compare_samples(runs, tmp_path / "flat.png")
    for run in runs:
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(run / "images" / "samples_zoom.png")
        metrics = run / "metrics.json"
        write_json(metrics, {"run": {"upsampler": run.name}, "final": {"checkerboard_samples": 0.25,
                                                                         "grid_energy_samples": 0.0013}})  # fmt: skip
    assert load_run_samples(runs[0]).label == "deconv\ncheckerboard score 0.25, grid energy 0.0013"
    two_rows = compare_samples(runs, tmp_path / "zoom.png")
    assert Image.open(two_rows).height > 1.6 * Image.open(flat).height  # the crops' row below the samples
    strips = [generation_run(tmp_path / "strip", name, name) for name in ("deconv", "pixeldcl")]
    for run in strips:
        Image.fromarray(np.zeros((5, 40, 3), np.uint8)).save(run / "images" / "samples_zoom.png")
    strip_figure = Image.open(compare_samples(strips, tmp_path / "strip.png"))
    assert strip_figure.height < Image.open(two_rows).height  # a strip of crops gets a low row
    assert Image.open(two_rows).width == Image.open(flat).width


def test_reports_import_neither_the_engine_nor_the_run_entry():
    imported = set()
    for path in Path(pixeldcn.report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "..run_files" in imported  # the file names come from the shared constants module
    assert not {name for name in imported if "engine" in name or name in ("..run", "pixeldcn.run") or "tasks" in name}
