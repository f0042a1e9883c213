"""MultimodalPipeline: quick fit, inference shapes and types, save/load round trip, strict device."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.data import load_shapes
from minimm.app.pipeline import MultimodalPipeline

EPOCHS = {"align": 2, "generator": 3, "captioner": 3}


def _small_splits(seed=0):
    return load_shapes(n_train=300, n_test=60, seed=seed)


@pytest.fixture(scope="module")
def fitted():
    pipe = MultimodalPipeline(seed=0)
    return pipe.fit(_small_splits(), epochs=EPOCHS, progress=False)


def test_fit_records_every_step(fitted):
    assert fitted.vectorizer is not None and len(fitted.vectorizer.vocabulary_) > 20
    assert set(fitted.aligner.modalities) == {"image", "text", "sound"}
    for name, hist in fitted.history.items():
        assert len(hist) == EPOCHS[{"align + fuse": "align", "caption → image (CVAE)": "generator",
                                    "image → caption (decoder)": "captioner"}[name]]
        assert all(np.isfinite(h["loss"]) for h in hist)


def test_generate_image_shapes_and_types(fitted):
    x = fitted.generate_image("a small dim square at the bottom right", n=3)
    assert isinstance(x, np.ndarray) and x.shape == (3, 16, 16) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert not np.allclose(x[0], x[1])  # samples differ: z is random
    grid = fitted.generate_image(["a large bright circle at the top left", "a tiny faint cross in the middle"], n=2)
    assert grid.shape == (2, 2, 16, 16)


def test_describe_shapes_and_types(fitted):
    images = fitted.splits.test.image[:4]
    one = fitted.describe(images[0])
    assert isinstance(one, str) and len(one.split()) >= 2
    many = fitted.describe(images)
    assert isinstance(many, list) and len(many) == 4 and all(isinstance(c, str) for c in many)
    assert many[0] == one  # greedy decoding is deterministic


def test_embed_handles_missing_modalities(fitted):
    test = fitted.splits.test
    full = fitted.embed(image=test.image[:5], caption=test.caption[:5], sound=test.sound[:5])
    text_only = fitted.embed(caption=test.caption[:5])
    assert full.shape == text_only.shape == (5, 32)
    norms = np.linalg.norm(full.numpy(), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        fitted.embed()


def test_evaluate_reports_every_metric(fitted):
    from minimm.app import train_shapes_evaluator

    ev = train_shapes_evaluator(splits=_small_splits(1), epochs=2)
    m = fitted.evaluate(evaluator=ev)
    for k in ("caption_to_image_coherence", "evaluator_accuracy", "image_to_caption_accuracy",
              "retrieval_recall@1", "retrieval_recall@5", "fused_retrieval_recall@1"):
        assert 0.0 <= m[k] <= 1.0, k
    assert m["retrieval_recall@5"] >= m["retrieval_recall@1"]


def test_save_load_round_trip_gives_identical_outputs(fitted, tmp_path):
    fitted.save(tmp_path / "p")
    assert MultimodalPipeline.is_saved(tmp_path / "p")
    loaded = MultimodalPipeline.load(tmp_path / "p")
    text = "a big glowing box in the lower left corner"
    minimm.manual_seed(5)
    a = fitted.generate_image(text, n=4)
    minimm.manual_seed(5)
    b = loaded.generate_image(text, n=4)
    assert np.array_equal(a, b)
    images = fitted.splits.test.image[:6]
    assert fitted.describe(images) == loaded.describe(images)
    test = fitted.splits.test
    e1 = fitted.embed(image=test.image[:4], caption=test.caption[:4], sound=test.sound[:4]).numpy()
    e2 = loaded.embed(image=test.image[:4], caption=test.caption[:4], sound=test.sound[:4]).numpy()
    assert np.array_equal(e1, e2)
    # the folder holds JSON and one .npz: nothing pickled
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["pipeline.json", "weights.npz"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved pipeline"):
        MultimodalPipeline.load(tmp_path)
    with pytest.raises(RuntimeError, match="call fit"):
        MultimodalPipeline().generate_image("a circle")


def test_runs_unchanged_on_every_device(device):
    """GPU safety: the same calls on the strict stand-in (no silent NumPy conversion allowed)."""
    pipe = MultimodalPipeline(device=device, seed=1)
    pipe.fit(load_shapes(n_train=128, n_test=16, seed=2), epochs=1, progress=False)
    assert pipe.generator.encoder[0].weight.device == minimm.device(device)
    x = pipe.generate_image("a small bright triangle in the middle", n=2)
    assert isinstance(x, np.ndarray) and x.shape == (2, 16, 16)
    captions = pipe.describe(pipe.splits.test.image[:2])
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    e = pipe.embed(caption=["a large dim cross at the top right"])
    assert e.device == minimm.device(device)
