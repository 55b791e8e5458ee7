"""Writers of tiny CT volumes in their real formats (NIfTI via nibabel, DICOM via pydicom); no pixeldcn reader."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_nifti(path: Path, hu_xyz: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> None:
    """Save ``hu_xyz`` (voxel order x, y, z) as int16 stored values ``(hu - intercept) / slope`` with that scaling."""
    stored = np.round((hu_xyz - intercept) / slope).astype(np.int16)
    image = nibabel.Nifti1Image(stored, affine=np.diag([0.8, 0.8, 2.0, 1.0]))
    image.header.set_slope_inter(slope, intercept)
    nibabel.save(image, path)


def write_dicom_series(
    folder: Path, hu_slices: list[np.ndarray], positions: list[float], slope: float = 1.0, intercept: float = -1024.0
) -> None:
    """One CT Image Storage file per slice, ``hu_slices[i]`` at ``ImagePositionPatient z = positions[i]``.

    Files are named in list order (``1-001.dcm`` ...), so a reader must sort by position, not by name.
    Stored values are unsigned 16-bit ``(hu - intercept) / slope``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid, study_uid = generate_uid(), generate_uid()
    for number, (hu, z) in enumerate(zip(hu_slices, positions), start=1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset = pydicom.Dataset()
        dataset.file_meta = meta
        dataset.SOPClassUID = CTImageStorage
        dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
        dataset.Modality = "CT"
        dataset.PatientID = folder.parts[-3] if len(folder.parts) >= 3 else "P"
        dataset.InstanceNumber = number
        dataset.ImagePositionPatient = [-100.0, -120.0, float(z)]
        dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        dataset.PixelSpacing = [0.7, 0.7]
        dataset.SliceThickness = 2.0
        dataset.Rows, dataset.Columns = hu.shape
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        dataset.PixelRepresentation = 0
        dataset.RescaleSlope, dataset.RescaleIntercept = slope, intercept
        dataset.PixelData = np.round((hu - intercept) / slope).astype(np.uint16).tobytes()
        pydicom.dcmwrite(folder / f"1-{number:03d}.dcm", dataset, enforce_file_format=True)
