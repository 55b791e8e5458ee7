"""Measured parameter and MAC counts equal the formulas in the layers' docstrings."""

import pytest

from pixeldcn.upsamplers import UPSAMPLERS, build_upsampler
from pixeldcn.upsamplers.__main__ import main
from pixeldcn.upsamplers.costs import cost_table, count_macs, count_parameters

CIN, COUT = 6, 4

# name: (parameters, MACs per output pixel) as the docstrings state them.
FORMULAS = {
    "deconv": (9 * CIN * COUT + COUT, 9 * CIN * COUT / 4),
    "deconv6": (36 * CIN * COUT + COUT, 9 * CIN * COUT),
    "ipixeldcl": (
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * 2 * COUT) + 4 * COUT,
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * 2 * COUT) / 4,
    ),
    "pixeldcl": (
        9 * CIN * COUT + 9 * COUT**2 + 4 * COUT**2 + 3 * COUT,
        lambda size: (9 * CIN * COUT + 9 * COUT**2 + 8 * COUT**2) / 4 + COUT**2 * 2 * size / size**2,
    ),
    "ipixeldcl_seq": (
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * COUT + (CIN + 3 * COUT) * COUT) + 4 * COUT,
        9 * (CIN * COUT + (CIN + COUT) * COUT + (CIN + 2 * COUT) * COUT + (CIN + 3 * COUT) * COUT) / 4,
    ),
    "pixeldcl_seq": (9 * (CIN * COUT + 6 * COUT**2) + 4 * COUT, 9 * (CIN * COUT + 6 * COUT**2) / 4),
    "resize_nearest": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
    "resize_bilinear": (9 * CIN * COUT + COUT, 9 * CIN * COUT),
    "pixel_shuffle": (36 * CIN * COUT + 4 * COUT, 9 * CIN * COUT),
    "pixel_shuffle_icnr": (36 * CIN * COUT + 4 * COUT, 9 * CIN * COUT),
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


def test_reference_pixeldcl_pays_for_the_full_resolution_masked_convolution():
    fast = build_upsampler("pixeldcl", CIN, COUT)
    reference = build_upsampler("pixeldcl", CIN, COUT, impl="reference")
    shape = (1, CIN, 4, 4)
    # The literal form convolves the 8x8 grid with the full 3x3 kernel: 9*COUT^2 per output pixel;
    # the fast form's 2-tap convolutions cost 8*COUT^2 per input pixel plus one padded row/column.
    extra = 9 * COUT**2 * 64 - 4 * (2 * COUT**2) * (4 + 1) * 4
    assert count_macs(reference, shape) - count_macs(fast, shape) == extra


def test_table_cli_prints_every_upsampler(capsys):
    main(["--in", "512", "--out", "256"])
    printed = capsys.readouterr().out
    assert all(name in printed for name in UPSAMPLERS)
    assert "2,032,384" in printed  # pixeldcl: 9*512*256 + 13*256^2 + 3*256


def test_cost_table_rows():
    rows = {row["name"]: row for row in cost_table(CIN, COUT, size=16)}
    assert rows["pixeldcl"]["macs_per_output_pixel"] == FORMULAS["pixeldcl"][1](16)
    assert rows["deconv6"]["macs_per_output_pixel"] == FORMULAS["deconv6"][1]
