"""The up-sampler clock times the up-sampling layers' forward and backward inside a step and nothing
else: checked on layers that sleep for known times in their forward and backward, beside a
non-up-sampling layer that sleeps longer in both."""

import time

import pytest
import torch
from torch import nn

from pixeldcn.benchmark.upsampler_share import UpsamplerClock, clock_upsamplers, outermost_layers
from pixeldcn.upsamplers import build_upsampler
from pixeldcn.upsamplers.pixel_dcl import PixelDCL

CPU = torch.device("cpu")


class _Sleep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, forward_s: float, backward_s: float) -> torch.Tensor:
        time.sleep(forward_s)
        ctx.backward_s = backward_s
        return x * 2

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        time.sleep(ctx.backward_s)
        return grad * 2, None, None


class SleepyLayer(nn.Module):
    def __init__(self, forward_s: float, backward_s: float) -> None:
        super().__init__()
        self.forward_s, self.backward_s = forward_s, backward_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Sleep.apply(x, self.forward_s, self.backward_s)


class SleepyUpsampler(SleepyLayer):
    """Stands for an up-sampling layer (the clock is told to look for this type)."""


def _model_and_step():
    weight = nn.Parameter(torch.ones(3))
    model = nn.Sequential(SleepyLayer(0.15, 0.15), SleepyUpsampler(0.03, 0.05), SleepyLayer(0.0, 0.0))
    model.register_parameter("weight", weight)

    def step() -> None:
        model(weight * torch.ones(3)).sum().backward()

    return model, step


def test_the_clock_times_the_upsamplers_forward_and_backward_and_not_the_rest_of_the_step():
    model, step = _model_and_step()
    with UpsamplerClock(model, CPU, layer_types=(SleepyUpsampler,)) as clock:
        clock.time_step(step)
        clock.time_step(step)
    share = clock.summary()
    assert share["layers"] == 1 and share["steps"] == 2
    # At least the sleeps of the up-sampler; far less than they plus the other layer's 0.15 s.
    assert 0.03 <= share["upsampler_forward_seconds"] < 0.03 + 0.1
    assert 0.05 <= share["upsampler_backward_seconds"] < 0.05 + 0.1
    assert share["step_seconds"] >= 0.03 + 0.05 + 2 * 0.15
    assert share["rest_seconds"] >= 2 * 0.15
    expected_share = (share["upsampler_forward_seconds"] + share["upsampler_backward_seconds"]) / share["step_seconds"]
    assert share["upsampler_share"] == pytest.approx(expected_share, rel=0.2)


def test_the_hooks_exist_only_while_the_clock_is_entered():
    model, step = _model_and_step()
    upsampler = model[1]
    with UpsamplerClock(model, CPU, layer_types=(SleepyUpsampler,)) as clock:
        assert upsampler._forward_hooks and upsampler._forward_pre_hooks
    assert not upsampler._forward_hooks and not upsampler._forward_pre_hooks
    with pytest.raises(RuntimeError, match="enter the clock"):
        clock.time_step(step)
    with pytest.raises(RuntimeError, match="no step timed"):
        UpsamplerClock(model, CPU).summary()


def test_registered_upsamplers_are_found_and_a_layer_inside_another_is_counted_once():
    outer = PixelDCL(4, 4)
    outer.inner = build_upsampler("deconv6", 4, 4)  # an up-sampler nested in another
    model = nn.Sequential(nn.Conv2d(4, 4, 3), outer, nn.Sequential(build_upsampler("deconv6", 4, 4)))
    assert UpsamplerClock(model, CPU).layers == [outer, model[2][0]]
    assert outermost_layers(model, (nn.Sequential,)) == [model]


def test_models_are_clocked_in_turn_and_each_gets_its_own_summary():
    first, first_step = _model_and_step()
    second, second_step = _model_and_step()
    second[1].forward_s = 0.09
    steps = {"first": (first, first_step), "second": (second, second_step)}
    shares = clock_upsamplers(steps, CPU, rounds=2, progress=False, layer_types=(SleepyUpsampler,))
    assert shares["first"]["steps"] == shares["second"]["steps"] == 2
    assert 0.03 <= shares["first"]["upsampler_forward_seconds"] < 0.09 <= shares["second"]["upsampler_forward_seconds"]
    # The registered up-samplers are what is looked for by default: these models have none.
    assert clock_upsamplers(steps, CPU, rounds=1, progress=False)["first"]["layers"] == 0
