"""Distill's overlap analysis on the registered deconvolutions: 3x3 at stride 2 uneven, 6x6 even."""

from collections import Counter

import torch

from pixeldcn.benchmark.overlap import deconvolutions, main, overlap, tap_counts
from pixeldcn.upsamplers import build_upsampler


def _counts(tile) -> Counter:
    return Counter(torch.tensor(tile).flatten().tolist())


def test_only_single_transposed_convolutions_are_analysed():
    names = deconvolutions()
    assert {"deconv", "deconv6", "deconv3d"} <= set(names)
    assert not {"pixeldcl", "ipixeldcl", "resize_nearest", "pixel_shuffle"} & set(names)


def test_3x3_stride_2_is_uneven_1_2_4():
    result = overlap("deconv")
    assert (result.kernel_size, result.stride) == ((3, 3), (2, 2))
    # Per 2x2 period: one pixel gets 1 tap, two get 2 (1 x 2), one gets 4 (2 x 2).
    assert _counts(result.tile) == Counter({1: 1, 2: 2, 4: 1})
    assert (result.min_taps, result.max_taps, result.even) == (1, 4, False)


def test_6x6_stride_2_is_even():
    result = overlap("deconv6")
    assert result.tile == [[9, 9], [9, 9]] and result.even


def test_3d_and_4x():
    assert _counts(overlap("deconv3d").tile) == Counter({1: 1, 2: 3, 4: 3, 8: 1})
    # Kernel 7 at stride 4: per axis, taps 2, 2, 1, 2 over a period (7 = 4 + 3), so 1..4 in 2D.
    four = overlap("deconv", scale_factor=4)
    assert four.kernel_size == (7, 7) and _counts(four.tile) == Counter({4: 9, 2: 6, 1: 1})
    assert overlap("deconv6", scale_factor=4).even


def test_counts_come_from_the_layer_itself():
    # Borders see fewer taps than the interior: the map is the layer's real output, not a formula.
    counts = tap_counts(build_upsampler("deconv6", 1, 1))
    assert counts.shape == (48, 48) and counts[0, 0] < 9 and counts[20, 20] == 9


def test_command_prints_every_deconvolution(capsys):
    main([])
    printed = capsys.readouterr().out
    assert "deconv: kernel 3x3, stride 2x2: 1-4 taps (uneven)" in printed
    assert "deconv6: kernel 6x6, stride 2x2: 9-9 taps (even)" in printed
