"""Figure: (a) the pair-STDP window measured in brian2 vs A± exp(-|Δt|/τ±); (b) triplet STDP's BCM-like drift.

Reads ``results/stdp_window/run.json`` (``experiments/stdp_window.py``); writes
``figures/stdp_window.png``.  Never simulates.

    python figures/stdp_window.py [--results results] [--out figures/stdp_window.png]
"""
from __future__ import annotations

import numpy as np

from neurosim.plotting import (
    BLUE,
    GREEN,
    VERMILLION,
    figure,
    figure_data,
    figure_parser,
    panel,
    save,
    style,
    whole_record,
)


def plot_window(pair: dict, ax=None):
    """Panel (a): Δw against Δt, theory line and brian2 points; returns the Axes."""
    dt = np.array(pair["delta_t_s"]) * 1e3
    fine = np.linspace(dt.min(), dt.max(), 400)
    r = pair["rule"]
    theory = np.where(fine > 0, r["a_plus"] * np.exp(-np.abs(fine) / (1e3 * r["tau_plus"])),
                      -r["a_minus"] * np.exp(-np.abs(fine) / (1e3 * r["tau_minus"])))
    scale = 100.0 / r["w_max"]
    ax.plot(fine[fine < 0], theory[fine < 0] * scale, color="0.55", lw=3, label="theory A± exp(−|Δt|/τ±)")
    ax.plot(fine[fine > 0], theory[fine > 0] * scale, color="0.55", lw=3)
    ax.plot(dt, np.array(pair["measured"]) * scale, "o", color=VERMILLION, label="brian2, one pair per synapse")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("Δt = t_post − t_pre (ms)")
    ax.set_ylabel("Δw (% of w_max)")
    ax.legend(loc="lower right", title=f"max |error| {pair['max_abs_error'] * scale:.1e} % of w_max")
    return ax


def plot_triplet(tr: dict, ax=None):
    """Panel (b): drift of the mean weight against the post-synaptic rate; returns the Axes."""
    rates = np.array(tr["post_rates_hz"])
    fine = np.linspace(0, rates.max(), 200)
    r = tr["config"]["rule"]
    rx = tr["pre_rate_hz"]
    theory = (rx * fine * (r["a2_plus"] * r["tau_plus"] - r["a2_minus"] * r["tau_minus"])
              + r["a3_plus"] * r["tau_plus"] * r["tau_y"] * rx * fine ** 2
              - r["a3_minus"] * r["tau_minus"] * r["tau_x"] * rx ** 2 * fine)
    ax.plot(fine, theory * 1e3, color="0.55", lw=3, label="closed form (independent Poisson)")
    ax.errorbar(tr["measured_post_rate_hz"], np.array(tr["drift"]) * 1e3, yerr=2 * np.array(tr["sem"]) * 1e3,
                fmt="o", color=BLUE, label=f"brian2, {tr['config']['n_pairs']} synapses per rate (± 2 s.e.m.)")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(tr["threshold_hz"], color=GREEN, ls="--", lw=1.2,
               label=f"threshold θ = {tr['threshold_hz']:.1f} Hz (drift changes sign)")
    ax.set_xlabel("post-synaptic rate (Hz)")
    ax.set_ylabel("drift d⟨w⟩/dt (10⁻³ per s)")
    ax.legend(loc="upper left")
    return ax


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    record = figure_data(args, whole_record("stdp_window"))
    tr = record["triplet"]
    with style():
        fig, (a, b) = figure(1, 2, height=4.2)
        panel(plot_window(record["pair"], a), "a", "pair-STDP window")
        panel(plot_triplet(tr, b), "b", f"triplet STDP, pre {tr['pre_rate_hz']:g} Hz, "
                                        f"{tr['config']['duration_s']:g} s")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
