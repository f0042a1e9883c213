"""Issue #11: the quality table gives the same numbers however it is called (Python or CLI, one
worker or two, a row alone or inside the table, any BLAS thread count around the call), every seed
re-draws the data split and the judges, the MVAE is judged by a judge of binarised digits, and the
"unseen" zero-shot prompts are really unseen."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

import minimm  # noqa: E402
from minimm.app import evaluate as ev  # noqa: E402
from minimm.app import train as tr  # noqa: E402
from minimm.app.cli import main  # noqa: E402
from minimm.app.configs import config  # noqa: E402
from minimm.app.quality import RECIPES, evaluate_all  # noqa: E402
from minimm.data import BagOfWords, load_digits  # noqa: E402
from minimm.data.datasets import DIGIT_CAPTION_TEMPLATES, NUMBER_WORDS  # noqa: E402
from minimm.multimodal.align import DIGIT_PROMPT, UNSEEN_DIGIT_PROMPTS  # noqa: E402
from minimm.multimodal.vae import MVAE  # noqa: E402

ROWS = ["digit_evaluator", "alignment"]  # the two quick rows that take seconds


def _values(entries):
    return [(e["recipe"], e["metric"], e["values"]) for e in entries]


def test_python_cli_workers_and_thread_count_give_the_same_numbers(tmp_path, capsys):
    from threadpoolctl import threadpool_limits

    py = evaluate_all(quick=True, only=ROWS, seeds=[0, 1])
    assert main(["evaluate", "--quick", "--only", ",".join(ROWS), "--seeds", "0,1", "--out", str(tmp_path)]) == 0
    assert "± " in capsys.readouterr().out
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        cli = json.load(f)
    assert _values(cli) == _values(py)
    assert _values(evaluate_all(quick=True, only=ROWS, seeds=[0, 1], workers=2)) == _values(py)
    with threadpool_limits(limits=2, user_api="blas"):  # the library pins its own thread count
        assert _values(evaluate_all(quick=True, only=["alignment"], seeds=[1])) == [
            (r, m, [v[1]]) for r, m, v in _values(py) if r == "alignment"]
    # the seeds differ: another split and initialisation give another number
    assert all(v[0] != v[1] for _, _, v in _values(py))


def test_a_row_gives_the_same_numbers_alone_and_inside_the_table():
    """A recipe's numbers do not depend on what ran before it in the process: the cached judges
    are pure functions of (device, seed, binarize) and every recipe re-seeds. (The captioner's
    0.392 alone vs 0.401 in the table reported in #11 did not reproduce in one process: alone, again,
    and after the cvae_shapes and digit_evaluator rows it gave 0.401 each time; the likely cause,
    the BLAS thread count of a Python call, is now pinned by the library.)"""
    ev._digit_evaluator.cache_clear()
    alone = RECIPES["cgan"][0](quick=True, seed=2)  # trains its judge for seed 2 here
    ev.default_digit_evaluator("cpu", 1)  # more state a previous row could leave behind
    minimm.manual_seed(123)
    in_table = evaluate_all(quick=True, only=["alignment", "cgan"], seed=2)  # the cached judge now
    assert [e["value"] for e in alone] == [e["value"] for e in in_table if e["recipe"] == "cgan"]


def test_every_seed_draws_its_own_split_for_models_and_judges(monkeypatch):
    seen = []
    real = tr.load_digits

    def spy(*args, **kwargs):
        seen.append(kwargs.get("seed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "load_digits", spy)
    tr.train_digit_evaluator(seed=3, epochs=1)
    tr.train_vae(seed=3, epochs=1)
    tr.train_alignment(seed=3, epochs=1)
    assert seen == [3, 3, 3]


def test_the_mvae_is_judged_by_a_judge_of_binarised_digits(monkeypatch):
    """The MVAE trains on and generates binarised digits: its judge must be trained on them too
    (the x/16 judge reads real binarised digits 4-5 points worse)."""
    asked = {}

    class Judge:
        def predict(self, images):
            return np.zeros(len(images), dtype=np.int64)

        def features(self, images):      # the sample metrics read the judge's features too
            flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
            return minimm.tensor(flat[:, :16] + np.arange(len(flat))[:, None] * 1e-3)

    def fake(device, seed=0, binarize=False):
        asked.update(seed=seed, binarize=binarize)
        return Judge()

    monkeypatch.setattr(ev, "default_digit_evaluator", fake)
    minimm.manual_seed(0)
    model = MVAE(**config("mvae_digits")["model"])
    ev.evaluate_mvae(model, seed=1)
    assert asked == {"seed": 1, "binarize": True}


def test_unseen_zero_shot_templates_match_no_training_template():
    """As bags of words over the training vocabulary (what the text encoder sees), no unseen prompt
    equals any training caption of any digit; the seen prompt is training template #0."""
    train, _ = load_digits(with_sound=False)
    bow = BagOfWords(binary=True).fit(list(train.caption))
    assert DIGIT_PROMPT in DIGIT_CAPTION_TEMPLATES
    training = {bow.transform([t.format(word=w)]).tobytes() for t in DIGIT_CAPTION_TEMPLATES for w in NUMBER_WORDS}
    for t in UNSEEN_DIGIT_PROMPTS:
        for w in NUMBER_WORDS:
            vec = bow.transform([t.format(word=w)])
            assert vec.tobytes() not in training, t
            assert vec[0, bow.vocabulary_[w]] == 1  # the class word is still there
