"""What resumable training costs (``neurosim.checkpoint``), as ratios measured in the same run.

Two set-ups, each trained with and without a ``checkpoint_dir``, taking turns, the fastest of
``--repeats`` turns counting (a burst of load from another process then does not land on one
variant only):

* **long epochs** -- the Fashion-MNIST accuracy table's network (784-256-256-10, FA, Adam,
  batch 128, float32) on ``--n-train`` images for ``--epochs`` epochs, a checkpoint after every
  epoch (``checkpoint_every=0``: the worst case), against no checkpoint;
* **millisecond epochs** -- digits 64-20-10, full batch, 50 epochs: a checkpoint after every
  epoch, at the default spacing (``CHECKPOINT_EVERY_S`` = 60 s: only after the last epoch) and
  none.  This is why checkpoints are spaced in time.

Also the time of one ``save_checkpoint`` of the table's network (parameters + Adam moments).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_checkpoint.py [--n-train 10000] [--epochs 2] [--repeats 3]

Writes ``benchmarks/out/bench_checkpoint.json``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from neurosim.checkpoint import save_checkpoint
from neurosim.data import load_dataset
from neurosim.network import Network
from neurosim.results import provenance, write_json
from neurosim.training import TrainConfig, train


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fastest(variants: dict, repeats: int) -> dict:
    """Each variant's fastest wall time over ``repeats`` turns (the variants take turns)."""
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            best[name] = min(best[name], timed(fn))
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "bench_checkpoint.json"))
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_checkpoint_"))
    counter = iter(range(10 ** 6))

    def folder() -> Path:  # a fresh folder per run: a checkpoint there would resume it
        return tmp / str(next(counter))

    fashion = load_dataset("fashion-mnist", seed=0, n_train=args.n_train, n_test=1000)
    table_net = Network.feedforward([784, 256, 256, 10])
    cfg = TrainConfig(epochs=args.epochs, batch_size=128, align_samples=0, dtype="float32")
    long = fastest({"none": lambda: train(table_net, "fa", fashion, cfg),
                    "every_epoch": lambda: train(table_net, "fa", fashion, cfg, checkpoint_dir=folder(),
                                                 checkpoint_every=0)}, args.repeats)

    digits = load_dataset("digits", seed=0)
    small_net = Network.feedforward([64, 20, 10])
    small = TrainConfig(epochs=50, batch_size=None, align_samples=0)
    short = fastest({"none": lambda: train(small_net, "fa", digits, small),
                     "every_epoch": lambda: train(small_net, "fa", digits, small, checkpoint_dir=folder(),
                                                  checkpoint_every=0),
                     "default_spacing": lambda: train(small_net, "fa", digits, small, checkpoint_dir=folder())},
                    args.repeats)

    res = train(table_net, "fa", fashion, TrainConfig(epochs=1, batch_size=128, align_samples=0))
    from neurosim.training import Adam

    adam = Adam()
    adam.step({k: v.copy() for k, v in res.params.items()}, {k: v * 0 for k, v in res.params.items()})
    payload = dict(identity={"fingerprint": {}, "settings": {}}, epoch=1, params=res.params,
                   optimizer=adam.state_dict(), state=res.state, rng={}, aug_rng=None, history=res.history,
                   initial_loss=res.initial_loss, initial_norm=1.0, seconds=0.0, resumed=[],
                   code={"neurosim": None, "git_sha": None}, made_by=provenance())  # as a run saves: made_by once
    one_save = min(timed(lambda: save_checkpoint(folder(), **payload)) for _ in range(5))

    record = {
        "benchmark": "bench_checkpoint", "n_train": args.n_train, "epochs": args.epochs, "repeats": args.repeats,
        "long_epochs_seconds": long, "long_epochs_ratio": long["every_epoch"] / long["none"],
        "millisecond_epochs_seconds": short,
        "millisecond_epochs_ratio_every_epoch": short["every_epoch"] / short["none"],
        "millisecond_epochs_ratio_default_spacing": short["default_spacing"] / short["none"],
        "one_save_seconds_table_network": one_save, "provenance": provenance()}
    write_json(args.out, record)
    print(f"table network ({args.n_train} images, {args.epochs} epochs): a checkpoint every epoch costs "
          f"{record['long_epochs_ratio']:.3f}x the run without; one save {1000 * one_save:.0f} ms")
    print(f"digits, 50 full-batch epochs: every epoch {record['millisecond_epochs_ratio_every_epoch']:.1f}x, "
          f"default spacing {record['millisecond_epochs_ratio_default_spacing']:.2f}x the run without")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
