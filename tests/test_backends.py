"""Choosing the array backend, with or without PyTorch installed (tests/test_arrays.py has
the parity suite, which needs torch).

Oracle: the contract in docs/design.md ("Arrays"): names are checked in one line, a missing
PyTorch or device is one line naming the install command or the devices there are, numpy
stays the default and the only requirement, and a RunSpec's new fields round-trip through
TOML without changing the identity of numpy runs.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from neurosim.arrays import backend, check_backend_names, namespace, to_numpy
from neurosim.errors import ConfigError
from neurosim.runspec import RunSpec


@pytest.mark.parametrize("array, device, words", [
    ("cupy", "cpu", "'array' must be one of 'numpy', 'torch'"),
    ("torch", "gpu", "'device' must be 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    ("torch", "cuda:x", "'device' must be"),
    ("numpy", "cuda", "needs array = 'torch'"),
    ("numpy", "mps", "--array torch --device mps"),
])
def test_bad_names_are_one_line(array, device, words):
    with pytest.raises(ConfigError) as err:
        check_backend_names("TrainConfig", array, device)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_spellings_accepted(device):
    assert check_backend_names("x", "torch", device) == ("torch", device)


def test_numpy_is_numpy_itself():
    b = backend()
    assert b.xp is np and b.device == "cpu"
    a = np.ones(3)
    assert namespace(a, None, 2.0, [1, 2]) is np
    assert to_numpy(a) is a  # no copy on the numpy path
    assert b.asarray(a) is a


@pytest.mark.parametrize("blocked", ["torch", "array_api_compat"])
def test_missing_torch_or_compat_is_one_line_with_the_install_command(monkeypatch, blocked):
    monkeypatch.setitem(sys.modules, blocked, None)  # `import torch` now raises ImportError
    if blocked == "array_api_compat":
        monkeypatch.setitem(sys.modules, "array_api_compat.torch", None)
    with pytest.raises(ConfigError) as err:
        backend("torch", "cpu")
    msg = str(err.value)
    assert 'pip install "neurosim-lab[torch]"' in msg and "\n" not in msg


def test_cli_without_torch_exits_2_in_one_line(monkeypatch, capsys):
    from neurosim.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["train", "--rule", "fa", "--epochs", "1", "--array", "torch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "neurosim-lab[torch]" in err and len(err.splitlines()) == 1


def test_cli_device_without_torch_array_is_one_line(capsys):
    from neurosim.cli import main

    assert main(["train", "--rule", "fa", "--epochs", "1", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--array torch --device cuda" in err and len(err.splitlines()) == 1


def test_train_config_fields_and_records():
    from neurosim.training import TrainConfig

    assert TrainConfig().array == "numpy" and TrainConfig().device == "cpu"
    with pytest.raises(ConfigError):
        TrainConfig(array="numpy", device="cuda")


def test_runspec_array_fields_round_trip_and_leave_numpy_ids_alone():
    plain = RunSpec(rule="fa", layers=(6, 5, 3))
    assert "array" not in plain.to_dict().get("training", {})  # numpy/cpu are not written: ids unchanged
    spec = plain.replace(array="torch", device="cuda:1")
    back = RunSpec.from_toml(spec.to_toml())
    assert back == spec and back.array == "torch" and back.device == "cuda:1"
    assert spec.id() != plain.id()


@pytest.mark.parametrize("table, words", [
    ('array = "jax"', "'array' must be one of"),
    ('device = "tpu"', "'device' must be"),
    ('device = "cuda"', "needs array = 'torch'"),
])
def test_runspec_bad_array_fields_are_one_line(table, words):
    with pytest.raises(ConfigError) as err:
        RunSpec.from_toml(f'[rule]\nname = "fa"\n[training]\n{table}\n')
    assert words in str(err.value) and "\n" not in str(err.value)


def test_rate_side_does_not_import_torch():
    code = ("import sys\nimport neurosim, neurosim.training, neurosim.cli, neurosim.arrays, neurosim.compare\n"
            "from neurosim.rules import RULES\n"
            "print(','.join(sorted(m for m, mod in sys.modules.items()\n"
            "                      if mod is not None and m.split('.')[0] in ('torch', 'array_api_compat'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", "importing neurosim imported torch: it must stay optional and lazy"
