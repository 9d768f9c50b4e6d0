"""The tuned settings shipped as model cards (issue 20): each card is what `neurosim tune` chose,
and its search record beside it says so (values, validation split, the test set never used)."""
import json
from pathlib import Path

import pytest

from neurosim import RunSpec

TUNED = Path(__file__).resolve().parents[1] / "models" / "tuned" / "fashion"
CARDS = sorted(TUNED.glob("*.toml"))


def test_there_are_tuned_cards():
    assert len(CARDS) >= 10


@pytest.mark.parametrize("card", CARDS, ids=lambda p: p.stem)
def test_card_is_the_chosen_trial_of_its_search(card):
    spec = RunSpec.load(card)
    record = json.loads((TUNED / f"{card.stem}-search.json").read_text())
    assert record["rule"] == spec.rule == card.stem
    assert "the test set is never used" in record["selection"] and 0 < record["validation"] < 1
    chosen = record["chosen"]
    assert chosen["status"] == "completed"
    completed = [t for t in record["trials"] if t["status"] == "completed"]
    assert chosen["validation_error"] == min(t["validation_error"] for t in completed)
    for key, value in chosen["values"].get("training", {}).items():
        assert getattr(spec, key) == pytest.approx(value, rel=1e-12), key
    for key, value in chosen["values"].get("rule", {}).items():
        assert spec.hyper[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key
    assert spec.dataset == "fashion-mnist"
