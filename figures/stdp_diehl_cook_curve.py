"""Figure: Diehl & Cook STDP on Fashion-MNIST at a real budget, test accuracy against images seen.

Reads ``results/stdp_diehl_cook_full/run.json`` (``experiments/stdp_diehl_cook.py`` with
``--checkpoints``, the command below) and writes ``figures/stdp_diehl_cook_curve.png``; it never
simulates.  At each checkpoint the card's network (100 excitatory + 100 inhibitory neurons,
adaptive thresholds, one pass of online STDP) has its neurons labelled by their responses to the
labelling images (learning off) and is tested on the test images.  Reference lines: chance
(10 %) and Diehl & Cook's (2015) 82.9 % for the same network size on MNIST after 60,000 images
(no published Fashion-MNIST number for this network).

    python experiments/stdp_diehl_cook.py --n-train 60000 --n-test 1000 --label-images 500 \\
        --checkpoints 500,1000,2000,3000,4500,6000,8000 --budget-minutes 40 --out results/stdp_diehl_cook_full
    python figures/stdp_diehl_cook_curve.py [--results results] [--out figures/stdp_diehl_cook_curve.png]
"""
from __future__ import annotations

from neurosim.plotting import BLACK, VERMILLION, figure, figure_data, figure_parser, guide, save, source, style

COMMAND = ("python experiments/stdp_diehl_cook.py --n-train 60000 --n-test 1000 --label-images 500 "
           "--checkpoints 500,1000,2000,3000,4500,6000,8000 --budget-minutes 40 --out results/stdp_diehl_cook_full")
#: What writes this figure's results and its cost on 2 cores (`neurosim figures --run-missing`).
RESULTS_FROM = {"commands": [COMMAND.split()[1:]], "minutes": 60}


def collect(results) -> dict:
    """The curve and the run's set-up (small: no labels, counts or timings)."""
    rec = results.json("stdp_diehl_cook_full", "run.json", command=COMMAND)
    keep = ("dataset", "n_train", "n_train_planned", "n_label", "n_test", "n_neurons", "status", "test_accuracy",
            "train_accuracy", "curve", "neurons_per_class", "mean_spikes_per_test_sample", "seconds", "published")
    return {**{k: rec.get(k) for k in keep}, "source": source(rec, "stdp_diehl_cook", COMMAND)}


def main(argv=None) -> int:
    args = figure_parser(__file__, __doc__).parse_args(argv)
    data = figure_data(args, collect)
    curve = data["curve"]
    with style():
        fig, ax = figure(1, 1, height=4.2)
        images = [c["images"] for c in curve]
        ax.plot(images, [100 * c["test_accuracy"] for c in curve], "o-", color=VERMILLION,
                label=f"test ({data['n_test']} test images)")
        ax.plot(images, [100 * c["label_set_accuracy"] for c in curve], "s--", color=BLACK, ms=4, lw=1,
                label=f"labelling set ({data['n_label']} training images)")
        guide(ax, y=82.9, label="Diehl & Cook 2015, MNIST, 100 neurons, 60,000 images: 82.9 %", ls="-.")
        guide(ax, y=10.0, label="chance (10 %)", ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("training images seen (one pass, online STDP)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(loc="lower right")
        minutes = data["seconds"] / 60
        import textwrap

        ax.set_title(textwrap.fill(f"Diehl & Cook network ({data['n_neurons']} exc. neurons) on {data['dataset']}: "
                                   f"{data['n_train']} images, {minutes:.0f} min wall; {data['status']}", 80),
                     fontsize=9.5)
        print(f"test accuracy {100 * data['test_accuracy']:.1f} % after {data['n_train']} images "
              f"({data['status']})")
        print(save(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
