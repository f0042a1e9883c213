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
# # 04 · Linear layers and sigmoid: logistic regression from scratch
#
# **What you will learn**
#
# * what `minimm.nn.Linear` computes and how its parameters are registered;
# * the logistic-regression model and its loss, binary cross-entropy, written stably from logits;
# * that the gradient of that loss with respect to the logits is simply $(p - y)/n$ — checked
#   against autograd;
# * a training loop with plain gradient descent, and the decision boundary it learns.
#
# The model maps a point $x \in \mathbb{R}^2$ to a probability
#
# $$ p(y=1 \mid x) = \sigma(w^\top x + b), \qquad \sigma(\ell) = \frac{1}{1 + e^{-\ell}}, $$
#
# and is trained by minimising the mean binary cross-entropy (the negative log-likelihood of the
# labels)
#
# $$ L = -\frac1n \sum_i \bigl[ y_i \log p_i + (1-y_i)\log(1-p_i) \bigr]
#      = \frac1n \sum_i \bigl[ \operatorname{softplus}(\ell_i) - y_i\,\ell_i \bigr], $$
#
# where the right-hand form, using $\log\sigma(\ell) = \ell - \operatorname{softplus}(\ell)$, never
# takes the log of 0 however large the logits get. Its gradient is
# $\partial L / \partial \ell_i = (\sigma(\ell_i) - y_i)/n$.

# %%
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minimm
from minimm.viz import tutorial_settings
import minimm.nn as nn
import minimm.nn.functional as F

QUICK, FIGURES = tutorial_settings(globals().get("__file__"))  # MINIMM_QUICK, MINIMM_FIGURES
minimm.manual_seed(0)

# %% [markdown]
# ## Data: two Gaussian clouds
#
# Class 0 around $(-1.5, -0.5)$, class 1 around $(1.5, 0.5)$, unit variance, half of the points
# for training and half for testing. The Bayes-optimal boundary is a line, so logistic regression
# can reach the best possible accuracy ($\Phi(\sqrt{10}/2) \approx 94\,\%$ here; we ask for at least 88 % on test points).

# %%
n = 200 if QUICK else 1000
centers = minimm.tensor([[-1.5, -0.5], [1.5, 0.5]])
labels = (minimm.rand(n) < 0.5).float()
X = minimm.randn(n, 2) + centers[labels.long()]
X_train, y_train, X_test, y_test = X[: n // 2], labels[: n // 2], X[n // 2:], labels[n // 2:]
print(X_train.shape, y_train.shape, "fraction of class 1:", y_train.mean().item())

# %% [markdown]
# ## The model: one `Linear` layer and a sigmoid
#
# `nn.Linear(2, 1)` holds `weight` of shape `(out, in) = (1, 2)` and `bias` of shape `(1,)`, and
# computes $\ell = x W^\top + b$ for a batch of rows. Assigning it as an attribute of a `Module`
# registers its parameters.

# %%
class LogisticRegression(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)  # logits, shape (batch,)


model = LogisticRegression(2)
print(model)
print([(name, tuple(p.shape)) for name, p in model.named_parameters()])
assert [name for name, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]


def bce_from_logits(logits, y):
    """L = mean(softplus(ℓ) − y·ℓ): binary cross-entropy, stable for any logit."""
    return (logits.softplus() - y * logits).mean()


# %% [markdown]
# ## Check the loss and its gradient
#
# Our hand-written loss must equal the library's `F.binary_cross_entropy_with_logits`, and
# autograd's gradient with respect to the logits must be $(\sigma(\ell) - y)/n$.

# %%
logits = model(X_train)
logits.retain_grad()
loss = bce_from_logits(logits, y_train)
loss.backward()
assert abs(loss.item() - F.binary_cross_entropy_with_logits(logits, y_train).item()) < 1e-6
expected = (logits.sigmoid() - y_train).detach().numpy() / len(y_train)
assert np.allclose(logits.grad.numpy(), expected, atol=1e-7)
# and it stays finite for huge logits, where the naive log(σ(ℓ)) would give log(0) = −inf
big = minimm.tensor([1e4, -1e4])
assert np.isfinite(bce_from_logits(big, minimm.tensor([0.0, 1.0])).item())

# %% [markdown]
# ## Training by gradient descent
#
# Each step: forward, loss, `backward()`, then move every parameter against its gradient,
# $\theta \leftarrow \theta - \eta\,\nabla_\theta L$, and zero the gradients (they accumulate
# otherwise). The update must not be recorded in the graph, so it acts on the raw arrays
# (`p.array`), inside `no_grad()` for good measure. Tutorial 05 replaces this hand-written update
# with an optimiser.

# %%
lr = 0.5
steps = 100 if QUICK else 300
losses = []
for step in range(steps):
    model.zero_grad()
    loss = bce_from_logits(model(X_train), y_train)
    loss.backward()
    with minimm.no_grad():
        for p in model.parameters():
            p.array = p.array - lr * p.grad.array  # θ ← θ − η ∇θ L, on the arrays
    losses.append(loss.item())


def accuracy(model, X, y):
    with minimm.no_grad():
        return ((model(X) > 0).float() == y).float().mean().item()


acc_train, acc_test = accuracy(model, X_train, y_train), accuracy(model, X_test, y_test)
print(f"loss {losses[0]:.3f} → {losses[-1]:.3f}; accuracy train {acc_train:.3f}, test {acc_test:.3f}")
assert losses[-1] < 0.5 * losses[0]
assert acc_test >= 0.88, acc_test

# %% [markdown]
# ## The decision boundary
#
# $p = \tfrac12$ exactly where $w^\top x + b = 0$: a straight line,
# $x_2 = -(w_1 x_1 + b)/w_2$. We colour the plane by the predicted probability and draw the line.

# %%
w = model.linear.weight.detach().numpy()[0]
b = model.linear.bias.item()
xs = X.numpy()
g1, g2 = np.meshgrid(np.linspace(-5, 5, 120), np.linspace(-4, 4, 100))
grid = minimm.tensor(np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float32))
with minimm.no_grad():
    prob = model(grid).sigmoid().numpy().reshape(g1.shape)

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.4, 1]})
cs = ax.contourf(g1, g2, prob, levels=20, cmap="RdBu_r", alpha=0.6)
fig.colorbar(cs, ax=ax, label=r"$\sigma(w^\top x + b)$")
lab = labels.numpy()
ax.scatter(xs[lab == 0, 0], xs[lab == 0, 1], s=8, c="tab:blue", label="class 0")
ax.scatter(xs[lab == 1, 0], xs[lab == 1, 1], s=8, c="tab:red", label="class 1")
line_x = np.array([-5, 5])
ax.plot(line_x, -(w[0] * line_x + b) / w[1], "k-", lw=2, label=r"$w^\top x + b = 0$")
ax.set_xlim(-5, 5)
ax.set_ylim(-4, 4)
ax.set_title(f"logistic regression: test accuracy {acc_test:.1%}")
ax.legend(loc="lower right", fontsize=8)
ax2.plot(losses)
ax2.set_xlabel("step")
ax2.set_ylabel("binary cross-entropy")
ax2.set_title("training loss")
fig.tight_layout()
fig.savefig(os.path.join(FIGURES, "04_decision_boundary.png"), dpi=100)
plt.close(fig)

# the boundary must separate the two class means
for c, sign in ((centers[0].numpy(), -1), (centers[1].numpy(), 1)):
    assert np.sign(w @ c + b) == sign

# %% [markdown]
# ## Summary
#
# * `nn.Linear` is $\ell = xW^\top + b$ with registered parameters; a sigmoid turns the logit into a
#   probability.
# * Binary cross-entropy from logits, $\operatorname{softplus}(\ell) - y\ell$, is stable, and its
#   gradient $(p - y)/n$ is the simplest signal there is: the prediction error.
# * A linear model draws a straight decision boundary.
#
# Next: **05 · Adam from its equations**.
