"""The demo's report of a trained :class:`~minimm.app.pipeline.MultimodalPipeline`: its held-out
metrics (``minimm demo``'s table) and its figures."""

from __future__ import annotations

import os

import numpy as np

from .. import backend as B
from .. import viz
from ..autograd import Tensor, no_grad
from ..data.datasets import ATTRIBUTES, SHAPES
from ..generative.contrastive import normalize_embeddings
from ..metrics import recall_at_k
from ..multimodal.align import similarity
from ..multimodal.caption import caption_accuracy
from .evaluate import evaluate_cvae_shapes
from .train import train_shapes_evaluator

__all__ = ["DEMO_CAPTIONS", "evaluate_pipeline", "write_figures", "demo_table"]

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
    return np.asarray(B.to_numpy(x.data if isinstance(x, Tensor) else x))


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


def write_figures(pipe, out_dir, captions=DEMO_CAPTIONS, samples: int = 6) -> list[str]:
    """The demo's figures in ``out_dir``: ``loss_curves.png``, ``caption_to_image.png``,
    ``image_to_caption.png``, ``latent_map.png``, ``alignment_heatmap.png``. Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name + ".png") for name in
             ("loss_curves", "caption_to_image", "image_to_caption", "latent_map", "alignment_heatmap")}
    viz.plot_loss_curves(pipe.history, path=paths["loss_curves"], keys=None, title="training loss per epoch")
    B.manual_seed(pipe.seed)
    viz.show_caption_grid(pipe.generate_image(list(captions), n=samples), list(captions),
                          path=paths["caption_to_image"], title="caption → image (CVAE samples)")
    test = (pipe.splits or pipe.load_data(pipe.quick)).test
    # one test picture of several different combinations
    pick = list(range(min(12, len(test))))
    images = test.image[pick]
    written = pipe.describe(images)
    viz.show_samples(images, captions=[f"{w}\n(true: {test.caption[i]})" for i, w in zip(pick, written)],
                     ncols=6, path=paths["image_to_caption"], title="image → caption (greedy decoding)",
                     wrap=24)
    n = min(600, len(test))
    sub = test.subset(np.arange(n))
    fused = pipe.embed(image=sub.image, caption=sub.caption, sound=sub.sound if "sound" in sub.modalities else None)
    viz.plot_latent_map(fused, sub.attributes["shape"], SHAPES, path=paths["latent_map"],
                        title="fused embeddings (image + caption + sound)")
    k = min(8, len(test))
    sub = test.subset(np.arange(k))
    with no_grad():
        emb = pipe.aligner(pipe.preprocess(sub))
        sims = _np(similarity(emb["image"], emb["text"]))
    viz.plot_similarity(sims, row_labels=[f"image {i}" for i in range(k)],
                        col_labels=[c if len(c) < 40 else c[:37] + "..." for c in sub.caption],
                        path=paths["alignment_heatmap"], title="cosine similarity: images × captions",
                        xlabel="captions", ylabel="images")
    return list(paths.values())


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
