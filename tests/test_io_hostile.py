"""Checkpoints a hostile or unlucky world hands to ``load``: crafted headers and manifests, a
decompression bomb, wrong scalars (issue 18, items 2–4). Every case is built here, in the test.

Each rejection must be ONE ``CheckpointError`` naming the file, the entry and what is wrong — never
an ``AttributeError``/``TypeError``/``OverflowError`` from inside, never other numbers loaded.
"""

from __future__ import annotations

import pickle
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from checkpoint_crafting import (
    manifest_bytes, npy_bytes, npy_header, read_manifest, read_members, with_manifest, with_member, write_bomb,
    write_zip,
)

import minimm
from minimm import backend as B
from minimm import io as mio
from minimm.io import CheckpointError
from minimm.optim import SGD

WEIGHT = np.arange(64, dtype=np.float32).reshape(8, 8)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.ckpt"
    mio.save({"weight": minimm.tensor(WEIGHT), "step": 5}, path)
    return path


def rejected(path, *words):
    """Load ``path``, expect one CheckpointError whose message names the file and holds ``words``."""
    with pytest.raises(CheckpointError) as info:
        mio.load(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


# -- item 2: crafted headers must not load other numbers ------------------------------------------
def test_big_endian_header_is_rejected_not_byteswapped(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    # Same bytes, but the header says big-endian: read as such, 1.0 would become 4.6e-41.
    with_member(good, bad, "weight.npy", npy_header(">f4", (8, 8)) + WEIGHT.tobytes())
    rejected(bad, "'weight'", ">f4", "little-endian")
    # Even honestly big-endian data is refused: minimm always writes little-endian.
    with_member(good, bad, "weight.npy", npy_bytes(WEIGHT.astype(">f4")))
    rejected(bad, "'weight'", ">f4")


def test_fortran_order_header_is_rejected_not_transposed(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    with_member(good, bad, "weight.npy", npy_header("<f4", (8, 8), fortran_order=True) + WEIGHT.tobytes())
    rejected(bad, "'weight'", "Fortran")


def test_saving_a_big_endian_array_stores_the_same_numbers_little_endian(tmp_path):
    path = tmp_path / "be.ckpt"
    mio.save({"a": WEIGHT.astype(">f4"), "b": np.asfortranarray(WEIGHT)}, path)
    back = mio.load(path)
    np.testing.assert_array_equal(back["a"], WEIGHT)
    np.testing.assert_array_equal(back["b"], WEIGHT)
    assert back["a"].dtype.str == "<f4"


# -- item 3: rejections that were not a clear error -----------------------------------------------
def test_raw_pickle_bytes_as_an_entry(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    payload = pickle.dumps({"weights": [1, 2, 3]})
    with_member(good, bad, "weight.npy", payload)
    rejected(bad, "'weight'", "35 bytes in the archive", "256 bytes of data")
    size = len(read_members(good)["weight.npy"])  # padded to the size a real member has
    with_member(good, bad, "weight.npy", payload + bytes(size - len(payload)))
    rejected(bad, "'weight'", "no valid .npy header")


@pytest.mark.parametrize("shape, words", [
    (None, "shape None"),
    ("8,8", "shape '8,8'"),
    ([8, -8], "non-negative"),
    ([8.0, 8], "non-negative integers"),
    ([True, 8], "non-negative integers"),
])
def test_invalid_manifest_shapes(good, tmp_path, shape, words):
    bad = tmp_path / "bad.ckpt"
    with_manifest(good, bad, lambda m: m["arrays"]["weight"].update(shape=shape))
    rejected(bad, "'weight'", words)


@pytest.mark.parametrize("shape", [(-1,), (2 ** 62,), (2 ** 31, 2 ** 31)])
def test_declared_negative_or_huge_shapes(good, tmp_path, shape):
    """(-1,) and (2**62,) were reported as 'holds pickled (object) data'."""
    bad = tmp_path / "bad.ckpt"
    with_member(good, bad, "weight.npy", npy_header("<f4", shape) + WEIGHT.tobytes())
    msg = rejected(bad, "'weight'")
    assert "pickle" not in msg
    # Header and manifest agreeing on the impossible shape: the zip sizes give it away.
    with_manifest(bad, bad, lambda m: m["arrays"]["weight"].update(shape=list(shape)))
    msg = rejected(bad, "'weight'")
    assert "pickle" not in msg


@pytest.mark.parametrize("node, words", [
    ({"t": "list", "items": 5}, "needs a list of 'items'"),
    ({"t": "dict", "keys": [["str", "a"]], "values": 3}, "same length"),
    ({"t": "dict", "keys": [["str", "a"], ["str", "a"]], "values": [{"t": "none"}] * 2}, "appears twice"),
    ({"t": "dict", "keys": [[1, 2]], "values": [{"t": "none"}]}, "invalid dict key"),
    ({"t": "tensor", "key": ["weight"]}, "missing array"),
    ({"t": "int", "v": "12"}, "'12' is not a int"),
    ({"t": "int", "v": True}, "not a int"),
    ({"t": "float", "v": None}, "not a float"),
    ({"t": 7}, "is not a node"),
    ("weight", "is not a node"),
    ({"t": "pickle"}, "unknown node type"),
])
def test_malformed_manifest_nodes(good, tmp_path, node, words):
    bad = tmp_path / "bad.ckpt"

    def edit(m):
        m["root"]["values"][1] = node  # the node of "step"
    with_manifest(good, bad, edit)
    rejected(bad, words)


def test_tensor_node_checks(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    for change, words in [({"device": "banana"}, "unknown device 'banana'"), ({"device": 3}, "'device' must be"),
                          ({"requires_grad": "yes"}, "'requires_grad' a bool")]:
        with_manifest(good, bad, lambda m: m["root"]["values"][0].update(change))
        rejected(bad, words)
    # Two nodes sharing one array would give two tensors that change together.
    with_manifest(good, bad, lambda m: m["root"]["values"].__setitem__(1, dict(m["root"]["values"][0])))
    rejected(bad, "referred to twice")


def test_manifest_table_lies(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    cases = [
        (lambda m: m["arrays"]["weight"].update(dtype="float64"), "manifest says float64"),
        (lambda m: m["arrays"]["weight"].update(dtype="object"), "not one minimm stores"),
        (lambda m: m["arrays"]["weight"].update(shape=[4, 4]), "manifest says float32 (4, 4)"),
        (lambda m: m["arrays"]["weight"].update(extra=1), "invalid description"),
        (lambda m: m["arrays"].update(ghost={"dtype": "float32", "shape": [1]}), "missing: ['ghost']"),
        (lambda m: m.update(version=True), "invalid format version"),
        (lambda m: m.update(version=99), "upgrade minimm"),
    ]
    for edit, words in cases:
        with_manifest(good, bad, edit)
        rejected(bad, words)


def test_the_object_array_message_gives_no_allow_pickle_advice(good, tmp_path):
    """Issue 13 item 11: the message said 'never loaded', then NumPy's advice to use allow_pickle=."""
    bad = tmp_path / "bad.ckpt"
    obj = np.empty((8, 8), dtype=object)
    buf = npy_header("|O", (8, 8)) + pickle.dumps(obj)
    with_member(good, bad, "weight.npy", buf)
    msg = rejected(bad, "'weight'", "pickled", "rejected")
    assert "allow_pickle" not in msg


def test_foreign_members_and_compression_are_checked(good, tmp_path):
    bad = tmp_path / "bad.ckpt"
    members = read_members(good)
    write_zip(bad, {**members, "notes.txt": b"hello"})
    rejected(bad, "'notes.txt'", "not an .npy member")
    # numpy.savez_compressed's deflated members are read (the sizes are checked all the same) ...
    write_zip(bad, members, compression=zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(mio.load(bad)["weight"].numpy(), WEIGHT)
    # ... other methods are not.
    write_zip(bad, members, compression=zipfile.ZIP_BZIP2)
    rejected(bad, "compression method 12")


# -- item 4: a decompression bomb is rejected at once, with little memory -------------------------
def _bomb(good, path, inflated, honest_zip=True):
    write_bomb(path, read_members(good), "weight", npy_header("<f4", (inflated // 4,)), inflated)
    if not honest_zip:  # the zip directory claims the member is small; the deflate stream is not
        raw = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("weight.npy")
        assert info.file_size == 128 + inflated
        raw = raw.replace(int(info.file_size).to_bytes(8, "little"), int(128 + 256).to_bytes(8, "little"))
        path.write_bytes(bytes(raw))


@pytest.mark.parametrize("honest_zip", [True, False])
def test_decompression_bomb_costs_no_memory(good, tmp_path, honest_zip):
    bomb = tmp_path / "bomb.ckpt"
    inflated = 64 << 20  # 64 MiB of zeros in a file of about 65 kB
    _bomb(good, bomb, inflated, honest_zip)
    assert bomb.stat().st_size < inflated // 500
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(CheckpointError, match="'weight'"):
            mio.load(bomb)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Before: the member was inflated in full (1,061 MiB for a 1 MB file) before the shape check.
    assert peak < 2 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert seconds < 2.0


# -- item 2: scalars of a training checkpoint -----------------------------------------------------
class _Model:
    def __init__(self):
        self.w = minimm.tensor(WEIGHT.copy(), requires_grad=True)

    def parameters(self):
        return [self.w]

    def state_dict(self):
        return {"w": self.w.detach()}

    def load_state_dict(self, sd):
        self.w.array = np.array(sd["w"].numpy(), copy=True)


@pytest.fixture
def training(tmp_path):
    model = _Model()
    path = tmp_path / "train.ckpt"
    mio.save_training_checkpoint(path, model, SGD(model.parameters(), lr=0.1), step=12)
    return path


def _child(node, name):
    """The manifest node of ``name`` inside a dict node."""
    return node["values"][[k for _, k in node["keys"]].index(name)]


def _node(manifest, name):
    return _child(manifest["root"], name)


def _rng_field(manifest, field):
    return _child(_node(manifest, "rng"), field)


@pytest.mark.parametrize("step", [{"t": "str", "v": "12"}, {"t": "int", "v": -5}, {"t": "float", "v": 12.0},
                                  {"t": "bool", "v": True}, {"t": "none"}, {"t": "int", "v": 2 ** 64}])
def test_training_step_must_be_a_non_negative_int(training, tmp_path, step):
    bad = tmp_path / "bad.ckpt"
    with_manifest(training, bad, lambda m: _node(m, "step").clear() or _node(m, "step").update(step))
    model = _Model()
    model.w.array[:] = 0
    with pytest.raises(CheckpointError, match=r"the step is .*non-negative integer"):
        mio.load_training_checkpoint(bad, model, SGD(model.parameters(), lr=0.1))
    assert not model.w.detach().numpy().any()  # nothing was changed


@pytest.mark.parametrize("field, node, words", [
    ("inc", {"t": "str", "v": "-1"}, "decimal string"),  # was OverflowError on --resume
    ("inc", {"t": "str", "v": str(2 ** 128 + 1)}, "[0, 2**128)"),
    ("inc", {"t": "str", "v": "4"}, "always odd"),
    ("state", {"t": "int", "v": 5}, "decimal string"),
    ("has_uint32", {"t": "int", "v": 2}, "0 or 1"),
    ("uinteger", {"t": "int", "v": -1}, "[0, 2**32)"),
    ("seed", {"t": "str", "v": "0"}, "non-negative integer"),
    ("bit_generator", {"t": "str", "v": "MT19937"}, "PCG64"),
])
def test_training_rng_state_is_checked_before_anything_changes(training, tmp_path, field, node, words):
    bad = tmp_path / "bad.ckpt"
    with_manifest(training, bad, lambda m: _rng_field(m, field).clear() or _rng_field(m, field).update(node))
    model = _Model()
    model.w.array[:] = 0
    state = B.get_rng_state()
    with pytest.raises(CheckpointError, match=re.escape(words)):
        mio.load_training_checkpoint(bad, model, SGD(model.parameters(), lr=0.1))
    assert not model.w.detach().numpy().any() and B.get_rng_state() == state


def test_training_state_dtype_mismatch_is_rejected_before_loading(training, tmp_path):
    bad = tmp_path / "bad.ckpt"
    members = read_members(training)
    manifest = read_manifest(training)
    key = _child(_node(manifest, "model"), "w")["key"]
    manifest["arrays"][key]["dtype"] = "float64"
    members[key + ".npy"] = npy_bytes(WEIGHT.astype(np.float64))
    members["__manifest__.npy"] = manifest_bytes(manifest)
    write_zip(bad, members)
    model = _Model()
    with pytest.raises(CheckpointError, match=r"dtype mismatches: w: checkpoint float64 vs model float32"):
        mio.load_training_checkpoint(bad, model, SGD(model.parameters(), lr=0.1))


def test_a_zip_directory_claiming_more_data_than_the_file_holds(good, tmp_path):
    """Header, manifest and zip directory agree on 32 MiB of weights, but the file holds 256 bytes
    (a truncated file whose directory survived, or a crafted one): rejected before allocating."""
    n = 8 << 20
    members = read_members(good)
    manifest = read_manifest(good)
    manifest["arrays"]["weight"]["shape"] = [n]
    members["__manifest__.npy"] = manifest_bytes(manifest)
    members["weight.npy"] = npy_header("<f4", (n,)) + WEIGHT.tobytes()
    bad = tmp_path / "bad.ckpt"
    write_zip(bad, members)
    raw = bytearray(bad.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # the central directory entries, each followed by its name
    while not raw[entry + 46:].startswith(b"weight.npy"):
        entry = raw.index(b"PK\x01\x02", entry + 4)
    size = len(members["weight.npy"]) - WEIGHT.nbytes + 4 * n
    raw[entry + 20:entry + 28] = size.to_bytes(4, "little") * 2  # compressed and uncompressed sizes
    bad.write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        msg = rejected(bad, "'weight'", "impossible")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, (peak, msg)
