"""Figures with matplotlib: sample grids, caption grids, loss curves, latent maps, similarity heatmaps.

Every function builds a ``matplotlib.figure.Figure`` directly and renders it with the Agg
canvas, without ``pyplot``: no window opens, no global backend is switched, and it works on a
headless machine or in CI. Pass ``path`` to save a PNG (or any format matplotlib knows from the
suffix); the figure is returned either way so a notebook can show it. matplotlib is a dependency
of minimm, imported only when a figure is drawn (``import minimm`` stays light).
"""

from __future__ import annotations

import math
import os
import textwrap

import numpy as np

from .autograd import Tensor
from .backend import to_numpy

__all__ = ["show_samples", "show_caption_grid", "plot_loss_curves", "plot_latent_map", "plot_similarity"]


def _new_figure(figsize):
    try:  # matplotlib is heavy: imported when the first figure is drawn
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("figures need matplotlib, a dependency of minimm: pip install minimm (or pip install "
                          "matplotlib)") from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _host_images(images) -> np.ndarray:
    def host(a):
        return to_numpy(a.data if isinstance(a, Tensor) else a)

    x = np.stack([host(a) for a in images]) if isinstance(images, (list, tuple)) else host(images)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:  # flat vectors of a square image, e.g. (N, 64) digits
        side = int(round(math.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"cannot show flat images of length {x.shape[1]}: not a square number")
        x = x.reshape(-1, side, side)
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = np.moveaxis(x, 1, -1)  # NCHW -> NHWC for imshow
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError(f"expected images (N, H, W), (N, H, W, C), (N, C, H, W) or (N, H*W), got shape {x.shape}")
    return x


def show_samples(
    images,
    captions=None,
    ncols: int = 8,
    path=None,
    cmap: str = "gray",
    title: str | None = None,
    vmin=0.0,
    vmax=1.0,
    wrap: int = 18,
):
    """A grid of images with their captions underneath; saved to ``path`` when given.

    ``images``: (N, H, W) grey, (N, H, W, C) / (N, C, H, W) colour, or (N, H*W) flat square
    images; an array of any device or a Tensor. ``captions``: N strings (or None), wrapped at
    ``wrap`` characters. Pixel values are shown on the fixed scale [``vmin``, ``vmax``] so that
    dim and bright stay comparable across panels (pass ``vmin=vmax=None`` to autoscale each).
    Returns the Figure.
    """
    x = _host_images(images)
    n = x.shape[0]
    if captions is not None and len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    ncols = max(1, min(int(ncols), n))
    nrows = max(1, -(-n // ncols))
    text_lines = 0
    if captions is not None:
        text_lines = max(max(1, len(textwrap.wrap(str(c), wrap))) for c in captions)
    fig = _new_figure((1.6 * ncols, (1.6 + 0.22 * text_lines) * nrows + (0.4 if title else 0.0)))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(x[i], cmap=None if x.ndim == 4 else cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if captions is not None:
            ax.set_xlabel("\n".join(textwrap.wrap(str(captions[i]), wrap)), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path):
    """Save ``fig`` to ``path`` (creating its folder) when a path is given; return the figure."""
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def show_caption_grid(images, captions, path=None, cmap: str = "gray", title: str | None = None,
                      vmin=0.0, vmax=1.0, wrap: int = 22):
    """One row per caption, one column per sample: ``images`` is (rows, cols, H, W) (or a list of
    per-caption image stacks), ``captions`` the rows' texts, written at the left of each row.

    This is the picture of a conditional generator: within a row the samples should vary (it is
    not a lookup table) while all of them match the caption (it listens to the text).
    """
    rows = [_host_images(r) for r in images]
    if len(rows) != len(captions):
        raise ValueError(f"{len(rows)} rows of images but {len(captions)} captions")
    ncols = max(r.shape[0] for r in rows)
    nrows = len(rows)
    fig = _new_figure((2.2 + 1.2 * ncols, 1.25 * nrows + (0.4 if title else 0.0)))
    for i, (row, caption) in enumerate(zip(rows, captions)):
        for j in range(ncols):
            ax = fig.add_subplot(nrows, ncols, i * ncols + j + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j < row.shape[0]:
                ax.imshow(row[j], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel("\n".join(textwrap.wrap(str(caption), wrap)), fontsize=7, rotation=0,
                              ha="right", va="center", labelpad=4)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_loss_curves(histories, path=None, keys=None, title: str | None = "training loss", logy: bool = False):
    """Loss per epoch for one or several models.

    ``histories``: ``{name: history}`` where a history is a list of per-epoch dicts (what
    :class:`minimm.training.Trainer` records) or a plain list of numbers. ``keys``: which
    entries of the dicts to draw (default: every numeric one except ``epoch`` and ``seconds``).
    One panel per model, so losses of different scales do not flatten each other.
    """
    if not isinstance(histories, dict):
        histories = {"model": histories}
    names = list(histories)
    fig = _new_figure((4.0 * max(1, len(names)), 3.0))
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        hist = list(histories[name])
        if hist and not isinstance(hist[0], dict):
            series = {"loss": [float(v) for v in hist]}
        else:
            wanted = keys or [k for k in (hist[0] if hist else {}) if k not in ("epoch", "seconds")]
            series = {k: [float(h[k]) for h in hist if k in h] for k in wanted}
        for k, values in series.items():
            ax.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30 else None, label=k)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        if logy:
            ax.set_yscale("symlog")
        if len(series) > 1:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _pca_2d(z: np.ndarray) -> np.ndarray:
    """Project rows of ``z`` on their two principal directions (z itself when already 2-D)."""
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    zc = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    return zc @ vt[:2].T


def plot_latent_map(z, labels=None, label_names=None, path=None, title: str | None = "latent map",
                    xlabel: str | None = None, ylabel: str | None = None):
    """Scatter of latent codes ``z`` (N, d), coloured by ``labels``; d > 2 is shown by PCA.

    A good latent space puts samples of a class together: the map shows whether it does.
    """
    z = np.asarray(to_numpy(z.data if isinstance(z, Tensor) else z), dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"latent codes must be (N, d), got shape {z.shape}")
    pca = z.shape[1] > 2
    xy = _pca_2d(z)
    fig = _new_figure((5.0, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
    else:
        labels = np.asarray(to_numpy(labels.data if isinstance(labels, Tensor) else labels))
        classes = np.unique(labels)
        import matplotlib  # optional and heavy (see _new_figure); already loaded by then

        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for k, c in enumerate(classes):
            sel = labels == c
            name = label_names[int(c)] if label_names is not None else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, color=cmap(k % cmap.N), label=name)
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_xlabel(xlabel or ("principal direction 1" if pca else "z₁"))
    ax.set_ylabel(ylabel or ("principal direction 2" if pca else "z₂"))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_similarity(sim, row_labels=None, col_labels=None, path=None, title: str | None = "similarity",
                    xlabel: str | None = None, ylabel: str | None = None, annotate: bool | None = None):
    """A heatmap of a similarity matrix, e.g. cosine similarity of image and text embeddings.

    After contrastive alignment the diagonal (matching pairs) should stand out.
    """
    s = np.asarray(to_numpy(sim.data if isinstance(sim, Tensor) else sim), dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"a similarity matrix is 2-D, got shape {s.shape}")
    n, m = s.shape
    fig = _new_figure((1.6 + 0.45 * m, 1.2 + 0.4 * n))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(s, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(m))
    ax.set_yticks(range(n))
    ax.set_xticklabels(col_labels if col_labels is not None else range(m), rotation=60, ha="right", fontsize=7)
    ax.set_yticklabels(row_labels if row_labels is not None else range(n), fontsize=7)
    if annotate if annotate is not None else max(n, m) <= 12:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{s[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def tutorial_settings(file=None):
    """The two settings every tutorial reads, as ``(quick, figures_folder)``.

    ``MINIMM_QUICK=1`` (set by CI) asks for smaller sizes and fewer epochs with the same checks;
    ``MINIMM_FIGURES`` names the folder for figures (default: ``figures/`` beside the tutorial
    file ``file``, or in the working folder when run as a notebook). The folder is created.
    """
    quick = os.environ.get("MINIMM_QUICK") == "1"
    here = os.path.dirname(os.path.abspath(file)) if file else "."
    figures = os.environ.get("MINIMM_FIGURES", os.path.join(here, "figures"))
    os.makedirs(figures, exist_ok=True)
    return quick, figures
