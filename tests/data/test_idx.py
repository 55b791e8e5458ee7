"""The idx format (pixeldcn.data.idx): hand-written bytes, round trips, bad files, pairs and layouts."""

import gzip
import struct

import numpy as np
import pytest

from pixeldcn.data.idx import (
    check_idx_layout,
    idx_path,
    inspect_idx_layout,
    read_idx,
    read_idx_pair,
    read_idx_shape,
)

from .conftest import write_fashion_idx_fixture, write_idx


def test_read_idx_decodes_hand_written_bytes(tmp_path):
    # uint8, 2 x 3: magic 00 00 08 02, dims 2 and 3, then the six values.
    path = tmp_path / "tiny-idx2-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes([0, 1, 2, 253, 254, 255]))
    assert read_idx(path).tolist() == [[0, 1, 2], [253, 254, 255]]
    assert read_idx(path).dtype == np.uint8

    # int32 big-endian, 1-d, with a negative value.
    path = tmp_path / "ints-idx1"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + struct.pack(">iii", -2, 70000, 5))
    values = read_idx(path)
    assert values.tolist() == [-2, 70000, 5] and values.dtype == np.int32 and values.dtype.isnative


def test_read_idx_round_trips_every_type_plain_and_gzipped(tmp_path):
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, size=(4, 28, 28)).astype(np.uint8),
        rng.integers(-128, 128, size=(5,)).astype(np.int8),
        rng.integers(-30000, 30000, size=(2, 3)).astype(np.int16),
        rng.normal(size=(3, 2, 2)).astype(np.float32),
        rng.normal(size=(6,)).astype(np.float64),
    ]
    for index, array in enumerate(arrays):
        for suffix in ("", ".gz"):
            path = tmp_path / f"array{index}-idx{suffix}"
            write_idx(path, array)
            decoded = read_idx(path)
            assert decoded.dtype == array.dtype and np.array_equal(decoded, array)
            assert read_idx_shape(path) == array.shape


def test_read_idx_rejects_bad_magic_and_truncated_data(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(bytes([0, 1, 0x08, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 2) + b"\x00\x01\x02")
    with pytest.raises(ValueError, match="announces"):
        read_idx(path)
    with gzip.open(tmp_path / "short.gz", "wb") as stream:
        stream.write(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short.gz")


def test_idx_path_prefers_the_plain_file_and_names_none_when_absent(tmp_path):
    write_fashion_idx_fixture(tmp_path)
    assert idx_path(tmp_path, "train", "images") == tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 2, 2), dtype=np.uint8))
    assert idx_path(tmp_path, "train", "images") == tmp_path / "train-images-idx3-ubyte"
    assert idx_path(tmp_path, "mnist", "labels") is None


def test_check_idx_layout_names_each_missing_file_once(tmp_path):
    assert check_idx_layout(tmp_path / "nowhere", ["train"]) == [f"missing directory {tmp_path / 'nowhere'}"]
    write_fashion_idx_fixture(tmp_path)
    assert check_idx_layout(tmp_path, ["train", "t10k", "train"]) == []
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    assert check_idx_layout(tmp_path, ["train"]) == []
    assert check_idx_layout(tmp_path, ["t10k", "t10k"]) == [
        f"missing t10k labels file {tmp_path / 't10k-labels-idx1-ubyte[.gz]'}"
    ]


def test_read_idx_pair_returns_the_written_arrays_and_checks_them(tmp_path):
    fixture = write_fashion_idx_fixture(tmp_path, train_labels=(3, 0, 9))
    images, labels = read_idx_pair(tmp_path, "train", num_classes=10)
    assert np.array_equal(images, fixture.images["train"]) and labels.tolist() == [3, 0, 9]
    with pytest.raises(ValueError, match=r"train labels in .* must be 0..8 and not empty"):
        read_idx_pair(tmp_path, "train", num_classes=9)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"train idx files in .* disagree: images \(3, 28, 28\), labels \(2,\)"):
        read_idx_pair(tmp_path, "train", num_classes=10)


def test_inspect_idx_layout_counts_by_name_and_flags_mismatches(tmp_path):
    write_fashion_idx_fixture(tmp_path, train_labels=(1, 2, 3), test_labels=(4, 5))
    report = inspect_idx_layout(tmp_path, {"fit": "train", "held out": "t10k"})
    assert report.usable
    assert report.counts == {"fit images": 3, "fit labels": 3, "held out images": 2, "held out labels": 2}
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    report = inspect_idx_layout(tmp_path, {"fit": "train", "held out": "t10k"})
    assert not report.usable and report.problems[0].startswith("unreadable held out images file")
