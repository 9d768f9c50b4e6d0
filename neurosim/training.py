"""Training loop: mini-batches, optimisers, history with alignment tracking, checkpoints.

``train(network, rule, dataset, TrainConfig(...))`` asks the rule for ``dW`` on each
mini-batch and lets an optimiser apply it.  After every epoch it records the loss,
train/test error, and the alignment of the rule's update with backprop's at the
current weights (on a fixed batch of training samples), so every run says how close
to the gradient the rule stayed.

A run never mutates the :class:`~neurosim.network.Network`; it returns the learned
parameters in a :class:`TrainResult`.  ``TrainConfig(array="torch", device="cuda")`` runs
the same loop on PyTorch tensors (:mod:`neurosim.arrays`): parameters and data are moved
to the device once, batches are sliced there, and the result holds numpy arrays.
Ctrl-C (KeyboardInterrupt) stops after the current mini-batch and keeps every finished
epoch; divergence (a non-finite update or loss) stops the run, keeps what finished, and is
reported.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .alignment import align
from .data.augment import augment_batch, check_augmentation
from .arrays import (astype, backend, check_backend_names, check_rule_arrays, concat, namespace, to_numpy,
                     to_numpy_tree, widest_float)
from .errors import ConfigError, ConvergenceError, ShapeError
from .network import Network
from .params import as_generator, resolve_dtype
from .reference import forward, loss_value
from .results import save_run
from .rules import Rule, get_rule
from .rules.base import check_rule_operations
from .validation import first_non_finite


# --------------------------------------------------------------------------- optimisers
class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum.

    .. math:: v \\leftarrow \\mu v + \\Delta W, \\qquad W \\leftarrow W + \\eta v

    where :math:`\\Delta W` is the rule's proposed change (``-dL/dW`` for backprop).
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, scales: dict | None = None):
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.scales = dict(scales or {})
        self.velocity_: dict[str, np.ndarray] = {}

    def step(self, params: dict, updates: dict) -> None:
        for key, dw in updates.items():
            if self.momentum:
                v = self.velocity_.get(key)
                if v is None:
                    v = self.velocity_[key] = namespace(params[key]).zeros_like(params[key])
                v *= self.momentum
                v += dw
                dw = v
            params[key] += self.learning_rate * self.scales.get(key, 1.0) * dw

    def state_dict(self) -> dict:
        """What :meth:`step` carries from one call to the next (for checkpoints)."""
        return {"velocity": dict(self.velocity_)}

    def load_state_dict(self, state: dict) -> None:
        self.velocity_ = dict(state["velocity"])


class Adam:
    """Adam (Kingma & Ba 2015) applied to the descent direction a rule proposes.

    With :math:`g = -\\Delta W`:  :math:`m \\leftarrow \\beta_1 m + (1-\\beta_1) g`,
    :math:`v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2`,
    :math:`W \\leftarrow W - \\eta_t\\, m / (\\sqrt{v} + \\hat\\epsilon)` with
    :math:`\\eta_t = \\eta\\sqrt{1-\\beta_2^t}/(1-\\beta_1^t)` (the paper's efficient form).
    The moments are updated in place with the array operators every library shares
    (``m *= b``, ``m -= c``), so numpy and tensors take the same code; the step itself needs
    two temporaries.
    """

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, scales: dict | None = None):
        self.learning_rate = float(learning_rate)
        self.scales = dict(scales or {})
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t_ = 0
        self.m_: dict = {}
        self.v_: dict = {}

    def step(self, params: dict, updates: dict) -> None:
        self.t_ += 1
        lr_t = self.learning_rate * math.sqrt(1 - self.beta2 ** self.t_) / (1 - self.beta1 ** self.t_)
        for key, dw in updates.items():
            if key not in self.m_:
                xp = namespace(params[key])
                self.m_[key] = xp.zeros_like(params[key])
                self.v_[key] = xp.zeros_like(params[key])
            m, v = self.m_[key], self.v_[key]
            m *= self.beta1
            m -= (1 - self.beta1) * dw          # g = -dw
            square = dw * dw
            square *= 1 - self.beta2
            v *= self.beta2
            v += square
            step = namespace(v).sqrt(v)
            step += self.eps
            step = m / step
            step *= lr_t * self.scales.get(key, 1.0)
            params[key] -= step

    def state_dict(self) -> dict:
        """What :meth:`step` carries from one call to the next (for checkpoints)."""
        return {"t": self.t_, "m": dict(self.m_), "v": dict(self.v_)}

    def load_state_dict(self, state: dict) -> None:
        self.t_, self.m_, self.v_ = int(state["t"]), dict(state["m"]), dict(state["v"])


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam}


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9, scales: dict | None = None):
    """An optimiser by name; ``scales`` maps parameter keys to learning-rate factors."""
    if name not in OPTIMIZERS:
        from .errors import unknown_name

        raise unknown_name("optimizer", name, OPTIMIZERS)
    if not (isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate) and learning_rate > 0):
        raise ConfigError(f"learning rate: expected a positive number, got {learning_rate!r}")
    for key, factor in (scales or {}).items():
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor >= 0):
            raise ConfigError(f"learning-rate scale of '{key}': expected a number >= 0, got {factor!r}")
    return SGD(learning_rate, momentum, scales) if name == "sgd" else Adam(learning_rate, scales=scales)


def clip_update(dw: dict, max_norm: float) -> tuple[dict, bool]:
    """``dw`` rescaled to global norm ``max_norm`` if it is longer (norm over every entry).

    Returns ``(update, clipped)``; the arrays keep their dtype and device (the norm is summed
    in float64, in float32 on Apple's MPS, which has no float64).
    """
    norm = math.sqrt(sum(_sum_of_squares(v) for v in dw.values()))
    if norm <= max_norm:
        return dw, False
    factor = max_norm / norm
    return {k: astype(v * factor, v.dtype) for k, v in dw.items()}, True


def _sum_of_squares(a) -> float:
    xp = namespace(a)
    flat = xp.reshape(astype(a, widest_float(a)), (-1,))
    return float(flat @ flat)


# --------------------------------------------------------------------------- config & result
@dataclass(frozen=True)
class TrainConfig:
    """Configuration of one training run (kept apart from what is learned).

    A :class:`~neurosim.runspec.RunSpec` holds these and more (rule, network, data); this is
    the part the training loop reads (``spec.config(seed)``).

    Parameters
    ----------
    epochs : int
    batch_size : int
    optimizer : {"adam", "sgd"}
    learning_rate : float
    momentum : float
        SGD only.
    seed : int
        Seeds the weight initialisation, the batch order and stochastic rules.
    dtype : {"float32", "float64"}
    align_samples : int
        Size of the fixed training batch on which alignment with backprop is measured
        after each epoch (0 disables it).
    eval_every : int
        Evaluate train/test error every this many epochs (and always at the end).
    clip_norm : float or None
        If set, every batch update the rule proposes is rescaled so that its global norm (over
        every parameter) is at most this, before the optimiser sees it; the number of rescaled
        updates is reported per epoch in the history as ``clipped``.  ``None``: no clipping.
    weight_decay : float
        :math:`\\lambda \\in [0, 1)`: every weight matrix's update gets the extra term
        :math:`-\\lambda W` (biases do not), i.e. descent on :math:`L + \\tfrac{\\lambda}{2}\\sum W^2`
        for backprop.  Alignment is measured on the rule's own update, without it.
    divergence_factor : float
        The run ends as ``diverged`` when an evaluated training loss exceeds this factor times
        the loss of the initial weights (measured before the first batch), or when a
        parameter or update becomes non-finite.  Default 10: a learning rate that blows up
        the loss is caught long before it overflows.
    max_weight_growth : float
        The run also ends as ``diverged`` when the global norm of the parameters exceeds this
        factor times its initial value (checked after every epoch).  Default 1000: a bounded
        loss (sigmoid units with the squared error) cannot grow 10x, but weights blown up by a
        runaway rule or learning rate still can.
    schedule : {"constant", "cosine"}
        Learning rate per epoch: constant, or :math:`\\eta_e = \\tfrac{\\eta}{2}(1 + \\cos(\\pi (e-1)/E))`
        (cosine annealing without restarts, Loshchilov & Hutter 2017).
    crop_padding : int
        Random-crop augmentation of every training batch (:mod:`neurosim.data.augment`): zero
        padding of this many pixels, then a window of the image's size at a uniform offset.
        Needs an image input layer (``shape = [C, H, W]``); 0 (default) = off.
    flip : bool
        Mirror each training image left-right with probability 1/2 (default off).
    array : {"numpy", "torch"}
        The array library the run computes with (:mod:`neurosim.arrays`); numpy by default.
    device : {"cpu", "cuda", "cuda:N", "mps"}
        Where the arrays live (numpy: ``cpu`` only).  PyTorch missing or a device this
        machine lacks is a one-line :class:`~neurosim.errors.ConfigError` here.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    seed: int = 0
    dtype: str = "float32"
    align_samples: int = 256
    eval_every: int = 1
    clip_norm: float | None = None
    weight_decay: float = 0.0
    schedule: str = "constant"
    divergence_factor: float = 10.0
    max_weight_growth: float = 1000.0
    crop_padding: int = 0
    flip: bool = False
    array: str = "numpy"
    device: str = "cpu"

    def __post_init__(self):
        from .validation import check

        for name in ("epochs", "batch_size", "eval_every"):
            value = getattr(self, name)
            if name == "batch_size" and value is None:
                continue  # the whole training set
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                raise ConfigError(f"TrainConfig.{name}: expected a positive integer, got {value!r}")
        check("TrainConfig", "weight_decay", self.weight_decay, ge=0, lt=1)
        check("TrainConfig", "schedule", self.schedule, choices=("constant", "cosine"))
        check("TrainConfig", "divergence_factor", self.divergence_factor, gt=1)
        check("TrainConfig", "max_weight_growth", self.max_weight_growth, gt=1)
        check("TrainConfig", "momentum", self.momentum, ge=0, lt=1,
              hint="Heavy-ball momentum must lie in [0, 1) for SGD to converge.")
        if isinstance(self.align_samples, bool) or not isinstance(self.align_samples, int) \
                or self.align_samples < 0:
            raise ConfigError(f"TrainConfig.align_samples: expected an integer >= 0, got {self.align_samples!r}")
        if self.clip_norm is not None and (isinstance(self.clip_norm, bool)
                                           or not isinstance(self.clip_norm, (int, float))
                                           or not math.isfinite(self.clip_norm) or self.clip_norm <= 0):
            raise ConfigError(f"TrainConfig.clip_norm: expected a positive number or None (no clipping), got "
                              f"{self.clip_norm!r}")
        check_augmentation("TrainConfig", self.crop_padding, self.flip)
        make_optimizer(self.optimizer, self.learning_rate, self.momentum)
        resolve_dtype(self.dtype)
        as_generator(self.seed)
        check_backend_names("TrainConfig", self.array, self.device)
        backend(self.array, self.device, owner="TrainConfig").check_dtype(self.dtype, "TrainConfig")


@dataclass
class TrainResult:
    """What a run produced.

    Attributes
    ----------
    network : Network
        The (rule-prepared) network that was trained.
    params : dict
        Learned weights and biases (numpy arrays on the host, whatever the run computed with).
    history : list of dict
        One entry per finished epoch: ``epoch, loss, train_error, test_error, seconds``
        (``train_seconds``: the mini-batch loop alone, without evaluation) and ``alignment``
        (``{"global": cos, "projections": {name: cos}}``), or ``alignment_failed`` (the one-line
        reason) when the reference could not be computed that epoch (an oracle that did not
        converge: the measurement failed, the run goes on).
    status : {"running", "completed", "interrupted", "diverged"}
        ``running`` while the run is in progress (what its checkpoints say; a record still
        ``running`` after its process died was killed); ``completed`` only at the end.
    message : str
        Why it stopped early (empty when completed).
    state : object
        The rule's state after the last finished batch (``rule.init`` before any).
    resumed_after : list of int
        The epochs after which the run was resumed from its checkpoint (empty: one go).
    resumed_code : list of dict
        Per resumption, the code (``neurosim`` version, ``git_sha``, ``array``, ``device``) that ran
        the epochs before it.
    seconds_before_resume : float
        The part of ``seconds`` spent by the earlier processes (0 without a resumption).
    """

    rule: str
    dataset: str
    config: TrainConfig
    network: Network
    params: dict
    history: list = field(default_factory=list)
    status: str = "running"
    message: str = ""
    seconds: float = 0.0
    state: Any = None
    initial_loss: float | None = None
    resumed_after: list = field(default_factory=list)
    resumed_code: list = field(default_factory=list)
    seconds_before_resume: float = 0.0

    @property
    def epochs_completed(self) -> int:
        return len(self.history)

    @property
    def train_error(self) -> float | None:
        return self.history[-1]["train_error"] if self.history else None

    @property
    def test_error(self) -> float | None:
        return self.history[-1]["test_error"] if self.history else None

    def summary(self) -> dict:
        """The ``train --json`` object (docs/design.md contract) plus status."""
        out = {"rule": self.rule, "dataset": self.dataset, "epochs": self.epochs_completed,
               "train_error": self.train_error, "test_error": self.test_error,
               "seconds": round(self.seconds, 3), "history": self.history, "status": self.status,
               "message": self.message, "initial_loss": self.initial_loss}
        if self.resumed_after:
            out["resumed_after"] = list(self.resumed_after)
            out["resumed_code"] = list(self.resumed_code)
        return out

    def save(self, out_dir: str | Path) -> Path:
        """Write ``run.json`` (summary, config, network, provenance) and ``run.npz`` (params)."""
        import os

        record = {**self.summary(), "config": asdict(self.config), "network": self.network.to_dict(),
                  "pid": os.getpid()}
        return save_run(out_dir, record, {k: to_numpy(v) for k, v in self.params.items()})


# --------------------------------------------------------------------------- evaluation
def predict(network: Network, params: dict, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Output rates for ``x`` of shape (n, n_input), computed in chunks (in ``x``'s namespace)."""
    outs = [forward(network, params, x[i:i + chunk]).output for i in range(0, x.shape[0], chunk)]
    return concat(outs) if outs else np.zeros((0, network.output_layer.size))


def evaluate(network: Network, params: dict, x: np.ndarray, labels: np.ndarray | None,
             targets: np.ndarray, rule: Rule | None = None, chunk: int = 8192) -> tuple[float, float]:
    """``(loss, error)``: batch-mean loss and, for classification, the fraction misclassified.

    Scored on ``rule.predict`` (EP: the free-phase fixed point; most rules: the feed-forward
    pass), in chunks of ``chunk`` samples.  For regression (``labels`` is None) the error is the loss.
    ``x`` and ``targets`` may be tensors on a device; ``labels`` are numpy (the predicted
    classes come to the host to be compared).
    """
    if rule is None:
        out = predict(network, params, x, chunk)
    else:
        parts = [rule.predict(network, params, x[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        out = concat(parts) if parts else np.zeros((0, network.output_layer.size))
    loss = loss_value(network, out, targets)
    if labels is None:
        return loss, loss
    return loss, float(np.mean(to_numpy(namespace(out).argmax(out, axis=1)) != labels))


def add_relaxation(total: dict | None, part: dict | None) -> dict | None:
    """Sum a rule's per-call relaxation counters (``aux["relaxation"]``) over an epoch.

    Counts add up; entries named ``max_*`` keep the maximum.
    """
    if not part:
        return total
    total = dict(total or {})
    for key, value in part.items():
        if key.startswith("max_"):
            total[key] = max(total.get(key, value), value)
        else:
            total[key] = total.get(key, 0) + value
    return total


# --------------------------------------------------------------------------- the loop
def alignment_indices(n_train: int, config: TrainConfig) -> np.ndarray | None:
    """The fixed training samples on which :func:`train` measures alignment each epoch.

    ``align_samples`` indices drawn without replacement by a generator of their own
    (``seed + 1``), so measuring never shifts the batch order; None when alignment is off.
    """
    n_align = min(config.align_samples, n_train)
    if not n_align:
        return None
    return np.random.default_rng(config.seed + 1).choice(n_train, n_align, replace=False)


def check_fits(network: Network, dataset) -> None:
    """Raise :class:`ShapeError` unless the network's input/output sizes fit the data set."""
    if dataset.n_features != network.input_layer.size:
        raise ShapeError(f"dataset '{dataset.name}' has {dataset.n_features} features but input layer "
                         f"'{network.input_layer.name}' has {network.input_layer.size} units; use --layers "
                         f"{dataset.n_features},...")
    shape, image = tuple(network.input_layer.dims), dataset.image_shape
    if image is not None and len(image) == 2:  # a grey image given as (H, W): one channel
        image = (1, *image)
    if len(shape) == 3 and image is not None and tuple(image) != shape:
        raise ShapeError(f"dataset '{dataset.name}' holds images of shape {tuple(image)} (channels, height, width) "
                         f"but input layer '{network.input_layer.name}' has shape {shape}; give the input layer "
                         f"shape = {list(image)} (and its projections matching kernels)")
    if dataset.n_classes > 0 and dataset.n_classes != network.output_layer.size:
        raise ShapeError(f"dataset '{dataset.name}' has {dataset.n_classes} classes but output layer "
                         f"'{network.output_layer.name}' has {network.output_layer.size} units")


def train(network: Network, rule: Rule | str, dataset, config: TrainConfig | None = None, *,
          params: dict | None = None, out_dir: str | Path | None = None, progress: bool | None = None,
          callback: Callable[[dict], Any] | None = None,
          observe: Callable[[int, dict], Any] | None = None,
          checkpoint_dir: str | Path | None = None, checkpoint_every: float | None = None,
          on_bad_checkpoint: str = "raise") -> TrainResult:
    """Train ``network`` with ``rule`` on ``dataset``.

    Parameters
    ----------
    network : Network
        The description; ``rule.network`` adds what the rule needs (feedback pathways).
    rule : Rule or str
        A rule instance or a registered name.
    dataset : neurosim.datasets.Dataset
    config : TrainConfig
    params : dict, optional
        Initial parameters (default: ``rule.init_params`` with ``config.seed``); not modified.
    out_dir : path, optional
        Where to write ``run.json``/``run.npz`` after every epoch (atomically), so an
        interrupted run keeps what it finished.
    progress : bool, optional
        tqdm progress bar; default on only when stderr is a terminal.
    callback : callable, optional
        Called with each epoch's history entry.
    observe : callable, optional
        Called as ``observe(epoch, params)`` after each epoch with the live parameters (read
        them, do not modify them).
    checkpoint_dir : path, optional
        Resumable training (:mod:`neurosim.checkpoint`): after finished epochs (see
        ``checkpoint_every``) the whole run state (parameters, optimiser moments, the rule's
        state, the generators' positions, history) is written there; when the folder already
        holds a checkpoint of this run, the run goes on from the epoch after it, as if never
        stopped (``resumed_after`` in the result lists where it resumed; ``callback`` /
        ``observe`` see only the epochs run now).
        A checkpoint of another run is refused in one line.
    checkpoint_every : float, optional
        Seconds between checkpoints (default :data:`neurosim.checkpoint.CHECKPOINT_EVERY_S`, 60):
        one is written after the first epoch that ends at least this long after the last one,
        and after the last epoch, so that runs of many short epochs do not spend their time
        writing (a resumed run repeats at most this much work).  0: after every epoch.
    on_bad_checkpoint : {"raise", "restart"}
        What an unreadable checkpoint, or one of another run, in ``checkpoint_dir`` does: a
        one-line error (default), or a warning and a fresh start (sweeps, which own the folder).
        Whatever this says, a rule state that cannot be stored or a failed write (a full disk)
        turns checkpointing off with a warning and the run goes on.

    Returns
    -------
    TrainResult
        ``status`` tells whether it completed, was interrupted or diverged.
    """
    config = config or TrainConfig()
    rule = get_rule(rule) if isinstance(rule, str) else rule
    check_rule_operations(rule, network)  # before the rule adds its pathways (issue 17)
    network = rule.network(network)
    dtype = resolve_dtype(config.dtype)
    arrays = backend(config.array, config.device, owner="TrainConfig")
    check_rule_arrays(rule, config.array)
    n_out = network.output_layer.size
    check_fits(network, dataset)
    classification = dataset.n_classes > 0
    # the data go to the device once; every batch is sliced there
    x_train = arrays.asarray(np.ascontiguousarray(dataset.x_train, dtype=dtype))
    x_test = arrays.asarray(np.ascontiguousarray(dataset.x_test, dtype=dtype))
    t_train = arrays.asarray(np.ascontiguousarray(dataset.targets("train"), dtype=dtype))
    t_test = arrays.asarray(np.ascontiguousarray(dataset.targets("test"), dtype=dtype))
    if t_train.shape[1] != n_out:
        raise ShapeError(f"dataset '{dataset.name}' targets have {t_train.shape[1]} columns but the output "
                         f"layer has {n_out} units")
    y_train = dataset.y_train if classification else None
    y_test = dataset.y_test if classification else None

    rng = as_generator(config.seed)
    start_params = params
    if params is None:
        params = rule.init_params(network, rng, dtype)  # drawn on the host: the same on every backend
    else:
        params = {k: np.array(to_numpy(v), dtype=dtype, copy=True) for k, v in params.items()}
    params = arrays.put(params)
    state = rule.init(network, params, config.seed)
    optimizer = make_optimizer(config.optimizer, config.learning_rate, config.momentum,
                               rule.learning_rate_scales(network))
    align_idx = alignment_indices(x_train.shape[0], config)
    if align_idx is not None:
        align_idx = arrays.asarray(align_idx)
        x_align, t_align = x_train[align_idx], t_train[align_idx]
    if progress is None:
        progress = sys.stderr.isatty()

    augmenting = bool(config.crop_padding or config.flip)
    image_shape = network.input_layer.dims
    check_augmentation("TrainConfig", config.crop_padding, config.flip, image_shape)
    # its own generator: augmentation never shifts the batch order or the rule's draws
    aug_rng = np.random.default_rng([config.seed, 0xA06]) if augmenting else None
    result = TrainResult(rule=rule.name, dataset=dataset.name, config=config, network=network, params=params,
                         state=state)
    first_epoch, elapsed, initial_norm, saver = 1, 0.0, None, None
    if checkpoint_dir is not None:
        from .checkpoint import Checkpointer

        saver = Checkpointer(checkpoint_dir, rule=rule, network=network, config=config, dataset=dataset,
                             start_params=start_params, state=state, every=checkpoint_every,
                             on_bad=on_bad_checkpoint)
        saved = saver.restore()
        if saved is not None:  # go on where the checkpointed epoch left the run
            params = arrays.put({k: np.asarray(v, dtype=dtype) for k, v in saved["params"].items()})
            state = arrays.put(saved["state"])
            optimizer.load_state_dict(arrays.put(saved["optimizer"]))
            rng.bit_generator.state = saved["rng"]
            if aug_rng is not None and saved["aug_rng"] is not None:
                aug_rng.bit_generator.state = saved["aug_rng"]
            result.params, result.state = params, state
            result.history = list(saved["history"])
            result.initial_loss = saved["initial_loss"]
            result.resumed_after = [*saved["resumed"], int(saved["epoch"])]
            result.resumed_code = [*saved.get("resumed_code", []), saved["code"]]
            first_epoch, elapsed, initial_norm = int(saved["epoch"]) + 1, float(saved["seconds"]), saved["initial_norm"]
            result.seconds_before_resume = elapsed
    start = time.perf_counter()
    n = x_train.shape[0]
    # Overflow is detected explicitly below (non-finite updates or loss stop the run with a
    # message), so NumPy's warnings would only add noise on the way there.
    errstate = np.errstate(over="ignore", invalid="ignore")
    errstate.__enter__()
    try:
        if config.epochs and first_epoch == 1:
            result.initial_loss, _ = evaluate(network, params, x_train, y_train, t_train, rule)
        reference_loss = result.initial_loss
        if initial_norm is None:
            initial_norm = math.sqrt(sum(_sum_of_squares(v) for v in params.values()))
        batch_size = config.batch_size or n
        for epoch in range(first_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            if config.schedule == "cosine":
                optimizer.learning_rate = 0.5 * config.learning_rate * (1 + math.cos(math.pi * (epoch - 1)
                                                                                     / config.epochs))
            order = arrays.asarray(rng.permutation(n))  # drawn on the host, used on the device
            batches = range(0, n, batch_size)
            if progress:
                from tqdm.auto import tqdm

                batches = tqdm(batches, desc=f"{rule.name} epoch {epoch}/{config.epochs}", unit="batch",
                               leave=False, file=sys.stderr)
            clipped = 0
            relaxation = None
            for start_i in batches:
                idx = order[start_i:start_i + batch_size]
                xb = augment_batch(x_train[idx], image_shape, aug_rng, crop_padding=config.crop_padding,
                                   flip=config.flip) if augmenting else x_train[idx]
                dw, state, aux = rule.updates(network, params, state, xb, t_train[idx])
                relaxation = add_relaxation(relaxation, aux.get("relaxation"))
                bad = first_non_finite(dw)  # one reduction per batch (one synchronisation on a GPU)
                if bad is not None:
                    raise ConvergenceError(f"rule '{rule.name}' proposed a non-finite update for '{bad}' in "
                                           f"epoch {epoch}; lower the learning rate (now "
                                           f"{config.learning_rate:g})")
                if config.weight_decay:
                    dw = {k: (v - config.weight_decay * params[k] if k in params and not k.endswith(".bias")
                              else v) for k, v in dw.items()}
                if config.clip_norm is not None:
                    dw, was_clipped = clip_update(dw, config.clip_norm)
                    clipped += was_clipped
                optimizer.step(params, dw)
                bad = first_non_finite(params)  # before the next batch reads them
                if bad is not None:
                    raise ConvergenceError(f"parameter '{bad}' became non-finite in epoch {epoch}; lower the "
                                           f"learning rate (now {config.learning_rate:g})")
            norm = math.sqrt(sum(_sum_of_squares(v) for v in params.values()))
            if norm > config.max_weight_growth * max(initial_norm, 1e-12):
                raise ConvergenceError(f"the parameters' norm grew to {norm:.3g} in epoch {epoch}, more than "
                                       f"{config.max_weight_growth:g}x the initial {initial_norm:.3g}; lower the "
                                       f"learning rate (now {config.learning_rate:g})")
            entry: dict[str, Any] = {"epoch": epoch, "train_seconds": time.perf_counter() - t0}
            if config.clip_norm is not None:
                entry["clipped"] = clipped
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                train_loss, train_err = evaluate(network, params, x_train, y_train, t_train, rule)
                test_loss, test_err = evaluate(network, params, x_test, y_test, t_test, rule)
                if not math.isfinite(train_loss):
                    raise ConvergenceError(f"training loss became {train_loss} in epoch {epoch}; lower the "
                                           f"learning rate (now {config.learning_rate:g})")
                if reference_loss is not None and math.isfinite(reference_loss) and reference_loss > 0 \
                        and train_loss > config.divergence_factor * reference_loss:
                    entry.update(loss=train_loss, test_loss=test_loss, train_error=train_err, test_error=test_err)
                    result.history.append({**entry, "seconds": time.perf_counter() - t0})
                    raise ConvergenceError(f"training loss grew to {train_loss:.3g} in epoch {epoch}, more than "
                                           f"{config.divergence_factor:g}x the initial {reference_loss:.3g}; lower "
                                           f"the learning rate (now {config.learning_rate:g})")
                entry.update(loss=train_loss, test_loss=test_loss, train_error=train_err, test_error=test_err)
            else:
                entry.update(loss=None, test_loss=None, train_error=None, test_error=None)
            if align_idx is not None:
                try:
                    report = align(rule, network, params, x_align, t_align, state)
                except ConvergenceError as err:
                    # the *measurement* failed (e.g. the implicit-gradient oracle's fixed point did not
                    # settle to its tolerance), not the training: the epoch is kept, without alignment
                    report = None
                    entry["alignment_failed"] = str(err)
                if report is not None:
                    entry["alignment"] = {"global": report.global_cosine,
                                          "global_angle_deg": report.global_angle_deg,
                                          "projections": {r.name: r.cosine for r in report.projections}}
                    if "expected_global_cosine" in report.extra:  # a stochastic rule: its expectation too
                        entry["alignment"]["expected_global"] = report.extra["expected_global_cosine"]
            entry["seconds"] = time.perf_counter() - t0
            if relaxation is not None:  # rules that relax to a fixed point report its statistics per epoch
                entry["relaxation"] = relaxation
            result.history.append(entry)
            result.state = state
            result.seconds = elapsed + time.perf_counter() - start
            if saver is not None and saver.due(epoch):
                saver.save(epoch=epoch, params=params, optimizer=optimizer.state_dict(), state=state,
                           rng=rng.bit_generator.state,
                           aug_rng=None if aug_rng is None else aug_rng.bit_generator.state,
                           history=result.history, initial_loss=result.initial_loss, initial_norm=initial_norm,
                           seconds=result.seconds, resumed=result.resumed_after, resumed_code=result.resumed_code)
            if out_dir is not None:
                result.save(out_dir)
            if callback is not None:
                callback(entry)
            if observe is not None:
                observe(epoch, params)
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.message = f"interrupted by the user after {result.epochs_completed} finished epoch(s)"
    except ConvergenceError as err:
        result.status = "diverged"
        result.message = str(err)
    finally:
        errstate.__exit__(None, None, None)
    if result.status == "running":
        result.status = "completed"
    result.params = {k: to_numpy(v) for k, v in params.items()}  # results are numpy, whatever ran
    result.state = to_numpy_tree(result.state)
    result.seconds = elapsed + time.perf_counter() - start
    if out_dir is not None:
        result.save(out_dir)
    return result
