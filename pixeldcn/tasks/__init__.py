"""What models are trained for. The engine sees only the :class:`Task` interface.

* ``SegmentationTask``: per-pixel classification (U-Net, DeepLab-ResNet).
"""

from pixeldcn.tasks.adversarial import AdversarialTask
from pixeldcn.tasks.base import IncompatibleDatasetError, Task
from pixeldcn.tasks.segmentation import SegmentationTask

__all__ = ["IncompatibleDatasetError", "SegmentationTask", "Task"]
__all__ += ["AdversarialTask"]
