"""Measured parameter and MAC counts equal the formulas in the layers' docstrings."""

import pytest
import torch

from pixeldcn.benchmark.costs import (
    conv_cost_table,
    cost_table,
    cost_table_3d,
    count_flops,
    count_macs,
    count_parameters,
    main,
)
from pixeldcn.convs import CONVS, PixelCL, build_conv
from pixeldcn.upsamplers import UPSAMPLERS, UPSAMPLERS_3D, build_upsampler

CIN, COUT = 6, 4

# name: (parameters, MACs per output pixel) as the docstrings state them, for the default form at
# these widths (PixelDCL's ``auto`` takes ``two_tap`` below 128 channels: one padded row/column more).
FORMULAS = {
    "deconv": (9 * CIN * COUT + COUT, 9 * CIN * COUT / 4),
    "deconv_torch": (9 * CIN * COUT + COUT, 9 * CIN * COUT / 4),
    "deconv6": (36 * CIN * COUT + COUT, 9 * CIN * COUT),
    "ipixeldcl": (
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * 2 * COUT) + COUT,
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * 2 * COUT) / 4,
    ),
    "pixeldcl": (
        9 * CIN * COUT + 9 * COUT**2 + 4 * COUT**2 + COUT,
        lambda size: (9 * CIN * COUT + 9 * COUT**2 + 8 * COUT**2) / 4 + COUT**2 * 2 * size / size**2,
    ),
    "pixeldcl_2x2": (
        4 * CIN * COUT + 8 * COUT**2 + COUT,
        lambda size: (4 * CIN * COUT + 12 * COUT**2) / 4 + COUT**2 * 2 * size / size**2,
    ),
    "ipixeldcl_seq": (
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * COUT + (CIN + 3 * COUT) * COUT) + COUT,
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * COUT + (CIN + 3 * COUT) * COUT) / 4,
    ),
    "pixeldcl_seq": (9 * (CIN * COUT + 6 * COUT**2) + COUT, 9 * (CIN * COUT + 6 * COUT**2) / 4),
    "resize_nearest": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
    "resize_bilinear": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
    "pixel_shuffle": (36 * CIN * COUT + 4 * COUT, 9 * CIN * COUT),
    "pixel_shuffle_icnr": (36 * CIN * COUT + 4 * COUT, 9 * CIN * COUT),
}

# 3D layers: (parameters, MACs per output voxel).
FORMULAS_3D = {
    "deconv3d": (27 * CIN * COUT + COUT, 27 * CIN * COUT / 8),
    "deconv_torch3d": (27 * CIN * COUT + COUT, 27 * CIN * COUT / 8),
    "pixeldcl3d": (27 * CIN * COUT + 87 * COUT**2 + COUT, (27 * CIN * COUT + 105 * COUT**2) / 8),
    "ipixeldcl3d": (
        27 * (CIN * COUT + (CIN + COUT) * 3 * COUT + (CIN + 4 * COUT) * 4 * COUT) + COUT,
        27 * (CIN * COUT + (CIN + COUT) * 3 * COUT + (CIN + 4 * COUT) * 4 * COUT) / 8,
    ),
}

# Same-size convolutions with bias: (parameters, MACs per output pixel).
CONV_FORMULAS = {
    "conv": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
    "pixelcl": (4 * 9 * CIN * COUT + 16 * COUT**2 + COUT, 9 * CIN * COUT + 4 * COUT**2),
}


def test_every_registered_upsampler_has_a_formula():
    assert set(FORMULAS) == set(UPSAMPLERS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
@pytest.mark.parametrize("size", [4, 6])
def test_counts_match_the_docstring_formulas(name, size):
    params, macs_per_pixel = FORMULAS[name]
    if callable(macs_per_pixel):
        macs_per_pixel = macs_per_pixel(size)
    module = build_upsampler(name, CIN, COUT)
    assert count_parameters(module) == params
    assert count_macs(module, (2, CIN, size, size)) == macs_per_pixel * 2 * (2 * size) ** 2


def test_pixeldcl_forms_pay_for_what_they_compute_beyond_the_kept_taps():
    fast, two_tap, reference = (
        build_upsampler("pixeldcl", CIN, COUT, impl=i) for i in ("fast", "two_tap", "reference")
    )
    shape = (1, CIN, 4, 4)
    # The fast form multiplies each of the 16 input pixels of F1 and F2 by the four kept taps: 8*COUT^2 each.
    # The literal form convolves the 8x8 grid with the full 3x3 kernel: 9*COUT^2 per output pixel.
    assert count_macs(reference, shape) - count_macs(fast, shape) == 9 * COUT**2 * 64 - 8 * COUT**2 * 16
    # The four 2-tap convolutions (2*COUT^2 per output) also compute one padded row or column: 5 x 4 outputs each.
    assert count_macs(two_tap, shape) - count_macs(fast, shape) == 4 * (2 * COUT**2) * (4 + 1) * 4 - 8 * COUT**2 * 16


def test_table_cli_prints_every_upsampler(capsys):
    main(["--in", "512", "--out", "256"])
    printed = capsys.readouterr().out
    assert all(name in printed for name in UPSAMPLERS)
    assert "2,031,872" in printed  # pixeldcl: 9*512*256 + 13*256^2 + 256


def test_cost_table_rows():
    rows = {row["name"]: row for row in cost_table(CIN, COUT, size=16)}
    assert rows["pixeldcl"]["macs_per_output_pixel"] == FORMULAS["pixeldcl"][1](16)
    assert rows["deconv6"]["macs_per_output_pixel"] == FORMULAS["deconv6"][1]


def test_every_3d_upsampler_and_convolution_has_a_formula():
    assert set(FORMULAS_3D) == set(UPSAMPLERS_3D)
    assert set(CONV_FORMULAS) == set(CONVS)


@pytest.mark.parametrize("name", sorted(FORMULAS_3D))
@pytest.mark.parametrize("size", [(2, 3, 4), (3, 3, 3)])
def test_3d_counts_match_the_docstring_formulas(name, size):
    params, macs_per_voxel = FORMULAS_3D[name]
    module = build_upsampler(name, CIN, COUT)
    assert count_parameters(module) == params
    assert count_macs(module, (2, CIN, *size)) == macs_per_voxel * 2 * 8 * size[0] * size[1] * size[2]


@pytest.mark.parametrize("name", sorted(CONV_FORMULAS))
def test_convolution_counts_match_the_docstring_formulas(name):
    params, macs_per_pixel = CONV_FORMULAS[name]
    module = build_conv(name, CIN, COUT)
    assert count_parameters(module) == params
    assert count_parameters(build_conv(name, CIN, COUT, bias=False)) == params - COUT
    assert count_macs(module, (2, CIN, 4, 6)) == macs_per_pixel * 2 * 4 * 6


def test_reference_pixelcl_pays_for_full_resolution_dependency_convolutions():
    fast, reference = PixelCL(CIN, COUT), PixelCL(CIN, COUT, impl="reference")
    # Per 4 x 6 map: three full-kernel convolutions of the whole grid (9 COUT^2 per pixel each)
    # instead of 16 COUT^2 per 2x2 block.
    extra = 3 * 9 * COUT**2 * 24 - 16 * COUT**2 * 6
    assert count_macs(reference, (1, CIN, 4, 6)) - count_macs(fast, (1, CIN, 4, 6)) == extra


@pytest.mark.parametrize("name", ["pixeldcl", "ipixeldcl_seq", "pixeldcl3d"])
def test_a_stacked_upsampler_costs_the_sum_of_its_stages(name):
    size = (3, 2, 4)[: 3 if name in UPSAMPLERS_3D else 2]
    stacked = build_upsampler(name, CIN, COUT, scale_factor=4)
    first, second = build_upsampler(name, CIN, COUT), build_upsampler(name, COUT, COUT)
    assert count_parameters(stacked) == count_parameters(first) + count_parameters(second)
    doubled = tuple(2 * s for s in size)
    expected = count_macs(first, (1, CIN, *size)) + count_macs(second, (1, COUT, *doubled))
    assert count_macs(stacked, (1, CIN, *size)) == expected


@pytest.mark.parametrize("name", ["deconv", "deconv6", "resize_nearest", "pixel_shuffle"])
def test_one_step_upsamplers_at_4x(name):
    # deconv: kernel 7 at stride 4 (49/16 taps per output pixel); deconv6: kernel 12, 9 taps per
    # output pixel at any factor; resize: 9 at the output; shuffle: 16 * 9 per input pixel.
    params, macs = {
        "deconv": (49 * CIN * COUT + COUT, 49 * CIN * COUT / 16),
        "deconv6": (144 * CIN * COUT + COUT, 9 * CIN * COUT),
        "resize_nearest": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
        "pixel_shuffle": (144 * CIN * COUT + 16 * COUT, 9 * CIN * COUT),
    }[name]
    module = build_upsampler(name, CIN, COUT, scale_factor=4)
    assert count_parameters(module) == params
    assert count_macs(module, (1, CIN, 4, 4)) == macs * 16 * 16


def test_table_cli_prints_the_3d_and_convolution_sections(capsys):
    main(["--in", "8", "--out", "4", "--size", "8", "--size3d", "2"])
    printed = capsys.readouterr().out
    assert all(name in printed for name in [*UPSAMPLERS_3D, *CONVS])
    assert "x deconv3d" in printed and "x conv" in printed
    assert "2,260" in printed  # pixeldcl3d: 27*8*4 + 87*4^2 + 4


def test_3d_and_convolution_cost_tables():
    rows_3d = {row["name"]: row for row in cost_table_3d(CIN, COUT, size=3)}
    assert rows_3d.keys() == UPSAMPLERS_3D.keys()
    for name, (params, macs) in FORMULAS_3D.items():
        assert (rows_3d[name]["parameters"], rows_3d[name]["macs_per_output_pixel"]) == (params, macs)
    rows = {row["name"]: row for row in conv_cost_table(CIN, COUT, size=6)}
    for name, (params, macs) in CONV_FORMULAS.items():
        assert (rows[name]["parameters"], rows[name]["macs_per_output_pixel"]) == (params, macs)


def test_count_flops_includes_the_backward_pass():
    layer = torch.nn.Linear(4, 3, bias=False)
    x = torch.ones(2, 4, requires_grad=True)
    assert count_flops(lambda: layer(x)) == 2 * 2 * 4 * 3
    # Backward: the input's gradient and the weight's, each as many FLOPs as the forward.
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 2 * 4 * 3
