"""One run specification: everything a training run needs, in one validated record.

A :class:`RunSpec` names the rule and its hyper-parameters, the network (an explicit
description, or the rule's default network on the data set's sizes), the data and its
subsets, the optimiser and its schedule, batch size, epochs, seeds, dtype, clipping,
weight decay, stop criterion and the alignment budget.  A model card (``models/*.toml``)
*is* a RunSpec in TOML; the CLI, ``neurosim compare``, sweeps and experiments all build
RunSpecs, and :meth:`RunSpec.canonical` gives the identity a sweep hashes.

TOML layout (every table optional except ``[rule]``; unknown keys are errors)::

    [rule]        name = "pc", and the rule's hyper-parameters (max_steps = 20, ...)
    [network]     either an explicit network: sizes = [...] (+ activation, loss, ...) or
                  [[layers]]/[[projections]] tables; or options of the rule's default
                  network: hidden = [64, 64], activation, loss, output_activation, init,
                  init_scale, builder = "rule" | "feedforward"
    [data]        dataset = "digits", n_train, n_test, options = {...}, validation (a fraction of
                  the training set held out as the evaluation split; the test set is dropped),
                  crop_padding, flip (random-crop / left-right-flip augmentation of training
                  batches of image inputs: neurosim.data.augment)
    [training]    epochs, batch_size ("auto", "full" or a number), optimizer, learning_rate, momentum, schedule,
                  weight_decay, clip_norm, dtype, seeds = [0, 1], align_samples,
                  eval_every, bias_init_scale, stop, array ("numpy" | "torch"),
                  device ("cpu", "cuda", "cuda:N", "mps")
    [record]      trace_outputs, save_params
    [run]         name, description
    [published]   free-form: the published number to compare against, with its source

Presets: what ``neurosim train --rule NAME`` and ``neurosim compare`` use without a card is
``neurosim/presets/NAME-train.toml`` / ``NAME-compare.toml`` (also reachable as
``models/presets/``), read by :meth:`RunSpec.preset`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .arrays import check_backend_names
from .errors import ConfigError
from .network import Network, _read_text, dumps_toml, parse_toml
from .validation import check, check_keys, check_seed

__all__ = ["RunSpec", "PRESET_DIR"]

#: Where the per-rule presets live (package data, so installed copies have them).
PRESET_DIR = Path(__file__).parent / "presets"

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
BUILDERS = ("rule", "feedforward")
#: Sweep stop criteria (regression tasks; see neurosim.sweep.STOP_CRITERIA).
STOPS = ("sign", "within_0.2", "within_0.1", "tss_0.04", "all")

_SECTIONS = {
    "network": ("hidden", "layers", "activation", "output_activation", "loss", "init", "init_scale", "builder"),
    "data": ("dataset", "n_train", "n_test", "dataset_options", "validation", "crop_padding", "flip"),
    "training": ("epochs", "batch_size", "optimizer", "learning_rate", "momentum", "schedule", "weight_decay",
                 "clip_norm", "dtype", "seeds", "align_samples", "eval_every", "bias_init_scale", "stop", "array",
                 "device"),
    "record": ("trace_outputs", "save_params"),
    "run": ("name", "description"),
}
#: TOML key -> field where they differ.
_TOML_NAMES = {("data", "options"): "dataset_options"}
#: Fields written only when they differ from these defaults, so that the canonical form (and
#: the id) of every numpy run stays what it was before the fields existed.
_DEFAULT_OMITTED = {"array": "numpy", "device": "cpu", "crop_padding": 0, "flip": False}
_NOTHING = object()


@dataclass(frozen=True)
class RunSpec:
    """A complete, validated description of a run (see the module docstring).

    Build one from keywords, :meth:`load` a TOML card, :meth:`preset` for a rule, or
    :meth:`replace` fields (flat names, e.g. ``spec.replace(learning_rate=1e-2, seeds=(1,))``).
    ``hyper`` is checked against the rule's ``Hyper`` record; ``seeds`` may be given as
    ``seed=`` (one seed) in :meth:`replace`.
    """

    rule: str
    hyper: Mapping[str, Any] = field(default_factory=dict)
    # network
    network: Network | None = None
    hidden: tuple[int, ...] = (64, 64)
    layers: tuple[int, ...] | None = None
    activation: str | None = None
    output_activation: str | None = None
    loss: str | None = None
    init: str | None = None
    init_scale: float | None = None
    builder: str = "rule"
    # data
    dataset: str = "digits"
    n_train: int | None = None
    n_test: int | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    validation: float | None = None
    crop_padding: int = 0
    flip: bool = False
    # training
    epochs: int = 10
    batch_size: int | str = "auto"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    schedule: str = "constant"
    weight_decay: float = 0.0
    clip_norm: float | None = None
    dtype: str = "float32"
    seeds: tuple[int, ...] = (0,)
    align_samples: int = 256
    eval_every: int = 1
    bias_init_scale: float | None = None
    stop: str | None = None
    array: str = "numpy"
    device: str = "cpu"
    # record
    trace_outputs: bool = False
    save_params: bool = False
    # run
    name: str = ""
    description: str = ""
    published: Mapping[str, Any] = field(default_factory=dict, compare=False)
    source: str = field(default="", compare=False)

    def __post_init__(self):
        from .rules import rule_class

        owner = f"RunSpec{f' ({self.source})' if self.source else ''}"
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        check(owner, "rule", self.rule, "str", hint="Name a registered rule (see `neurosim rules`).")
        klass = rule_class(self.rule)
        set_("rule", klass.name)
        hyper = check(owner, "hyper", self.hyper, "mapping")
        set_("hyper", dict(klass.Hyper.create(f"{owner} rule '{klass.name}'", hyper)))
        if self.network is not None and not isinstance(self.network, Network):
            raise ConfigError(f"{owner}: 'network' must be a Network or none, got {type(self.network).__name__}")
        for name in ("hidden", "layers", "seeds"):
            value = getattr(self, name)
            if value is None and name == "layers":
                continue
            check(owner, name, value, "sequence")
            ints = tuple(check(owner, f"{name}[{i}]", v, "int", ge=0 if name == "seeds" else 1)
                         for i, v in enumerate(value))
            if name == "seeds" and not ints:
                raise ConfigError(f"{owner}: 'seeds' must hold at least one seed, got []")
            if name == "layers" and len(ints) < 2:
                raise ConfigError(f"{owner}: 'layers' must give at least two sizes like [64, 32, 10], got {value!r}")
            set_(name, ints)
        for name in ("activation", "output_activation", "loss", "init", "stop", "name", "description"):
            check(owner, name, getattr(self, name), "str", allow_none=True)
        if self.loss is not None:
            check(owner, "loss", self.loss, choices=("mse", "cross_entropy"))
        for name in ("activation", "output_activation"):
            if getattr(self, name) is not None:
                from .neurons import ACTIVATIONS, canonical_activation

                try:
                    canonical_activation(getattr(self, name))
                except KeyError:
                    check(owner, name, getattr(self, name), choices=tuple(ACTIVATIONS))
        check(owner, "builder", self.builder, choices=BUILDERS)
        check(owner, "init_scale", self.init_scale, gt=0, allow_none=True)
        check(owner, "dataset", self.dataset, "str")
        if not self.dataset.strip():
            raise ConfigError(f"{owner}: 'dataset' must name a data set, got ''; see `neurosim rules --datasets`")
        for name in ("n_train", "n_test"):
            set_(name, check(owner, name, getattr(self, name), "int", ge=1, allow_none=True))
        set_("dataset_options", dict(check(owner, "dataset_options", self.dataset_options, "mapping")))
        if self.validation is not None:
            set_("validation", float(check(owner, "validation", self.validation, gt=0, lt=1,
                                           hint="The fraction of the training set held out for selection.")))
        from .data.augment import check_augmentation

        check_augmentation(owner, self.crop_padding, self.flip)
        set_("epochs", check(owner, "epochs", self.epochs, "int", ge=0))
        if self.batch_size is None:
            set_("batch_size", "full")
        if not (isinstance(self.batch_size, str) and self.batch_size in ("auto", "full")):
            set_("batch_size", check(owner, "batch_size", self.batch_size, "int", ge=1,
                                     hint='Or "auto" (default: 128, fewer for small data sets) or "full" '
                                          "(the whole training set)."))
        check(owner, "optimizer", self.optimizer, choices=OPTIMIZERS)
        set_("learning_rate", float(check(owner, "learning_rate", self.learning_rate, gt=0)))
        set_("momentum", float(check(owner, "momentum", self.momentum, ge=0, lt=1)))
        check(owner, "schedule", self.schedule, choices=SCHEDULES)
        set_("weight_decay", float(check(owner, "weight_decay", self.weight_decay, ge=0, lt=1)))
        check(owner, "clip_norm", self.clip_norm, gt=0, allow_none=True)
        check(owner, "dtype", self.dtype, choices=("float32", "float64"))
        set_("align_samples", check(owner, "align_samples", self.align_samples, "int", ge=0))
        set_("eval_every", check(owner, "eval_every", self.eval_every, "int", ge=1))
        check(owner, "bias_init_scale", self.bias_init_scale, ge=0, allow_none=True)
        check(owner, "stop", self.stop, choices=STOPS, allow_none=True)
        # the spelling only: whether torch and the device exist is checked when the run starts
        check_backend_names(owner, self.array, self.device)
        check(owner, "trace_outputs", self.trace_outputs, "bool")
        check(owner, "save_params", self.save_params, "bool")
        set_("published", dict(check(owner, "published", self.published, "mapping")))

    # ------------------------------------------------------------------ construction
    @classmethod
    def fields_(cls) -> tuple[str, ...]:
        """The flat field names :meth:`replace` and sweep jobs accept."""
        return tuple(f.name for f in fields(cls) if f.name != "source")

    def replace(self, **changes) -> "RunSpec":
        """A copy with flat fields changed; ``seed=`` sets ``seeds=(seed,)``; ``hyper`` is merged
        with the current hyper-parameters unless the rule changes."""
        if "seed" in changes:
            if "seeds" in changes:
                raise ConfigError("RunSpec.replace: give 'seed' or 'seeds', not both")
            changes["seeds"] = (check_seed("RunSpec", changes.pop("seed")),)
        check_keys("RunSpec", changes, self.fields_() + ("source", "seed"), what="field")
        if "hyper" in changes and changes.get("rule", self.rule) == self.rule:
            changes["hyper"] = {**self.hyper, **dict(check("RunSpec", "hyper", changes["hyper"], "mapping"))}
        elif "rule" in changes and changes["rule"] != self.rule and "hyper" not in changes:
            changes["hyper"] = {}
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, rule: str, purpose: str = "train") -> "RunSpec":
        """The rule's preset for ``purpose`` (``train`` or ``compare``), or the plain defaults."""
        from .rules import rule_class

        check("RunSpec.preset", "purpose", purpose, choices=("train", "compare"))
        name = rule_class(rule).name
        path = PRESET_DIR / f"{name}-{purpose}.toml"
        return cls.load(path) if path.is_file() else cls(rule=name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "run specification") -> "RunSpec":
        """From the TOML layout (tables ``rule``, ``network``, ``data``, ``training``...)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a table, got {type(data).__name__}")
        known = {"rule", "network", "layers", "projections", "data", "training", "record", "run", "published"}
        check_keys(source, data, known, what="top-level table")
        for key in known - {"layers", "projections"}:
            if key in data and not isinstance(data[key], Mapping):
                raise ConfigError(f"{source}: '{key}' must be a table ([{key}]), got {type(data[key]).__name__}")
        rule_table = dict(data.get("rule", {}))
        if "name" not in rule_table:
            raise ConfigError(f"{source} [rule]: 'name' is required (a registered rule, see `neurosim rules`)")
        kwargs: dict[str, Any] = {"rule": rule_table.pop("name"), "hyper": rule_table}
        head = dict(data.get("network", {}))
        kwargs["description"] = head.pop("description", "")
        explicit = "sizes" in head or "layers" in data or "projections" in data
        if explicit:
            kwargs["network"] = Network.from_dict({"network": head, **{k: data[k] for k in ("layers", "projections")
                                                                       if k in data}}, source=source)
        else:
            check_keys(f"{source} [network]", head, _SECTIONS["network"] + ("name",))
            head.pop("name", None)
            kwargs.update(head)
        for section in ("data", "training", "record", "run"):
            table = dict(data.get(section, {}))
            allowed = [_toml_name(section, f) for f in _SECTIONS[section]] + (["seed"] if section == "training" else [])
            check_keys(f"{source} [{section}]", table, allowed)
            for key, value in table.items():
                fname = _TOML_NAMES.get((section, key), key)
                if fname == "seed":
                    if "seeds" in table:
                        raise ConfigError(f"{source} [training]: give 'seed' or 'seeds', not both")
                    fname, value = "seeds", [value]
                if fname == "description" and kwargs.get("description"):
                    raise ConfigError(f"{source}: 'description' given in [network] and [run]; keep one")
                kwargs[fname] = value
        kwargs["published"] = dict(data.get("published", {}))
        kwargs["source"] = source
        for key in ("hidden", "layers", "seeds"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path) -> "RunSpec":
        """Read a model card / run specification from a TOML file."""
        return cls.from_dict(parse_toml(_read_text(path), str(path)), source=str(path))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "TOML text") -> "RunSpec":
        return cls.from_dict(parse_toml(text, source), source=source)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The TOML layout, every field written (defaults included), so it reads back equal."""
        out: dict[str, Any] = {"rule": {"name": self.rule, **self.hyper}}
        if self.network is not None:
            net = self.network.to_dict()
            out["network"] = dict(net["network"])
            out["layers"], out["projections"] = net["layers"], net["projections"]
        else:
            out["network"] = {k: _plain(getattr(self, k)) for k in _SECTIONS["network"] if getattr(self, k) is not None}
        for section in ("data", "training", "record", "run"):
            table = {_toml_name(section, f): _plain(getattr(self, f)) for f in _SECTIONS[section]
                     if getattr(self, f) is not None and getattr(self, f) != ""
                     and _DEFAULT_OMITTED.get(f, _NOTHING) != getattr(self, f)}
            if table:
                out[section] = table
        if self.published:
            out["published"] = dict(self.published)
        return out

    def to_toml(self) -> str:
        """TOML text that :meth:`from_toml` reads back into an equal RunSpec."""
        return dumps_toml(self.to_dict())

    def canonical(self) -> str:
        """Canonical JSON of everything that determines the run (sorted keys, defaults filled)."""
        data = self.to_dict()
        data.pop("published", None)
        data.get("run", {}).pop("name", None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_plain)

    def id(self) -> str:
        """16 hex digits of SHA-256 of :meth:`canonical` (a sweep's job id)."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ what a run needs
    def make_rule(self):
        """The rule instance with this spec's hyper-parameters."""
        from .rules import get_rule

        return get_rule(self.rule, **self.hyper)

    def load_data(self, seed: int | None = None):
        """The data set (``seed``: of the subset/split draw; default the first seed).

        With ``validation`` set (a fraction in (0, 1), ``[data] validation``), the returned set
        trains on the rest of the training set and evaluates ("test") on the held-out fraction
        (:meth:`~neurosim.data.Dataset.validation_split`): the test set never reaches the run.
        """
        from .data import load_dataset

        sizes = {k: v for k, v in (("n_train", self.n_train), ("n_test", self.n_test)) if v is not None}
        seed = self.seeds[0] if seed is None else seed
        data = load_dataset(self.dataset, seed=seed, **sizes, **self.dataset_options)
        if self.validation is not None:  # selection: evaluate on held-out training samples, drop the test set
            data = data.validation_split(self.validation, seed)
        return data

    def build_network(self, data=None, rule=None) -> Network:
        """The network the rule trains: the explicit one, or the rule's default on the data's sizes."""
        rule = rule or self.make_rule()
        if self.network is not None:
            net = self.network
        else:
            if self.layers is not None:
                sizes = list(self.layers)
            elif data is not None:
                n_out = data.n_classes or data.t_train.shape[1]
                sizes = [data.n_features, *self.hidden, n_out]
            else:
                raise ConfigError(f"RunSpec for '{self.rule}': no network, no 'layers' and no data to size the "
                                  "default network; give layers = [...] or load the data first")
            if self.builder == "feedforward":
                net = Network.feedforward(sizes, activation=self.activation or "tanh",
                                          output_activation=self.output_activation, loss=self.loss or "mse",
                                          init=self.init or "xavier_uniform", init_scale=self.init_scale or 1.0,
                                          name=f"{self.dataset}-net")
            else:
                for key in ("output_activation", "init", "init_scale"):
                    if getattr(self, key) is not None:
                        raise ConfigError(f"RunSpec: '{key}' applies to builder = \"feedforward\" only; the rule's "
                                          "default network takes hidden, activation and loss")
                # a regression task (no classes) defaults to the squared error, whatever the rule prefers
                loss = self.loss or ("mse" if data is not None and data.n_classes == 0 else None)
                net = rule.network(sizes, activation=self.activation, loss=loss)
        if self.network is not None and self.loss is not None:
            net = net.replace(loss=self.loss)
        return rule.network(net)

    def resolved_batch_size(self, n_train: int | None) -> int | None:
        """The batch size for a training set of ``n_train`` samples (None: the whole set).

        ``"auto"`` is 128, but at most ``n_train // 100`` and at least 16, so a small data set
        still gets ~100 updates per epoch (digits, 1,437 training images: 16; Fashion-MNIST: 128).
        """
        if self.batch_size == "full":
            return None
        if self.batch_size == "auto":
            return 128 if n_train is None else int(min(128, max(16, n_train // 100)))
        return int(self.batch_size)

    def config(self, seed: int | None = None, n_train: int | None = None):
        """The :class:`~neurosim.training.TrainConfig` of one seed (default the first) for a
        training set of ``n_train`` samples (resolves ``batch_size = "auto"``)."""
        from .training import TrainConfig

        return TrainConfig(epochs=self.epochs, batch_size=self.resolved_batch_size(n_train),
                           optimizer=self.optimizer,
                           learning_rate=self.learning_rate, momentum=self.momentum, schedule=self.schedule,
                           weight_decay=self.weight_decay, clip_norm=self.clip_norm, dtype=self.dtype,
                           seed=self.seeds[0] if seed is None else seed, align_samples=self.align_samples,
                           eval_every=self.eval_every, crop_padding=self.crop_padding, flip=self.flip,
                           array=self.array, device=self.device)


def _toml_name(section: str, fname: str) -> str:
    return next((k for (s, k), f in _TOML_NAMES.items() if s == section and f == fname), fname)


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"RunSpec: non-finite number {value!r} cannot be written")
    return value
