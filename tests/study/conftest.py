"""Shared by the study tests: which split each training run validated on."""

from __future__ import annotations

import pytest

from pixeldcn.engine.loop import Trainer


@pytest.fixture
def validated_splits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``split`` of the validation set of every ``Trainer.fit`` call, in order (filled as runs train)."""
    splits: list[str] = []
    fit = Trainer.fit

    def recording_fit(self, model, task, optimizer, train_set, val_set, **kwargs):
        splits.append(val_set.split)
        return fit(self, model, task, optimizer, train_set, val_set, **kwargs)

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    return splits
