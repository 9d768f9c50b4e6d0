"""Random-crop / flip augmentation (neurosim.data.augment): checked against a per-image loop
written from the definition, its limits (no padding and no flip = identity), and its effect
on a training run (only the training batches change; the batch order does not)."""
from __future__ import annotations

import numpy as np
import pytest

from neurosim import RunSpec
from neurosim.data import Dataset
from neurosim.data.augment import augment_batch
from neurosim.errors import ConfigError
from neurosim.network import Layer, Network, Projection
from neurosim.rules import get_rule
from neurosim.training import TrainConfig, train

SHAPE = (2, 5, 4)


def naive(x, shape, p, dy, dx, mirror):
    """The definition, image by image: zero-pad by p, cut H x W at (dy, dx), mirror if asked."""
    c, h, w = shape
    out = []
    for img, oy, ox, m in zip(x.reshape(-1, c, h, w), dy, dx, mirror):
        big = np.zeros((c, h + 2 * p, w + 2 * p), dtype=x.dtype)
        big[:, p:p + h, p:p + w] = img
        cut = big[:, oy:oy + h, ox:ox + w]
        out.append((cut[:, :, ::-1] if m else cut).reshape(-1))
    return np.stack(out)


@pytest.mark.parametrize("p,flip", [(0, True), (1, False), (2, True), (3, True)])
def test_matches_the_definition(p, flip):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, int(np.prod(SHAPE)))).astype(np.float32)
    got = augment_batch(x, SHAPE, np.random.default_rng(7), crop_padding=p, flip=flip)
    draws = np.random.default_rng(7)  # the same draws, in the documented order
    dy, dx = draws.integers(0, 2 * p + 1, 64), draws.integers(0, 2 * p + 1, 64)
    mirror = draws.random(64) < 0.5 if flip else np.zeros(64, bool)
    np.testing.assert_array_equal(got, naive(x, SHAPE, p, dy, dx, mirror))
    assert got.dtype == x.dtype and got.shape == x.shape
    if p:  # every offset occurs: 64 draws over at most 7 values
        assert len(set(dy)) == 2 * p + 1 or p == 3


def test_off_is_the_identity_and_flip_is_an_involution():
    x = np.random.default_rng(1).normal(size=(8, int(np.prod(SHAPE))))
    assert augment_batch(x, SHAPE, np.random.default_rng(0)) is x

    class Always:  # a generator that mirrors every image and never shifts
        def integers(self, lo, hi, size):
            return np.zeros(size, dtype=int)

        def random(self, size):
            return np.zeros(size)

    once = augment_batch(x, SHAPE, Always(), flip=True)
    assert not np.array_equal(once, x)
    np.testing.assert_array_equal(augment_batch(once, SHAPE, Always(), flip=True), x)


def test_torch_tensors_give_the_same_batch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(16, int(np.prod(SHAPE))))
    a = augment_batch(x, SHAPE, np.random.default_rng(3), crop_padding=2, flip=True)
    b = augment_batch(torch.tensor(x), SHAPE, np.random.default_rng(3), crop_padding=2, flip=True)
    assert isinstance(b, torch.Tensor)
    np.testing.assert_array_equal(b.numpy(), a)


def _images(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, int(np.prod(SHAPE))))
    y = rng.integers(0, 3, n)
    return Dataset("toy-images", x.astype(np.float32), y, x[:12].astype(np.float32), y[:12], n_classes=3,
                   image_shape=SHAPE, source="generated in the test")


def _net():
    layers = (Layer("input", shape=SHAPE, role="input", bias=False, activation="linear"),
              Layer("c", shape=(3, 3, 2), activation="tanh"), Layer("output", 3, role="output", activation="linear"))
    projections = (Projection("input", "c", name="k", operation="conv2d", kernel=3),
                   Projection("c", "output", name="readout"))
    return Network(layers, projections, loss="cross_entropy")


def test_training_with_augmentation_changes_only_the_training_batches():
    data, net, rule = _images(), _net(), get_rule("backprop")
    base = dict(epochs=2, batch_size=16, optimizer="sgd", learning_rate=0.1, momentum=0.0, dtype="float64")
    plain = train(net, rule, data, TrainConfig(**base), progress=False)
    shifted = train(net, rule, data, TrainConfig(**base, crop_padding=1, flip=True), progress=False)
    again = train(net, rule, data, TrainConfig(**base, crop_padding=1, flip=True), progress=False)
    assert shifted.status == "completed"
    assert not np.allclose(plain.params["k"], shifted.params["k"])       # the batches did change
    np.testing.assert_array_equal(shifted.params["k"], again.params["k"])  # reproducibly
    # with zero padding and no flip the run is the plain one, bit for bit
    off = train(net, rule, data, TrainConfig(**base, crop_padding=0, flip=False), progress=False)
    np.testing.assert_array_equal(off.params["k"], plain.params["k"])


def test_bad_settings_are_one_line_errors():
    for bad in ({"crop_padding": -1}, {"crop_padding": 1.5}, {"flip": "yes"}):
        with pytest.raises(ConfigError, match="crop_padding|flip"):
            TrainConfig(**bad)
        with pytest.raises(ConfigError, match="crop_padding|flip"):
            RunSpec(rule="backprop", **bad)
    dense = Network.feedforward([SHAPE[0] * SHAPE[1] * SHAPE[2], 4, 3], loss="cross_entropy")
    with pytest.raises(ConfigError, match="image input layer"):
        train(dense, get_rule("backprop"), _images(), TrainConfig(epochs=1, crop_padding=2), progress=False)


def test_runspec_round_trip_and_ids_of_plain_runs():
    spec = RunSpec(rule="backprop", crop_padding=4, flip=True)
    assert RunSpec.from_toml(spec.to_toml()) == spec
    assert spec.config().crop_padding == 4 and spec.config().flip is True
    # written only when on, so every earlier run keeps its id
    assert "crop_padding" not in RunSpec(rule="backprop").to_toml()
    assert spec.id() != RunSpec(rule="backprop").id()


def test_an_image_net_refuses_images_of_another_shape():
    """Same number of pixels, other layout: (2, 5, 4) images into a (2, 4, 5) input layer."""
    from neurosim.errors import ShapeError
    from neurosim.training import check_fits

    layers = (Layer("input", shape=(2, 4, 5), role="input", bias=False, activation="linear"),
              Layer("output", 3, role="output", activation="linear"))
    net = Network(layers, (Projection("input", "output"),), loss="cross_entropy")
    with pytest.raises(ShapeError, match=r"shape \(2, 5, 4\).*shape \(2, 4, 5\)"):
        check_fits(net, _images())
    check_fits(_net(), _images())
    # a grey set given as (H, W) is one channel: it fits a (1, H, W) input layer
    grey = Dataset("grey", np.zeros((4, 20), np.float32), np.arange(4) % 3, np.zeros((2, 20), np.float32),
                   np.arange(2), n_classes=3, image_shape=(5, 4), source="generated in the test")
    one = (Layer("input", shape=(1, 5, 4), role="input", bias=False, activation="linear"),
           Layer("output", 3, role="output", activation="linear"))
    check_fits(Network(one, (Projection("input", "output"),), loss="cross_entropy"), grey)
