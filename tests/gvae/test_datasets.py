"""MNIST from idx files and CT volumes from NIfTI files and DICOM series, against fixtures in those formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data.conftest import write_idx

from pixeldcn.data.ct_volumes import CTVolumes, inspect_layout, resample_to_cube
from pixeldcn.data.errors import DatasetNotFoundError
from pixeldcn.data.mnist import MNIST
from pixeldcn.data.validation import BadSampleError

from .conftest import write_dicom_series, write_nifti

# ---------------------------------------------------------------------- MNIST


def write_mnist(root: Path, train: int = 6, test: int = 3, compress: bool = False) -> dict[str, np.ndarray]:
    """The four idx files with distinct random digits; returns the arrays written."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for prefix, count in (("train", train), ("t10k", test)):
        arrays[f"{prefix}_images"] = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}_labels"] = rng.integers(0, 10, size=count).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", arrays[f"{prefix}_images"])
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", arrays[f"{prefix}_labels"])
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_splits_hold_the_idx_digits_scaled_to_unit_range(tmp_path, compress):
    arrays = write_mnist(tmp_path, compress=compress)
    train, val, test = (MNIST(tmp_path, split=split, val_size=2) for split in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (4, 2, 3)
    image, label = val[1]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert torch.equal(image[0], torch.from_numpy(arrays["train_images"][5].astype(np.float32) / 255))
    assert label == arrays["train_labels"][5]
    assert test[0][1] == arrays["t10k_labels"][0]
    assert MNIST(tmp_path, image_size=32, val_size=2)[0][0].shape == (1, 32, 32)
    assert MNIST.channels == 1 and len(MNIST.class_names) == 10


def test_a_missing_mnist_file_is_one_line_naming_the_four_files_and_the_override(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    MNIST(tmp_path, split="train", val_size=2)  # train needs only the train files
    with pytest.raises(DatasetNotFoundError) as error:
        MNIST(tmp_path, split="test")
    message = str(error.value)
    assert "\n" not in message and "t10k-labels-idx1-ubyte" in message and "dataset.root=" in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert name in message


def test_mnist_labels_outside_the_digits_are_refused(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8))
    with pytest.raises(ValueError, match="0..9"):
        MNIST(tmp_path, val_size=2)[0]


# ---------------------------------------------------------------------- CT volumes


def hu_volume(seed: int, shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1000, 1500, size=shape).astype(np.float64)


def test_nifti_volumes_are_windowed_in_hu_and_scaled_to_minus_one_one(tmp_path):
    folder = tmp_path / "Task07_Pancreas" / "imagesTr"
    folder.mkdir(parents=True)
    volumes = {name: hu_volume(index, (4, 4, 4)) for index, name in enumerate(["pancreas_001", "pancreas_002"])}
    write_nifti(folder / "pancreas_001.nii.gz", volumes["pancreas_001"], slope=2.0, intercept=-1024.0)
    write_nifti(folder / "pancreas_002.nii", volumes["pancreas_002"])
    (folder / "._pancreas_001.nii.gz").write_bytes(b"macOS resource fork, not a volume")
    train = CTVolumes(tmp_path / "Task07_Pancreas", image_size=4, hu_min=-200, hu_max=300, val_size=1)
    val = CTVolumes(tmp_path / "Task07_Pancreas", split="val", image_size=4, hu_min=-200, hu_max=300, val_size=1)
    assert len(train) == len(val) == 1
    volume, label = train[0]
    # Stored values are rounded to multiples of the slope 2 around -1024.
    hu = np.round((volumes["pancreas_001"] + 1024) / 2) * 2 - 1024
    expected = (np.clip(hu, -200, 300) + 200) / 500 * 2 - 1
    assert volume.shape == (1, 4, 4, 4) and label == 0
    np.testing.assert_allclose(volume[0].numpy(), expected.transpose(2, 1, 0), atol=1e-6)
    assert volume.min() >= -1 and volume.max() <= 1
    expected_val = (np.clip(volumes["pancreas_002"], -200, 300) + 200) / 500 * 2 - 1
    np.testing.assert_allclose(val[0][0][0].numpy(), expected_val.transpose(2, 1, 0), atol=1e-6)


def test_dicom_series_are_ordered_by_position_and_rescaled_to_hu(tmp_path):
    slices = [hu_volume(index, (1, 4, 4))[0] for index in range(4)]
    positions = [5.0, -2.5, 7.5, 0.0]  # file order is not slice order
    for patient in ("PANCREAS_0001", "PANCREAS_0002"):
        write_dicom_series(tmp_path / patient / "1.2.3-study" / "1.2.3-series", slices, positions)
    dataset = CTVolumes(tmp_path, image_size=4, hu_min=-1024, hu_max=3071, value_range=(0, 1), val_size=1)
    assert len(dataset) == 1 and dataset.volumes[0].parts[-3] == "PANCREAS_0001"
    volume = dataset[0][0][0].numpy()
    order = np.argsort(positions)
    for depth, index in enumerate(order):
        np.testing.assert_allclose(volume[depth], (slices[index] + 1024) / 4095, atol=1e-6)
    assert inspect_layout(tmp_path).counts == {"volumes": 2, "slices": 8}


def test_volumes_are_averaged_down_to_the_cube():
    # Axis 0 of length 8 holds 0..7: averaging pairs gives 0.5, 2.5, 4.5, 6.5.
    volume = torch.arange(8.0)[:, None, None].expand(8, 4, 4)
    cube = resample_to_cube(volume, 4)
    assert cube.shape == (4, 4, 4)
    torch.testing.assert_close(cube[:, 0, 0], torch.tensor([0.5, 2.5, 4.5, 6.5]))
    assert resample_to_cube(torch.ones(2, 3, 5), 4).shape == (4, 4, 4)


def test_missing_or_unreadable_ct_data_is_reported_in_one_line(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        CTVolumes(tmp_path / "absent")
    assert "\n" not in str(error.value) and "dataset.root=" in str(error.value)
    write_nifti(tmp_path / "a.nii", hu_volume(0, (2, 2, 2)))
    with pytest.raises(DatasetNotFoundError, match="no DICOM series"):
        CTVolumes(tmp_path, format="dicom", val_size=1)
    (tmp_path / "b.nii.gz").write_bytes(b"not gzip")
    assert CTVolumes(tmp_path, image_size=2, val_size=1)[0][0].shape == (1, 2, 2, 2)  # a.nii reads
    with pytest.raises(BadSampleError, match="b.nii.gz"):
        CTVolumes(tmp_path, split="val", image_size=2, val_size=1)[0]
    with pytest.raises(ValueError, match="val_size"):
        CTVolumes(tmp_path, val_size=2)
