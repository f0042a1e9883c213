"""Property: whatever is done to a checkpoint file, ``load`` gives back the saved weights or one
``CheckpointError`` — never another exception, never other numbers — and uses memory bounded by a
small multiple of what the file declares.

Hypothesis damages a good checkpoint (byte flips, truncation) and crafts new ones: ``.npy``
headers with another dtype, byte order, memory order, shape or data length; manifests with any
JSON value in any place; decompression bombs. All files are built here.
"""

from __future__ import annotations

import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from checkpoint_crafting import manifest_bytes, npy_header, read_manifest, read_members, write_bomb, write_zip
from hypothesis import given, settings
from hypothesis import strategies as st

import minimm
from minimm import backend as B
from minimm import io as mio
from minimm.io import CheckpointError
from minimm.optim import SGD

SLACK = 2 << 20  # bytes a load may use beyond the data it returns (the zip layer, JSON, one read chunk)


def original():
    return {
        "model": {"w": minimm.tensor(np.arange(64, dtype=np.float32).reshape(8, 8) - 20.5),
                  "b": np.array([1.0, -2.5, 1e300]), "mask": np.array([[True, False], [False, True]])},
        "idx": np.int64(7), "step": 5, "name": "x", "items": [1.5, None, (2, "a")],
    }


def leaves(obj, path=()):
    """Every array in a loaded structure, by path, as a host array."""
    if isinstance(obj, minimm.Tensor):
        yield path, np.asarray(B.to_numpy(obj.array))
    elif isinstance(obj, (np.ndarray, np.generic)):
        yield path, np.asarray(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, path + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (i,))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("property") / "good.ckpt"
    mio.save(original(), path)
    return path


def check_load(path, declared: int):
    """The property itself: a correct load or a CheckpointError, in bounded memory."""
    want = dict(leaves(original()))
    tracemalloc.start()
    try:
        try:
            back = mio.load(path)
        except CheckpointError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            back = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 4 * declared + SLACK, f"peak {peak} bytes for {declared} declared"
    if back is not None:  # never other numbers: each array is a saved one, at its place if it has one
        got = dict(leaves(back))
        for p, arr in got.items():
            assert any(same(arr, w) for w in want.values()), p
            assert p not in want or same(arr, want[p]), p
    return back


def declared_bytes(manifest) -> int:
    """What the original manifest declares (the reader may trust this much)."""
    total = 0
    for spec in manifest["arrays"].values():
        total += np.dtype(spec["dtype"]).itemsize * int(np.prod(spec["shape"]))
    return total


# -- damage: byte flips and truncation ------------------------------------------------------------
@settings(max_examples=150)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.none() | st.floats(0, 1, exclude_max=True))
def test_byte_flips_and_truncations(good, flips, cut):
    data = bytearray(good.read_bytes())
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    if cut is not None:
        data = data[: int(cut * len(data))]
    bad = good.with_name("damaged.ckpt")
    bad.write_bytes(bytes(data))
    check_load(bad, declared_bytes(read_manifest(good)) + len(data))


# -- crafted .npy headers -------------------------------------------------------------------------
DESCRS = ["<f4", ">f4", "=f4", "|f4", "<f8", ">f8", "<i8", ">i8", "<i4", "|b1", "|u1", "<c8", "|O", "<U3",
          "|V4", "<M8[s]", "[('a', '<f4')]"]
SHAPES = [(), (0,), (1,), (-1,), (2, -2), (2 ** 62,), (2 ** 31, 2 ** 31), (64,), (8, 8), (3,), (2, 2), (4, 16)]


@st.composite
def crafted_entry(draw, members, manifest):
    key = draw(st.sampled_from(sorted(manifest["arrays"])))
    spec = manifest["arrays"][key]
    data = members[key + ".npy"][-np.dtype(spec["dtype"]).itemsize * int(np.prod(spec["shape"])):] \
        if int(np.prod(spec["shape"])) else b""
    descr = draw(st.sampled_from(DESCRS))
    shape = draw(st.sampled_from(SHAPES + [tuple(spec["shape"]), tuple(spec["shape"])[::-1]])
                 | st.lists(st.integers(-3, 2 ** 40), max_size=3).map(tuple))
    fortran = draw(st.booleans())
    body = draw(st.sampled_from(["same", "short", "long", "swapped", "empty"]))
    if body == "short":
        data = data[: len(data) // 2]
    elif body == "long":
        data = data + bytes(draw(st.integers(1, 64)))
    elif body == "swapped" and len(data) % 4 == 0:
        data = np.frombuffer(data, "<u4").byteswap().tobytes()
    elif body == "empty":
        data = b""
    header = npy_header(descr, shape, fortran) if descr[0] != "[" else \
        npy_header(descr, shape, fortran).replace(repr(descr).encode(), descr.encode())
    return key, header + data


@settings(max_examples=150)
@given(data=st.data(), deflate=st.booleans())
def test_crafted_headers(good, data, deflate):
    members, manifest = read_members(good), read_manifest(good)
    key, raw = data.draw(crafted_entry(members, manifest))
    members[key + ".npy"] = raw
    bad = good.with_name("crafted.ckpt")
    write_zip(bad, members, compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    check_load(bad, declared_bytes(manifest) + bad.stat().st_size)


# -- crafted manifests: any JSON value in any place -----------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats() | st.text(max_size=6)
    | st.sampled_from(["tensor", "array", "scalar", "list", "dict", "int", "str", "float32", "cuda", "model/w"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["t", "v", "key", "items", "x"]),
                                                                 inner, max_size=3),
    max_leaves=6,
)


def places(node, out):
    """Every (container, key) in a JSON tree, so one of them can be replaced."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append((node, k))
        places(v, out)
    return out


@settings(max_examples=200)
@given(where=st.floats(0, 1, exclude_max=True), value=json_values | st.lists(st.integers(-2, 2 ** 62), max_size=3))
def test_crafted_manifests(good, where, value):
    members, manifest = read_members(good), read_manifest(good)
    spots = places(manifest, [])
    container, k = spots[int(where * len(spots))]
    container[k] = value
    members["__manifest__.npy"] = manifest_bytes(manifest)
    bad = good.with_name("manifest.ckpt")
    write_zip(bad, members)
    back = check_load(bad, declared_bytes(read_manifest(good)) + bad.stat().st_size)
    if back is not None:  # a manifest can change plain values, but what it builds is well-formed
        json.dumps(back, default=lambda o: None)


# -- decompression bombs --------------------------------------------------------------------------
@settings(max_examples=12)
@given(mib=st.sampled_from([4, 8]), key=st.sampled_from(["model/w", "model/b", "model/mask"]),
       honest_shape=st.booleans())
def test_decompression_bombs(good, mib, key, honest_shape):
    manifest = read_manifest(good)
    inflated = mib << 20
    spec = manifest["arrays"][key]
    shape = (inflated // np.dtype(spec["dtype"]).itemsize,) if honest_shape else tuple(spec["shape"])
    bad = good.with_name("bomb.ckpt")
    write_bomb(bad, read_members(good), key, npy_header(np.dtype(spec["dtype"]).newbyteorder("<").str, shape), inflated)
    assert check_load(bad, declared_bytes(manifest) + bad.stat().st_size) is None


# -- scalars of a training checkpoint -------------------------------------------------------------
class _Model:
    def __init__(self, w):
        self.w = w

    def state_dict(self):
        return {"w": self.w.detach()}

    def load_state_dict(self, sd):
        self.w.array = np.array(sd["w"].numpy(), copy=True)


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    path = tmp_path_factory.mktemp("training") / "train.ckpt"
    w = minimm.ones(3, requires_grad=True)
    mio.save_training_checkpoint(path, _Model(w), SGD([w], lr=0.1), step=12)
    return path


def _child(node, name):
    return node["values"][[k for _, k in node["keys"]].index(name)]


@settings(max_examples=150)
@given(field=st.sampled_from(["step", "seed", "bit_generator", "state", "inc", "has_uint32", "uinteger"]),
       node=st.builds(lambda t, v: {"t": t, "v": v}, st.sampled_from(["int", "str", "float", "bool"]),
                      st.integers(-(2 ** 130), 2 ** 130) | st.text("0123456789-+ x", max_size=42) | st.floats()
                      | st.booleans()))
def test_training_scalars(training, field, node):
    members, manifest = read_members(training), read_manifest(training)
    target = _child(manifest["root"], "step") if field == "step" else _child(_child(manifest["root"], "rng"), field)
    target.clear()
    target.update(node)
    members["__manifest__.npy"] = manifest_bytes(manifest)
    bad = training.with_name("scalars.ckpt")
    write_zip(bad, members)
    w = minimm.zeros(3, requires_grad=True)
    rng = B.get_rng_state()
    try:
        got = mio.load_training_checkpoint(bad, _Model(w), SGD([w], lr=0.1))
    except CheckpointError:
        assert not w.detach().numpy().any() and B.get_rng_state() == rng  # nothing changed
        return
    assert isinstance(got.step, int) and got.step >= 0
    assert w.detach().numpy().tolist() == [1.0] * 3
    minimm.randn(2)  # the restored generator state works
