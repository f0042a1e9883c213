"""``minimm evaluate`` never loses measurements: each finished (recipe, seed) pair is journalled at
once, an interrupted run continues with ``--resume`` (reusing what finished, with the same
numbers), and a folder holding an evaluation is replaced only with ``--overwrite``."""

from __future__ import annotations

import json

import pytest

import minimm.app.quality as quality
from minimm.app.cli import main
from minimm.app.results import JOURNAL, read_journal

ROWS = ["digit_evaluator", "alignment"]


def _values(entries):
    return [(e["recipe"], e["metric"], e["values"]) for e in entries]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    assert main(["evaluate", "--quick", "--only", ",".join(ROWS), "--seeds", "0,1", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_every_finished_pair_is_journalled(first_run):
    out, entries = first_run
    lines = [json.loads(x) for x in (out / JOURNAL).read_text().splitlines()]
    assert sorted((r["recipe"], r["seed"]) for r in lines) == sorted((n, s) for n in ROWS for s in (0, 1))
    assert all(r["quick"] is True and r["device"] == "cpu" for r in lines)
    done = read_journal(out / JOURNAL, quick=True)
    assert done[("alignment", 1)][0]["value"] == next(e for e in entries if e["recipe"] == "alignment")["values"][1]
    assert read_journal(out / JOURNAL, quick=False) == {}  # another setting's pairs are never reused


def test_a_second_run_into_the_same_folder_is_refused(first_run, capsys):
    out, entries = first_run
    before = (out / "results.json").read_bytes()
    assert main(["evaluate", "--quick", "--only", "alignment", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already holds an evaluation" in err and "--resume" in err and "--overwrite" in err
    assert (out / "results.json").read_bytes() == before  # nothing was touched


def test_resume_reuses_the_finished_pairs_and_gives_the_same_numbers(first_run, tmp_path, monkeypatch, capsys):
    out, entries = first_run
    # an interrupted run: two pairs finished, the results were never written, the last line is torn
    lines = (out / JOURNAL).read_text().splitlines()
    keep = [x for x in lines if json.loads(x)["recipe"] == "digit_evaluator"]
    (tmp_path / JOURNAL).write_text("\n".join(keep) + '\n{"recipe": "alignm')
    ran = []
    fn, name = quality.RECIPES["digit_evaluator"]
    monkeypatch.setitem(quality.RECIPES, "digit_evaluator",
                        (lambda **kw: ran.append(kw["seed"]) or fn(**kw), name))
    argv = ["evaluate", "--quick", "--only", ",".join(ROWS), "--seeds", "0,1", "--out", str(tmp_path),
            "--workers", "1"]  # in this process, so that `ran` sees every call
    assert main(argv + ["--resume"]) == 0
    assert "2 finished (recipe, seed) pairs are reused" in capsys.readouterr().out
    assert ran == []  # the journalled pairs were not trained again
    assert _values(json.loads((tmp_path / "results.json").read_text())) == _values(entries)


def test_a_failed_pair_is_run_again_on_resume(tmp_path, monkeypatch):
    def broken(**kw):
        raise RuntimeError("out of memory")

    monkeypatch.setitem(quality.RECIPES, "broken", (broken, "a broken model"))
    assert main(["evaluate", "--quick", "--only", "alignment,broken", "--out", str(tmp_path)]) == 1
    assert set(read_journal(tmp_path / JOURNAL, quick=True)) == {("alignment", 0)}
    fn, name = quality.RECIPES["alignment"]
    monkeypatch.setitem(quality.RECIPES, "broken", (fn, "fixed now"))
    assert main(["evaluate", "--quick", "--only", "alignment,broken", "--out", str(tmp_path), "--resume"]) == 0


def test_resume_and_overwrite_errors(tmp_path, capsys):
    assert main(["evaluate", "--quick", "--only", "alignment", "--out", str(tmp_path), "--resume"]) == 1
    assert "holds no interrupted evaluation" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: not allowed together
        main(["evaluate", "--only", "alignment", "--out", str(tmp_path), "--resume", "--overwrite"])
    (tmp_path / "results.json").write_text("[]")
    assert main(["evaluate", "--quick", "--only", "alignment", "--out", str(tmp_path), "--overwrite"]) == 0
    assert not any("alignm" not in x for x in (tmp_path / JOURNAL).read_text().splitlines())
    assert json.loads((tmp_path / "results.json").read_text())[0]["recipe"] == "alignment"


def test_recipes_sharing_a_cached_model_run_in_one_process_per_seed():
    from minimm.app.results import SHARED, _bundle

    names = ["vae", *SHARED[0], "cgan"]
    tasks = [(n, True, "cpu", s, False) for s in (0, 1) for n in reversed(names)]
    bundles = _bundle(tasks)
    assert sorted(len(b) for b in bundles) == [1, 1, 1, 1, 3, 3]
    for b in bundles:
        assert len({t[3] for t in b}) == 1  # one seed per bundle
        if len(b) == 3:
            assert tuple(t[0] for t in b) == SHARED[0]  # the group's order: the model is trained first


def test_workers_default_to_the_usable_cores(tmp_path, monkeypatch):
    import minimm.app.cli as cli

    seen = {}
    monkeypatch.setattr(cli, "_usable_cores", lambda: 3)
    monkeypatch.setattr(cli, "evaluate_all", lambda **kw: seen.update(kw) or [])
    assert main(["evaluate", "--quick", "--out", str(tmp_path / "a")]) == 0
    assert seen["workers"] == 3
    assert main(["evaluate", "--quick", "--out", str(tmp_path / "b"), "--workers", "1"]) == 0
    assert seen["workers"] == 1
    assert cli._usable_cores() >= 1


def test_resume_counts_only_the_pairs_this_run_selects(first_run, tmp_path, capsys):
    out, _ = first_run
    (tmp_path / JOURNAL).write_text((out / JOURNAL).read_text())  # four pairs: two recipes, two seeds
    assert main(["evaluate", "--quick", "--only", "alignment", "--seeds", "0", "--out", str(tmp_path),
                 "--resume"]) == 0
    assert "1 finished (recipe, seed) pairs are reused" in capsys.readouterr().out
