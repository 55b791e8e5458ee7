"""The idx format of MNIST and Fashion-MNIST: reading files, finding the image/label pairs, checking a directory.

A directory holds pairs of files named ``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte``
(``prefix`` is ``train`` or ``t10k``), each plain or gzip-compressed (``.gz``), as Debian's
``dataset-fashion-mnist`` package and the MNIST distribution ship them.

The format: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D
float32, 0x0E float64), the number of dimensions, one big-endian uint32 per dimension, then the
values in big-endian C order.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pixeldcn.data.errors import LayoutReport, missing

IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""idx type codes (third magic byte) -> big-endian numpy dtypes."""
KINDS = {"images": "images-idx3-ubyte", "labels": "labels-idx1-ubyte"}
GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_header(stream: BinaryIO, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = stream.read(4)
    if len(magic) != 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file: bad magic number {magic.hex() or '(empty)'}")
    ndim = magic[3]
    dims = stream.read(4 * ndim)
    if len(dims) != 4 * ndim:
        raise ValueError(f"{path} is truncated: its idx header announces {ndim} dimensions")
    return IDX_DTYPES[magic[2]], struct.unpack(f">{ndim}I", dims)


def read_idx_shape(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """The array shape an idx file (plain or gzip-compressed) announces, reading only its header."""
    path = Path(path)
    with _open(path) as stream:
        return _read_header(stream, path)[1]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """An idx file, plain or gzip-compressed, as a native-endian array.

    Raises:
        ValueError: the magic number is wrong or the data is shorter or longer than announced.
    """
    path = Path(path)
    with _open(path) as stream:
        dtype, shape = _read_header(stream, path)
        payload = stream.read()
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(payload) != expected:
        raise ValueError(f"{path} holds {len(payload)} data bytes, its idx header announces {expected} for {shape}")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_path(root: str | os.PathLike[str], prefix: str, kind: str) -> Path | None:
    """The ``kind`` (``"images"`` or ``"labels"``) file of ``prefix`` in ``root``: the plain file if
    present, else the ``.gz`` one; ``None`` when neither exists."""
    name = f"{prefix}-{KINDS[kind]}"
    for candidate in (Path(root) / name, Path(root) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def check_idx_layout(root: str | os.PathLike[str], prefixes: Iterable[str]) -> list[str]:
    """Problems that stop the image/label pairs of ``prefixes`` from loading: a missing directory or file."""
    if not Path(root).is_dir():
        return [missing(root, "directory")]
    problems = []
    for prefix in dict.fromkeys(prefixes):
        for kind, name in KINDS.items():
            if idx_path(root, prefix, kind) is None:
                problems.append(missing(Path(root) / f"{prefix}-{name}[.gz]", f"{prefix} {kind} file"))
    return problems


def read_idx_pair(root: str | os.PathLike[str], prefix: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``N x H x W`` images and ``N`` labels of ``prefix`` in ``root``, checked against each other.

    Raises:
        ValueError: the two files disagree in length, the images are not ``N x H x W``, there are
            none, or a label is outside ``0 .. num_classes - 1``.
    """
    images = read_idx(idx_path(root, prefix, "images"))
    labels = read_idx(idx_path(root, prefix, "labels"))
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"the {prefix} idx files in {root} disagree: images {images.shape}, labels {labels.shape}")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"the {prefix} labels in {root} must be 0..{num_classes - 1} and not empty")
    return images, labels


def inspect_idx_layout(root: str | os.PathLike[str], sources: Mapping[str, str]) -> LayoutReport:
    """Count the images and labels of each ``name -> prefix`` in ``sources`` (reading headers only),
    and list what is missing, unreadable or of disagreeing lengths."""
    report = LayoutReport(problems=check_idx_layout(root, sources.values()))
    for name, prefix in sources.items():
        lengths = {}
        for kind in KINDS:
            path = idx_path(root, prefix, kind)
            if path is None:
                continue
            try:
                lengths[kind] = read_idx_shape(path)[0]
            except (OSError, ValueError, IndexError) as error:
                report.problems.append(f"unreadable {name} {kind} file {path}: {error}")
                continue
            report.counts[f"{name} {kind}"] = lengths[kind]
        if len(lengths) == 2 and lengths["images"] != lengths["labels"]:
            report.problems.append(
                f"{name} has {lengths['images']} images but {lengths['labels']} labels in {os.path.abspath(root)}"
            )
    return report
