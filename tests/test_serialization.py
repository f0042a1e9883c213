"""minimm.save / minimm.load: PyTorch's spelling over minimm's npz checkpoints — state dicts and
tensors round-trip through paths and file objects, ``weights_only`` is accepted, pickle never."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

import minimm
import minimm.nn as nn
from minimm.io import CheckpointError


def test_state_dict_round_trip_through_a_pt_path(tmp_path):
    minimm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "model.pt"
    minimm.save(model.state_dict(), path)
    assert path.is_file() and not (tmp_path / "model.pt.npz").exists()   # the name as given
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(minimm.load(path, weights_only=True))
    x = minimm.randn(5, 3)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())
    minimm.load(str(path), weights_only=False)   # accepted too: nothing is ever unpickled


def test_tensors_and_nested_values_through_file_objects():
    obj = {"t": minimm.arange(6, dtype=minimm.float64).reshape(2, 3), "ints": minimm.tensor([1, 2]),
           "meta": {"epoch": 3, "name": "run", "lr": 0.1}, "list": [minimm.ones(2), None]}
    buf = io.BytesIO()
    minimm.save(obj, buf)
    buf.seek(0)
    back = minimm.load(buf, map_location="cpu")
    assert minimm.equal(back["t"], obj["t"]) and back["t"].dtype == minimm.float64
    assert minimm.equal(back["ints"], obj["ints"]) and back["ints"].dtype == minimm.int64
    assert back["meta"] == {"epoch": 3, "name": "run", "lr": 0.1} and back["list"][1] is None


def test_tensors_come_back_on_the_requested_device(tmp_path, device):
    path = tmp_path / "t.pt"
    minimm.save(minimm.ones(3, device=device), path)
    assert minimm.load(path).device == minimm.device(device)
    assert minimm.load(path, map_location="cpu").device == minimm.device("cpu")


def test_pickle_is_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match=r"not an \.npz \(zip\) archive"):
        minimm.load(path)
    with pytest.raises(TypeError, match="pickle_module configure pickle, which minimm never uses"):
        minimm.load(path, pickle_module=pickle)


def test_bad_file_arguments():
    with pytest.raises(TypeError, match="save: f must be a path or a writable binary file object, got int"):
        minimm.save(minimm.ones(1), 3)
    with pytest.raises(TypeError, match="load: f must be a path or a readable binary file object, got int"):
        minimm.load(3)
    with pytest.raises(TypeError, match="text mode"):
        minimm.load(io.StringIO("x"))
    with pytest.raises(FileNotFoundError):
        minimm.load("/nonexistent/model.pt")
