"""Random-crop and horizontal-flip augmentation of image mini-batches.

The standard CIFAR-10 augmentation (used by Bartunov et al. 2018's successors, Laborieux et
al. 2021, Payeur et al. 2021): each training image is zero-padded by ``crop_padding`` pixels on
every side and a window of the original size is cut at a uniformly drawn offset
:math:`(d_y, d_x) \\in \\{0, \\dots, 2p\\}^2`; with ``flip`` it is mirrored left-right with
probability 1/2.  Both are one gather of the padded batch (the same index arithmetic for numpy
arrays and PyTorch tensors), so a batch is augmented at the cost of one copy.

Rates travel flat, ``(batch, C*H*W)`` in C order (:mod:`neurosim.conv`); ``shape`` is the input
layer's ``(C, H, W)``.  Only training batches are augmented (:func:`neurosim.training.train`),
never the evaluation or the alignment batch, and the draws come from a generator of their own, so
that turning augmentation on leaves the batch order and the weight initialisation unchanged.
"""
from __future__ import annotations

import numpy as np

from ..arrays import asarray_like, namespace, zeros
from ..errors import ConfigError

__all__ = ["augment_batch", "check_augmentation"]


def check_augmentation(owner: str, crop_padding, flip, shape=None) -> None:
    """One-line errors for bad augmentation settings (and, given ``shape``, a non-image input)."""
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise ConfigError(f"{owner}.crop_padding: expected an integer >= 0 (pixels of zero padding before the "
                          f"random crop; 0 = no crop), got {crop_padding!r}")
    if not isinstance(flip, bool):
        raise ConfigError(f"{owner}.flip: expected true or false, got {flip!r}")
    if shape is not None and (crop_padding or flip) and len(shape) != 3:
        raise ConfigError(f"{owner}: random crops and flips need an image input layer (shape = [channels, height, "
                          f"width]), but the input layer has shape {tuple(shape)}; give the input layer a shape or "
                          "turn augmentation off (crop_padding = 0, flip = false)")


def augment_batch(x, shape, rng: np.random.Generator, *, crop_padding: int = 0, flip: bool = False):
    """A randomly cropped and/or flipped copy of the flat image batch ``x``.

    Parameters
    ----------
    x : array (batch, C*H*W)
        numpy array or tensor; the result has its library, device and dtype.
    shape : (C, H, W)
    rng : numpy.random.Generator
        Draws the offsets and flips (on the host).
    crop_padding : int
        :math:`p`: zero padding before cutting an H x W window at offsets in ``0..2p``.
    flip : bool
        Mirror each image left-right with probability 1/2.

    Returns
    -------
    array (batch, C*H*W)
        ``x`` itself when neither is asked for.
    """
    if not crop_padding and not flip:
        return x
    xp = namespace(x)
    c, h, w = shape
    b, p = x.shape[0], crop_padding
    dy = rng.integers(0, 2 * p + 1, size=b)
    dx = rng.integers(0, 2 * p + 1, size=b)
    mirror = rng.random(b) < 0.5 if flip else np.zeros(b, dtype=bool)
    cols = np.arange(w)
    rows = dy[:, None] + np.arange(h)                                       # (b, H) in the padded image
    cols = dx[:, None] + np.where(mirror[:, None], w - 1 - cols, cols)       # (b, W), mirrored where flipped
    x4 = xp.reshape(x, (b, c, h, w))
    if p:
        big = zeros((b, c, h + 2 * p, w + 2 * p), x)
        big[:, :, p:p + h, p:p + w] = x4
        x4 = big
    idx = (np.arange(b)[:, None, None, None], np.arange(c)[None, :, None, None], rows[:, None, :, None],
           cols[:, None, None, :])
    if xp is not np:
        idx = tuple(asarray_like(i, x) for i in idx)  # integer indices on the tensor's device
    return xp.reshape(x4[idx], (b, c * h * w))
