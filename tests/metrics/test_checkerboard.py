import numpy as np
import pytest
import torch

from pixeldcn.metrics import checkerboard_score


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    index = torch.arange(size, dtype=torch.float64)
    return index.view(size, 1), index.view(1, size)


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    return image.expand(1, 1, *image.shape[-2:]).clone()


def _reference_score(images: np.ndarray, cell: int) -> float:
    """The docstring's definition written out with explicit loops, independent of the module."""
    _, _, height, width = images.shape
    smallest_side = min(height, width)
    block = cell if smallest_side >= cell else max(2, smallest_side // 2 * 2)

    def second_difference_h(y):
        padded = np.pad(y, ((1, 1), (0, 0)), mode="edge")
        return padded[2:] - 2 * padded[1:-1] + padded[:-2]

    def second_difference_w(y):
        return second_difference_h(y.T).T

    energy = variance = 0.0
    for channel in images.reshape(-1, height, width).astype(np.float64):
        y = channel - channel.mean()
        variance += (y**2).mean()
        residual_h = np.empty_like(y)
        residual_w = np.empty_like(y)
        residual_hw = np.empty_like(y)
        d_h, d_w, d_hw = second_difference_h(y), second_difference_w(y), second_difference_w(second_difference_h(y))
        for h in range(height):
            for w in range(width):
                residual_h[h, w] = d_h[h, w] * (-1) ** h / 4
                residual_w[h, w] = d_w[h, w] * (-1) ** w / 4
                residual_hw[h, w] = d_hw[h, w] * (-1) ** (h + w) / 16
        block_energies = []
        for top in range(0, height - block + 1, block):
            for left in range(0, width - block + 1, block):
                window = (slice(top, top + block), slice(left, left + block))
                block_energies.append(sum(r[window].mean() ** 2 for r in (residual_h, residual_w, residual_hw)))
        energy += np.mean(block_energies)
    return 0.0 if variance == 0 else energy / variance


def test_hand_computed_impulse():
    # 4 x 4 image, 16 at (h, w) = (1, 2), zero elsewhere; cell = 4 gives a single block.
    # Mean 1, so y = impulse - 1: variance = (15^2 + 15 * 1^2) / 16 = 15. The constant does not
    # change replicate-padded differences, so the residuals come from the impulse alone.
    # D_h, column 2 (rows 0..3, y[-1] = y[0], y[4] = y[3]): [16-0-0, 0-32+0, 0-0+16, 0-0+0] = [16, -32, 16, 0];
    #   r_h = D_h (-1)^h / 4 = [4, 8, 4, 0] -> block mean 16 / 16 = 1.
    # D_w, row 1 (cols 0..3): [0, 16, -32, 16]; r_w = D_w (-1)^w / 4 = [0, -4, -8, -4] -> mean -1.
    # D_w(D_h)[h, w] = D_h[h] * [0, 1, -2, 1][w]; r_hw = [16, 32, 16, 0][h] * [0, -1, -2, -1][w] / 16
    #   sums to 64 * -4 / 16 = -16 -> mean -1.
    # Energy 1 + 1 + 1 = 3; score 3 / 15 = 0.2.
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 1, 2] = 16

    assert checkerboard_score(image, cell=4) == pytest.approx(0.2, abs=1e-12)


def test_hand_computed_stripes_lose_a_quarter_at_the_border():
    # y = (-1)^h on 4 x 4: mean 0, variance 1. Each column is [1, -1, 1, -1], so
    # D_h = [-1-1, 1+2+1, -1-2-1, -1+2+1] = [-2, 4, -4, 2] and r_h = D_h (-1)^h / 4 = [-1/2, -1, -1, -1/2]:
    # the replicated edges halve the pattern there. Block mean -3/4; r_w = r_hw = 0.
    # Score (3/4)^2 / 1 = 9/16.
    row_index, _ = _grid(4)
    stripes = _as_batch((-1.0) ** row_index * torch.ones(4, 4, dtype=torch.float64))

    assert checkerboard_score(stripes, cell=4) == pytest.approx(9 / 16, abs=1e-12)


@pytest.mark.parametrize(
    ("shape", "cell"),
    [((2, 3, 16, 16), 8), ((1, 2, 13, 10), 4), ((3, 1, 5, 7), 8), ((1, 1, 3, 9), 8), ((2, 1, 12, 20), 6)],
)
def test_matches_reference_including_remainders_and_small_images(shape, cell):
    generator = torch.Generator().manual_seed(sum(shape))
    images = torch.randn(shape, generator=generator, dtype=torch.float64)
    images += torch.linspace(0, 3, shape[-1], dtype=torch.float64)

    assert checkerboard_score(images, cell=cell) == pytest.approx(_reference_score(images.numpy(), cell), rel=1e-12)


def test_smooth_ramp_scores_about_zero():
    row_index, column_index = _grid(64)
    ramp = _as_batch(0.3 * row_index + 0.7 * column_index)

    assert checkerboard_score(ramp) < 1e-3


def test_white_noise_scores_a_few_hundredths():
    noise = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(0))

    assert 0.01 < checkerboard_score(noise) < 0.1


@pytest.mark.parametrize("pattern", ["rows", "columns", "checkerboard"])
def test_pure_period_two_patterns_score_close_to_one(pattern):
    row_index, column_index = _grid(64)
    exponent = {"rows": row_index, "columns": column_index, "checkerboard": row_index + column_index}[pattern]
    image = (-1.0) ** exponent * torch.ones(64, 64, dtype=torch.float64)

    assert checkerboard_score(_as_batch(image)) > 0.9


def test_invariant_to_offset_and_scale():
    generator = torch.Generator().manual_seed(3)
    row_index, column_index = _grid(32)
    images = torch.randn(2, 3, 32, 32, generator=generator, dtype=torch.float64) + 0.2 * (-1.0) ** (
        row_index + column_index
    )
    score = checkerboard_score(images)

    assert checkerboard_score(images + 17.5) == pytest.approx(score, abs=1e-9)
    assert checkerboard_score(images * 40.0) == pytest.approx(score, abs=1e-9)
    assert checkerboard_score(images * -0.01) == pytest.approx(score, abs=1e-9)


@pytest.mark.parametrize("amplitude", [0.05, 0.2])
def test_small_checkerboard_on_smooth_signal_scores_amplitude_squared_over_variance(amplitude):
    row_index, column_index = _grid(64)
    smooth = torch.sin(2 * torch.pi * 1.5 * row_index / 64) + torch.cos(2 * torch.pi * 2 * column_index / 64)
    image = _as_batch(smooth + amplitude * (-1.0) ** (row_index + column_index))

    # The border blocks see the pattern halved on their edge pixels, which costs about 6% here.
    expected = amplitude**2 / image.var(unbiased=False).item()
    assert checkerboard_score(image) == pytest.approx(expected, rel=0.1)


def test_flat_input_scores_zero():
    assert checkerboard_score(torch.full((2, 3, 8, 8), 0.1)) == 0.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_accepts_any_float_dtype(dtype):
    images = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    quantized = images.to(dtype)

    assert checkerboard_score(quantized) == pytest.approx(
        _reference_score(quantized.to(torch.float64).numpy(), cell=8), rel=1e-12
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_score_on_cuda():
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))

    assert checkerboard_score(images.cuda()) == pytest.approx(checkerboard_score(images), rel=1e-12)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="N x C x H x W"):
        checkerboard_score(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        checkerboard_score(torch.zeros(1, 1, 1, 8))
    with pytest.raises(ValueError, match="even"):
        checkerboard_score(torch.zeros(1, 1, 8, 8), cell=3)
