# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Autograd by hand
#
# **What you will learn**
#
# * how each op records a node (`.grad_fn`) that remembers its inputs, so that a computation
#   leaves behind a *graph*;
# * the chain rule on that graph, computed by hand, node by node, in reverse order;
# * that `backward()` does exactly this walk — and agrees with the hand computation to the last bit
#   that float64 can hold.
#
# We differentiate a small function of two scalars $a$ and $b$:
#
# $$ e = a\,b, \qquad f = \exp(e), \qquad g = f + a, \qquad L = \log g . $$
#
# Reverse-mode differentiation starts with $\bar L = \partial L/\partial L = 1$ and pushes
# "adjoints" $\bar v = \partial L / \partial v$ backwards. Each node multiplies the upstream adjoint
# by its *local* derivative, and a variable used twice ($a$!) *adds* the contributions of both uses:
#
# $$
# \bar g = \frac{1}{g}, \quad
# \bar f = \bar g \cdot 1, \quad
# \bar e = \bar f \cdot e^{e}, \quad
# \bar a = \underbrace{\bar g \cdot 1}_{\text{via } g} + \underbrace{\bar e \cdot b}_{\text{via } e}, \quad
# \bar b = \bar e \cdot a .
# $$

# %%
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES

# %% [markdown]
# ## Forward pass: the graph appears
#
# Each result that depends on a tensor with `requires_grad=True` gets a `.grad_fn`: the
# `Function` node that made it. The node keeps its `.inputs`. We use float64 so that the hand
# computation and autograd can be compared exactly.

# %%
a = minimm.tensor(0.5, dtype=minimm.float64, requires_grad=True)
b = minimm.tensor(-1.5, dtype=minimm.float64, requires_grad=True)
e = a * b
f = e.exp()
g = f + a
L = g.log()
print("L =", L.item(), "| L.grad_fn =", L.grad_fn, "| its inputs:", L.grad_fn.inputs)
assert L.grad_fn.name == "Log" and L.grad_fn.inputs[0] is g
assert a.is_leaf and not L.is_leaf

# %% [markdown]
# ## Drawing the graph
#
# A walk from `L.grad_fn` through each node's `.inputs` visits every op and every leaf. We lay the
# nodes out by *depth* (the distance from the output) and draw them with matplotlib — no graphviz
# needed. Blue boxes are ops (named after their `Function`), green ones are leaves.

# %%
def walk(root):
    """Every tensor reachable from ``root`` through grad_fn.inputs, with its depth and edges."""
    depth, edges, order = {id(root): 0}, [], [root]
    stack = [root]
    while stack:
        t = stack.pop()
        if t.grad_fn is None:
            continue
        for parent in t.grad_fn.inputs:
            if not isinstance(parent, minimm.Tensor):
                continue  # a Python constant is not a node
            edges.append((id(parent), id(t)))
            if id(parent) not in depth:
                order.append(parent)
                stack.append(parent)
            depth[id(parent)] = max(depth.get(id(parent), 0), depth[id(t)] + 1)
    return order, depth, edges


def draw_graph(root, names, path):
    order, depth, edges = walk(root)
    levels = {}
    for t in order:
        levels.setdefault(depth[id(t)], []).append(t)
    pos = {}
    max_d = max(levels)
    for d, ts in levels.items():
        for i, t in enumerate(ts):
            pos[id(t)] = (max_d - d, (i - (len(ts) - 1) / 2) * 1.2)  # inputs on the left
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for src, dst in edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.annotate("", xy=(x1 - 0.22, y1), xytext=(x0 + 0.22, y0),
                    arrowprops=dict(arrowstyle="->", color="0.3"))
    for t in order:
        x, y = pos[id(t)]
        label = names.get(id(t), "?")
        if t.grad_fn is not None:
            label += f"\n{t.grad_fn.name}"
        colour = "#cfe2f3" if t.grad_fn is not None else "#d9ead3"
        ax.text(x, y, label + f"\n= {t.item():.3g}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc=colour, ec="0.4"))
    ax.set_xlim(-0.6, max_d + 0.6)
    ax.set_ylim(-1.5, 1.5)
    ax.axis("off")
    ax.set_title("the graph recorded by the forward pass (walked from L.grad_fn)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return order, edges


names = {id(a): "a", id(b): "b", id(e): "e", id(f): "f", id(g): "g", id(L): "L"}
nodes, edges = draw_graph(L, names, os.path.join(FIGURES, "02_graph.png"))
assert len(nodes) == 6 and len(edges) == 6  # a feeds both `*` and `+`: two edges leave it

# %% [markdown]
# ## Backward pass by hand
#
# Now the adjoints from the equations above, in plain Python floats.

# %%
av, bv = 0.5, -1.5
ev = av * bv
fv = math.exp(ev)
gv = fv + av
g_bar = 1.0 / gv            # d log g / dg
f_bar = g_bar * 1.0         # g = f + a
e_bar = f_bar * math.exp(ev)  # f = exp(e)
a_bar = g_bar * 1.0 + e_bar * bv  # two paths: through g and through e
b_bar = e_bar * av
print("by hand:  dL/da =", a_bar, " dL/db =", b_bar)

# %% [markdown]
# ## `backward()` does the same walk
#
# `L.backward()` visits the nodes in reverse topological order, calls each node's `backward`
# with the upstream gradient, and *accumulates* into `.grad` where a tensor is used twice. We keep
# the gradient of the intermediate `e` too (`retain_grad`), to compare one adjoint in the middle.

# %%
e.retain_grad()
L.backward()
print("autograd: dL/da =", a.grad.item(), " dL/db =", b.grad.item())
assert abs(a.grad.item() - a_bar) <= 1e-15 * abs(a_bar) + 1e-300
assert abs(b.grad.item() - b_bar) <= 1e-15 * abs(b_bar) + 1e-300
assert abs(e.grad.item() - e_bar) <= 1e-15 * abs(e_bar)

# %% [markdown]
# ## The same thing for vectors
#
# For a tensor input the adjoint has the input's shape. Take $L(x) = \sum_i x_i\,\sigma(x_i)$
# (the README's first taste). The chain rule gives, element by element,
#
# $$ \frac{\partial L}{\partial x_i} = \sigma(x_i) + x_i\,\sigma(x_i)\bigl(1-\sigma(x_i)\bigr). $$
#
# We plot the function and the gradient from `backward()` over the hand formula.

# %%
n = 101 if QUICK else 401
x = minimm.linspace(-6, 6, n, dtype=minimm.float64).requires_grad_()
y = (x * x.sigmoid()).sum()
y.backward()
xs = x.detach().numpy()
sig = 1 / (1 + np.exp(-xs))
hand = sig + xs * sig * (1 - sig)
assert np.allclose(x.grad.numpy(), hand, rtol=1e-12, atol=1e-14)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(xs, xs * sig, label=r"$x\,\sigma(x)$")
ax.plot(xs, hand, lw=4, alpha=0.4, label="hand formula")
ax.plot(xs, x.grad.numpy(), "k--", label="autograd: x.grad")
ax.axhline(0, color="0.8", lw=0.8)
ax.set_xlabel("x")
ax.legend()
ax.set_title("the derivative from backward() lies on the hand formula")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "02_swish_grad.png"), dpi=100)
plt.close(fig)

# %% [markdown]
# ## Summary
#
# * The forward pass records a graph of `Function` nodes (`grad_fn`), each keeping its inputs.
# * Backward multiplies upstream adjoints by local derivatives and sums over the paths — the chain
#   rule, one node at a time.
# * `backward()` frees the graph afterwards (pass `retain_graph=True` to walk it twice).
#
# Next: **03 · proving gradients** — how to check a backward you wrote yourself.
