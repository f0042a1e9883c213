"""The demo's report of a trained :class:`~minimm.app.pipeline.MultimodalPipeline`: its held-out
metrics (``minimm demo``'s table) and its figures."""

from __future__ import annotations

import os

import numpy as np

from .. import backend as B
from .. import viz
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..data.datasets import ATTRIBUTES, SHAPES, parse_caption
from ..generative.contrastive import normalize_embeddings
from ..metrics import recall_at_k
from ..multimodal.align import similarity
from ..multimodal.caption import caption_accuracy
from .evaluate import evaluate_cvae_shapes
from .train import train_shapes_evaluator

__all__ = ["DEMO_CAPTIONS", "FIGURE_NAMES", "evaluate_pipeline", "demo_figures", "write_figures", "demo_table"]

# Captions of the demo's caption→image grid: one of each shape, varied sizes, places, brightness.
DEMO_CAPTIONS = (
    "a small dim square at the bottom right",
    "a large bright circle at the top left",
    "a small bright triangle in the middle",
    "a large dim cross at the top right",
    "a big glowing box in the lower left corner",
    "a tiny faint disc at the center",
)


def _np(x) -> np.ndarray:
    return np.asarray(B.to_numpy(x.array if isinstance(x, Tensor) else x))


def evaluate_pipeline(pipe, splits=None, evaluator=None) -> dict:
    """Held-out metrics of every step (the demo's table):

    * ``caption_to_image_coherence`` — generated pictures whose four attributes the independent
      shapes evaluator reads as the caption says; ``evaluator_accuracy`` — the evaluator on the
      real test pictures (the ceiling);
    * ``image_to_caption_accuracy`` — written captions whose four attributes (parsed back with
      :func:`minimm.data.parse_caption`) all match the picture's;
    * ``retrieval_recall@1`` / ``@5`` — picture → caption retrieval in the aligned space among
      200 test pairs, counting a caption of the same attribute combination as a hit;
      ``fused_retrieval_recall@1`` — the same from the *fused* caption + sound to the picture.
    """
    splits = splits if splits is not None else (pipe.splits or pipe.load_data(pipe.quick))
    test = splits.test
    if evaluator is None:
        evaluator = train_shapes_evaluator(device=pipe.device, seed=pipe.seed, quick=pipe.quick)
    out = {}
    m = evaluate_cvae_shapes(pipe.generator, splits, evaluator=evaluator, seed=pipe.seed)
    out["caption_to_image_coherence"] = m["coherence"]
    out["evaluator_accuracy"] = m["evaluator_accuracy"]
    written = pipe.describe(test.image)
    out["image_to_caption_accuracy"] = float(caption_accuracy(written, test.attributes).mean())
    n = min(200, len(test))
    sub = test.subset(np.arange(n))
    combo = sum(sub.attributes[a] * k for a, k in zip(ATTRIBUTES, (1, 4, 8, 40)))
    inputs = pipe.preprocess(sub)
    with no_grad():
        emb = pipe.aligner(inputs)
        sims = _np(similarity(emb["image"], emb["text"]))
        r = recall_at_k(sims, k=1, direction="a_to_b", labels_a=combo, labels_b=combo)
        out["retrieval_recall@1"] = float(r)
        out["retrieval_recall@5"] = float(recall_at_k(sims, k=5, direction="a_to_b", labels_a=combo,
                                                      labels_b=combo))
        if "sound" in emb:
            fused = normalize_embeddings(pipe.fusion({"text": emb["text"], "sound": emb["sound"]}))
            fs = _np(similarity(fused, emb["image"]))
            out["fused_retrieval_recall@1"] = float(recall_at_k(fs, k=1, direction="a_to_b", labels_a=combo,
                                                                 labels_b=combo))
    out["n_test"] = len(test)
    out["example_captions"] = {test.caption[i]: written[i] for i in range(3)}
    return out


FIGURE_NAMES = ("loss_curves", "caption_to_image", "image_to_caption", "latent_map", "alignment_heatmap")

# each loss panel's y axis: what the number is, in which unit
LOSS_UNITS = {
    "align + fuse": "InfoNCE (nats per pair)",
    "caption → image (CVAE)": "−ELBO, reconstruction (nats per image)",
    "image → caption (decoder)": "cross-entropy (nats per token)",
}


def _mismatches(caption: str, attributes: dict, i: int) -> list[str]:
    """The attributes a written caption gets wrong for sample ``i`` (all four when unparseable)."""
    try:
        parsed = parse_caption(caption)
    except ValueError:
        return list(ATTRIBUTES)
    return [a for a in ATTRIBUTES if parsed[a] != ATTRIBUTES[a][int(attributes[a][i])]]


def _caption_grid(pipe, captions, samples: int) -> dict:
    """Images for ``captions`` × ``samples`` latent codes: column 0 is z = 0 (the prior's mean),
    the others one draw z ~ N(0, I) each, the same code for every row — so a row shows what z adds
    to one caption and a column what one z does across captions."""
    g = pipe.generator
    g.eval()
    z = np.random.default_rng(pipe.seed).standard_normal((samples, g.z_dim)).astype(np.float32)
    z[0] = 0.0
    texts = [c for c in captions for _ in range(samples)]
    with no_grad():
        y = g.condition(texts)
        x = g.decode(tensor(np.tile(z, (len(captions), 1)), device=y.device), y).sigmoid()
    images = _np(x).reshape(len(captions), samples, pipe.image_size, pipe.image_size)
    spread = images.std(axis=1).mean(axis=(1, 2))  # per row: how much the samples differ, per pixel
    return {"images": images, "col_labels": ["z = 0 (mean)"] + [f"z draw {j}" for j in range(1, samples)],
            "row_notes": [f"pixel sd\nacross z: {v:.3f}" for v in spread]}


def demo_figures(pipe, captions=DEMO_CAPTIONS, samples: int = 6) -> dict:
    """The demo's figures as matplotlib Figures, by name (see :data:`FIGURE_NAMES`):

    * ``loss_curves`` — each step's training loss per epoch with its held-out curve (dashed) and
      y-axis unit; the CVAE's KL on its own right-hand axis;
    * ``caption_to_image`` — one row per caption, one column per latent code z shared by the rows;
    * ``image_to_caption`` — test pictures with the caption written for them, framed green when all
      four attributes are right and red naming the attributes it got wrong;
    * ``latent_map`` — fused embeddings of test samples (PCA), coloured by the picture's shape;
    * ``alignment_heatmap`` — cosine similarity of test pictures (thumbnails) and whole captions.
    """
    figs = {}
    hist = {name: h for name, h in pipe.history.items()}
    figs["loss_curves"] = viz.plot_loss_curves(
        hist, ylabels=LOSS_UNITS, secondary={"kl": "KL to the prior (nats per image)"},
        title="training (solid) and held-out (dashed) loss per epoch")
    grid = _caption_grid(pipe, list(captions), samples)
    figs["caption_to_image"] = viz.show_caption_grid(
        grid["images"], list(captions), col_labels=grid["col_labels"], row_notes=grid["row_notes"],
        title="caption → image (CVAE): a row is one caption, a column one latent code z shared by every row")
    test = (pipe.splits or pipe.load_data(pipe.quick)).test
    pick = list(range(min(12, len(test))))
    images = test.image[pick]
    written = pipe.describe(images)
    wrong = [_mismatches(w, test.attributes, i) for i, w in zip(pick, written)]
    labels = [f"{'✓ right' if not bad else '✗ wrong: ' + ', '.join(bad)}\n{w}\n(true: {test.caption[i]})"
              for i, w, bad in zip(pick, written, wrong)]
    n_right = sum(not bad for bad in wrong)
    figs["image_to_caption"] = viz.show_samples(
        images, captions=labels, marks=[not bad for bad in wrong], ncols=6, wrap=24,
        title=f"image → caption (greedy decoding): {n_right} of {len(pick)} name all four attributes right")
    n = min(600, len(test))
    sub = test.subset(np.arange(n))
    fused = pipe.embed(image=sub.image, caption=sub.caption, sound=sub.sound if "sound" in sub.modalities else None)
    figs["latent_map"] = viz.plot_latent_map(
        fused, sub.attributes["shape"], SHAPES, legend_title="colour: the picture's shape",
        title="fused embeddings, coloured by shape",
        note=f"each point: one test sample's image + caption + sound fused into one {fused.shape[1]}-d embedding")
    k = min(8, len(test))
    sub = test.subset(np.arange(k))
    with no_grad():
        emb = pipe.aligner(pipe.preprocess(sub))
        sims = _np(similarity(emb["image"], emb["text"]))
    figs["alignment_heatmap"] = viz.plot_similarity(
        sims, col_labels=list(sub.caption), row_images=sub.image, wrap=16, mark_diagonal=True, mark_best=True,
        title="cosine similarity of test images (rows) and captions (columns); "
              "frame: the image's own caption, ★: its most similar caption",
        xlabel="captions", ylabel="images")
    return figs


def write_figures(pipe, out_dir, captions=DEMO_CAPTIONS, samples: int = 6) -> list[str]:
    """The demo's figures (:func:`demo_figures`) saved in ``out_dir``: ``loss_curves.png``,
    ``caption_to_image.png``, ``image_to_caption.png``, ``latent_map.png``,
    ``alignment_heatmap.png``. Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, fig in demo_figures(pipe, captions, samples).items():
        paths.append(os.path.join(out_dir, name + ".png"))
        fig.savefig(paths[-1], dpi=100)
    return paths


def demo_table(m: dict) -> str:
    """The demo's metrics as a small text table (what ``minimm demo`` prints)."""
    rows = [("task", "metric", "value")]
    pct = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    if "caption_to_image_coherence" in m:
        rows.append(("caption → image", "all four attributes right (evaluator)",
                     pct(m["caption_to_image_coherence"])))
    if "evaluator_accuracy" in m:
        rows.append(("", "evaluator on real test images", pct(m["evaluator_accuracy"])))
    if "image_to_caption_accuracy" in m:
        rows.append(("image → caption", "captions whose attributes all match", pct(m["image_to_caption_accuracy"])))
    for k in ("retrieval_recall@1", "retrieval_recall@5"):
        if k in m:
            rows.append(("alignment", f"image → caption {k.split('_')[1]}", pct(m[k])))
    if "fused_retrieval_recall@1" in m:
        rows.append(("fusion", "caption + sound → image recall@1", pct(m["fused_retrieval_recall@1"])))
    if "train_seconds" in m:
        rows.append(("training", "seconds", f"{m['train_seconds']:.1f}"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
    lines.insert(1, "  " + "-" * (sum(w) + 4))
    return "\n".join(lines)
