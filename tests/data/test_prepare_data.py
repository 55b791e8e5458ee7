import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script
from generation.conftest import write_celeba_fixture

from pixeldcn.data import celeba, coco, ct_volumes, fashion_mnist, fashion_scenes, mnist, voc

from .conftest import write_coco_fixture, write_fashion_idx_fixture, write_voc_fixture

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare_data.py"


def reported_count(output: str, kind: str) -> int:
    """The number printed on the report line for ``kind`` (e.g. ``"train images"``)."""
    return int(re.search(rf"^  {kind} +(\d+)$", output, flags=re.MULTILINE).group(1))


@pytest.fixture(scope="module")
def prepare_data():
    return load_script("prepare_data")


def test_complete_voc_directory_is_usable(prepare_data, tmp_path, capsys):
    write_voc_fixture(tmp_path, n_train=3, n_val=2)
    assert prepare_data.main(["voc", "--root", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert reported_count(output, "train images") == 3 and reported_count(output, "val masks") == 2
    assert "usable: yes" in output


def test_voc_with_missing_files_lists_them_and_fails(prepare_data, tmp_path, capsys):
    fixture = write_voc_fixture(tmp_path, n_train=3, n_val=2)
    (tmp_path / "VOCdevkit/VOC2012/SegmentationClass" / f"{fixture.train_ids[2]}.png").unlink()
    assert prepare_data.main(["voc", "--root", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert f"{fixture.train_ids[2]}.png" in output and reported_count(output, "train masks") == 2
    assert "dataset.root=" in output
    # The SBD files are only required with --sbd.
    write_voc_fixture(tmp_path / "plain")
    assert prepare_data.main(["voc", "--root", str(tmp_path / "plain")]) == 0
    assert prepare_data.main(["voc", "--root", str(tmp_path / "plain"), "--sbd"]) == 1
    assert "SegmentationClassAug" in capsys.readouterr().out


def test_long_problem_lists_are_cut(prepare_data, tmp_path, capsys):
    write_voc_fixture(tmp_path, n_train=30, n_val=2, size=(16, 16))
    for path in (tmp_path / "VOCdevkit/VOC2012/JPEGImages").glob("2007_*.jpg"):
        path.unlink()
    assert prepare_data.main(["voc", "--root", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert "problems (30):" in output and "... and 10 more" in output


def test_empty_directory_fails_for_every_dataset(prepare_data, tmp_path, capsys):
    for dataset in ("voc", "coco", "fashion_scenes"):
        assert prepare_data.main([dataset, "--root", str(tmp_path)]) == 1
        assert "usable: no" in capsys.readouterr().out


def test_coco_and_fashion_directories_are_usable(prepare_data, tmp_path, capsys):
    write_coco_fixture(tmp_path / "coco", year=2014)
    assert prepare_data.main(["coco", "--root", str(tmp_path / "coco"), "--year", "2014"]) == 0
    assert reported_count(capsys.readouterr().out, "val images listed") == 3
    assert prepare_data.main(["coco", "--root", str(tmp_path / "coco")]) == 1
    assert "instances_train2017.json" in capsys.readouterr().out
    write_fashion_idx_fixture(tmp_path / "fashion", compress=False)
    assert prepare_data.main(["fashion_scenes", "--root", str(tmp_path / "fashion")]) == 0
    assert reported_count(capsys.readouterr().out, "train images") == 5


@pytest.mark.slow
def test_command_line_exit_status(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "fashion_scenes", "--root", str(tmp_path)], capture_output=True, text=True
    )
    assert completed.returncode == 1 and "t10k-images-idx3-ubyte" in completed.stdout


def test_every_dataset_module_that_exports_files_is_a_command(prepare_data):
    modules = {"celeba": celeba, "coco": coco, "fashion_mnist": fashion_mnist, "fashion_scenes": fashion_scenes}
    modules |= {"ct_volumes": ct_volumes, "mnist": mnist}
    assert prepare_data.dataset_files() == {name: module.FILES for name, module in {**modules, "voc": voc}.items()}


def test_celeba_directory_with_the_in_the_wild_folder(prepare_data, tmp_path, capsys):
    fixture = write_celeba_fixture(tmp_path, counts=(3, 2, 1))
    assert prepare_data.main(["celeba", "--root", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert reported_count(output, "train images") == 3 and reported_count(output, "test images") == 1
    assert prepare_data.main(["celeba", "--root", str(tmp_path), "--image-dir", "img_celeba"]) == 1
    assert "img_celeba" in capsys.readouterr().out
    fixture.image_path(fixture.files["val"][0]).unlink()
    assert prepare_data.main(["celeba", "--root", str(tmp_path)]) == 1
    assert fixture.files["val"][0] in capsys.readouterr().out


def test_fashion_mnist_counts_the_training_and_test_files(prepare_data, tmp_path, capsys):
    write_fashion_idx_fixture(tmp_path, train_labels=(1, 2, 3, 4), test_labels=(5,))
    assert prepare_data.main(["fashion_mnist", "--root", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert reported_count(output, "train images") == 4 and reported_count(output, "t10k labels") == 1
