"""CT volumes for 3D generation, read from NIfTI files or DICOM series, windowed in Hounsfield units.

Two on-disk layouts (``format="auto"`` takes NIfTI when it finds any, else DICOM):

* **NIfTI** (``.nii``, ``.nii.gz``, read with nibabel), e.g. the Medical Segmentation Decathlon's
  ``Task07_Pancreas``: ``<root>/imagesTr/pancreas_001.nii.gz ...`` (or the files directly in
  ``<root>``). nibabel applies the header's ``scl_slope``/``scl_inter``; MSD volumes are in HU.
  Files whose names start with ``.`` (the archive's macOS ``._*`` copies) are ignored.
* **DICOM series** (read with pydicom), e.g. TCIA's Pancreas-CT:
  ``<root>/PANCREAS_0001/<study>/<series>/*.dcm``: every directory holding ``.dcm`` files is one
  volume. Its slices are ordered by their position along the slice normal (``ImagePositionPatient``
  projected on the cross product of the ``ImageOrientationPatient`` direction cosines; by
  ``InstanceNumber`` when a slice has no position), and stored values become HU through
  ``RescaleSlope`` and ``RescaleIntercept``.

Each volume becomes a float32 ``1 x S x S x S`` tensor (``S = image_size``), axes ``(slice, row,
column)``: HU clipped to the window ``[hu_min, hu_max]`` (default -160 .. 240, the abdominal window
of level 40, width 400) and mapped linearly to ``value_range`` (default [-1, 1], the seed's
scaling); then resampled to the cube: every axis longer than ``S`` is averaged down to ``S`` (area
interpolation, so a 512-voxel row is not aliased) and shorter ones are interpolated trilinearly up.
The cube ignores the voxel spacing: a 512 x 512 x ~200 Pancreas-CT scan (0.7 x 0.7 x 1.5-2.5 mm)
covers a nearly cubic field, so its anatomy is only mildly squashed. NIfTI volumes (RAS-like voxel
order) and DICOM ones (patient LPS) are not reoriented to a common frame.

Splits: the volumes sorted by path; ``val`` is the last ``val_size`` of them, ``train`` the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from pixeldcn.data.errors import DatasetFiles, LayoutReport, missing
from pixeldcn.data.validation import BadSampleError

SPLITS = ("train", "val")
FORMATS = ("auto", "nifti", "dicom")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIX = ".dcm"
LAYOUT = (
    "NIfTI volumes <root>/imagesTr/*.nii[.gz] or <root>/*.nii[.gz] (the Decathlon's Task07_Pancreas), or DICOM "
    "series <root>/<patient>/<study>/<series>/*.dcm (TCIA Pancreas-CT: PANCREAS_0001/...)"
)
FIX = "set dataset.root=/path/to/volumes (and dataset.format=nifti|dicom to choose one)"


def _is_nifti(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.endswith(NIFTI_SUFFIXES)


def find_nifti(root: str | os.PathLike[str]) -> list[Path]:
    """The NIfTI files of ``<root>/imagesTr`` when that directory exists, else of ``<root>``, sorted."""
    folder = Path(root) / "imagesTr"
    folder = folder if folder.is_dir() else Path(root)
    return sorted(path for path in folder.iterdir() if _is_nifti(path)) if folder.is_dir() else []


def find_dicom_series(root: str | os.PathLike[str]) -> list[Path]:
    """Every directory under ``root`` that holds ``.dcm`` files, sorted."""
    if not Path(root).is_dir():
        return []
    files = (path for path in Path(root).rglob(f"*{DICOM_SUFFIX}") if not path.name.startswith("."))
    return sorted({path.parent for path in files})


def find_volumes(root: str | os.PathLike[str], format: str = "auto") -> list[Path]:
    """The volumes of ``root``: NIfTI files or DICOM series directories (see the module doc)."""
    if format not in FORMATS:
        raise ValueError(f"unknown CT volume format {format!r}; valid formats: {', '.join(FORMATS)}")
    if format in ("auto", "nifti"):
        volumes = find_nifti(root)
        if volumes or format == "nifti":
            return volumes
    return find_dicom_series(root)


def check_layout(root: str | os.PathLike[str], format: str = "auto") -> list[str]:
    """Problems that stop the dataset from loading: no directory, or no volume of ``format`` in it."""
    if not Path(root).is_dir():
        return [missing(root, "directory")]
    if not find_volumes(root, format):
        wanted = {"auto": "NIfTI file or DICOM series", "nifti": "NIfTI file", "dicom": "DICOM series"}[format]
        return [f"no {wanted} in {os.path.abspath(root)}"]
    return []


def inspect_layout(root: str | os.PathLike[str], format: str = "auto") -> LayoutReport:
    """Count the volumes (and DICOM slices) and list what is missing."""
    report = LayoutReport(problems=check_layout(root, format))
    if report.problems:
        return report
    volumes = find_volumes(root, format)
    report.counts["volumes"] = len(volumes)
    if volumes[0].is_dir():
        report.counts["slices"] = sum(len(list(series.glob(f"*{DICOM_SUFFIX}"))) for series in volumes)
    return report


FILES = DatasetFiles("CT volumes", LAYOUT, FIX, default_root="data/Task07_Pancreas", inspect=inspect_layout)


def read_nifti_hu(path: Path) -> np.ndarray:
    """The float32 volume of a NIfTI file as ``(slice, row, column)`` = the file's ``(z, y, x)`` axes."""
    import nibabel

    try:
        image = nibabel.load(path)
        data = np.asarray(image.get_fdata(dtype=np.float32))
    except Exception as error:  # nibabel raises several types for a damaged file
        raise BadSampleError(f"unreadable NIfTI volume {path}: {error}") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise BadSampleError(
            f"NIfTI file {path} holds a {data.ndim}D image of shape {data.shape}; expected a 3D volume"
        )
    return np.ascontiguousarray(data.transpose(2, 1, 0))


def _slice_position(dataset: object) -> float | None:
    position = getattr(dataset, "ImagePositionPatient", None)
    orientation = getattr(dataset, "ImageOrientationPatient", None)
    if position is None:
        return None
    if orientation is None:
        return float(position[2])
    normal = np.cross(np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:], dtype=float))
    return float(np.dot(normal, np.asarray(position, dtype=float)))


def read_dicom_hu(series: Path) -> np.ndarray:
    """The float32 HU volume ``(slice, row, column)`` of the ``.dcm`` files in ``series`` (module doc)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    slices = []
    for path in sorted(series.glob(f"*{DICOM_SUFFIX}")):
        if path.name.startswith("."):
            continue
        try:
            dataset = pydicom.dcmread(path)
            pixels = dataset.pixel_array.astype(np.float32)
        except (InvalidDicomError, AttributeError, ValueError, OSError) as error:
            raise BadSampleError(f"unreadable DICOM slice {path}: {error}") from None
        slope = float(getattr(dataset, "RescaleSlope", 1.0))
        intercept = float(getattr(dataset, "RescaleIntercept", 0.0))
        position = _slice_position(dataset)
        order = position if position is not None else float(getattr(dataset, "InstanceNumber", len(slices)))
        slices.append((order, path, pixels * np.float32(slope) + np.float32(intercept)))
    if not slices:
        raise BadSampleError(f"DICOM series {series} holds no slices")
    shapes = {values.shape for _, _, values in slices}
    if len(shapes) != 1:
        raise BadSampleError(f"DICOM series {series} mixes slice sizes {sorted(shapes)}; it is not one volume")
    slices.sort(key=lambda item: (item[0], item[1].name))
    return np.stack([values for _, _, values in slices])


def window(hu: np.ndarray, hu_min: float, hu_max: float) -> np.ndarray:
    """HU clipped to ``[hu_min, hu_max]`` and mapped linearly to [0, 1] (float32)."""
    return ((np.clip(hu, hu_min, hu_max) - np.float32(hu_min)) / np.float32(hu_max - hu_min)).astype(np.float32)


def resample_to_cube(volume: Tensor, size: int) -> Tensor:
    """A ``D x H x W`` volume as ``size^3``: longer axes averaged down (area), shorter ones trilinear up."""
    x = volume[None, None].float()
    shrunk = tuple(min(extent, size) for extent in x.shape[2:])
    if shrunk != tuple(x.shape[2:]):
        x = F.adaptive_avg_pool3d(x, shrunk)
    if shrunk != (size,) * 3:
        x = F.interpolate(x, size=(size,) * 3, mode="trilinear", align_corners=False)
    return x[0, 0]


class CTVolumes(Dataset):
    """CT volumes as ``(volume, 0)``: a float32 ``1 x S x S x S`` tensor in ``value_range`` (module doc).

    Args:
        root: the directory of NIfTI files (or holding ``imagesTr/``) or of DICOM series.
        split: ``"train"`` or ``"val"`` (the last ``val_size`` volumes in path order).
        image_size: side ``S`` of the cube every volume is resampled to.
        format: ``"auto"``, ``"nifti"`` or ``"dicom"``.
        hu_min, hu_max: the intensity window in Hounsfield units.
        value_range: ``[low, high]`` that the window maps to ([-1, 1]: the seed's scaling).
        val_size: volumes held out as ``val``.
        cache: keep each resampled volume in memory after its first read (per process).

    Raises:
        DatasetNotFoundError: ``root`` is missing or holds no volume of ``format``.
        BadSampleError: a file cannot be read as a volume (when it is read).
    """

    channels = 1

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        image_size: int = 32,
        format: str = "auto",
        hu_min: float = -160.0,
        hu_max: float = 240.0,
        value_range: Sequence[float] = (-1.0, 1.0),
        val_size: int = 8,
        cache: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for CTVolumes; valid splits: {', '.join(SPLITS)}")
        if format not in FORMATS:
            raise ValueError(f"unknown CT volume format {format!r}; valid formats: {', '.join(FORMATS)}")
        if image_size < 2:
            raise ValueError(f"image_size must be at least 2, got {image_size}")
        if not hu_min < hu_max:
            raise ValueError(f"the HU window needs hu_min < hu_max, got {hu_min} and {hu_max}")
        low, high = (float(value) for value in value_range)
        if not low < high:
            raise ValueError(f"value_range must be [low, high] with low < high, got {list(value_range)}")
        if val_size < 1:
            raise ValueError(f"val_size must be at least 1, got {val_size}")
        problems = check_layout(root, format)
        if problems:
            raise FILES.not_found(problems)
        volumes = find_volumes(root, format)
        if len(volumes) <= val_size:
            raise ValueError(
                f"{os.path.abspath(root)} holds {len(volumes)} volumes, not more than val_size={val_size}; "
                "lower dataset.val_size"
            )
        self.root = Path(root)
        self.split = split
        self.image_size = image_size
        self.hu_window = (float(hu_min), float(hu_max))
        self.value_range = (low, high)
        self.volumes = volumes[:-val_size] if split == "train" else volumes[-val_size:]
        self.cache = cache
        self._cached: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.volumes)

    def read_hu(self, index: int) -> np.ndarray:
        """Volume ``index`` in HU at its own resolution, ``(slice, row, column)``."""
        path = self.volumes[index]
        return read_dicom_hu(path) if path.is_dir() else read_nifti_hu(path)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for CTVolumes {self.split} of length {len(self)}")
        if index not in self._cached:
            unit = resample_to_cube(torch.from_numpy(window(self.read_hu(index), *self.hu_window)), self.image_size)
            low, high = self.value_range
            volume = (low + (high - low) * unit)[None].contiguous()
            if not self.cache:
                return volume, 0
            self._cached[index] = volume
        return self._cached[index].clone(), 0
