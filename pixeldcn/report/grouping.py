"""Which runs a table cell pools: runs that are the same experiment with every result-changing setting equal.

A run's *cell key* is its composed configuration (``.hydra/config.yaml``) with the settings that
cannot change its results taken out (:data:`NOT_RESULT_CHANGING`: the seed, paths, workers,
progress bars, logging, the device...), plus its experiment, debug and mode choices, its dataset,
model and up-sampler, and the training it actually did (epochs and steps from its history, which
also covers a run resumed with a longer schedule). Every other option, including any added later,
splits cells by default: pooling unlike runs misleads, splitting them only costs a row.

Runs with equal cell keys and equal seeds are the same measurement repeated: counted once, the
others reported as duplicates. A cell's *setting* is its key without the up-sampler: the cells
of one setting are the up-samplers a comparison may set against each other. Table 2 adds back the
settings that change times (:data:`TIMING_SETTINGS`) and the device.
"""

from __future__ import annotations

import json
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .metric_names import PAPER_METRICS, is_number
from .runs import RunRecord, Skipped

NOT_RESULT_CHANGING = (
    "seed",  # the replicate, not the configuration
    "paths",
    "ckpt_path",
    "resume",
    "mode",  # part of the key through the record's mode
    "trainer.max_epochs",  # replaced by the training actually done
    "trainer.max_steps",
    "trainer.num_workers",
    "trainer.progress_bar",
    "trainer.log_every_n_steps",
    "trainer.device",
    "trainer.deterministic",
    "trainer.timing_warmup_iters",
    "trainer.compile",
    "trainer.channels_last",
    "eval.batch_size",
    "task.num_vis_images",
    "dataset.root",
    "hydra",
)
"""Settings (dotted keys or their prefixes) that do not change what a run measures."""
TIMING_SETTINGS = (
    "trainer.num_workers",
    "trainer.device",
    "trainer.deterministic",
    "trainer.compile",
    "trainer.channels_last",
    "eval.batch_size",
)
"""Settings that leave accuracy alone but change times: Table 2's cells also agree on these."""
HEADLINE_SETTINGS = (
    "experiment", "debug", "mode", "trained.epochs", "trained.steps", "dataset.image_size", "dataset.num_samples",
    "model.width", "trainer.batch_size", "trainer.optimizer._target_", "trainer.optimizer.lr", "trainer.precision",
    "device",
)  # fmt: skip
"""What a setting's description always shows (when present); settings that differ are added to it."""
UPSAMPLER = "upsampler"


def _matches(key: str, names: Iterable[str]) -> bool:
    return any(key == name or key.startswith(f"{name}.") for name in names)


def _freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def accuracy_items(record: RunRecord) -> dict[str, Any]:
    """Everything that defines what ``record`` measured (its cell key as a dict)."""
    items: dict[str, Any] = {
        "mode": record.mode,
        "experiment": record.experiment,
        "debug": record.debug,
        "dataset": record.dataset,
        "model": record.model,
        UPSAMPLER: record.upsampler,
        "trained.epochs": (record.trained or {}).get("epochs"),
        "trained.steps": (record.trained or {}).get("steps"),
    }
    items.update({key: value for key, value in record.settings.items() if not _matches(key, NOT_RESULT_CHANGING)})
    return items


def timing_items(record: RunRecord) -> dict[str, Any]:
    """:func:`accuracy_items` plus the settings that change times and the device that ran."""
    items = accuracy_items(record)
    items.update({key: value for key, value in record.settings.items() if _matches(key, TIMING_SETTINGS)})
    items["device"] = record.timing.get("device_name") or record.timing.get("device")
    return items


def _key(items: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((key, _freeze(value)) for key, value in items.items()))


def _without_upsampler(items: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in items.items() if not _matches(key, (UPSAMPLER,))}


def layer_name(upsampler: str, variant: str = "") -> str:
    return f"{upsampler} ({variant})" if variant else upsampler


@dataclass
class Cell:
    """The runs of one table cell (one per seed), under its setting's label."""

    dataset: str
    model: str
    upsampler: str
    setting: str
    items: dict[str, Any]
    records: list[RunRecord] = field(default_factory=list)
    duplicates: list[tuple[RunRecord, RunRecord]] = field(default_factory=list)
    variant: str = ""
    """The up-sampler options that tell this cell from another of the same up-sampler and setting."""

    @property
    def layer(self) -> str:
        """The up-sampler, with its variant when one setting has several (``pixeldcl (impl=reference)``)."""
        return layer_name(self.upsampler, self.variant)

    @property
    def paired_by_seed(self) -> bool:
        """Training runs are replicates by seed; evaluations of checkpoints are not."""
        return all(record.mode == "train" for record in self.records)

    def values(self, metric: str) -> dict[int, float]:
        """``{seed: value}`` of ``metric`` (runs without a finite value left out)."""
        return {r.seed: float(r.final[metric]) for r in self.records if is_number(r.final.get(metric))}

    def samples(self, metric: str) -> list[float]:
        return [float(r.final[metric]) for r in self.records if is_number(r.final.get(metric))]


@dataclass
class Selection:
    """Which runs a report includes (None: any)."""

    experiments: Sequence[str] | None = None
    datasets: Sequence[str] | None = None
    models: Sequence[str] | None = None
    include_debug: bool = False
    include_eval: bool = False
    required_metrics: Sequence[str] = PAPER_METRICS


def exclusion(record: RunRecord, selection: Selection) -> str | None:
    """Why ``selection`` leaves ``record`` out, or None."""
    if record.mode == "eval" and not selection.include_eval:
        return "mode=eval run (an evaluation of a checkpoint): pass --include-eval to include it"
    if record.debug is not None and not selection.include_debug:
        return f"debug={record.debug} run: pass --include-debug to include it"
    missing = [metric for metric in selection.required_metrics if not is_number(record.final.get(metric))]
    if missing:
        return f"no {', '.join(missing)} in its final metrics: not a segmentation run"
    for name, wanted, value in (
        ("experiment", selection.experiments, record.experiment),
        ("dataset", selection.datasets, record.dataset),
        ("model", selection.models, record.model),
    ):
        if wanted is not None and str(value).lower() not in {w.lower() for w in wanted}:
            return f"{name}={value} not selected (--{name} {' '.join(wanted)})"
    return None


def _identity(record: RunRecord, key: tuple) -> tuple:
    if record.mode == "eval":
        return key, "checkpoint", str(record.final.get("checkpoint"))
    return key, "seed", record.seed


def group(
    records: Sequence[RunRecord], selection: Selection | None = None, timing: bool = False
) -> tuple[list[Cell], list[Skipped]]:
    """The cells that ``records`` fill (sorted, settings labelled A, B, ...) and the runs left out.

    ``timing``: group by :func:`timing_items` (Table 2) and keep only runs with training times.
    Table 2's settings carry the label of their Table 1 setting, numbered (``B1``, ``B2``) when
    devices or timing settings split it.
    """
    selection = selection or Selection()
    left_out: list[Skipped] = []
    by_key: dict[tuple, list[RunRecord]] = defaultdict(list)
    items_of: dict[tuple, dict[str, Any]] = {}
    accuracy_setting_of: dict[tuple, tuple] = {}
    accuracy_settings = set()
    for record in records:
        reason = exclusion(record, selection)
        if reason is None:
            accuracy_settings.add(_key(_without_upsampler(accuracy_items(record))))
        if reason is None and timing and not (record.timing.get("train") and record.timing.get("predict")):
            reason = "no training times in timing.json (not a training run, or timing.json missing)"
        if reason:
            left_out.append(Skipped(record.run_dir, reason))
            continue
        items = timing_items(record) if timing else accuracy_items(record)
        key = _key(items)
        by_key[key].append(record)
        items_of[key] = items
        accuracy_setting_of[_key(_without_upsampler(items))] = _key(_without_upsampler(accuracy_items(record)))
    base_labels = {key: _label(index) for index, key in enumerate(sorted(accuracy_settings))}
    labels = {}
    for setting in sorted(accuracy_setting_of):
        base = accuracy_setting_of[setting]
        splits = sorted(key for key, of in accuracy_setting_of.items() if of == base)
        labels[setting] = base_labels[base] + (str(splits.index(setting) + 1) if len(splits) > 1 else "")
    cells = []
    for key, members in by_key.items():
        items = items_of[key]
        cell = Cell(
            dataset=members[0].dataset,
            model=members[0].model,
            upsampler=members[0].upsampler,
            setting=labels[_key(_without_upsampler(items))],
            items=items,
        )
        first: dict[tuple, RunRecord] = {}
        for record in sorted(members, key=lambda r: (r.seed, str(r.run_dir))):
            identity = _identity(record, key)
            if identity in first:
                cell.duplicates.append((record, first[identity]))
                left_out.append(
                    Skipped(
                        record.run_dir,
                        f"duplicate of {first[identity].run_dir} (same configuration and seed): counted once",
                    )
                )
            else:
                first[identity] = record
                cell.records.append(record)
        cells.append(cell)
    _name_variants(cells)
    cells.sort(key=lambda c: (c.dataset, c.model, c.setting, c.upsampler, c.variant))
    return cells, left_out


def _name_variants(cells: Sequence[Cell]) -> None:
    same_layer: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        same_layer[(cell.setting, cell.upsampler)].append(cell)
    for variants in same_layer.values():
        if len(variants) < 2:
            continue
        keys = sorted(set().union(*(cell.items for cell in variants)))
        differing = [key for key in keys if len({_freeze(cell.items.get(key)) for cell in variants}) > 1]
        for cell in variants:
            cell.variant = ", ".join(f"{key.removeprefix(UPSAMPLER + '.')}={cell.items.get(key)}" for key in differing)


def _label(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"{letters[index // len(letters) - 1]}{letters[index % 26]}"


def describe_settings(cells: Sequence[Cell]) -> dict[str, dict[str, Any]]:
    """Per setting label, the items that tell it apart: the headline settings, and every setting that
    differs between the settings of the same dataset x model."""
    by_label: dict[str, dict[str, Any]] = {}
    for cell in cells:
        by_label.setdefault(cell.setting, _without_upsampler(cell.items))
    by_pair: dict[tuple[str, str], list[str]] = defaultdict(list)
    for label, items in by_label.items():
        by_pair[(items["dataset"], items["model"])].append(label)
    described = {}
    for labels in by_pair.values():
        keys = set().union(*(by_label[label] for label in labels))
        differing = {
            key for key in keys if len({_freeze(by_label[label].get(key, "<absent>")) for label in labels}) > 1
        }
        for label in labels:
            items = by_label[label]
            shown = [key for key in HEADLINE_SETTINGS if key in items and key not in ("dataset", "model")]
            shown += sorted(differing - set(shown))
            described[label] = {key: items.get(key, "<absent>") for key in shown}
    return described
