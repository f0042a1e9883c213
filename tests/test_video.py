"""Video: the moving-shapes clips, the caption → clip CVAE, the clip captioner and judge, the rows
with their baselines, and the command line's clip options and errors."""

from __future__ import annotations

import numpy as np
import pytest

import minimm
from minimm.data import BagOfWords, Vocabulary
from minimm.data.datasets.shapes_video import (
    VIDEO_ATTRIBUTES, combination_ids, load_shapes_video, make_shapes_video, parse_video_caption, render_clips,
    video_holdout_mask,
)
from minimm.multimodal.video import VIDEO_HEADS, ClipCaptioner, ClipCVAE, ClipJudge
from minimm.testing import gradcheck_parameters

HOLD = [{"shape": "triangle", "colour": "red", "direction": "up"}]


@pytest.fixture(scope="module")
def small():
    return load_shapes_video(n_train=192, n_test=192, seed=0, holdout_combinations=HOLD)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def test_same_seed_same_clips_other_seed_other_split(small):
    again = load_shapes_video(n_train=192, n_test=192, seed=0, holdout_combinations=HOLD)
    assert np.array_equal(small.train.clip, again.train.clip) and small.train.caption == again.train.caption
    assert np.array_equal(small.test.clip, again.test.clip)
    other = load_shapes_video(n_train=192, n_test=96, seed=1, holdout_combinations=HOLD)
    assert not np.array_equal(small.train.clip, other.train.clip)
    assert small.train.caption != other.train.caption


def test_clip_layout_range_and_captions_name_the_attributes(small):
    train = small.train
    assert train.clip.shape == (192, 8, 3, 16, 16) and train.clip.dtype == np.float32
    assert 0.0 <= train.clip.min() and train.clip.max() <= 1.0
    for i, caption in enumerate(train.caption):
        truth = {a: VIDEO_ATTRIBUTES[a][train.attributes[a][i]] for a in VIDEO_ATTRIBUTES}
        assert parse_video_caption(caption) == truth, caption
    assert len(set(train.caption)) > 150  # templates and synonyms, not one string per combination


def test_holdout_is_absent_from_train_and_present_in_test(small):
    assert not video_holdout_mask(small.train.attributes, HOLD).any()
    held = video_holdout_mask(small.test.attributes, HOLD)
    assert held.sum() == 4  # 4 combinations (size x speed) of 192; 192 test clips cover each once
    assert len(np.unique(combination_ids(small.train.attributes))) == 192 - 4


def test_the_shape_moves_by_its_speed_in_its_direction():
    # clean prototypes: the centroid of frame t moves by (speed per frame) along the direction
    codes = [np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0]),
             np.array([0, 1, 2, 3]), np.array([1, 1, 0, 0])]
    clips = render_clips(*codes, pixel_noise=0.0, jitter=False).sum(axis=2)   # (4, T, H, W)
    rows, cols = np.arange(16)[:, None], np.arange(16)[None, :]
    mass = clips.sum(axis=(2, 3))
    cy, cx = (clips * rows).sum(axis=(2, 3)) / mass, (clips * cols).sum(axis=(2, 3)) / mass
    step = np.stack([np.diff(cy, axis=1).mean(axis=1), np.diff(cx, axis=1).mean(axis=1)], axis=1)
    np.testing.assert_allclose(step, [[0, -0.9], [0, 0.9], [-0.35, 0], [0.35, 0]], atol=0.05)


def test_bad_holdout_and_captions_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown colour 'purple'"):
        load_shapes_video(n_train=10, n_test=10, holdout_combinations=[{"colour": "purple"}])
    with pytest.raises(ValueError, match="names no speed"):
        parse_video_caption("a small red circle moving left")
    with pytest.raises(ValueError, match="nothing is left"):
        make_shapes_video(10, exclude=[{"speed": "slow"}, {"speed": "fast"}])


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------
def _cvae(train, device, **kw):
    bow = BagOfWords(binary=True).fit(train.caption)
    return ClipCVAE(train.clip.shape[1:], len(bow.vocabulary_), vectorizer=bow, **kw).to(device)


def test_clip_cvae_shapes_loss_and_a_straight_latent_path(small, device):
    minimm.manual_seed(0)
    model = _cvae(small.train, device, hidden=16, z_dim=3, state_dim=4)
    batch = model.collate(small.train.get_batch(range(5)))
    loss, logs = model.loss(batch)
    loss.backward()
    assert np.isfinite(loss.item()) and logs["kl"] >= 0
    assert all(p.grad is not None for p in model.parameters())
    clips = model.generate(small.test.caption[:3])
    assert tuple(clips.shape) == (3, 8, 3, 16, 16)
    # the frames differ because the state moves: s_t - s_{t-1} is one velocity, the same for every t
    z = minimm.randn(2, 3, device=device)
    y = minimm.tensor(model.condition_array(small.test.caption[:2]), device=device)
    s = model.states(z, y).detach().numpy()
    np.testing.assert_allclose(np.diff(s, axis=1), np.repeat(np.diff(s, axis=1)[:, :1], 7, axis=1), atol=1e-5)


def test_clip_cvae_loss_gradcheck(small):
    # a tiny clip shape (3 frames of 1 x 2 x 2) keeps the finite differences cheap
    captions = small.train.caption[:2]
    bow = BagOfWords(binary=True).fit(captions)
    minimm.manual_seed(0)
    model = ClipCVAE((3, 1, 2, 2), len(bow.vocabulary_), hidden=3, z_dim=2, state_dim=2, vectorizer=bow).double()
    clips = np.random.default_rng(0).uniform(size=(2, 3, 1, 2, 2))
    batch = model.collate({"clip": minimm.tensor(clips, dtype=minimm.float64), "caption": captions})

    def loss(b):
        minimm.manual_seed(1)  # the same reparameterisation noise in every evaluation
        return model.loss(b)[0]

    assert gradcheck_parameters(model, loss, batch)


def test_clip_captioner_and_judge_shapes_and_gradients(small, device):
    minimm.manual_seed(0)
    cap = ClipCaptioner(Vocabulary.build(small.train.caption), (8, 3, 16, 16), d_model=8, n_heads=2,
                        n_layers=1, max_len=14, hidden=16).to(device)
    loss, _ = cap.loss(cap.collate(small.train.get_batch(range(4))))
    loss.backward()
    assert all(p.grad is not None for p in cap.parameters())
    assert len(cap.generate(small.test.clip[:2], max_len=4)) == 2
    judge = ClipJudge((8, 3, 16, 16), channels=2, hidden=8).to(device)
    out = judge(small.test.clip[:3])
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (3, n) for k, n in VIDEO_HEADS.items()}
    pred = judge.predict(small.test.clip[:3])
    assert set(pred) == set(VIDEO_HEADS) and pred["colour"].shape == (3,)


def test_the_captioner_borrows_the_judges_frozen_eyes(small):
    from minimm.app.train_video import encoder_from_judge, trainable

    minimm.manual_seed(0)
    judge = ClipJudge((8, 3, 16, 16), channels=2, hidden=8)
    cap = ClipCaptioner(Vocabulary.build(small.train.caption), (8, 3, 16, 16), d_model=8, n_heads=2,
                        n_layers=1, max_len=14, channels=2, hidden=8)
    encoder_from_judge(cap, judge)
    for mine, theirs in ((cap.image_encoder.conv, judge.encoder.conv), (cap.image_encoder.mlp[0], judge.encoder.mlp[0])):
        assert np.array_equal(mine.weight.detach().numpy(), theirs.weight.detach().numpy()) and not mine.weight.requires_grad
    frozen = {id(p) for p in cap.parameters() if not p.requires_grad}
    assert len(frozen) == 6 and not frozen & {id(p) for p in trainable(cap)}
    loss, _ = cap.loss(cap.collate(small.train.get_batch(range(4))))
    loss.backward()
    assert cap.image_encoder.conv.weight.grad is None and cap.head.weight.grad is not None
    wide = ClipCaptioner(Vocabulary.build(small.train.caption), (8, 3, 16, 16), d_model=8, n_heads=2,
                         n_layers=1, max_len=14, channels=4, hidden=8)
    with pytest.raises(ValueError, match=r"encoder_from_judge: the captioner's clip encoder layer \(4, 3, 3, 3\)"):
        encoder_from_judge(wide, judge)


def test_models_refuse_clips_of_the_wrong_shape(small):
    judge = ClipJudge((8, 3, 16, 16), channels=2, hidden=8)
    with pytest.raises(ValueError, match=r"ClipJudge: expected clips \(N, 8, 3, 16, 16\).*got shape \(2, 8, 16, 16\)"):
        judge(np.zeros((2, 8, 16, 16), dtype=np.float32))


def test_the_judge_learns_from_real_clips_only_and_reads_motion():
    from minimm.app.evaluate_video import default_clip_judge

    judge = default_clip_judge(quick=True)  # the quick rows below reuse it
    acc = judge.test_attribute_accuracy
    # after three short epochs the easy attributes are read; shape needs the full run (>= 95 % overall)
    assert acc["colour"] > 0.9 and acc["direction"] > 0.8, acc
    assert 0.0 <= judge.test_accuracy <= 1.0


def test_copies_and_smears_are_rejected_real_clips_are_not(small):
    from minimm.app.evaluate_video import _not_copies, clip_baselines, copy_threshold
    from minimm.app.train_video import clip_arrays

    train, test = small
    rows = clip_arrays(train)
    base = clip_baselines(train, test, seed=0)
    threshold = copy_threshold(rows, clip_arrays(test), 0.5)
    new = _not_copies(base["training copy"], rows, threshold)
    assert threshold > 0 and not new.any()  # a training clip replayed is at distance 0
    new_real = _not_copies(test.clip, rows, threshold)
    assert new_real.mean() > 0.95
    still = base["first frame repeated"]
    assert np.array_equal(still[:, 0], still[:, -1]) and np.array_equal(still[:, 0], base["training copy"][:, 0])


def test_quick_rows_report_baselines_that_miss_the_targets():
    from minimm.app.quality import evaluate_all
    from minimm.app.quality_video import T2V_TARGET, V2T_TARGET

    from minimm.app.quality_video import HELDOUT_VIDEO_TARGET

    entries = evaluate_all(quick=True, only=["text_to_video", "video_to_text", "heldout_video"])
    assert [e["recipe"] for e in entries] == ["text_to_video", "video_to_text", "heldout_video"]
    for e, (_, bound) in zip(entries, (T2V_TARGET, V2T_TARGET, HELDOUT_VIDEO_TARGET)):
        assert "error" not in e, e
        assert 0.0 <= e["value"] <= 1.0 and e["train_cpu_seconds"] > 0
        assert len(e["baselines"]) >= 3
        assert all(v < bound for v in e["baselines"].values()), e["baselines"]
    assert entries[0]["baselines"]["training copy"] == 0.0  # every copy is caught
    assert entries[0]["evaluator_accuracy"] > 0.0


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_runs(tmp_path_factory):
    from minimm.app.cli import main

    root = tmp_path_factory.mktemp("video_cli")
    for kind in ("cvae", "caption"):
        assert main(["train", kind, "--dataset", "video", "--quick", "--epochs", "1", "--out", str(root / kind)]) == 0
    return root


def test_generate_a_clip_as_gif_and_strip_then_caption_it(video_runs, tmp_path, capsys):
    from PIL import Image

    from minimm.app.cli import main
    from minimm.app.clips import read_clip

    gif = tmp_path / "clip.gif"
    assert main(["generate", "--checkpoint", str(video_runs / "cvae"), "--modality", "video", "--text",
                 "a small red circle drifting left slowly", "--out", str(gif)]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 8 and im.size == (128, 128)
    assert read_clip(str(gif), (8, 3, 16, 16)).shape == (8, 3, 16, 16)
    strip = tmp_path / "strip.png"
    assert main(["generate", "--checkpoint", str(video_runs / "cvae"), "--modality", "video", "--text",
                 "a big blue box moving up quickly", "--n", "2", "--out", str(strip)]) == 0
    assert strip.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["caption", "--checkpoint", str(video_runs / "caption"), "--clip", str(gif)]) == 0
    assert capsys.readouterr().out.strip()


def _one_line_error(capsys, argv, *fragments):
    from minimm.app.cli import main

    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def test_bad_captions_and_clips_get_one_line_errors(video_runs, tmp_path, capsys):
    gen = ["generate", "--checkpoint", str(video_runs / "cvae"), "--modality", "video", "--out",
           str(tmp_path / "x.gif"), "--text"]
    _one_line_error(capsys, gen + ["  "], "--text is empty")
    _one_line_error(capsys, gen + ["purple banana flying"], "understands none", "purple, banana, flying")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((8, 16, 16), dtype=np.float32))
    _one_line_error(capsys, ["caption", "--checkpoint", str(video_runs / "caption"), "--clip", str(bad)],
                    "expected a clip of shape (8, 3, 16, 16)", "got (8, 16, 16)")
    _one_line_error(capsys, ["caption", "--checkpoint", str(video_runs / "cvae"), "--clip", str(bad)],
                    "train caption --dataset video")
    _one_line_error(capsys, ["generate", "--checkpoint", str(video_runs / "caption"), "--modality", "video",
                             "--text", "a red circle", "--out", str(tmp_path / "y.gif")], "train cvae --dataset video")


def test_demo_video_part_writes_gifs_and_a_strip(tmp_path):
    import argparse

    from minimm.app.cli_common import CLIError
    from minimm.app.cli_video import demo_clips, video_demo_captions

    captions = video_demo_captions(argparse.Namespace(video=False, video_text=["a tiny green wedge sliding right fast"]))
    paths = demo_clips(str(tmp_path), quick=True, seed=0, captions=captions, log=lambda *a: None)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["video_0.gif", "text_to_video.png"]
    assert all((tmp_path / name).stat().st_size > 500 for name in ("video_0.gif", "text_to_video.png"))
    assert len(video_demo_captions(argparse.Namespace(video=True, video_text=None))) == 4
    assert video_demo_captions(argparse.Namespace(video=False, video_text=None)) == []
    with pytest.raises(CLIError, match="names no shape, colour"):
        video_demo_captions(argparse.Namespace(video=True, video_text=["hello world"]))
