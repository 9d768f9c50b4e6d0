"""The two relaxation loops of :meth:`neurosim.energy.EnergyKernel.relax` are one algorithm.

numpy runs the preallocated-buffer loop (ufunc ``out=``); every other array library runs
``_relax_arrays``, built from the allocating :meth:`EnergyKernel.fixed_point_map`.  Oracle:
the fast loop itself -- on numpy arrays the namespace loop must reproduce its states, step
counts, residuals and hand-out of the read-out delta *bit for bit*, in every schedule, step
size, nudge and output formulation (docs/design.md, "Arrays").  The torch parity of the EP
rule built on them is in tests/test_arrays.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurosim.energy import kernel_for_batch
from neurosim.relaxation import Monitor
from neurosim.rules import get_rule


def _monitor(tolerance, max_steps):
    return Monitor("test", max_steps=max_steps, tolerance=tolerance, on_unconverged="record", growth=2.0,
                   growth_floor=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("schedule", ["alternating", "synchronous"])
@pytest.mark.parametrize("step_size, beta, tolerance", [(1.0, 0.0, 1e-6), (0.5, 0.3, 1e-6), (1.0, -0.2, 0.0),
                                                       (0.7, 0.1, 1e-9)])
@pytest.mark.parametrize("sizes", [[6, 5, 4, 3], [6, 3], [6, 5, 3]])
def test_namespace_loop_equals_the_numpy_buffer_loop_bit_for_bit(sizes, step_size, beta, tolerance, schedule, loss,
                                                                  dtype):
    if loss == "cross_entropy" and len(sizes) < 3:
        pytest.skip("the cross-entropy read-out needs a hidden layer")
    rule = get_rule("ep")
    net = rule.network(sizes, loss=loss)
    params = rule.init_params(net, 2, dtype)
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (7, sizes[0])).astype(dtype)
    t = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 7)].astype(dtype)
    K, x, t = kernel_for_batch(net, params, x, t)
    inp = K.input_drive(x)
    free, _ = K.relax(x, t, None, step_size=step_size, tolerance=1e-6, max_steps=60, schedule=schedule,
                      on_unconverged="record", inp=inp)
    n_out = None if K.W_out is None else (7, K.W_out.shape[0])
    d_fast = None if n_out is None else np.zeros(n_out, dtype=dtype)
    d_ns = None if n_out is None else np.zeros(n_out, dtype=dtype)
    s_fast, c_fast = K.relax(x, t, free, beta=beta, step_size=step_size, tolerance=tolerance, max_steps=40,
                             schedule=schedule, on_unconverged="record", inp=inp, readout_delta=d_fast)
    s_ns, c_ns = K._relax_arrays(x, t, free, beta, step_size, schedule == "alternating" and len(K.W) > 1, inp,
                                 _monitor(tolerance, 40), d_ns)
    assert c_fast == c_ns
    for a, b in zip(s_fast, s_ns):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    if d_fast is not None and beta != 0.0:
        assert np.any(d_fast != 0) and np.array_equal(d_fast, d_ns)
