"""The edges study: its splits, its paired seeds, and a smoke run of `experiment=study_edges`."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUIET_SMOKE, composed
from data.conftest import write_fashion_idx_fixture

import pixeldcn.build as build
from pixeldcn.data import FashionScenes
from pixeldcn.engine.seed import seed_everything, with_private_rng

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def fashion(tmp_path_factory: pytest.TempPathFactory):
    # Test garments labelled 7, 8, 9 (classes 8, 9, 10): select draws the even ones (7 and 9), report the odd one (8).
    return write_fashion_idx_fixture(tmp_path_factory.mktemp("fashion"), test_labels=(7, 8, 9))


def _classes(dataset: FashionScenes) -> set[int]:
    return set(torch.cat([dataset[index][1].flatten() for index in range(len(dataset))]).unique().tolist())


def test_select_and_report_scenes_draw_from_disjoint_halves_of_the_test_garments(fashion):
    def split(name: str) -> FashionScenes:
        return FashionScenes(root=fashion.root, split=name, image_size=48, num_samples=20)

    assert _classes(split("select")) == {0, 8, 10}
    assert _classes(split("report")) == {0, 9}
    assert _classes(split("val")) == {0, 8, 9, 10}
    # Each split its own stream of scenes, the old ones unchanged by the new ones' existence.
    assert not torch.equal(split("select")[0][0], split("val")[0][0])
    assert len(FashionScenes(root=fashion.root, split="report")) == 1000


def _shared_parameters(cfg, upsampler: str) -> dict[str, torch.Tensor]:
    with composed(*cfg, f"upsampler={upsampler}") as config:
        data = build.build_dataset(config, "train")
        task = build.build_task(config, data)
        seed_everything(config.seed)
        model = build.build_model(config, task, data)
    return {name: value for name, value in model.state_dict().items() if ".upsample." not in name}


def test_a_seed_starts_the_layers_every_upsampler_shares_alike(fashion):
    # deconv6 draws one 6x6 kernel per layer, pixeldcl three convolutions, ICNR a kernel it then
    # copies: without a private stream per up-sampler the decoder layers after the first one differ.
    overrides = ["experiment=study_edges", "debug=smoke", f"dataset.root={fashion.root}", "seed=3"]
    deconv6 = _shared_parameters(overrides, "deconv6")
    for other in ("pixeldcl", "pixel_shuffle_icnr", "resize_nearest"):
        shared = _shared_parameters(overrides, other)
        assert shared.keys() == deconv6.keys()
        assert all(torch.equal(shared[name], deconv6[name]) for name in shared), other
    another_seed = _shared_parameters([*overrides[:-1], "seed=4"], "deconv6")
    assert not torch.equal(another_seed["decoder.3.conv2.weight"], deconv6["decoder.3.conv2.weight"])


def test_private_rng_factory_gives_each_call_its_own_stream_and_leaves_the_global_one():
    torch.manual_seed(0)
    build = with_private_rng(lambda size: torch.rand(size), seed=7)
    first, second = build(3), build(3)
    after = torch.rand(2)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(2))
    assert not torch.equal(first, second)
    again = with_private_rng(lambda size: torch.rand(size), seed=7)
    assert torch.equal(again(3), first) and torch.equal(again(5)[:3], second)


def test_smoke_run_chooses_best_on_select_and_reports_on_report(run_train, tmp_path, fashion, validated_splits):
    run_train(tmp_path, "experiment=study_edges", *QUIET_SMOKE, f"dataset.root={fashion.root}")

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert validated_splits == ["select"]
    final = metrics["final"]
    assert final["split"] == "report" and metrics["run"]["experiment"] == "study_edges"
    assert final["boundary_width"] == 2
    assert 0 <= final["boundary_iou"] <= 1 and 0 <= final["trimap_acc"] <= 1
    assert len(final["per_class_boundary_iou"]) == 11
