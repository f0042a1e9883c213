"""Wrong arguments to the public ops fail with one clear error from minimm (issue 18, item 7).

Two parts: one test per case the issue reported (each failed before its fix), and a hypothesis
property test that calls ~60 public ops (``minimm.<name>`` functions and Tensor methods) with
random invalid arguments — out-of-range and non-integer dims, non-integer sizes, strings, None,
dicts, bool tensors where PyTorch refuses them, shapes that do not broadcast — and asserts that
every error is a TypeError / ValueError / IndexError / RuntimeError (DeviceError included) whose
message starts with the op's name and that was raised inside minimm, never in NumPy or Python.
"""

from __future__ import annotations

import os
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm.testing.harness import host

MINIMM_DIR = os.path.dirname(os.path.abspath(minimm.__file__))


def t23():
    return minimm.arange(6, dtype=minimm.float32).reshape(2, 3)


# ---------------------------------------------------------------------------------------------
# The cases of issue 18, item 7
# ---------------------------------------------------------------------------------------------
def test_flatten_with_start_after_end_is_an_error():
    with pytest.raises(ValueError, match=r"flatten: start_dim 1 comes after end_dim 0 .*\(2, 3\)"):
        minimm.flatten(t23(), 1, 0)


def test_split_refuses_negative_sections():
    with pytest.raises(ValueError, match=r"split: sections must not be negative, got \[-1, 3\]"):
        minimm.split(t23(), [-1, 3], dim=1)
    with pytest.raises(TypeError, match="split: split_size_or_sections must be an int, got float"):
        minimm.split(t23(), 1.5)


def test_gather_refuses_negative_indices_instead_of_wrapping():
    index = minimm.tensor([[0, -1], [1, 2]])
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range for dim 1 of size 3"):
        minimm.gather(t23(), 1, index)
    with pytest.raises(IndexError, match="gather: index 3 is out of range"):
        minimm.gather(t23(), 1, minimm.tensor([[0, 3], [1, 2]]))


@pytest.mark.parametrize("op", ["masked_fill", "where"])
def test_float_mask_is_a_type_error_naming_the_dtype(op):
    x, mask = t23(), minimm.ones(2, 3)
    call = (lambda: minimm.masked_fill(x, mask, 0.0)) if op == "masked_fill" else (lambda: minimm.where(mask, x, x))
    with pytest.raises(TypeError, match=rf"{op}: \w+ must have dtype bool, got float32 with shape \(2, 3\)"):
        call()


def test_sizes_that_are_not_integers():
    with pytest.raises(TypeError, match="zeros: size must be a sequence of ints, got float 2.5"):
        minimm.zeros(2.5)
    with pytest.raises(TypeError, match="reshape: shape must be a sequence of ints, got str 'a'"):
        minimm.reshape(t23(), "a")
    with pytest.raises(ValueError, match=r"ones: size must not hold negative"):
        minimm.ones(2, -3)


@pytest.mark.parametrize("data", [None, "abc", {"a": 1}])
def test_tensor_of_data_that_is_not_numeric(data):
    with pytest.raises(TypeError, match=f"tensor: data must be numbers.*got {type(data).__name__}"):
        minimm.tensor(data)


def test_add_of_a_string_names_add_and_str():
    with pytest.raises(TypeError, match="add: other must be a Tensor or a number, got str"):
        minimm.add(t23(), "x")
    with pytest.raises(TypeError, match="add: other must be a Tensor or a number, got str"):
        t23() + "x"  # noqa: B018


def test_zero_chunks_and_zero_step_are_value_errors():
    with pytest.raises(ValueError, match="chunk: chunks must be positive, got 0"):
        minimm.chunk(t23(), 0)
    with pytest.raises(ValueError, match="arange: step must be non-zero, got 0"):
        minimm.arange(0, 10, 0)


def test_transpose_with_a_float_dim():
    with pytest.raises(TypeError, match="transpose: dim must be an int, got float 1.5"):
        minimm.transpose(t23(), 0, 1.5)


@pytest.mark.parametrize("op", ["neg", "softmax", "log_softmax"])
def test_bool_input_is_refused_by_arithmetic_that_has_no_bool_meaning(op):
    b = t23() > 2
    call = (lambda: minimm.neg(b)) if op == "neg" else (lambda: getattr(minimm, op)(b, dim=-1))
    with pytest.raises(TypeError, match=rf"{op}: input has dtype bool \(shape \(2, 3\)\)"):
        call()
    if op == "neg":
        with pytest.raises(TypeError, match="neg: input has dtype bool"):
            -b  # noqa: B018


@pytest.mark.parametrize("op", ["std", "var"])
def test_std_and_var_of_an_empty_tensor_are_nan_with_no_error_or_warning(op):
    x = minimm.zeros(0, dtype=minimm.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = getattr(minimm, op)(x)
        y.backward()
    assert np.isnan(host(y)) and x.grad.shape == (0,)


def test_shapes_that_do_not_broadcast_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"Mul: operands could not be broadcast .*\(input shapes: \(2, 3\), \(4,\)\)"):
        minimm.mul(t23(), minimm.ones(4))


# ---------------------------------------------------------------------------------------------
# The property test: random invalid arguments to the public ops
# ---------------------------------------------------------------------------------------------
JUNK = st.sampled_from(["x", None, {}, {"a": 1}, b"ab", object(), [1, "a"], (None,), 1j])
NON_INT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: v != int(v) if np.isfinite(v) else True),
    st.sampled_from(["a", "1", None, {}, (1.5,), b"1", 1j]),
)
BAD_DIM = st.one_of(NON_INT.filter(lambda v: v is not None and not isinstance(v, tuple)),
                    st.integers(4, 1000), st.integers(-1000, -5))  # the input has 3 dims (4 for unsqueeze, stack)
BAD_SIZE = st.one_of(NON_INT, st.integers(-1000, -2))


def x3():
    return minimm.arange(24, dtype=minimm.float32).reshape(2, 3, 4)


def b3():
    return x3() > 5


def _m(name):  # the Tensor method ``name``
    return lambda x, *a, **k: getattr(x, name)(*a, **k)


# op name (the message must start with one of these), the strategy of bad values, the call
DIM_OPS = [
    ("sum", minimm.sum), ("mean", minimm.mean), ("amax", minimm.amax), ("amin", minimm.amin),
    ("argmax", minimm.argmax), ("argmin", minimm.argmin), ("var", minimm.var), ("std", minimm.std),
    ("logsumexp", minimm.logsumexp), ("softmax", minimm.softmax), ("log_softmax", minimm.log_softmax),
    ("all", minimm.all), ("any", minimm.any), ("prod", minimm.prod), ("cumsum", minimm.cumsum),
    ("argsort", minimm.argsort), ("squeeze", minimm.squeeze), ("unsqueeze", minimm.unsqueeze),
    ("flatten", minimm.flatten), ("sum", _m("sum")), ("softmax", _m("softmax")), ("max", _m("max")),
    ("min", minimm.min), ("sort", minimm.sort), ("flip", minimm.flip),
]
TWO_DIM_OPS = [("transpose", minimm.transpose), ("movedim", minimm.movedim), ("transpose", _m("transpose"))]
BINARY_OPS = [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
    "floor_divide", "remainder", "logical_and", "logical_or", "atan2",
]
BINARY_OPS = [n for n in BINARY_OPS if hasattr(minimm, n)]
UNARY_OPS = [
    "exp", "log", "log1p", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "neg", "sin", "cos",
    "rsqrt", "floor", "ceil", "round", "trunc", "isnan", "isfinite", "logical_not", "square",
]


def _assert_clear_error(names, call, must_fail=True):
    """``call()`` raises one of the allowed errors, from minimm, naming the op (or, where the
    argument may happen to be valid, ``must_fail=False``, works)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (TypeError, ValueError, IndexError, RuntimeError) as e:
        msg = str(e)
        # the op as called ("add: ...") or as its Function class ("Add: ...", "FloorDivide: ...")
        head = msg.split(":", 1)[0].lower()
        assert ":" in msg and any(head == n.replace("_", "") or head == n for n in names), (
            f"{type(e).__name__} does not name {names}: {msg!r}"
        )
        last = traceback.extract_tb(e.__traceback__)[-1]
        assert os.path.abspath(last.filename).startswith(MINIMM_DIR), f"raised outside minimm: {last}"
    except Exception as e:  # noqa: BLE001 - any other kind of error is the failure being tested
        raise AssertionError(f"{names}: {type(e).__name__}: {e}") from e
    else:
        assert not must_fail, f"{names}: an invalid argument was accepted"


@given(op=st.sampled_from(DIM_OPS), dim=BAD_DIM)
def test_bad_dims_are_clear_errors(op, dim):
    name, fn = op
    names = [name, "a" + name, "arg" + name] if name in ("max", "min") else [name]  # max(x, dim) is amax + argmax
    _assert_clear_error(names, lambda: fn(x3(), dim))


@given(op=st.sampled_from(TWO_DIM_OPS), dim=BAD_DIM, first=st.booleans())
def test_bad_dim_pairs_are_clear_errors(op, dim, first):
    name, fn = op
    _assert_clear_error([name], lambda: fn(x3(), dim, 0) if first else fn(x3(), 0, dim))


@given(name=st.sampled_from(BINARY_OPS), bad=JUNK, left=st.booleans())
def test_binary_ops_with_junk_operands(name, bad, left):
    fn = getattr(minimm, name)
    _assert_clear_error([name], lambda: fn(bad, x3()) if left else fn(x3(), bad))


@given(name=st.sampled_from(BINARY_OPS), shape=st.sampled_from([(5,), (2, 4, 3), (7, 1, 1), (3, 3, 4)]))
def test_binary_ops_with_shapes_that_do_not_broadcast(name, shape):
    fn = getattr(minimm, name)
    other = minimm.ones(*shape)
    if name in ("logical_and", "logical_or"):
        _assert_clear_error([name], lambda: fn(b3(), other > 0))
    else:
        _assert_clear_error([name], lambda: fn(x3(), other))


@given(name=st.sampled_from(UNARY_OPS), bad=JUNK)
def test_unary_ops_of_junk(name, bad):
    _assert_clear_error([name], lambda: getattr(minimm, name)(bad))


@given(name=st.sampled_from(["neg", "softmax", "log_softmax", "sub"]))
def test_ops_that_refuse_bool(name):
    fn = getattr(minimm, name)
    call = {"neg": lambda: fn(b3()), "sub": lambda: fn(b3(), b3())}.get(name, lambda: fn(b3(), dim=-1))
    with pytest.raises(TypeError, match=f"{name}: .*bool"):
        call()


SIZE_OPS = [
    ("reshape", lambda s: minimm.reshape(x3(), s)), ("reshape", lambda s: x3().reshape(2, s)),
    ("reshape", lambda s: x3().view(s, -1)), ("expand", lambda s: x3()[:1].expand(s, 3, 4)),
    ("broadcast_to", lambda s: minimm.broadcast_to(x3(), (s, 3, 4))), ("zeros", lambda s: minimm.zeros(s, 2)),
    ("ones", lambda s: minimm.ones((2, s))), ("rand", lambda s: minimm.rand(s)), ("randn", lambda s: minimm.randn(3, s)),
    ("full", lambda s: minimm.full((s,), 1.0)), ("linspace", lambda s: minimm.linspace(0, 1, s)),
    ("eye", lambda s: minimm.eye(s)), ("split", lambda s: minimm.split(x3(), s, dim=2)),
    ("split", lambda s: minimm.split(x3(), [s, 1], dim=0)), ("chunk", lambda s: minimm.chunk(x3(), s)),
    ("topk", lambda s: minimm.topk(x3(), s)), ("repeat", lambda s: x3().repeat(s, 1, 1)),
    ("arange", lambda s: minimm.arange(0, s if not isinstance(s, (int, float)) else 5, 0)),
    ("randint", lambda s: minimm.randint(0, 5, (s,))),
]


@given(op=st.sampled_from(SIZE_OPS), size=BAD_SIZE)
def test_bad_sizes_are_clear_errors(op, size):
    name, fn = op
    _assert_clear_error([name], lambda: fn(size))


@given(data=st.one_of(JUNK, st.lists(JUNK, min_size=1, max_size=3), st.just([[1, 2], [3]])))
def test_tensor_of_junk_data(data):
    _assert_clear_error(["tensor"], lambda: minimm.tensor(data))


MASK_OPS = [
    ("where", lambda m, v: minimm.where(m, x3(), x3())),
    ("masked_fill", lambda m, v: minimm.masked_fill(x3(), m, v)),
    ("masked_fill", lambda m, v: x3().masked_fill(m, v)),
]


@given(op=st.sampled_from(MASK_OPS), mask_kind=st.sampled_from(["float", "int", "junk", "shape"]), value=JUNK)
def test_masks_must_be_bool(op, mask_kind, value):
    name, fn = op
    mask = {"float": minimm.ones(2, 3, 4), "int": minimm.ones(2, 3, 4, dtype=minimm.int64), "junk": "m",
            "shape": minimm.ones(5, 2) > 0}[mask_kind]
    _assert_clear_error([name], lambda: fn(mask, value))


@given(dim=BAD_DIM, index_kind=st.sampled_from(["neg", "big", "float", "junk", "ndim"]))
def test_gather_with_bad_index_or_dim(dim, index_kind):
    index = {"neg": -minimm.ones(2, 3, 1, dtype=minimm.int64), "big": minimm.full((2, 3, 1), 9, dtype=minimm.int64),
             "float": minimm.ones(2, 3, 1), "junk": [[0]], "ndim": minimm.zeros(2, dtype=minimm.int64)}[index_kind]
    _assert_clear_error(["gather"], lambda: minimm.gather(x3(), 2, index))
    _assert_clear_error(["gather"], lambda: minimm.gather(x3(), dim, minimm.zeros(2, 3, 4, dtype=minimm.int64)))


@given(bad=st.one_of(JUNK, BAD_DIM), which=st.sampled_from(["cat", "stack"]))
def test_cat_and_stack_with_bad_arguments(bad, which):
    fn = getattr(minimm, which)
    _assert_clear_error([which], lambda: fn([x3(), x3()], dim=bad))
    _assert_clear_error([which], lambda: fn([x3(), bad]))
    _assert_clear_error([which], lambda: fn(bad))


@given(bad=st.one_of(JUNK, NON_INT))
def test_matmul_permute_tril_clamp_with_bad_arguments(bad):
    _assert_clear_error(["matmul"], lambda: minimm.matmul(x3(), bad))
    _assert_clear_error(["matmul"], lambda: minimm.matmul(x3(), minimm.ones(5, 2)))
    _assert_clear_error(["permute"], lambda: x3().permute(0, bad, 1))
    _assert_clear_error(["tril"], lambda: minimm.tril(x3(), bad))
    valid_bound = isinstance(bad, float)  # clamp(min=1.5) is fine; clamp(min="x") is not
    _assert_clear_error(["clamp"], lambda: minimm.clamp(x3(), min=bad), must_fail=not valid_bound)


def test_the_property_tests_cover_at_least_40_public_ops():
    names = {n for n, _ in DIM_OPS + TWO_DIM_OPS + SIZE_OPS + MASK_OPS} | set(BINARY_OPS) | set(UNARY_OPS)
    names |= {"tensor", "gather", "cat", "stack", "matmul", "permute", "clamp"}
    assert len(names) >= 40, sorted(names)
