"""``dataset.verify=true`` and ``prepare_data.py --verify`` read every file once and list all bad ones."""

from __future__ import annotations

import json
import re

import pytest
from conftest import QUIET_SMOKE, load_script
from data.conftest import _save_palette_png, write_coco_fixture, write_voc_fixture
from generation.conftest import write_celeba_fixture

from pixeldcn.data import VOCSegmentation
from pixeldcn.data.verify import VerificationError, verify_datasets
from reliability.test_bad_data import DEVKIT, truncate


@pytest.fixture
def two_bad(tmp_path):
    """A VOC directory with a truncated training JPEG and a validation mask holding class 30."""
    voc = write_voc_fixture(tmp_path / "voc", n_train=4, n_val=2, size=(40, 30))
    image = voc.root / DEVKIT / "JPEGImages" / f"{voc.train_ids[3]}.jpg"
    truncate(image)
    mask = voc.root / DEVKIT / "SegmentationClass" / f"{voc.val_ids[0]}.png"
    values = voc.masks[voc.val_ids[0]].copy()
    values[0, 0] = 30
    _save_palette_png(values, mask)
    return voc, [f"unreadable or truncated image {image}", f"mask {mask} holds values 30"]


def test_verify_lists_every_bad_file_of_the_splits_in_one_error(two_bad):
    voc, problems = two_bad
    datasets = [VOCSegmentation(voc.root, split, image_size=32, verify=True) for split in ("train", "val")]
    with pytest.raises(VerificationError) as error:
        verify_datasets([*datasets, datasets[1]])  # a split given twice is read once
    message = str(error.value)
    assert message.startswith("dataset.verify found 2 bad file(s): ") and "\n" not in message
    assert all(problem in message for problem in problems)
    verify_datasets([VOCSegmentation(voc.root, "train", image_size=32)])  # without verify=True: not read


def test_verify_with_skip_reports_but_does_not_stop(two_bad, caplog):
    voc, problems = two_bad
    datasets = [
        VOCSegmentation(voc.root, split, image_size=32, verify=True, on_error="skip") for split in ("train", "val")
    ]
    verify_datasets(datasets)
    assert all(any(problem in record.message for record in caplog.records) for problem in problems)


def test_a_run_with_verify_stops_before_training_listing_both_bad_files(run_train, tmp_path, two_bad):
    voc, problems = two_bad
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_train(run_dir, *QUIET_SMOKE, "dataset=voc", f"dataset.root={voc.root}", "dataset.verify=true")
    assert exit_info.value.code == 1
    log = (run_dir / "train.log").read_text()
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and all(problem in errors[0] for problem in problems)
    assert "Traceback" not in log and "model " not in log  # stopped before the model was built
    assert not (run_dir / "last.pt").exists()


def test_prepare_data_verify_lists_both_bad_files_and_fails(two_bad, capsys):
    voc, problems = two_bad
    prepare_data = load_script("prepare_data")
    assert prepare_data.main(["voc", "--root", str(voc.root)]) == 0  # the layout alone is complete
    capsys.readouterr()
    assert prepare_data.main(["voc", "--root", str(voc.root), "--verify"]) == 1
    output = capsys.readouterr().out
    assert "bad samples (2):" in output and all(problem in output for problem in problems)
    assert re.search(r"train bad samples +1\n", output) and re.search(r"val bad samples +1\n", output)
    assert "dataset.on_error=skip" in output


def test_prepare_data_verify_passes_a_good_directory(tmp_path, capsys):
    voc = write_voc_fixture(tmp_path / "voc", n_train=3, n_val=2)
    assert load_script("prepare_data").main(["voc", "--root", str(voc.root), "--verify"]) == 0
    output = capsys.readouterr().out
    assert re.search(r"train samples read +3\n", output) and "usable: yes" in output


def test_prepare_data_verify_reads_coco_and_celeba_too(tmp_path, capsys):
    prepare_data = load_script("prepare_data")
    coco = write_coco_fixture(tmp_path / "coco")
    path = coco.root / "annotations" / "instances_val2017.json"
    document = json.loads(path.read_text())
    document["images"][1]["width"] = 20  # image id 7, whose polygons fit either size
    path.write_text(json.dumps(document))
    assert prepare_data.main(["coco", "--root", str(coco.root), "--verify"]) == 1
    assert "image id 7 has height 12 and width 20, but" in capsys.readouterr().out
    faces = write_celeba_fixture(tmp_path / "faces", counts=(2, 1, 1))
    truncate(faces.image_path(faces.files["test"][0]))
    assert prepare_data.main(["celeba", "--root", str(faces.root), "--verify"]) == 1
    output = capsys.readouterr().out
    assert f"unreadable or truncated image {faces.image_path(faces.files['test'][0])}" in output
    assert re.findall(r"^  (\w+) bad samples +(\d)$", output, re.MULTILINE) == [
        ("train", "0"),
        ("val", "0"),
        ("test", "1"),
    ]
