"""Figures with matplotlib: grids of samples (and, later, loss curves and latent maps).

Every function builds a ``matplotlib.figure.Figure`` directly and renders it with the Agg
canvas, without ``pyplot``: no window opens, no global backend is switched, and it works on a
headless machine or in CI. Pass ``path`` to save a PNG (or any format matplotlib knows from the
suffix); the figure is returned either way so a notebook can show it. matplotlib is optional
(``pip install minimm[demo]``) and imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["show_samples"]


def _new_figure(figsize):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("figures need matplotlib: pip install minimm[demo] (or pip install matplotlib)") from exc
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _host_images(images) -> np.ndarray:
    from .backend import to_numpy

    def host(a):
        from .autograd import Tensor

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
    import textwrap

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
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig
