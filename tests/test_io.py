"""Checkpoints: exact round trips, safe rejection of bad files, atomic writes, bit-identical resume."""

from __future__ import annotations

import hashlib
import math
import os
import zipfile

import numpy as np
import pytest

import minimm
from minimm import backend as B
from minimm import io as mio
from minimm.io import CheckpointError
from minimm.optim import Adam
from minimm.optim.lr_scheduler import StepLR

DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def leftovers(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


class TinyModel:
    """A two-layer model built from leaf tensors, with the state-dict protocol of nn.Module."""

    def __init__(self, n_in=4, n_hidden=8):
        self.w1 = minimm.randn(n_in, n_hidden, dtype=minimm.float64, requires_grad=True)
        self.b1 = minimm.zeros(n_hidden, dtype=minimm.float64, requires_grad=True)
        self.w2 = minimm.randn(n_hidden, 1, dtype=minimm.float64, requires_grad=True)

    def parameters(self):
        return [self.w1, self.b1, self.w2]

    def __call__(self, x):
        return minimm.tanh(x @ self.w1 + self.b1) @ self.w2

    def state_dict(self):
        return {"w1": self.w1.detach(), "b1": self.b1.detach(), "w2": self.w2.detach()}

    def load_state_dict(self, sd):
        for k, p in zip(("w1", "b1", "w2"), self.parameters()):
            if tuple(sd[k].shape) != p.shape:
                raise RuntimeError(f"size mismatch for {k}")
        for k, p in zip(("w1", "b1", "w2"), self.parameters()):
            p.array = np.array(sd[k].numpy(), copy=True)


def _host(x):
    return B.to_numpy(x.array if isinstance(x, minimm.Tensor) else x)


def test_round_trip_every_dtype_exact(tmp_path, device):
    rng = np.random.default_rng(0)
    obj = {}
    for name in DTYPES:
        if name == "bool":
            host = rng.random((3, 4)) > 0.5
        elif name.startswith("float"):
            host = (rng.standard_normal((3, 4)) * 1e3).astype(name)
            host[0, :3] = [np.nan, np.inf, -np.inf]
            host[1, 0] = -0.0
        else:
            host = rng.integers(0, 200, size=(3, 4)).astype(name)
        if not (device == "strict" and name == "float16"):  # the array API has no float16
            obj[name] = minimm.tensor(host, device=device)
        obj["np_" + name] = host
    obj["param"] = minimm.randn(2, device=device, requires_grad=True)
    path = tmp_path / "all.ckpt"
    mio.save(obj, path)
    back = mio.load(path)
    assert list(back) == list(obj)
    for k, v in obj.items():
        got = back[k]
        assert type(got) is type(v) or isinstance(v, minimm.Tensor) and isinstance(got, minimm.Tensor)
        want_host, got_host = _host(v), _host(got)
        assert got_host.dtype == want_host.dtype and got_host.shape == want_host.shape
        assert got_host.tobytes() == want_host.tobytes()  # bit for bit (NaN, −0.0 included)
        if isinstance(v, minimm.Tensor):
            assert got.device == v.device and got.requires_grad == v.requires_grad
    # map_location puts tensors elsewhere; NumPy arrays stay NumPy arrays.
    moved = mio.load(path, map_location="cpu")
    assert moved["float32"].device == minimm.device("cpu") and isinstance(moved["np_uint8"], np.ndarray)


def test_round_trip_nested_structures_and_plain_values(tmp_path):
    obj = {
        "state": {0: {"step": 3, "exp_avg": minimm.ones(2)}, 1: {"momentum_buffer": None}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "amsgrad": False, "params": [0, 1]}],
        "name": "modèle ✓ / with:odd keys",
        "a/b": 1, "a": {"b": 2},            # keys that would flatten to the same array name
        "big": 2 ** 80, "tiny": 5e-324, "pi": math.pi, "inf": float("inf"),
        "empty": {}, "nothing": [], "scalar": np.float64(1.5), "i32": np.int32(-7),
        "arrays": [np.zeros((0, 3)), np.arange(5.0)], "arrays2": {"x": np.arange(3), "y": np.arange(3)},
    }
    path = tmp_path / "nested.npz"
    mio.save(obj, path)
    back = mio.load(path)
    assert back["state"][0]["step"] == 3 and list(back["state"]) == [0, 1]
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert isinstance(back["param_groups"][0]["betas"], tuple)
    for k in ("name", "a/b", "a", "big", "tiny", "pi", "inf", "empty", "nothing"):
        assert back[k] == obj[k] and type(back[k]) is type(obj[k])
    assert back["scalar"] == 1.5 and back["scalar"].dtype == np.float64 and back["i32"].dtype == np.int32
    assert back["arrays"][0].shape == (0, 3)
    np.testing.assert_array_equal(back["arrays2"]["y"], np.arange(3))
    np.testing.assert_array_equal(back["state"][0]["exp_avg"].numpy(), [1.0, 1.0])
    # The file is an ordinary .npz that NumPy itself reads without pickle.
    with np.load(path, allow_pickle=False) as z:
        assert "__manifest__" in z.files and "state/0/exp_avg" in z.files


def test_save_writes_exactly_the_path_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "model"
    mio.save({"w": minimm.ones(3)}, path)
    assert sorted(os.listdir(tmp_path)) == ["model"]
    mio.save({"w": minimm.zeros(3)}, path)  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert mio.load(path)["w"].numpy().tolist() == [0.0, 0.0, 0.0]


def _good_file(tmp_path) -> bytes:
    p = tmp_path / "good.ckpt"
    mio.save({"weight": minimm.arange(64, dtype=minimm.float32).reshape(8, 8), "step": 5}, p)
    return p.read_bytes()


def _assert_rejected(path, match=None):
    before = digest(path)
    with pytest.raises(CheckpointError, match=match):
        mio.load(path)
    assert digest(path) == before  # load never modifies the file


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_rejected(tmp_path, fraction):
    data = _good_file(tmp_path)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(data[: int(len(data) * fraction)])
    _assert_rejected(bad)


def test_random_bytes_and_bit_flips_are_rejected(tmp_path):
    rng = np.random.default_rng(1)
    bad = tmp_path / "noise.ckpt"
    bad.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_rejected(bad)
    bad.write_bytes(b"PK\x03\x04" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())  # zip-looking noise
    _assert_rejected(bad)
    data = bytearray(_good_file(tmp_path))
    at = bytes(data).find(np.arange(64, dtype=np.float32).tobytes()) + 100  # inside the weight's data
    data[at] ^= 0xFF
    bad.write_bytes(bytes(data))
    _assert_rejected(bad, match="corrupt")  # the zip CRC catches it


def test_foreign_and_pickle_files_are_rejected(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    _assert_rejected(foreign, match="no '__manifest__'")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"code": "would run"}], dtype=object))
    _assert_rejected(pickled)
    npy = tmp_path / "single.npy"
    np.save(npy, np.arange(3))
    _assert_rejected(npy, match="single")
    # A real manifest, but the array it names was swapped for a pickled object array.
    good = tmp_path / "good.ckpt"
    _good_file(tmp_path)
    with np.load(good, allow_pickle=False) as z:
        manifest = z["__manifest__"]
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        np.savez(f, __manifest__=manifest, weight=np.array([object()] * 64, dtype=object).reshape(8, 8))
    _assert_rejected(evil, match="pickled")
    # A manifest that disagrees with the arrays (shape changed).
    with open(evil, "wb") as f:
        np.savez(f, __manifest__=manifest, weight=np.zeros((4, 4), np.float32))
    _assert_rejected(evil, match="manifest says")
    with pytest.raises(FileNotFoundError):
        mio.load(tmp_path / "missing.ckpt")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    mio.save({"w": minimm.ones(4)}, path)
    before = digest(path)
    with pytest.raises(TypeError, match="cannot store a object"):
        mio.save({"w": minimm.zeros(4), "bad": object()}, path)
    with pytest.raises(TypeError, match="dtype object"):
        mio.save({"w": np.array([None], dtype=object)}, path)
    with pytest.raises(ValueError, match="cycle"):
        loop = []
        loop.append(loop)
        mio.save(loop, path)

    def savez_dies_midway(file, **arrays):
        file.write(b"PK\x03\x04 partial data")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_dies_midway)
    with pytest.raises(OSError, match="disk full"):
        mio.save({"w": minimm.zeros(4)}, path)

    def interrupted(file, **arrays):
        file.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mio.save({"w": minimm.zeros(4)}, path)
    monkeypatch.undo()
    assert digest(path) == before and leftovers(tmp_path) == []
    assert mio.load(path)["w"].numpy().tolist() == [1.0] * 4


def _train(model, opt, sched, steps, start=0, losses=None):
    for _ in range(start, steps):
        x = minimm.randn(16, 4, dtype=minimm.float64)  # draws from the global generator
        y = (x[:, 0:1] * x[:, 1:2] > 0).double()
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        if losses is not None:
            losses.append(loss.item())


def _make(seed):
    minimm.manual_seed(seed)
    model = TinyModel()
    opt = Adam(model.parameters(), lr=0.05, amsgrad=True)
    return model, opt, StepLR(opt, step_size=3, gamma=0.5)


def test_resume_is_bit_identical(tmp_path):
    model, opt, sched = _make(0)
    full_losses = []
    _train(model, opt, sched, 10, losses=full_losses)

    m1, o1, s1 = _make(0)
    part = []
    _train(m1, o1, s1, 5, losses=part)
    path = tmp_path / "train.ckpt"
    mio.save_training_checkpoint(path, m1, o1, step=5, extra={"note": "half way"}, scheduler=s1)

    m2, o2, s2 = _make(123)  # a fresh process: different init, different generator state
    minimm.randn(7)
    resumed = mio.load_training_checkpoint(path, m2, o2, scheduler=s2)
    assert resumed.step == 5 and resumed.extra == {"note": "half way"}
    _train(m2, o2, s2, 10, start=resumed.step, losses=part)
    assert part == full_losses
    for p, q in zip(model.parameters(), m2.parameters()):
        assert p.detach().numpy().tobytes() == q.detach().numpy().tobytes()
    assert opt.param_groups[0]["lr"] == o2.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), m2.parameters()):
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert opt.state[p][k].tobytes() == o2.state[q][k].tobytes()


def test_wrong_shape_checkpoint_is_rejected_untouched(tmp_path):
    model, opt, sched = _make(0)
    _train(model, opt, sched, 2)
    path = tmp_path / "train.ckpt"
    mio.save_training_checkpoint(path, model, opt, step=2)
    before = digest(path)
    other = TinyModel(n_in=5)
    other_opt = Adam(other.parameters(), lr=0.05)
    w_before = other.w1.detach().numpy().copy()
    with pytest.raises(CheckpointError, match=r"does not fit this model.*w1"):
        mio.load_training_checkpoint(path, other, other_opt)
    assert digest(path) == before
    np.testing.assert_array_equal(other.w1.detach().numpy(), w_before)
    assert other_opt.state == {}
    # an ordinary (non-training) checkpoint is refused with a clear message
    mio.save({"w": minimm.ones(1)}, path)
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        mio.load_training_checkpoint(path, other, other_opt)


def test_wrong_shape_checkpoint_into_nn_module(tmp_path):
    nn = pytest.importorskip("minimm.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("minimm.nn.Linear not available yet")
    model = nn.Linear(3, 2)
    opt = Adam(model.parameters(), lr=0.01)
    model(minimm.randn(4, 3)).sum().backward()
    opt.step()
    path = tmp_path / "linear.ckpt"
    mio.save_training_checkpoint(path, model, opt, step=1)
    before = digest(path)
    wrong = nn.Linear(4, 2)
    with pytest.raises(CheckpointError, match="weight"):
        mio.load_training_checkpoint(path, wrong, Adam(wrong.parameters()))
    assert digest(path) == before
    same = nn.Linear(3, 2)
    same_opt = Adam(same.parameters(), lr=0.01)
    mio.load_training_checkpoint(path, same, same_opt)
    np.testing.assert_array_equal(same.weight.detach().numpy(), model.weight.detach().numpy())
    assert same_opt.state[same.weight]["step"] == 1
    # a plain state dict of a module round-trips exactly too
    mio.save(model.state_dict(), path)
    back = mio.load(path)
    assert set(back) == set(model.state_dict())


def test_optimizer_state_dict_survives_save_and_load(tmp_path, device):
    w = minimm.randn(3, device=device, requires_grad=True)
    opt = Adam([w], lr=0.1, betas=(0.5, 0.6))
    (w * w).sum().backward()
    opt.step()
    path = tmp_path / "opt.ckpt"
    mio.save(opt.state_dict(), path)
    w2 = minimm.tensor(w.detach().cpu().numpy(), device=device, requires_grad=True)
    opt2 = Adam([w2], lr=1.0)
    opt2.load_state_dict(mio.load(path))
    assert opt2.param_groups[0]["betas"] == (0.5, 0.6) and opt2.param_groups[0]["lr"] == 0.1
    for o, p in ((opt, w), (opt2, w2)):
        o.zero_grad()
        (p * p).sum().backward()
        o.step()
    assert B.to_numpy(w.array).tobytes() == B.to_numpy(w2.array).tobytes()
    assert B.device_of(opt2.state[w2]["exp_avg"]) == minimm.device(device)


def test_checkpoint_is_a_plain_zip(tmp_path):
    path = tmp_path / "z.ckpt"
    mio.save({"x": minimm.ones(2)}, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__manifest__.npy", "x.npy"]
