"""The demo's figures teach what they show (issue #13 item 12), checked on the matplotlib objects:

* loss curves: an ``epoch`` x label and a unit on every y axis, the held-out curve beside the
  training one, the CVAE's KL on its own right-hand axis;
* the alignment heatmap: one image thumbnail per row and the whole captions as column labels;
* image → caption: every panel says right or wrong (and what is wrong), framed green or red;
* caption → image: one column per latent code, the same codes for every row, each row's spread;
* the latent map: says what the colours are and what each point is.

The held-out curve comes from the Trainer's ``validate``: it must leave the training numbers as
they are (the demo's metrics do not move), which the first test checks bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm import nn, viz
from minimm.app.demo import FIGURE_NAMES, demo_figures
from minimm.app.pipeline import MultimodalPipeline
from minimm.data import DataLoader, TensorDataset
from minimm.data.datasets import ATTRIBUTES
from minimm.optim import Adam
from minimm.training import Trainer


class Noisy(nn.Module):
    """A regression whose loss draws random numbers (as a VAE's does)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def loss(self, batch):
        x, y = batch
        x = x + 0.1 * minimm.randn(*x.shape)
        loss = ((self.fc(x) - y) ** 2).mean()
        return loss, {"mse": loss.item()}


def _fit(validate):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True).astype(np.float32)
    minimm.manual_seed(5)
    model = Noisy()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=3)
    history = Trainer(model, Adam(model.parameters(), lr=0.05), loader, 4, progress=False,
                      validate=validate).fit()
    return model, history


def test_validate_adds_held_out_entries_and_leaves_training_unchanged():
    seen_modes = []

    def validate(model):
        seen_modes.append(model.training)
        noise = minimm.randn(1000)  # a sampling validation: must not shift the training's stream
        return {"loss": float(noise.abs().mean().item()), "extra": minimm.tensor(2.0)}

    plain_model, plain = _fit(None)
    model, hist = _fit(validate)
    assert [h["loss"] for h in hist] == [h["loss"] for h in plain]  # bit for bit
    assert np.array_equal(model.fc.weight.detach().numpy(), plain_model.fc.weight.detach().numpy())
    assert all("val_loss" in h and h["val_extra"] == 2.0 for h in hist)
    assert "val_loss" not in plain[0]
    assert seen_modes == [False] * 4 and model.training  # eval inside, train mode restored


# --- the viz functions, on synthetic data ------------------------------------------------------
def test_loss_curves_units_held_out_and_secondary_axis():
    hist = [{"epoch": e, "loss": 10.0 / e, "kl": 0.1 * e, "val_loss": 11.0 / e, "val_kl": 0.1 * e, "seconds": 1}
            for e in range(1, 6)]
    fig = viz.plot_loss_curves({"a": hist, "b": [3.0, 2.0, 1.0]}, ylabels={"a": "nats per image"},
                               secondary={"kl": "KL (nats)"})
    axes = fig.axes
    assert len(axes) == 3  # panel a, its right-hand KL axis, panel b
    a, right, b = axes[0], axes[1], axes[2]
    assert a.get_xlabel() == "epoch" and a.get_ylabel() == "nats per image"
    assert right.get_ylabel() == "KL (nats)"
    assert {l.get_label() for l in a.get_lines()} == {"loss (training)", "loss (held-out)"}
    assert {l.get_label() for l in right.get_lines()} == {"kl (training)", "kl (held-out)"}
    dashed = [l for l in a.get_lines() if l.get_label() == "loss (held-out)"][0]
    assert dashed.get_linestyle() == "--"
    assert b.get_xlabel() == "epoch" and b.get_ylabel() == "loss"


def test_similarity_with_thumbnails_and_whole_captions():
    captions = ["a large bright circle at the top left of the picture", "a small dim square", "a cross"]
    imgs = np.random.default_rng(0).random((3, 8, 8))
    fig = viz.plot_similarity(np.eye(3), col_labels=captions, row_images=imgs, wrap=16, mark_diagonal=True,
                              mark_best=True)
    heat = fig.axes[0]
    thumbs = [ax for ax in fig.axes[1:] if ax.get_images() and ax is not heat and ax.get_label() != "<colorbar>"]
    assert len(thumbs) == 3
    for ax, img in zip(thumbs, imgs):
        assert np.array_equal(ax.get_images()[0].get_array(), img)
    labels = [t.get_text().replace("\n", " ") for t in heat.get_xticklabels()]
    assert labels == captions  # whole, only wrapped
    assert len(heat.patches) == 3 and heat.collections  # frames on the diagonal, stars on the best


def test_samples_marked_right_and_wrong():
    fig = viz.show_samples(np.zeros((2, 4, 4)), captions=["ok", "bad"], marks=[True, False])
    right, wrong = fig.axes
    assert right.xaxis.label.get_color() != wrong.xaxis.label.get_color()
    assert right.spines["top"].get_edgecolor() != wrong.spines["top"].get_edgecolor()
    plain = viz.show_samples(np.zeros((2, 4, 4)), captions=["a", "b c"])  # no marks: no verdict, no frame
    assert [ax.get_xlabel() for ax in plain.axes] == ["a", "b c"]
    with pytest.raises(ValueError, match="marks"):
        viz.show_samples(np.zeros((2, 4, 4)), marks=[True])


# --- the demo's figures, from a small trained pipeline --------------------------------------------
@pytest.fixture(scope="module")
def figures():
    pipe = MultimodalPipeline(n_train=400, n_test=140).fit(epochs=2, progress=False)
    return pipe, demo_figures(pipe, samples=4)


def test_demo_draws_every_figure(figures):
    _, figs = figures
    assert tuple(figs) == FIGURE_NAMES


def test_demo_loss_curves(figures):
    pipe, figs = figures
    axes = figs["loss_curves"].axes
    panels = [ax for ax in axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(pipe.history)
    for ax in panels:
        assert ax.get_xlabel() == "epoch"
        assert "nats per" in ax.get_ylabel(), ax.get_ylabel()  # a unit on every loss axis
        assert any("held-out" in l.get_label() for l in ax.get_lines()), ax.get_title()
    kl_axes = [ax for ax in axes if "KL" in ax.get_ylabel()]
    assert len(kl_axes) == 1 and not kl_axes[0].get_title()  # the KL's own right-hand axis
    assert any("held-out" in l.get_label() for l in kl_axes[0].get_lines())


def test_demo_alignment_heatmap(figures):
    pipe, figs = figures
    fig = figs["alignment_heatmap"]
    heat = fig.axes[0]
    k = len(heat.get_yticks())
    thumbs = [ax for ax in fig.axes if ax is not heat and ax.get_images()]
    assert len(thumbs) == k == 8
    captions = list(pipe.splits.test.caption[:k])
    assert [t.get_text().replace("\n", " ") for t in heat.get_xticklabels()] == captions
    assert "frame" in fig._suptitle.get_text()


def test_demo_image_to_caption_marks(figures):
    pipe, figs = figures
    fig = figs["image_to_caption"]
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 12
    colours = set()
    for ax in panels:
        label = ax.get_xlabel()
        assert label.startswith("✓ right") or label.startswith("✗ wrong: "), label
        if label.startswith("✗"):  # names the attributes it got wrong, first thing after "wrong:"
            words = label[len("✗ wrong: "):].replace(",", " ").split()
            named = [w for w in words[:len(ATTRIBUTES)] if w in ATTRIBUTES]
            assert named and words[:len(named)] == named, label
        colours.add(ax.spines["top"].get_edgecolor())
    n_right = sum(ax.get_xlabel().startswith("✓") for ax in panels)
    assert f"{n_right} of 12" in fig._suptitle.get_text()
    assert len(colours) == (2 if 0 < n_right < 12 else 1)  # one frame colour for right, one for wrong


def test_demo_caption_grid_shows_the_latent_code(figures):
    _, figs = figures
    fig = figs["caption_to_image"]
    cells = [ax for ax in fig.axes if ax.get_images()]
    assert len(cells) == 6 * 4
    assert [ax.get_title() for ax in cells[:4]] == ["z = 0 (mean)", "z draw 1", "z draw 2", "z draw 3"]
    notes = [t.get_text() for ax in cells for t in ax.texts]
    assert len(notes) == 6 and all("sd" in n for n in notes)
    assert "latent code" in fig._suptitle.get_text()
    row = np.stack([ax.get_images()[0].get_array() for ax in cells[:4]])
    assert row.std(axis=0).mean() > 0  # the codes make a difference within a row


def test_demo_latent_map_says_what_it_shows(figures):
    _, figs = figures
    fig = figs["latent_map"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert "shape" in legend.get_title().get_text()
    assert {t.get_text() for t in legend.get_texts()} == {"circle", "square", "triangle", "cross"}
    assert "variance" in ax.get_xlabel() and "variance" in ax.get_ylabel()
    assert any("each point" in t.get_text() for t in fig.texts)
