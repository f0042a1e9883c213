"""The results file and the tables made from it: seeds aggregated to mean ± sd, ``--update`` of a
group of rows, and README.md / docs/results.md generated from docs/assets/results.json."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from minimm.app import tables
from minimm.app.cli import main
from minimm.app.quality import format_table
from minimm.app.results import aggregate, load_results, update_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(name, seed, value, metric="accuracy", target=">= 0.9", **extra):
    return [dict({"model": f"model {name}", "task": "a task", "metric": metric, "value": value, "target": target,
                  "passed": False, "seconds": 2.0 + seed, "quick": True, "recipe": name, "seed": seed}, **extra)]


def test_committed_tables_are_generated_from_the_one_results_file():
    """README.md and docs/results.md show exactly what docs/assets/results.json gives."""
    assert tables.stale_documents(ROOT) == []
    entries = load_results(os.path.join(ROOT, tables.RESULTS_FILE))
    for doc in tables.DOCUMENTS:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            text = f.read()
        assert text.count(tables.START) == 1 and text.count(tables.END) == 1
        assert format_table(entries) in text


def test_tables_rewrite_only_the_marked_region(tmp_path):
    os.makedirs(tmp_path / "docs" / "assets")
    entries = aggregate({("a", 0): _row("a", 0, 0.5), ("a", 1): _row("a", 1, 0.7)}, ["a"], [0, 1])
    (tmp_path / "docs" / "assets" / "results.json").write_text(json.dumps(entries))
    for doc in tables.DOCUMENTS:
        (tmp_path / doc).write_text(f"before\n{tables.START}\nold table\n{tables.END}\nafter\n")
    assert tables.stale_documents(tmp_path) == list(tables.DOCUMENTS)
    assert tables.main(["--root", str(tmp_path), "--check"]) == 1
    assert tables.main(["--root", str(tmp_path)]) == 0
    assert tables.stale_documents(tmp_path) == []
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old table" not in text
    assert "60.0 ± 14.1 %" in text and "Mean ± sd over seeds 0, 1" in text
    (tmp_path / "README.md").write_text("no markers here\n")
    with pytest.raises(ValueError, match="no table region"):
        tables.stale_documents(tmp_path)


def test_aggregate_reports_mean_sd_per_seed_values_and_standard_error():
    per = {("h", s): _row("h", s, v, n=48.0, evaluator_accuracy=1.0, baselines={"copy": b})
           for s, v, b in [(0, 0.75, 0.1), (1, 0.85, 0.3), (2, 0.80, 0.2)]}
    [e] = aggregate(per, ["h"], [0, 1, 2])
    assert e["values"] == [0.75, 0.85, 0.80] and e["seeds"] == [0, 1, 2]
    assert math.isclose(e["value"], 0.8) and math.isclose(e["sd"], float(np.std([0.75, 0.85, 0.8], ddof=1)))
    assert e["n"] == 48 and math.isclose(e["se"], math.sqrt(0.8 * 0.2 / 48))
    assert e["passed"] is False and e["target"] == ">= 0.9"  # judged on the mean
    assert math.isclose(e["baselines"]["copy"], 0.2) and e["evaluator_accuracy"] == 1.0
    assert e["seconds"] == 3.0
    shown = format_table([e])
    assert "80.0 ± 5.0 % (n = 48, s.e. 5.8 %)" in shown
    one = aggregate({("h", 0): _row("h", 0, 0.95)}, ["h"], [0])[0]
    assert one["passed"] and "sd" not in one and one["values"] == [0.95]
    nats = aggregate({("v", s): _row("v", s, x, metric="neg_elbo_nats", target="<= 19.5")
                      for s, x in [(0, 18.0), (1, 18.5)]}, ["v"], [0, 1])[0]
    assert nats["passed"] and "18.25 ± 0.35" in format_table([nats])


def test_aggregate_a_failing_seed_fails_the_row():
    per = {("a", 0): _row("a", 0, 0.95),
           ("a", 1): [{"model": "model a", "task": "a", "metric": "a", "value": None, "target": "", "passed": False,
                       "error": "RuntimeError: boom", "recipe": "a", "seed": 1, "seconds": 1.0, "quick": True}]}
    [e] = aggregate(per, ["a"], [0, 1])
    assert e["value"] is None and not e["passed"] and e["error"] == "seed 1: RuntimeError: boom"


def test_update_replaces_one_group_of_rows_and_keeps_the_others(tmp_path):
    path = str(tmp_path / "results.json")
    first = aggregate({(n, 0): _row(n, 0, 0.5) for n in ("a", "b", "c")}, ["a", "b", "c"], [0])
    update_results(path, first)
    assert [e["recipe"] for e in load_results(path)] == ["a", "b", "c"]
    redo = aggregate({("b", 0): _row("b", 0, 0.9) + _row("b", 0, 0.8, metric="other"), ("video", 0): _row("video", 0, 0.7)},
                     ["b", "video"], [0])
    merged = update_results(path, redo)
    assert merged == load_results(path)
    assert [(e["recipe"], e["value"]) for e in merged] == [("a", 0.5), ("b", 0.9), ("b", 0.8), ("c", 0.5),
                                                           ("video", 0.7)]
    (tmp_path / "bad.json").write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="not a results file"):
        update_results(str(tmp_path / "bad.json"), redo)


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0,x"], "comma-separated integers"),
    (["--seeds", "1,1"], "distinct"),
    (["--seeds", "0,1", "--seed", "3"], "not both"),
    (["--workers", "0"], "at least 1"),
])
def test_evaluate_rejects_bad_seed_options_before_training(argv, message, tmp_path, capsys):
    assert main(["evaluate", "--quick", "--out", str(tmp_path / "o")] + argv) == 1
    assert message in capsys.readouterr().err


def test_evaluate_update_rejects_a_file_that_is_no_results_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["evaluate", "--quick", "--only", "alignment", "--out", str(tmp_path / "o"),
                 "--update", str(bad)]) == 1
    assert "not a results file" in capsys.readouterr().err
