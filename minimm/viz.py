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
        return to_numpy(a.array if isinstance(a, Tensor) else a)

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
    marks=None,
):
    """A grid of images with their captions underneath; saved to ``path`` when given.

    ``images``: (N, H, W) grey, (N, H, W, C) / (N, C, H, W) colour, or (N, H*W) flat square
    images; an array of any device or a Tensor. ``captions``: N strings (or None), wrapped at
    ``wrap`` characters. Pixel values are shown on the fixed scale [``vmin``, ``vmax``] so that
    dim and bright stay comparable across panels (pass ``vmin=vmax=None`` to autoscale each).
    ``marks``: N booleans (or None) — a right (True, green frame and caption) or wrong (False, red)
    verdict per image, e.g. whether a written caption matches the picture. Returns the Figure.
    """
    x = _host_images(images)
    n = x.shape[0]
    if captions is not None and len(captions) != n:
        raise ValueError(f"{n} images but {len(captions)} captions")
    if marks is not None and len(marks) != n:
        raise ValueError(f"{n} images but {len(marks)} marks")
    ncols = max(1, min(int(ncols), n))
    nrows = max(1, -(-n // ncols))
    text_lines = 0
    if captions is not None:
        captions = [_wrap_lines(c, wrap) for c in captions]
        text_lines = max(c.count("\n") + 1 for c in captions)
    fig = _new_figure((1.6 * ncols, (1.6 + 0.22 * text_lines) * nrows + (0.4 if title else 0.0)))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(x[i], cmap=None if x.ndim == 4 else cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        colour = None if marks is None or marks[i] is None else (_RIGHT if marks[i] else _WRONG)
        if captions is not None:
            ax.set_xlabel(captions[i], fontsize=7, **({} if colour is None else {"color": colour}))
        if colour is not None:
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _wrap_lines(text, width: int) -> str:
    """``text`` wrapped at ``width`` characters, its own line breaks kept."""
    return "\n".join(line for part in str(text).split("\n") for line in (textwrap.wrap(part, width) or [""]))


_RIGHT, _WRONG = "#1a7f37", "#c62828"  # the colours of a right and a wrong verdict


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
                      vmin=0.0, vmax=1.0, wrap: int = 22, col_labels=None, row_notes=None):
    """One row per caption, one column per sample: ``images`` is (rows, cols, H, W) (or a list of
    per-caption image stacks), ``captions`` the rows' texts, written at the left of each row.
    ``col_labels``: a title per column (e.g. which latent code drew it); ``row_notes``: a short
    text at the right of each row (e.g. how much its samples differ).

    This is the picture of a conditional generator: within a row the samples should vary (it is
    not a lookup table) while all of them match the caption (it listens to the text).
    """
    rows = [_host_images(r) for r in images]
    if len(rows) != len(captions):
        raise ValueError(f"{len(rows)} rows of images but {len(captions)} captions")
    ncols = max(r.shape[0] for r in rows)
    nrows = len(rows)
    if row_notes is not None and len(row_notes) != nrows:
        raise ValueError(f"{nrows} rows but {len(row_notes)} row notes")
    if col_labels is not None and len(col_labels) != ncols:
        raise ValueError(f"{ncols} columns but {len(col_labels)} column labels")
    fig = _new_figure((2.2 + 1.2 * ncols + (1.2 if row_notes is not None else 0.0),
                       1.25 * nrows + (0.4 if title else 0.0) + (0.3 if col_labels is not None else 0.0)))
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
            if i == 0 and col_labels is not None:
                ax.set_title(str(col_labels[j]), fontsize=7)
            if j == ncols - 1 and row_notes is not None:
                ax.text(1.08, 0.5, str(row_notes[i]), transform=ax.transAxes, fontsize=7, va="center", ha="left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _plot_series(ax, series: dict, secondary: dict):
    """Draw each series of one panel (``val_<k>`` dashed beside ``<k>``; keys in ``secondary`` on a
    right-hand axis); returns that axis (or None) and the lines, for the legend."""
    right, lines = None, []
    for k, values in series.items():
        base = k[4:] if k.startswith("val_") else k
        if k.startswith("val_") and base in series:
            continue  # drawn beside its training curve below
        target = ax
        if base in secondary:
            right = right if right is not None else ax.twinx()
            target = right
        marker = "." if len(values) < 30 else None
        (line,) = target.plot(range(1, len(values) + 1), values, marker=marker,
                              label=f"{k} (training)" if f"val_{k}" in series else k,
                              color=None if target is ax else "tab:red")
        lines.append(line)
        if f"val_{k}" in series:
            val = series[f"val_{k}"]
            lines += target.plot(range(1, len(val) + 1), val, linestyle="--", marker=marker, color=line.get_color(),
                                 label=f"{k} (held-out)")
    return right, lines


def plot_loss_curves(histories, path=None, keys=None, title: str | None = "training loss", logy: bool = False,
                     ylabels=None, secondary=None):
    """Loss per epoch for one or several models.

    ``histories``: ``{name: history}`` where a history is a list of per-epoch dicts (what
    :class:`minimm.training.Trainer` records) or a plain list of numbers. ``keys``: which
    entries of the dicts to draw (default: every numeric one except ``epoch`` and ``seconds``).
    One panel per model, so losses of different scales do not flatten each other. A held-out
    entry ``val_<key>`` (the Trainer's ``validate``) is drawn dashed in ``<key>``'s colour.
    ``ylabels``: ``{name: label}`` for each panel's y axis (with its unit, e.g. "nats per image");
    ``secondary``: ``{key: label}`` of entries drawn on their own right-hand axis (e.g. a KL term
    much smaller than the loss it belongs to).
    """
    if not isinstance(histories, dict):
        histories = {"model": histories}
    ylabels, secondary = dict(ylabels or {}), dict(secondary or {})
    names = list(histories)
    fig = _new_figure((4.6 * max(1, len(names)), 3.6))
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        hist = list(histories[name])
        if hist and not isinstance(hist[0], dict):
            series = {"loss": [float(v) for v in hist]}
        else:
            wanted = keys or [k for k in (hist[0] if hist else {}) if k not in ("epoch", "seconds", "skipped")]
            series = {k: [float(h[k]) for h in hist if k in h] for k in wanted}
        right, lines = _plot_series(ax, series, secondary)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(ylabels.get(name, "loss"), fontsize=8)
        if right is not None:
            right.set_ylabel(" / ".join(label for key, label in secondary.items() if key in series
                                        or f"val_{key}" in series), color="tab:red", fontsize=8)
            right.tick_params(axis="y", colors="tab:red")
        if logy:
            ax.set_yscale("symlog")
        if len(lines) > 1:
            ax.legend(handles=lines, fontsize=7)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _pca_2d(z: np.ndarray):
    """Project rows of ``z`` on their two principal directions (z itself when already 2-D);
    returns the projection and the share of the variance each direction holds (None for 2-D z)."""
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1]))), None
    zc = z - z.mean(axis=0)
    _, sv, vt = np.linalg.svd(zc, full_matrices=False)
    var = sv**2
    return zc @ vt[:2].T, var[:2] / max(var.sum(), 1e-300)


def plot_latent_map(z, labels=None, label_names=None, path=None, title: str | None = "latent map",
                    xlabel: str | None = None, ylabel: str | None = None, legend_title: str | None = None,
                    note: str | None = None):
    """Scatter of latent codes ``z`` (N, d), coloured by ``labels``; d > 2 is shown by PCA (the
    axes say which share of the variance each principal direction holds).

    A good latent space puts samples of a class together: the map shows whether it does.
    ``legend_title`` says what the colours are (e.g. "colour: the picture's shape"); ``note`` is
    a line of text under the plot (e.g. what each point is).
    """
    z = np.asarray(to_numpy(z.array if isinstance(z, Tensor) else z), dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"latent codes must be (N, d), got shape {z.shape}")
    pca = z.shape[1] > 2
    xy, share = _pca_2d(z)
    fig = _new_figure((5.4, 4.6 + (0.3 if note else 0.0)))
    ax = fig.add_subplot(1, 1, 1)
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.7)
    else:
        labels = np.asarray(to_numpy(labels.array if isinstance(labels, Tensor) else labels))
        classes = np.unique(labels)
        import matplotlib  # optional and heavy (see _new_figure); already loaded by then

        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for k, c in enumerate(classes):
            sel = labels == c
            name = label_names[int(c)] if label_names is not None else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, color=cmap(k % cmap.N), label=name)
        ax.legend(fontsize=7, markerscale=2, loc="best", title=legend_title, title_fontsize=7)
    pc = [f"principal direction {k + 1} ({100 * share[k]:.0f} % of the variance)" for k in range(2)] if pca else None
    ax.set_xlabel(xlabel or (pc[0] if pca else "z₁"))
    ax.set_ylabel(ylabel or (pc[1] if pca else "z₂"))
    if title:
        ax.set_title(title, fontsize=10)
    if note:
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 1, 1))
    return _save(fig, path)


def _with_thumbnails(fig, thumbs: np.ndarray, heat_width: float, row_labels=None):
    """A heatmap axes on the right and one thumbnail axes per row at its left; returns the heatmap's."""
    n = thumbs.shape[0]
    grid = fig.add_gridspec(n, 2, width_ratios=[0.8, heat_width], wspace=0.02, hspace=0.08)
    ax = fig.add_subplot(grid[:, 1])
    for i in range(n):
        tax = fig.add_subplot(grid[i, 0])
        tax.imshow(thumbs[i], cmap=None if thumbs.ndim == 4 else "gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        tax.set_xticks([])
        tax.set_yticks([])
        if row_labels is not None:
            tax.set_ylabel(str(row_labels[i]), fontsize=6, rotation=0, ha="right", va="center")
    return ax


def _mark_cells(ax, s: np.ndarray, diagonal: bool, best: bool) -> None:
    """A white frame on each cell (i, i); a star in the corner of each row's largest cell."""
    if diagonal:
        from matplotlib.patches import Rectangle

        for i in range(min(s.shape)):
            ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2))
    if best:  # in the cell's corner, clear of its number
        ax.scatter(s.argmax(axis=1) + 0.32, np.arange(s.shape[0]) - 0.22, marker="*", s=50, color="#ff5252", zorder=3)


def plot_similarity(sim, row_labels=None, col_labels=None, path=None, title: str | None = "similarity",
                    xlabel: str | None = None, ylabel: str | None = None, annotate: bool | None = None,
                    row_images=None, wrap: int | None = None, mark_diagonal: bool = False, mark_best: bool = False):
    """A heatmap of a similarity matrix, e.g. cosine similarity of image and text embeddings.

    After contrastive alignment the diagonal (matching pairs) should stand out.
    ``row_images``: one thumbnail per row, drawn at the left of its row (the images themselves,
    not their names); ``wrap``: column labels wrapped at this many characters and written
    horizontally, so that whole captions fit; ``mark_diagonal``: a white frame around each row's
    true partner (cell ``(i, i)``); ``mark_best``: a star on each row's most similar column.
    """
    s = np.asarray(to_numpy(sim.array if isinstance(sim, Tensor) else sim), dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"a similarity matrix is 2-D, got shape {s.shape}")
    n, m = s.shape
    thumbs = None if row_images is None else _host_images(row_images)
    if thumbs is not None and thumbs.shape[0] != n:
        raise ValueError(f"{n} rows but {thumbs.shape[0]} row images")
    label_lines = 1
    if wrap and col_labels is not None:
        col_labels = ["\n".join(textwrap.wrap(str(c), wrap)) for c in col_labels]
        label_lines = max(c.count("\n") + 1 for c in col_labels)
    cell_w = 0.08 * wrap if wrap else 0.45
    fig = _new_figure((1.6 + cell_w * m + (0.8 if thumbs is not None else 0.0),
                       1.2 + 0.5 * n + (0.13 * label_lines if wrap else 0.0)))
    ax = fig.add_subplot(1, 1, 1) if thumbs is None else _with_thumbnails(fig, thumbs, cell_w * m, row_labels)
    im = ax.imshow(s, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(m))
    ax.set_yticks(range(n))
    labels = col_labels if col_labels is not None else range(m)
    if wrap:
        ax.set_xticklabels(labels, fontsize=6)
    else:
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    if thumbs is None:
        ax.set_yticklabels(row_labels if row_labels is not None else range(n), fontsize=7)
    else:
        ax.set_yticklabels([])
    if annotate if annotate is not None else max(n, m) <= 12:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{s[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    _mark_cells(ax, s, mark_diagonal, mark_best)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel and thumbs is None:
        ax.set_ylabel(ylabel)
    elif ylabel:  # left of the thumbnails
        fig.text(0.005, 0.5, ylabel, rotation=90, va="center", ha="left")
    if title:
        fig.suptitle(title, fontsize=10)
    if thumbs is None:
        fig.tight_layout()
    return _save(fig, path)


def tutorial_settings(file=None):
    """The two settings every tutorial reads, as ``(quick, figures_folder)``.

    ``MINIMM_QUICK=1`` (set by CI) asks for smaller sizes and fewer epochs with the same checks;
    ``MINIMM_FIGURES`` names the folder for figures (default: ``figures/`` beside the tutorial
    file ``file``, or in the working folder when run as a notebook). The folder is created.
    It prints one line (the mode and the folder) and pins the BLAS thread count
    (:func:`minimm.threads.pin_threads`, 1 by default) for the rest of the run: a tutorial's own
    training loops then run as fast as the CLI's Trainer.
    """
    from .threads import pin_threads

    pin_threads()
    quick = os.environ.get("MINIMM_QUICK") == "1"
    here = os.path.dirname(os.path.abspath(file)) if file else "."
    figures = os.environ.get("MINIMM_FIGURES", os.path.join(here, "figures"))
    os.makedirs(figures, exist_ok=True)
    # a first line at once: the learner sees the run has started, in which mode, and where figures go
    mode = "quick mode (MINIMM_QUICK=1)" if quick else "full mode (MINIMM_QUICK=1 for a quick run)"
    print(f"{mode}; figures go to {os.path.relpath(figures)}", flush=True)
    return quick, figures
