"""Custom ops in PyTorch's style: ``@staticmethod forward(ctx, ...)`` / ``backward(ctx, grad)``.

minimm's own op style (:class:`minimm.autograd.Function`) writes ``forward(self, *arrays)`` and
``backward(self, g)`` on arrays, with the node itself as the place to keep what backward needs.
PyTorch tutorials teach another spelling of the same idea, on Tensors, with a separate context
object ``ctx``::

    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output * (input > 0)

    y = MyReLU.apply(x)

This module runs such a class through minimm's engine: :func:`apply_ctx_function` makes one graph
node (a :class:`minimm.autograd.Function`) whose forward calls the class's ``forward(ctx, ...)``
and whose backward calls its ``backward(ctx, ...)``. The engine does everything else as for a
built-in op: reading the inputs and checking their devices, recording the node only when a
gradient is needed, summing broadcast gradients back to each input's shape.

The differences from minimm's own style, side by side:

=========================  ==========================================  ======================================
                           minimm style                                PyTorch style (this module)
=========================  ==========================================  ======================================
forward/backward see       arrays (``self.xp`` is their namespace)     Tensors (use minimm ops on them)
state for backward         attributes of ``self`` (the node)           ``ctx.save_for_backward`` / attributes
inputs inside backward     ``self.args()``                             ``ctx.saved_tensors``
=========================  ==========================================  ======================================

Gradients of gradients work too: under ``create_graph=True`` the backward runs on Tensors with
recording on, and the saved inputs are the original Tensors, so the backward's own ops are
recorded and can be differentiated again.

Which ``apply`` runs is decided once, when the class is defined: :class:`minimm.autograd.Function`
gives a subclass whose ``forward`` is a ``staticmethod`` the ``apply`` of
:func:`apply_ctx_function` (in its ``__init_subclass__``), so ``class F(minimm.autograd.Function)``
accepts both styles at no cost on the engine's hot path.
"""

from __future__ import annotations

from . import autograd as _ag
from .autograd import Function, Tensor

__all__ = ["FunctionCtx", "apply_ctx_function", "is_ctx_style", "Function"]

_EngineFunction = Function


class FunctionCtx:
    """The ``ctx`` handed to a PyTorch-style ``forward(ctx, ...)`` and ``backward(ctx, ...)``.

    Besides the methods below, any attribute may be set on it in forward (``ctx.alpha = 0.5``)
    and read back in backward, for non-tensor values.
    """

    def __init__(self, needs_input_grad=()):
        #: one bool per argument of forward: does that argument want a gradient?
        self.needs_input_grad = tuple(needs_input_grad)
        self._saved = None
        self._output = None
        self._non_differentiable = []

    def save_for_backward(self, *tensors) -> None:
        """Keep ``tensors`` (or None) for backward, where :attr:`saved_tensors` gives them back."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward: can only save Tensors or None, got {type(t).__name__}; "
                    "keep other values as attributes of ctx (ctx.name = value)"
                )
        self._saved = tuple(tensors)

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to :meth:`save_for_backward`, in order."""
        return () if self._saved is None else self._saved

    def mark_non_differentiable(self, *outputs) -> None:
        """Declare outputs that no gradient flows through (indices, masks): they come out of
        ``apply`` with ``requires_grad=False``."""
        self._non_differentiable.extend(outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for PyTorch's API. minimm's custom ops have one output, whose upstream gradient
        always exists, so backward never sees a missing (None) gradient either way."""
        self.materialize_grads = bool(value)


def is_ctx_style(cls) -> bool:
    """Whether ``cls`` writes ``forward`` as a ``@staticmethod`` taking ``ctx`` (PyTorch's style),
    looked up along the class hierarchy."""
    for klass in cls.__mro__:
        if "forward" in klass.__dict__:
            return isinstance(klass.__dict__["forward"], staticmethod)
    return False


class _CtxNode(_EngineFunction):
    """The graph node of one call of a PyTorch-style function: its forward and backward call the
    user's static methods with the call's ``ctx``. One subclass is made per user class (named after
    it, so ``y.grad_fn`` prints ``<MyReLUBackward>``)."""

    user_cls = None

    def forward(self, *arrays, ctx, args):
        # The user's forward sees the original arguments (Tensors and constants) with recording
        # off, as in PyTorch; the engine only needs its result's array.
        with _ag.no_grad():
            out = self.user_cls.forward(ctx, *args)
        if isinstance(out, (tuple, list)):
            raise TypeError(
                f"{self.user_cls.__name__}.forward returned {len(out)} outputs; minimm's Function has one "
                "output: return a single Tensor (or split the op in two)"
            )
        if not isinstance(out, Tensor):
            raise TypeError(f"{self.user_cls.__name__}.forward must return a Tensor, got {type(out).__name__}")
        ctx._output = out
        return out.array

    def backward(self, g):
        ctx, args = self.params["ctx"], self.params["args"]
        grad_out = g if isinstance(g, Tensor) else Tensor._wrap(g)
        saved = ctx._saved
        if self.graph and saved and any(t is ctx._output for t in saved):
            # Gradients of gradients: a saved *output* must be a Tensor that knows how it depends
            # on the inputs, so it is recomputed once through this node (with a fresh ctx).
            again = type(self).apply(*self.inputs, ctx=FunctionCtx(ctx.needs_input_grad), args=args)
            ctx._saved = tuple(again if t is ctx._output else t for t in saved)
        try:
            grads = self.user_cls.backward(ctx, grad_out)
        finally:
            ctx._saved = saved
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        # PyTorch's rule: one gradient per argument of forward (None for a non-tensor or a
        # tensor that needs none); trailing extra Nones are allowed.
        grads = tuple(grads)
        if len(grads) < len(args) or any(v is not None for v in grads[len(args):]):
            raise RuntimeError(
                f"{self.user_cls.__name__}.backward returned {len(grads)} gradient(s), expected {len(args)} "
                "(one per argument of forward, None for arguments without a gradient)"
            )
        out = []
        for a, gr in zip(args, grads):
            if not isinstance(a, Tensor):
                continue  # constants are not inputs of the node
            if gr is None:
                out.append(None)
                continue
            if not isinstance(gr, Tensor):
                raise TypeError(
                    f"{self.user_cls.__name__}.backward must return Tensors (or None), got {type(gr).__name__}"
                )
            out.append(gr if self.graph else gr.array)
        return tuple(out)


def _node_class(cls):
    """The :class:`_CtxNode` subclass for user class ``cls`` (made once, kept on ``cls``)."""
    node = cls.__dict__.get("_minimm_ctx_node")
    if node is None:
        node = type(cls.__name__, (_CtxNode,), {"user_cls": cls, "__module__": cls.__module__})
        node.__qualname__ = cls.__qualname__
        setattr(cls, "_minimm_ctx_node", node)
    return node


def apply_ctx_function(cls, *args, **kwargs):
    """Run PyTorch-style function class ``cls`` on ``args`` and record it in the graph.

    ``cls.forward(ctx, *args)`` computes the output (a Tensor) with recording off;
    ``cls.backward(ctx, grad_output)`` later returns one gradient per argument. Tensor arguments
    are the node's inputs; other arguments (numbers, flags) are passed through as constants.
    """
    if kwargs:
        raise TypeError(f"{cls.__name__}.apply takes positional arguments only (as in PyTorch)")
    ctx = FunctionCtx(isinstance(a, Tensor) and a.requires_grad for a in args)
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not tensors:
        # no tensor argument: nothing to record, just the user's computation
        with _ag.no_grad():
            return cls.forward(ctx, *args)
    out = _node_class(cls).apply(*tensors, ctx=ctx, args=args)
    if any(o is ctx._output for o in ctx._non_differentiable):
        out.grad_fn = None
        out.requires_grad = False
    return out


# minimm's own Function accepts both styles (its ``__init_subclass__`` routes a ctx-style class to
# :func:`apply_ctx_function`); the name is kept here for code that imports it from this module.
Function = _EngineFunction
