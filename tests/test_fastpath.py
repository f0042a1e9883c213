"""The speed shortcuts of minimm.autograd.fastpath change no number.

Every op spec of the op test suite runs twice on the same drawn inputs — with the shortcuts on
(the default) and off (the plain ``Function.apply`` and the plain backward walk) — and the outputs,
first-order gradients and gradients of a gradient must be equal bit for bit. Then a small model's
whole training step (forward, backward, Adam) is compared the same way.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimm
from minimm import backend as B
from minimm.autograd import Function, fastpath
from minimm.autograd import walk as W
from minimm.testing.harness import op_settings, run_op

import test_ops_arithmetic
import test_ops_elementwise
import test_ops_linalg
import test_ops_reduction
import test_ops_shape

ALL_SPECS = [spec for module in (test_ops_arithmetic, test_ops_elementwise, test_ops_linalg, test_ops_reduction,
                                 test_ops_shape) for spec in module.SPECS]


def _assert_identical(a, b, what):
    assert len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            assert x is None and y is None, f"{what}: item {i}"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: item {i}"
        # bit for bit (NaN payloads included): compare the raw bytes
        assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), f"{what}: item {i} differs"


def test_switch_swaps_the_plain_and_fast_twins():
    assert fastpath.is_enabled()
    assert Function.apply.__func__ is fastpath.apply and W.active_walk is fastpath.walk
    with fastpath.enabled(False):
        assert not fastpath.is_enabled()
        assert Function.apply.__func__ is not fastpath.apply and W.active_walk is W.walk
    assert fastpath.is_enabled() and Function.apply.__func__ is fastpath.apply
    fastpath.enabled(False)  # also a plain call
    try:
        assert not fastpath.is_enabled()
    finally:
        fastpath.enabled(True)
    assert fastpath.is_enabled()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=repr)
@op_settings
@given(data=st.data())
def test_fast_and_plain_paths_are_bit_identical(spec, device, data):
    arrays, kw = data.draw(spec.args, label="inputs")
    for dtype in spec.dtypes:
        fast = run_op(spec, arrays, kw, dtype, device, second_order=spec.second_order)
        with fastpath.enabled(False):
            plain = run_op(spec, arrays, kw, dtype, device, second_order=spec.second_order)
        if device == "cuda":  # pragma: no cover - fused GPU kernels may contract a*b+c into one FMA
            for f, p in zip(fast, plain):
                if f is not None:
                    np.testing.assert_allclose(f, p, rtol=1e-5 if dtype == minimm.float32 else 1e-12)
        else:
            _assert_identical(fast, plain, f"{spec.name} ({dtype})")


def _train(device, steps=3):
    minimm.manual_seed(0)
    model = minimm.nn.Sequential(minimm.nn.Linear(6, 8), minimm.nn.Tanh(), minimm.nn.Linear(8, 8),
                                 minimm.nn.Sigmoid(), minimm.nn.Linear(8, 1)).to(device)
    opt = minimm.optim.Adam(model.parameters(), lr=1e-2)
    x = minimm.randn(16, 6, device=device)
    for _ in range(steps):
        opt.zero_grad()
        h = model(x)
        loss = (h * h).mean() + minimm.nn.functional.softplus(h).mean()  # h used twice
        loss.backward()
        opt.step()
    return [B.to_numpy(p.array) for p in model.parameters()] + [B.to_numpy(p.grad.array) for p in model.parameters()]


def test_training_steps_are_bit_identical(device):
    fast = _train(device)
    with fastpath.enabled(False):
        plain = _train(device)
    if device == "cuda":  # pragma: no cover - see above
        for f, p in zip(fast, plain):
            np.testing.assert_allclose(f, p, rtol=1e-5, atol=1e-7)
    else:
        _assert_identical(fast, plain, "training step")


def test_plain_walk_order_matches_fast_walk_on_ties():
    # Three branches of equal generation meet twice: the order in which their grads are summed
    # decides the last bits, so both walks must visit equal generations in the same order.
    x = minimm.tensor(np.linspace(0.1, 1.0, 7), dtype=minimm.float64, requires_grad=True)
    def run():
        x.grad = None
        a, b, c = x * 1.1, x * 2.3, x * 3.7
        y = (a.exp() + b.exp() + c.exp()) * (a + b.tanh() + c.sigmoid())
        y.sum().backward()
        return [x.grad.numpy()]
    fast = run()
    with fastpath.enabled(False):
        plain = run()
    _assert_identical(fast, plain, "walk order")


# -- the NumPy twins of the element-wise formulas (minimm.ops.fast_numpy) ---------------------------
from minimm.ops import elementwise as E  # noqa: E402
from minimm.ops import fast_numpy  # noqa: E402
from minimm.ops import loss as L  # noqa: E402

AWKWARD = np.array([0.0, -0.0, 1e-30, -1e-30, 0.5, -0.5, 3.0, -3.0, 40.0, -40.0, 1e4, -1e4, np.inf, -np.inf, np.nan])
TWINS = {  # formula -> how many array arguments it takes (then, for leaky ReLU, the slope)
    E.exp_neg_abs: 1, E.stable_sigmoid: 1, E.sigmoid_from_exp: 2, E.stable_softplus: 1, E.relu_forward: 1,
    E.relu_backward: 2, E.leaky_relu_forward: 1, E.leaky_relu_backward: 2, E.tanh_grad: 2, E.sigmoid_grad: 2,
    L.bce_logits_terms: 3, L.bce_logits_grad: 4,
}


def test_every_twin_is_registered():
    assert all(f.host is not None for f in TWINS)


def _twin_args(fn, arrays, slope=0.2):
    n = TWINS[fn]
    args = list(arrays[:n])
    if fn in (E.sigmoid_from_exp, L.bce_logits_terms, L.bce_logits_grad):
        i = 1 if fn is E.sigmoid_from_exp else 2
        args[i] = np.exp(-np.abs(args[0]))  # e = exp(-|x|): what these formulas are given
    if fn is L.bce_logits_grad:
        args[3] = np.asarray(arrays[3].flat[0], dtype=arrays[0].dtype)  # g: the upstream scalar
    if fn in (E.leaky_relu_forward, E.leaky_relu_backward):
        args.append(slope)
    return args


@pytest.mark.parametrize("fn", list(TWINS), ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_numpy_twins_are_bit_identical_to_their_formulas(fn, dtype, data):
    # drawn values, plus every awkward one (±0, tiny, huge, ±inf, NaN) at some position
    # (the twins take arrays of at least fast_numpy.SMALL elements: tile 15 drawn values)
    shape = data.draw(st.sampled_from([(15, 160), (160, 15)]), label="shape")
    values = st.floats(-60, 60, width=32) | st.sampled_from(list(AWKWARD))
    arrays = [np.resize(np.array(data.draw(st.lists(values, min_size=15, max_size=15)), dtype=dtype), shape)
              for _ in range(4)]
    arrays[0][...] = np.resize(np.roll(AWKWARD.astype(dtype), data.draw(st.integers(0, 14))), shape)
    if data.draw(st.booleans(), label="non-contiguous"):
        arrays = [np.asfortranarray(a) for a in arrays]  # same values, Fortran order
    args = _twin_args(fn, arrays, data.draw(st.sampled_from([0.2, 0.01, 0.0, 1.0, 1.5, -0.3]), label="slope"))
    with np.errstate(all="ignore"):
        fast = fn.host(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        plain = fn.formula(np, *args)
    _assert_identical([np.asarray(fast)], [np.asarray(plain)], fn.__name__)


@pytest.mark.parametrize("name", fast_numpy.ALL_SIZES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_twins_of_every_size_give_tiny_arrays_the_same_bits(name, dtype):
    # the twins that take arrays of any size (fast_numpy.ALL_SIZES): 1, 8 and 15 elements, 2-d
    fn = getattr(E, name)
    assert fn.host_min == 1
    for shape in [(1,), (8,), (3, 5)]:
        arrays = [np.resize(np.roll(AWKWARD, k), shape).astype(dtype) for k in range(TWINS[fn])]
        with np.errstate(all="ignore"):
            _assert_identical([fn.host(*arrays)], [fn.formula(np, *arrays)], f"{name} {shape}")
    zero_d = [np.array(-3.0, dtype)] * TWINS[fn]
    assert fn.host(*zero_d) == fn.formula(np, *zero_d)  # 0-d: the formula itself
    wide = np.ones((2, 3), dtype)  # shapes that broadcast: the formula itself
    if TWINS[fn] == 2:
        assert fn.host(wide, np.full(3, 0.5, dtype)).tolist() == fn.formula(np, wide, np.full(3, 0.5, dtype)).tolist()


def test_twins_leave_their_inputs_alone_and_fall_back_off_the_float_path():
    x = np.resize(np.array([-1.5, 0.0, 2.0], np.float32), 3 * fast_numpy.SMALL)
    before = x.copy()
    E.relu_forward.host(x)
    E.stable_softplus.host(x)
    assert x.tobytes() == before.tobytes()
    ints = np.array([-2, 0, 3])
    assert E.relu_forward.host(ints).tolist() == [0, 0, 3]  # integers: the formula itself
    assert float(E.relu_forward.host(np.array(-1.0))) == 0.0  # 0-d: the formula itself
    sel = fast_numpy.select(np.array([True, False]), np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert sel.tolist() == [1.0, 4.0]


def test_fused_bce_with_logits_is_bit_identical_on_and_off():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 40)).astype(np.float32) * 30  # large enough for the NumPy twins
    y = (rng.random((64, 40)) < 0.4).astype(np.float32)
    def run(reduction):
        s = minimm.tensor(x, requires_grad=True)
        t = minimm.tensor(y, requires_grad=True)
        out = minimm.nn.functional.binary_cross_entropy_with_logits(s, t, reduction=reduction)
        (out if reduction != "none" else out * 1.5).sum().backward()
        return [out.detach().numpy(), s.grad.numpy(), t.grad.numpy()]
    for reduction in ("mean", "sum", "none"):
        fast = run(reduction)
        with fastpath.enabled(False):
            plain = run(reduction)
        _assert_identical(fast, plain, reduction)


# -- the operator twins (x * y, x.tanh() ... straight to forward) ----------------------------------
OPERATORS = {"__add__": 2, "__sub__": 2, "__mul__": 2, "add": 2, "sub": 2, "mul": 2, "exp": 1, "log": 1,
             "tanh": 1, "sigmoid": 1, "relu": 1, "__neg__": 1}


def test_operator_twins_are_installed_and_switched():
    from minimm.autograd.tensor import Tensor

    assert set(OPERATORS) <= set(fastpath._operators)
    for name, (plain, fast) in fastpath._operators.items():
        assert getattr(Tensor, name) is fast and fast.__wrapped__ is plain
        with fastpath.enabled(False):
            assert getattr(Tensor, name) is plain


@pytest.mark.parametrize("name,dtype", [(n, d) for n in OPERATORS for d in ("float32", "float64", "int64")
                                        if d != "int64" or OPERATORS[n] == 2])  # int: binary ones
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), ())], ids=repr)
@pytest.mark.parametrize("grad", [True, False])
def test_operator_twins_are_bit_identical(name, dtype, shapes, grad, device):
    rng = np.random.default_rng(11)
    floating = dtype.startswith("float")
    a0 = rng.standard_normal(shapes[0]) * 3 if floating else rng.integers(-5, 5, shapes[0])
    b0 = rng.standard_normal(shapes[1]) * 3 if floating else rng.integers(-5, 5, shapes[1])

    def run():
        a = minimm.tensor(a0.astype(dtype), device=device, requires_grad=grad and floating)
        b = minimm.tensor(b0.astype(dtype), device=device)
        with np.errstate(all="ignore"):
            out = getattr(a, name)(b) if OPERATORS[name] == 2 else getattr(a, name)()
        got = [B.to_numpy(out.array)]
        assert out.requires_grad is (grad and floating) and (out.grad_fn is not None) is (grad and floating)
        if grad and floating:
            with np.errstate(all="ignore"):
                (out * out).sum().backward()
            got.append(B.to_numpy(a.grad.array))
        return got

    fast = run()
    with fastpath.enabled(False):
        plain = run()
    _assert_identical(fast, plain, f"{name} {dtype} {shapes}")


def test_operator_twins_keep_the_plain_errors_and_fallbacks():
    a, b = minimm.ones(3), minimm.ones(4)
    with pytest.raises(ValueError, match=r"Mul: .*\(3,\), \(4,\)"):
        a * b
    with pytest.raises(TypeError, match="sub: both operands have dtype bool"):
        minimm.tensor([True]) - minimm.tensor([False])
    w = minimm.nn.Parameter(minimm.ones(3))  # a Parameter, a number, a mixed dtype: the plain function
    assert (w * a).requires_grad and (a * 2.0).tolist() == [2.0, 2.0, 2.0]
    assert (a + minimm.ones(3, dtype=minimm.float64)).dtype == minimm.float64
    h = minimm.tensor([0.1, 2.0, 7.0], dtype=minimm.float16, requires_grad=True)
    for name in OPERATORS:  # float16 too
        out = getattr(h, name)(h) if OPERATORS[name] == 2 else getattr(h, name)()
        with fastpath.enabled(False):
            plain = getattr(h, name)(h) if OPERATORS[name] == 2 else getattr(h, name)()
        assert out.dtype == minimm.float16 and out.array.tobytes() == plain.array.tobytes()
    with minimm.no_grad():
        assert not (w * w).requires_grad and (w * w).grad_fn is None


def test_unrecorded_operator_calls_keep_no_array_alive():
    import gc
    import weakref

    x = minimm.randn(5, requires_grad=True)
    with minimm.no_grad():
        for name in ("tanh", "sigmoid", "exp"):  # their forward saves its output on the node
            y = getattr(x, name)()
            assert y.grad_fn is None and not y.requires_grad
            ref = weakref.ref(y.array)
            del y
            gc.collect()
            assert ref() is None, name


def test_recorded_operator_twins_keep_no_second_tuple_of_arrays():
    import gc

    a = minimm.randn(4, requires_grad=True)
    c = minimm.randn(4)
    y = a * c
    node = y.grad_fn
    assert node.datas is None  # a twin's arrays are its inputs' arrays, read by arrays()
    assert all(got is t.array for got, t in zip(node.arrays(), (a, c)))
    with fastpath.enabled(False):
        assert (a * c).grad_fn.datas is not None  # the plain path keeps them
    # per recorded op: the tensor, the node and its tuple of inputs, the only objects the cyclic
    # garbage collector counts (a second tuple per op made it collect a third more often)
    gc.collect()
    gc.disable()
    try:
        y, before, n = a, gc.get_count()[0], 300
        for i in range(n):
            y = y * c if i % 2 else y.tanh()
        per_op = (gc.get_count()[0] - before) / n
    finally:
        gc.enable()
    assert per_op < 3.5, per_op  # (a few objects of the loop itself come on top: not 4 per op)
    y.sum().backward()
    with fastpath.enabled(False):
        a2 = minimm.tensor(a.array, requires_grad=True)
        y2 = a2
        for i in range(n):
            y2 = y2 * c if i % 2 else y2.tanh()
        y2.sum().backward()
    assert a.grad.array.tobytes() == a2.grad.array.tobytes()


def test_a_node_held_after_backward_lets_go_of_its_arrays():
    # the fast walk leaves a node that only it holds to die with its fields; a node something else
    # holds (here through the kept tensors y and z) has its inputs and saved arrays cleared
    import weakref

    x = minimm.randn(6, requires_grad=True)
    y = x.tanh()
    z = y * minimm.randn(6)
    w = z.sigmoid()
    dropped = weakref.ref(w.grad_fn)
    (w * w).sum().backward()
    del w
    assert dropped() is None
    for t in (y, z):
        assert t.grad_fn.inputs is None and t.grad_fn.datas is None
    assert y.grad_fn.saved is None
    with pytest.raises(RuntimeError, match="second time"):
        z.sum().backward()
