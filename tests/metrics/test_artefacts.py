import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data

from pixeldcn.metrics import ArtefactMeter, artefact_measures, grid_power


def _batch(image) -> torch.Tensor:
    image = torch.as_tensor(image, dtype=torch.float64)
    return image.expand(1, 1, *image.shape[-2:]).clone()


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """scikit-image's bundled 512 x 512 photograph, in [0, 1], cropped to 256 x 256 for speed."""
    return _batch(data.camera()[128:384, 128:384] / 255.0)


def _checkerboard(size: int, amplitude: float) -> torch.Tensor:
    index = torch.arange(size, dtype=torch.float64)
    return _batch(amplitude * (-1.0) ** (index.view(-1, 1) + index.view(1, -1)))


def test_hand_computed_grid_powers():
    # a (-1)^(h+w) and a (-1)^h: mean 0, per-phase means +-a, power a^2 = 0.25 with a = 0.5.
    assert grid_power(_checkerboard(4, 0.5)) == pytest.approx(0.25, abs=1e-15)
    rows = (-1.0) ** torch.arange(6).view(-1, 1) * torch.ones(6, 6)
    assert grid_power(_batch(0.5 * rows)) == pytest.approx(0.25, abs=1e-15)
    # Period 4 along h, [1, 0, -1, 0]: one 2x stage sees no phase dependence (even rows average
    # 1 and -1 to 0, odd rows are 0); two stages see phase means [1, 0, -1, 0]: power 2 / 4.
    period_four = torch.tensor([1.0, 0.0, -1.0, 0.0]).repeat(2).view(-1, 1) * torch.ones(8, 8)
    assert grid_power(_batch(period_four), stages=1) == pytest.approx(0.0, abs=1e-15)
    assert grid_power(_batch(period_four), stages=2) == pytest.approx(0.5, abs=1e-15)
    # A constant is no artefact.
    assert grid_power(torch.full((1, 1, 4, 4), 3.0)) == 0.0


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_grid_power_equals_the_fft_energy_at_the_grid_frequencies(stages):
    images = np.random.default_rng(stages).random((2, 3, 16, 24))
    period = 2**stages
    spectrum = np.abs(np.fft.fft2(images - images.mean(axis=(2, 3), keepdims=True))) ** 2
    rows, cols = np.arange(0, 16, 16 // period), np.arange(0, 24, 24 // period)
    expected = spectrum[:, :, rows[:, None], cols[None, :]].sum() / (16 * 24) ** 2

    assert grid_power(torch.from_numpy(images), stages) == pytest.approx(expected, rel=1e-12)


def test_perfect_output_scores_zero(camera):
    measures = artefact_measures(camera, camera.clone(), stages=2)

    assert measures["residual_grid_energy"] == 0.0 and measures["residual_checkerboard"] == 0.0
    assert measures["output_grid_energy"] == measures["target_grid_energy"]


def test_a_periodic_artefact_on_a_photograph_scores_its_power_and_content_errors_do_not(camera):
    amplitude = 0.03
    variance = float(camera.var(unbiased=False))
    artefact = artefact_measures(camera + _checkerboard(256, amplitude), camera)
    # The residual is exactly the pattern: grid power a^2; the block energy loses only the
    # replicated image border (one block row and column of 32 hold 3/4 of it).
    assert artefact["residual_grid_energy"] == pytest.approx(amplitude**2 / variance, rel=1e-9)
    assert artefact["residual_checkerboard"] == pytest.approx(amplitude**2 / variance, rel=0.05)
    assert artefact["output_grid_energy"] > 10 * artefact["target_grid_energy"]

    # Errors of image content, each with more energy than the artefact: noise and blur. White noise
    # keeps about (P^2 - 1) / (H W) of its power on the grid and 3 / cell^2 = 1/21 in the blocks.
    noise = torch.from_numpy(np.random.default_rng(0).normal(0.0, amplitude, camera.shape))
    blurred = _batch(ndimage.gaussian_filter(camera[0, 0].numpy(), 1.0))
    assert float((blurred - camera).square().mean()) > amplitude**2
    for wrong in (camera + noise, blurred):
        content = artefact_measures(wrong, camera)
        assert content["residual_grid_energy"] < artefact["residual_grid_energy"] / 50
        assert content["residual_checkerboard"] < artefact["residual_checkerboard"] / 10


def test_a_two_stage_artefact_needs_two_stages(camera):
    # Period-4 stripes along w, [1, 0, -1, 0] * a: invisible to the 1-stage grid, power a^2 / 2 on the 2-stage one.
    amplitude = 0.03
    stripes = _batch(
        amplitude
        * torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=torch.float64).repeat(64).view(1, -1)
        * torch.ones(256, 256, dtype=torch.float64)
    )
    variance = float(camera.var(unbiased=False))
    one, two = (artefact_measures(camera + stripes, camera, stages=stages) for stages in (1, 2))

    assert one["residual_grid_energy"] == pytest.approx(0.0, abs=1e-15)
    assert two["residual_grid_energy"] == pytest.approx(amplitude**2 / 2 / variance, rel=1e-9)


def test_meter_equals_one_call_on_all_images(camera):
    outputs = torch.cat([camera + _checkerboard(256, 0.02), camera * 0.9])
    targets = torch.cat([camera, camera])
    meter = ArtefactMeter(stages=2)
    meter.update(outputs[:1], targets[:1])
    meter.update(outputs[1:], targets[1:])

    assert meter.compute() == pytest.approx(artefact_measures(outputs, targets, stages=2), rel=1e-12)
    with pytest.raises(ValueError, match="before any update"):
        ArtefactMeter().compute()


@pytest.mark.parametrize(
    ("output", "target", "stages", "message"),
    [
        (torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 4), 1, "same shape"),
        (torch.zeros(8, 8), torch.zeros(8, 8), 1, "N x C x H x W"),
        (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 3, "smaller than the grid period 8"),
        (torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), 0, "stages must be at least 1"),
    ],
)
def test_bad_input_is_named(output, target, stages, message):
    with pytest.raises(ValueError, match=message):
        artefact_measures(output, target, stages=stages)
