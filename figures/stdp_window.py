"""Figure: (a) the pair-STDP window measured in brian2 vs A+- exp(-|dt|/tau+-); (b) triplet STDP's BCM-like drift.

Reads ``results/stdp_window/run.json`` (``experiments/stdp_window.py``); writes
``figures/stdp_window.png``.  Never simulates.

    python figures/stdp_window.py [--results results] [--out figures]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib.pyplot as plt  # noqa: E402
from neurosim.plotting import read_results


def plot_window(pair: dict, ax=None):
    ax = ax or plt.gca()
    dt = np.array(pair["delta_t_s"]) * 1e3
    fine = np.linspace(dt.min(), dt.max(), 400)
    r = pair["rule"]
    theory = np.where(fine > 0, r["a_plus"] * np.exp(-np.abs(fine) / (1e3 * r["tau_plus"])),
                      -r["a_minus"] * np.exp(-np.abs(fine) / (1e3 * r["tau_minus"])))
    scale = 1.0 / r["w_max"]
    label = r"theory $A_\pm e^{-|\Delta t|/\tau_\pm}$"
    ax.plot(fine[fine < 0], theory[fine < 0] * scale * 100, color="0.5", lw=2, label=label)
    ax.plot(fine[fine > 0], theory[fine > 0] * scale * 100, color="0.5", lw=2)
    ax.plot(dt, np.array(pair["measured"]) * scale * 100, "o", color="tab:red", ms=4,
            label="brian2, one pair per synapse")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(r"$\Delta t = t_{post} - t_{pre}$ (ms)")
    ax.set_ylabel(r"$\Delta w$ (% of $w_{max}$)")
    ax.set_title(f"(a) pair STDP window (max |error| {pair['max_abs_error'] * scale * 100:.1e} %)")
    ax.legend(fontsize=8)
    return ax


def plot_triplet(tr: dict, ax=None):
    ax = ax or plt.gca()
    rates = np.array(tr["post_rates_hz"])
    fine = np.linspace(0, rates.max(), 200)
    r = tr["config"]["rule"]
    rx = tr["pre_rate_hz"]
    theory = (rx * fine * (r["a2_plus"] * r["tau_plus"] - r["a2_minus"] * r["tau_minus"])
              + r["a3_plus"] * r["tau_plus"] * r["tau_y"] * rx * fine ** 2
              - r["a3_minus"] * r["tau_minus"] * r["tau_x"] * rx ** 2 * fine)
    ax.plot(fine, theory * 1e3, color="0.5", lw=2, label="closed form (independent Poisson)")
    ax.errorbar(tr["measured_post_rate_hz"], np.array(tr["drift"]) * 1e3, yerr=2 * np.array(tr["sem"]) * 1e3,
                fmt="o", color="tab:blue", ms=4, capsize=2,
                label=f"brian2, {tr['config']['n_pairs']} synapses/rate (±2 SEM)")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(tr["threshold_hz"], color="tab:green", ls="--", lw=1,
               label=f"threshold θ = {tr['threshold_hz']:.1f} Hz")
    ax.set_xlabel("post-synaptic rate (Hz)")
    ax.set_ylabel(r"drift $d\langle w\rangle/dt$ ($10^{-3}$/s)")
    ax.set_title(f"(b) triplet STDP, pre {rx:g} Hz, {tr['config']['duration_s']:g} s")
    ax.legend(fontsize=8)
    return ax


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=str(Path(__file__).parent))
    args = p.parse_args(argv)
    record = read_results(args.results, "stdp_window")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_window(record["pair"], a)
    plot_triplet(record["triplet"], b)
    fig.tight_layout()
    path = Path(args.out) / "stdp_window.png"
    fig.savefig(path, dpi=120)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
