"""Acceptance: predictive coding trains Fashion-MNIST about as well as backprop (issue 4, item 5).

Oracle: backprop trained at the same budget, same seeds, same data (the published claim,
Pinchetti et al. 2025 / pcx: PC within about one point of backprop's test accuracy on MLPs).

Budget (both rules): the pcx MLP card (784-128-128-128-10 relu, cross-entropy), a
class-balanced subset of 10,000 training and 2,000 test images, 4 epochs, batch 128, Adam
1e-3, float32, seeds 0-4; PC with its training preset ``models/presets/pc-train.toml`` (T = 20
steps at rate 0.05, output precision 1).  About 1-2 minutes on one core, hence ``slow``.

Margin, from the spread measured at exactly this budget (``python experiments/pc_fashion.py
--rules backprop,pc --n-train 10000 --n-test 2000 --epochs 4 --seeds 5 --out
results/pc_fashion_10k``): final test error sd over 5 seeds 1.10 points (backprop) and 1.16
points (PC), so the difference of the two 5-seed means has sd sqrt((1.10^2 + 1.16^2)/5) =
0.72 points.  The test allows the published 1 point plus 3 of those sd: 3.15 points.  (The
measured means were backprop 17.17 %, PC 16.64 %; on the full 60,000 images see the README.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurosim.data import load_dataset
from neurosim import RunSpec
from neurosim.rules import get_rule
from neurosim.training import TrainConfig, train

MODELS = Path(__file__).resolve().parents[1] / "models"
CARD = MODELS / "pcx_mlp.toml"
SEEDS = range(5)
PUBLISHED_GAP = 0.01          # pcx: PC within about a point of backprop
SD_OF_MEAN_DIFFERENCE = 0.0072  # measured, see the module docstring
MARGIN = PUBLISHED_GAP + 3 * SD_OF_MEAN_DIFFERENCE


def _final_test_error(rule_name: str, seed: int) -> float:
    network = RunSpec.load(CARD).network
    data = load_dataset("fashion-mnist", n_train=10000, n_test=2000, seed=seed)
    rule = get_rule(rule_name, **RunSpec.preset(rule_name, "train").hyper)
    config = TrainConfig(epochs=4, batch_size=128, optimizer="adam", learning_rate=1e-3, seed=seed,
                         dtype="float32", align_samples=0)
    result = train(network, rule, data, config, progress=False)
    assert result.status == "completed", result.message
    return result.test_error


@pytest.mark.slow
def test_pc_test_error_is_within_margin_of_backprop_on_fashion_mnist():
    bp = np.array([_final_test_error("backprop", s) for s in SEEDS])
    pc = np.array([_final_test_error("pc", s) for s in SEEDS])
    print(f"\nbackprop {100 * bp.mean():.2f} +- {100 * bp.std(ddof=1):.2f} %, "
          f"pc {100 * pc.mean():.2f} +- {100 * pc.std(ddof=1):.2f} % (5 seeds)")
    # both learn: chance is 90 % error on 10 balanced classes; 25 % is far above the ~17 %
    # both reach here and far below what an untrained network scores
    assert bp.mean() < 0.25 and pc.mean() < 0.25
    assert pc.mean() - bp.mean() < MARGIN, (pc, bp)
