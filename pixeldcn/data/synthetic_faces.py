"""SyntheticFaces: procedural face-like pictures for generation, needing no files (the offline default).

Each picture is a gradient background, hair, a shaded head, eyes (white, iris, pupil) under
eyebrows, a nose shadow and lips. Positions, sizes, tilt, skin, hair, iris and lip colours and the
light direction are random; every shape has anti-aliased edges and the head is shaded smoothly,
so, like photographs, the pictures carry almost no period-2 pixel pattern and their checkerboard
score is a clean reference for a generator's samples.

Sample ``index`` of a split is a pure function of ``(seed, split, index)``: DataLoader workers,
epochs and pickled copies see the same pictures and the splits never share one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from pixeldcn.data.procedural import ProceduralDataset
from pixeldcn.data.transforms import image_tensor

SPLITS = ("train", "val", "test")
DEFAULT_NUM_SAMPLES = {"train": 10000, "val": 1000, "test": 1000}
MIN_IMAGE_SIZE = 8

# Skin tones are drawn between these two RGB ends; hair colours around these bases.
SKIN_LIGHT = (0.96, 0.82, 0.72)
SKIN_DARK = (0.42, 0.28, 0.20)
HAIR_COLORS = ((0.08, 0.06, 0.05), (0.35, 0.20, 0.10), (0.85, 0.70, 0.40), (0.60, 0.25, 0.10), (0.55, 0.55, 0.55))
IRIS_COLORS = ((0.35, 0.20, 0.10), (0.25, 0.45, 0.70), (0.30, 0.50, 0.30))
LIP_COLOR = (0.72, 0.25, 0.30)
EYE_WHITE = (0.95, 0.95, 0.93)
PUPIL_COLOR = (0.03, 0.03, 0.03)
COLOR_JITTER = 0.05


@dataclass
class Face:
    """Where :meth:`SyntheticFaces.render` put the face and the colours it drew, in pixel units.

    Points are ``(x, y)`` with pixel centres at ``i + 0.5``; colours are RGB in [0, 1].
    """

    center: tuple[float, float]
    head_axes: tuple[float, float]
    tilt: float
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    pupil_radius: float
    mouth: tuple[float, float]
    mouth_axes: tuple[float, float]
    background: tuple[np.ndarray, np.ndarray]
    skin: np.ndarray
    hair: np.ndarray
    lips: np.ndarray


def _soft_ellipse(
    x: np.ndarray, y: np.ndarray, center: tuple[float, float], axes: tuple[float, float], tilt: float
) -> np.ndarray:
    """Coverage in [0, 1] of an ellipse with a one-pixel anti-aliased edge."""
    cos, sin = math.cos(tilt), math.sin(tilt)
    dx, dy = x - center[0], y - center[1]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    radius = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)
    # (radius - 1) * the shorter semi-axis approximates the distance to the outline in pixels.
    return np.clip(0.5 - (radius - 1.0) * min(axes), 0.0, 1.0)


def _paint(image: np.ndarray, coverage: np.ndarray, color: np.ndarray | float) -> None:
    image *= 1.0 - coverage[..., None]
    image += coverage[..., None] * color


def _jitter(rng: np.random.Generator, color: tuple[float, float, float]) -> np.ndarray:
    return np.clip(np.asarray(color) + rng.normal(0.0, COLOR_JITTER, size=3), 0.0, 1.0)


class SyntheticFaces(ProceduralDataset):
    """Procedural faces: ``(image, 0)`` with a float32 ``3 x S x S`` image in [0, 1].

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; each uses its own seed stream.
        image_size: side of the square pictures (at least 8; faces are designed at 64).
        num_samples: dataset length; defaults to 10000 for train and 1000 for val and test.
        seed: base seed; sample ``index`` depends only on ``(seed, split, index)``.

    The label is always 0.
    """

    channels = 3
    splits = SPLITS
    default_num_samples = DEFAULT_NUM_SAMPLES
    min_image_size = MIN_IMAGE_SIZE

    def __init__(
        self, split: str = "train", image_size: int = 64, num_samples: int | None = None, seed: int = 0
    ) -> None:
        super().__init__(split, image_size, num_samples, seed)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        self.check_index(index)
        image, _ = self.render(index)
        return image_tensor(image), 0

    def render(self, index: int) -> tuple[np.ndarray, Face]:
        """Sample ``index``: a float32 ``S x S x 3`` image in [0, 1] and where its parts are."""
        rng = self.rng(index)
        size = self.image_size
        coords = np.arange(size, dtype=np.float64) + 0.5
        x, y = np.meshgrid(coords, coords)

        # Background: a linear gradient between two muted colours.
        top_color, bottom_color = rng.uniform(0.15, 0.85, size=(2, 3))
        angle = rng.uniform(0.0, 2.0 * math.pi)
        along = (x - size / 2) * math.cos(angle) + (y - size / 2) * math.sin(angle)
        weight = ((along - along.min()) / max(float(np.ptp(along)), 1e-6))[..., None]
        image = top_color + (bottom_color - top_color) * weight

        center = (size * rng.uniform(0.42, 0.58), size * rng.uniform(0.50, 0.60))
        half_width = size * rng.uniform(0.22, 0.29)
        head_axes = (half_width, half_width * rng.uniform(1.15, 1.35))
        tilt = rng.uniform(-0.15, 0.15)
        cos, sin = math.cos(tilt), math.sin(tilt)

        def place(u: float, v: float) -> tuple[float, float]:
            """Head-frame offsets (fractions of the semi-axes) to picture coordinates."""
            du, dv = u * head_axes[0], v * head_axes[1]
            return center[0] + du * cos - dv * sin, center[1] + du * sin + dv * cos

        skin = np.clip(np.asarray(SKIN_DARK) + rng.uniform() * (np.subtract(SKIN_LIGHT, SKIN_DARK)), 0.0, 1.0)
        hair = _jitter(rng, HAIR_COLORS[rng.integers(len(HAIR_COLORS))])

        # Hair behind the head, slightly wider and raised.
        hair_axes = (head_axes[0] * rng.uniform(1.08, 1.25), head_axes[1] * rng.uniform(0.95, 1.1))
        _paint(image, _soft_ellipse(x, y, place(0.0, -0.12), hair_axes, tilt), hair)

        # Head, lit by a random light: brightness follows the ellipsoid's surface normal.
        head = _soft_ellipse(x, y, center, head_axes, tilt)
        dx, dy = x - center[0], y - center[1]
        nu = (dx * cos + dy * sin) / head_axes[0]
        nv = (-dx * sin + dy * cos) / head_axes[1]
        nz = np.sqrt(np.clip(1.0 - nu**2 - nv**2, 0.0, 1.0))
        light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.2), 1.0])
        light /= np.linalg.norm(light)
        shade = np.clip(0.55 + 0.45 * (light[0] * nu + light[1] * nv + light[2] * nz), 0.0, 1.0)
        _paint(image, head, np.clip(skin * shade[..., None], 0.0, 1.0))

        # Fringe: the hair ellipse again, over the top of the head above a soft hairline.
        hairline = rng.uniform(-0.65, -0.4)
        above = np.clip(0.5 - (nv - hairline) * head_axes[1], 0.0, 1.0)
        _paint(image, _soft_ellipse(x, y, place(0.0, -0.12), hair_axes, tilt) * above, hair)

        eye_u, eye_v = rng.uniform(0.33, 0.45), rng.uniform(-0.2, -0.05)
        eye_axes = (head_axes[0] * rng.uniform(0.15, 0.2), head_axes[1] * rng.uniform(0.06, 0.09))
        iris_radius = eye_axes[1] * 0.95
        pupil_radius = iris_radius * 0.5
        iris = _jitter(rng, IRIS_COLORS[rng.integers(len(IRIS_COLORS))])
        eyes = [place(-eye_u, eye_v), place(eye_u, eye_v)]
        for eye in eyes:
            _paint(image, _soft_ellipse(x, y, eye, eye_axes, tilt), np.asarray(EYE_WHITE))
            _paint(image, _soft_ellipse(x, y, eye, (iris_radius, iris_radius), 0.0), iris)
            _paint(image, _soft_ellipse(x, y, eye, (pupil_radius, pupil_radius), 0.0), np.asarray(PUPIL_COLOR))
        brow_v = eye_v - rng.uniform(0.13, 0.2)
        # Half a pixel thicker than proportional, so eyebrows survive small image sizes.
        brow_axes = (eye_axes[0] * 1.2, head_axes[1] * 0.025 + 0.5)
        for side in (-1.0, 1.0):
            _paint(image, _soft_ellipse(x, y, place(side * eye_u, brow_v), brow_axes, tilt), hair)

        # Nose: a soft shadow, half-transparent.
        nose = _soft_ellipse(x, y, place(0.0, 0.18), (head_axes[0] * 0.08, head_axes[1] * 0.14), tilt)
        _paint(image, 0.35 * nose, skin * 0.6)

        lips = _jitter(rng, LIP_COLOR)
        mouth = place(0.0, rng.uniform(0.45, 0.58))
        mouth_axes = (head_axes[0] * rng.uniform(0.25, 0.4), head_axes[1] * rng.uniform(0.05, 0.09))
        _paint(image, _soft_ellipse(x, y, mouth, mouth_axes, tilt), lips)

        face = Face(
            center=center,
            head_axes=head_axes,
            tilt=tilt,
            left_eye=eyes[0],
            right_eye=eyes[1],
            pupil_radius=pupil_radius,
            mouth=mouth,
            mouth_axes=mouth_axes,
            background=(top_color, bottom_color),
            skin=skin,
            hair=hair,
            lips=lips,
        )
        return np.clip(image, 0.0, 1.0).astype(np.float32), face
