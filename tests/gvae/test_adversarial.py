"""The adversarial task: WGAN-GP terms by hand, which network each step trains, exact resumption, evaluation."""

from __future__ import annotations

import io
import math
from functools import partial
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from pixeldcn.models import GVAE, GVAE3D
from pixeldcn.tasks.adversarial import AdversarialTask, gradient_penalty
from pixeldcn.tasks.base import IncompatibleDatasetError, Task
from pixeldcn.upsamplers import build_upsampler

IMAGES = SimpleNamespace(channels=1, image_size=8)  # a dataset as the task sees it: [0, 1] images
TINY = {"latent_dim": 4, "generator_channels": (8, 4, 4), "critic_channels": (4, 4, 8)}


def tiny_model(seed: int = 0) -> GVAE:
    torch.manual_seed(seed)
    return GVAE(partial(build_upsampler, "pixeldcl"), image_size=8, **TINY)


def batches(count: int, size: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(size, 1, 8, 8, generator=generator) for _ in range(count)]


class LinearCritic(nn.Module):
    """``D(x) = w . x + b``: its input gradient is ``w`` everywhere."""

    def __init__(self, weight: list[float], bias: float = 0.5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight + self.bias


class FixedPosterior(nn.Module):
    def __init__(self, mu: list[float], logvar: list[float]) -> None:
        super().__init__()
        self.mu, self.logvar = nn.Parameter(torch.tensor(mu)), nn.Parameter(torch.tensor(logvar))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu.expand(len(x), -1), self.logvar.expand(len(x), -1)


class ConstantImage(nn.Module):
    """A generator whose every output is the same image, whatever the code."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.image = nn.Parameter(image)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.image.expand(len(z), *self.image.shape)


# ---------------------------------------------------------------------- the loss terms


def test_gradient_penalty_of_a_linear_critic_is_known_by_hand():
    critic = LinearCritic([1.0, 2.0, 2.0, 0.0])  # |w| = 3, so (|grad| - 1)^2 = 4 at every point
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake)
    assert float(penalty.detach()) == pytest.approx(4.0)
    penalty.backward()  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    torch.testing.assert_close(critic.weight.grad, 2 * 2 * torch.tensor([1.0, 2.0, 2.0, 0.0]) / 3)


def test_gradient_penalty_is_taken_at_the_interpolates():
    half_square = lambda x: 0.5 * x.flatten(1).square().sum(1)  # noqa: E731  gradient = x itself
    real, fake = torch.tensor([[3.0, 4.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # alpha 0.5 and 0.25: x_hat = (1.5, 2), norm 2.5; (0, 0.5), norm 0.5 -> ((1.5)^2 + (0.5)^2) / 2.
    penalty = gradient_penalty(half_square, real, fake, alpha=torch.tensor([0.5, 0.25]))
    assert float(penalty.detach()) == pytest.approx((1.5**2 + 0.5**2) / 2)


def test_gradient_penalty_under_a_gradient_scaler_is_unscaled():
    critic = LinearCritic([1.0, 2.0, 2.0, 0.0])
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    real, fake = torch.randn(3, 4), torch.randn(3, 4)
    assert float(gradient_penalty(critic, real, fake, scaler=scaler).detach()) == pytest.approx(4.0)


def stub_networks() -> dict[str, nn.Module]:
    return {
        "encoder": FixedPosterior([0.5, -1.0], [0.0, math.log(4.0)]),
        "generator": ConstantImage(torch.full((1, 2, 2), 0.25)),
        "critic": LinearCritic([1.0, 2.0, 2.0, 0.0], bias=0.5),
    }


def test_critic_and_encoder_generator_losses_by_hand():
    task = AdversarialTask(
        SimpleNamespace(channels=1, image_size=2),
        gp_weight=10.0,
        decoder_std=0.5,
        kl_weight=2.0,
        adversarial_weight=3.0,
    )
    networks = stub_networks()
    images = torch.tensor([[1.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]]).view(2, 1, 2, 2)  # in [-1, 1] already
    w, fake_score = torch.tensor([1.0, 2.0, 2.0, 0.0]), 0.25 * 5 + 0.5  # every fake is the 0.25 image
    real_score = float((images.flatten(1) @ w + 0.5).mean())
    loss, logs = task.critic_loss(networks, images)
    assert float(loss.detach()) == pytest.approx(-(real_score - fake_score) + 10.0 * 4.0)
    assert logs["wasserstein"] == pytest.approx(real_score - fake_score) and logs["gradient_penalty"] == pytest.approx(
        4
    )

    loss, logs = task.generator_loss(networks, images)
    recon = float(((images - 0.25) ** 2).flatten(1).sum(1).mean()) / (2 * 0.25)
    kl = -0.5 * ((1 + 0 - 0.25 - 1) + (1 + math.log(4.0) - 1 - 4))
    assert logs["recon"] == pytest.approx(recon) and logs["kl"] == pytest.approx(kl)
    assert logs["adversarial"] == pytest.approx(-fake_score)
    assert float(loss.detach()) == pytest.approx(recon + 2.0 * kl + 3.0 * -fake_score)


def test_the_critic_step_leaves_encoder_and_generator_without_gradient():
    task = AdversarialTask(SimpleNamespace(channels=1, image_size=2))
    networks = stub_networks()
    loss, _ = task.critic_loss(networks, torch.zeros(2, 1, 2, 2))
    loss.backward()
    assert networks["critic"].weight.grad is not None
    assert networks["generator"].image.grad is None and networks["encoder"].mu.grad is None


# ---------------------------------------------------------------------- the step the engine drives


def test_phases_alternate_critic_steps_with_one_generator_step():
    task = AdversarialTask(IMAGES, critic_steps=2)
    assert [task.phase(step) for step in range(6)] == ["critic", "critic", "generator"] * 2
    assert {AdversarialTask(IMAGES, adversarial_weight=0).phase(step) for step in range(5)} == {"generator"}


def test_optimizers_split_the_three_networks_in_two_with_the_seeds_settings():
    model = tiny_model()
    optimizers = AdversarialTask(IMAGES).configure_optimizers(model)
    ids = {name: {id(p) for group in opt.param_groups for p in group["params"]} for name, opt in optimizers.items()}
    assert ids["critic"] == {id(p) for p in model.critic.parameters()}
    assert ids["generator"] == {id(p) for p in [*model.encoder.parameters(), *model.generator.parameters()]}
    assert all(isinstance(opt, torch.optim.Adam) and opt.defaults["lr"] == 1e-4 for opt in optimizers.values())


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in module.parameters()]


def changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_each_step_updates_only_the_network_of_its_phase():
    model, task = tiny_model().train(), AdversarialTask(IMAGES, critic_steps=1)
    optimizers = task.configure_optimizers(model)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    for step, phase in enumerate(["critic", "generator"]):
        before = {name: snapshot(net) for name, net in task.networks(model).items()}
        logs = task.train_step(task.networks(model), batches(1)[0], step, optimizers, scaler)
        moved = {name for name, net in task.networks(model).items() if changed(before[name], net)}
        assert moved == ({"critic"} if phase == "critic" else {"encoder", "generator"})
        assert ("gradient_penalty" in logs) == (phase == "critic") and all(map(math.isfinite, logs.values()))


def test_a_non_finite_loss_updates_nothing():
    model, task = tiny_model().train(), AdversarialTask(IMAGES)
    optimizers = task.configure_optimizers(model)
    before = snapshot(model)
    poisoned = batches(1)[0]
    poisoned[0, 0, 0, 0] = float("nan")
    logs = task.train_step(task.networks(model), poisoned, 0, optimizers, torch.amp.GradScaler("cpu", enabled=False))
    assert math.isnan(logs["critic_loss"]) and not changed(before, model)
    # Another process's non-finite loss makes this one skip too.
    healthy = batches(1)[0]
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    task.train_step(task.networks(model), healthy, 0, optimizers, scaler, on_every_rank=lambda ok: False)
    assert not changed(before, model)


def test_bf16_autocast_and_an_enabled_scaler_train_both_phases():
    model, task = tiny_model().train(), AdversarialTask(IMAGES, critic_steps=1)
    optimizers = task.configure_optimizers(model)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    autocast = partial(torch.autocast, "cpu", dtype=torch.bfloat16)
    for step in range(2):
        logs = task.train_step(task.networks(model), batches(1)[0], step, optimizers, scaler, autocast)
        assert all(map(math.isfinite, logs.values()))


def train_steps(model, task, optimizers, data, steps: range) -> None:
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    for step in steps:
        task.train_step(task.networks(model), data[step], step, optimizers, scaler)


def test_resuming_from_weights_optimizers_and_generators_takes_the_same_steps():
    """What the engine must checkpoint for an adversarial run: the weights, every optimizer, the RNG."""
    data, task = batches(6), AdversarialTask(IMAGES, critic_steps=2)
    straight = tiny_model().train()
    optimizers = task.configure_optimizers(straight)
    train_steps(straight, task, optimizers, data, range(6))

    first = tiny_model().train()
    optimizers = task.configure_optimizers(first)
    train_steps(first, task, optimizers, data, range(3))
    buffer = io.BytesIO()
    state = {
        "model": first.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": torch.random.get_rng_state(),
    }
    torch.save(state, buffer)
    torch.manual_seed(123)  # whatever happens in between
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = tiny_model(seed=7).train()
    resumed.load_state_dict(saved["model"])
    optimizers = task.configure_optimizers(resumed)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved["optimizers"][name])
    torch.random.set_rng_state(saved["rng"])
    train_steps(resumed, task, optimizers, data, range(3, 6))
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))


def test_the_single_loss_of_todays_engine_is_refused_with_a_reason():
    with pytest.raises(RuntimeError, match="train_step"):
        AdversarialTask(IMAGES).loss(tiny_model(), batches(1)[0])
    assert isinstance(AdversarialTask(IMAGES), Task)


# ---------------------------------------------------------------------- evaluation


class LinearGaussianModel(nn.Module):
    """z ~ N(0, 1), x | z ~ N(z 1, s^2 I) on 4 x 4 images, with the exact posterior as encoder."""

    latent_dim = 1

    def __init__(self, noise_std: float) -> None:
        super().__init__()
        self.noise_var = noise_std**2

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        precision = 1 + 16 / self.noise_var
        mu = x.flatten(1).sum(1, keepdim=True) / self.noise_var / precision
        return mu, torch.full_like(mu, -math.log(precision))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 1, 1, 1).expand(-1, 1, 4, 4)


def test_evaluation_likelihoods_of_a_linear_gaussian_model_are_its_exact_log_likelihood():
    """With the exact posterior every importance weight is p(x): the IWAE estimate is exact for any K,
    and the one-sample ELBO (log p(x | z) - KL) is exact on average."""
    noise_std = 0.5
    task = AdversarialTask(SimpleNamespace(channels=1, image_size=4), decoder_std=noise_std, iwae_samples=3)
    images01 = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0)).repeat(200, 1, 1, 1)
    state = task.new_state()
    model = LinearGaussianModel(noise_std)
    task.evaluate_batch(model, images01, state)
    summary = task.summarize(state)
    x = (2 * images01 - 1).flatten(1).double().numpy()  # the task's [-1, 1] scale
    covariance = noise_std**2 * np.eye(16) + np.ones((16, 16))
    inverse, log_det = np.linalg.inv(covariance), np.linalg.slogdet(covariance)[1]
    exact = np.mean([-0.5 * (16 * math.log(2 * math.pi) + log_det + row @ inverse @ row) for row in x])
    assert summary["log_likelihood"] == pytest.approx(exact, abs=1e-5)  # float32 model outputs
    assert summary["elbo"] == pytest.approx(exact, abs=0.02) and summary["elbo"] != pytest.approx(exact, abs=1e-6)
    mu, logvar = (t.double() for t in model.encode(2 * images01 - 1))
    assert summary["kl"] == pytest.approx(float((-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean()))


class CheckerboardModel(nn.Module):
    """Decodes every code to the same 4 x 4 pattern ``amplitude * (-1)^(h + w)``: a pure grid artefact."""

    latent_dim = 1

    def __init__(self, amplitude: float) -> None:
        super().__init__()
        signs = torch.tensor([[(-1.0) ** (h + w) for w in range(4)] for h in range(4)])
        self.register_buffer("pattern", amplitude * signs)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.new_zeros(len(x), 1), x.new_zeros(len(x), 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.pattern.expand(len(z), 1, 4, 4)


def test_grid_energies_of_samples_and_reconstructions_match_a_hand_computed_checkerboard():
    """Samples and reconstructions are ``a (-1)^(h + w)``: grid power a^2 per image, against the real
    images' variance; the real images' own grid energy is read off their FFT at (pi, 0), (0, pi), (pi, pi)."""
    amplitude, task = 0.3, AdversarialTask(SimpleNamespace(channels=1, image_size=4), iwae_samples=1)
    images01 = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = task.new_state()
    task.evaluate_batch(CheckerboardModel(amplitude), images01.float(), state)
    summary = task.summarize(state)
    real = (2 * images01 - 1).float().double().numpy()[:, 0]  # the task's [-1, 1] scale
    variance = real.var(axis=(1, 2)).sum()
    spectrum = np.abs(np.fft.fft2(real)) ** 2 / 16**2  # per-bin power (Parseval: sums to the mean square)
    grid = spectrum[:, [2, 0, 2], [0, 2, 2]].sum()
    assert summary["grid_energy_samples"] == pytest.approx(6 * amplitude**2 / variance, rel=1e-6)
    assert summary["grid_energy_reconstructions"] == pytest.approx(6 * amplitude**2 / variance, rel=1e-6)
    assert summary["grid_energy_real"] == pytest.approx(grid / variance, rel=1e-6)
    residual = CheckerboardModel(amplitude).pattern.double().numpy() - real
    residual_grid = (np.abs(np.fft.fft2(residual)) ** 2 / 16**2)[:, [2, 0, 2], [0, 2, 2]].sum()
    assert summary["residual_grid_energy"] == pytest.approx(residual_grid / variance, rel=1e-6)


def test_evaluation_accumulates_over_batches_and_processes():
    model, task = tiny_model().eval(), AdversarialTask(IMAGES, iwae_samples=2)
    images = batches(1, size=4)[0]
    whole, parts = task.new_state(), task.new_state()
    with torch.no_grad():
        task.evaluate_batch(model, images, whole)
        task.evaluate_batch(model, images[:2], parts)
        task.evaluate_batch(model, images[2:], parts)
    one, two = task.summarize(whole), task.summarize(parts)
    assert set(one) == {"mmd", "msssim_samples", "msssim_real", "checkerboard_samples", "checkerboard_real",
                        "elbo", "log_likelihood", "kl", "recon_mse", "grid_energy_samples", "grid_energy_real",
                        "grid_energy_reconstructions", "residual_grid_energy", "residual_checkerboard"}  # fmt: skip
    for key in ("msssim_real", "checkerboard_real", "recon_mse", "kl", "grid_energy_real", "residual_grid_energy"):
        assert one[key] == pytest.approx(two[key], rel=1e-5), key
    assert all(math.isfinite(value) for value in one.values())
    reduced = task.summarize(task.reduce_state(parts, lambda tensor: 2 * tensor))
    assert reduced == pytest.approx(two)


def test_pictures_of_2d_and_3d_models_are_rgb_in_unit_range():
    task = AdversarialTask(IMAGES, num_vis_samples=4, num_vis_images=2)
    pictures = task.visualize(tiny_model().eval(), batches(1)[0])
    assert set(pictures) == {"samples", "samples_zoom", "reconstructions", "reconstructions_labelled"}
    for picture in pictures.values():
        assert picture.dim() == 3 and picture.shape[0] == 3 and 0 <= picture.min() and picture.max() <= 1
    volumes = SimpleNamespace(channels=1, image_size=8, value_range=(-1.0, 1.0))
    model3d = GVAE3D(partial(build_upsampler, "deconv3d"), image_size=8, **TINY).eval()
    task3d = AdversarialTask(volumes, num_vis_samples=2, num_vis_images=2, iwae_samples=1)
    assert task3d.visualize(model3d, torch.rand(2, 1, 8, 8, 8) * 2 - 1)["samples"].shape[0] == 3
    state = task3d.new_state()
    with torch.no_grad():
        task3d.evaluate_batch(model3d, torch.rand(2, 1, 8, 8, 8) * 2 - 1, state)
    assert math.isfinite(task3d.summarize(state)["checkerboard_samples"])


def test_value_ranges_map_to_minus_one_one_and_labels_are_needed_for_the_classifier():
    ct = AdversarialTask(SimpleNamespace(channels=1, image_size=8, value_range=(-1.0, 1.0)))
    torch.testing.assert_close(ct.to_model_scale(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(
        AdversarialTask(IMAGES).to_model_scale(torch.tensor([0.0, 1.0])), torch.tensor([-1.0, 1.0])
    )
    with pytest.raises(IncompatibleDatasetError, match="classifier_steps=0"):
        AdversarialTask(IMAGES, classifier_steps=5)


def test_training_steps_learn_the_critic_and_the_reconstruction():
    """Driven by the phase schedule on one fixed batch: the critic's Wasserstein estimate grows and the
    encoder-generator's reconstruction term falls."""
    model, task = tiny_model().train(), AdversarialTask(IMAGES, lr=1e-3, critic_steps=3)
    optimizers = task.configure_optimizers(model)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = batches(1, size=8)[0]
    logs = [task.train_step(task.networks(model), batch, step, optimizers, scaler) for step in range(40)]
    distances = [entry["wasserstein"] for entry in logs if "wasserstein" in entry]
    recons = [entry["recon"] for entry in logs if "recon" in entry]
    assert len(distances) == 30 and len(recons) == 10
    assert np.mean(distances[-5:]) > np.mean(distances[:5]) and recons[-1] < recons[0]


class LabelledImages(torch.utils.data.Dataset):
    channels, image_size, class_names = 1, 8, ["dark", "bright"]

    def __init__(self) -> None:
        self.images = torch.cat([torch.full((8, 1, 8, 8), 0.2), torch.full((8, 1, 8, 8), 0.8)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(index >= 8)


def test_the_classifier_frechet_distance_is_reported_when_the_data_has_labels():
    task = AdversarialTask(LabelledImages(), classifier_steps=5, iwae_samples=1)
    state = task.new_state()
    with torch.no_grad():
        task.evaluate_batch(tiny_model().eval(), LabelledImages().images, state)
    summary = task.summarize(state)
    assert summary["frechet_classifier"] >= 0 and math.isfinite(summary["frechet_classifier"])
    task.reduce_state(state, lambda tensor: 2 * tensor)
    assert state.frechet.real.count == state.frechet.fake.count == 32
