"""Literal forms the layer tests share: convolutions tap by tap, shuffling by explicit indexing,
and the comparison of a module with a literal form in outputs and gradients."""

import itertools

import torch


def same_conv(x, weight):
    """3x3 (3x3x3) 'same' cross-correlation without bias, tap by tap: sum_t x[p + t - 1] @ w[t]."""
    dims = x.dim() - 2
    padded = torch.nn.functional.pad(x, [1, 1] * dims)
    out = 0
    for tap in itertools.product(range(3), repeat=dims):
        window = padded[(slice(None), slice(None), *(slice(t, t + s) for t, s in zip(tap, x.shape[2:])))]
        out = out + torch.einsum("nc...,oc->no...", window, weight[(slice(None), slice(None), *tap)])
    return out


def place(maps, phases):
    """Periodic shuffling by explicit indexing: maps[k] at output positions 2 * index + phases[k]."""
    n, c, *sizes = maps[0].shape
    out = torch.zeros(n, c, *(2 * s for s in sizes))
    for phase_map, phase in zip(maps, phases):
        for index in itertools.product(*(range(s) for s in sizes)):
            out[(slice(None), slice(None), *(2 * i + o for i, o in zip(index, phase)))] = phase_map[
                (slice(None), slice(None), *index)
            ]
    return out


def at(t, *index):
    """t[:, :, index], zero outside the map."""
    if all(0 <= i < s for i, s in zip(index, t.shape[2:])):
        return t[(slice(None), slice(None), *index)]
    return torch.zeros(t.shape[:2])


def assert_equals_literal(module, literal, x):
    """Outputs, input gradients and parameter gradients of ``module`` and ``literal`` agree to 1e-10."""
    params = dict(module.named_parameters())
    x = x.clone().requires_grad_(True)
    upstream = torch.randn(module(x).shape, generator=torch.Generator().manual_seed(1))
    results = []
    for forward in (module, lambda t: literal(module, t)):
        out = forward(x)
        grads = torch.autograd.grad((out * upstream).sum(), [x, *params.values()], allow_unused=True)
        results.append((out.detach(), grads))
    (out_m, grads_m), (out_l, grads_l) = results
    torch.testing.assert_close(out_m, out_l, rtol=0, atol=1e-10)
    for key, g_m, g_l in zip(["input", *params], grads_m, grads_l):
        g_l = torch.zeros_like(g_m) if g_l is None else g_l  # a masked tap the literal form never reads
        torch.testing.assert_close(g_m, g_l, rtol=0, atol=1e-10, msg=key)
