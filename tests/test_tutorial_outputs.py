"""The docs' tutorial pages show what each tutorial prints and draws (issue #13 item 10).

``docs/tutorials/output/NN_x/`` holds a quick run of ``tutorials/NN_x.py``: ``cells.json`` (per code
cell: its source hash, its printed text, its figures) and the figures as small PNGs, written by
``python docs/_hooks/tutorial_outputs.py``. These tests fail when a tutorial has no stored output,
when it changed since its output was made, when a promised figure is missing, or when a stored
figure is too large to commit; and they check the runner's cell splitting on a small script.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REFRESH = "python docs/_hooks/tutorial_outputs.py"


def _runner():
    spec = importlib.util.spec_from_file_location("tutorial_outputs", ROOT / "docs" / "_hooks" / "tutorial_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _runner()
needs_jupytext = pytest.mark.skipif(importlib.util.find_spec("jupytext") is None,
                                    reason="jupytext not installed: pip install -e '.[test]'")


def promised_figures(stem: str) -> list[str]:
    """The figures tutorials/README.md lists for ``stem`` (as tests/test_tutorials.py reads them)."""
    for line in (ROOT / "tutorials" / "README.md").read_text(encoding="utf-8").splitlines():
        if f"({stem}.py)" in line:
            return re.findall(r"`(\d\d_[A-Za-z0-9_]+\.png)`", line)
    return []


def test_every_tutorial_has_output_made_from_its_current_text():
    missing = [p.name for p in TUTORIALS if not (runner.output_dir(p.stem) / "cells.json").is_file()]
    assert not missing, f"no stored output for {missing}: run `{REFRESH}`"
    stale = [p.name for p in TUTORIALS if not runner.is_current(p)]
    assert not stale, f"{stale} changed since their docs output was made: run `{REFRESH}` (it refreshes only those)"


def test_no_output_of_a_tutorial_that_is_gone():
    stems = {p.stem for p in TUTORIALS}
    extra = [d.name for d in runner.OUTPUT.iterdir() if d.is_dir() and d.name not in stems]
    assert not extra, f"stored output of removed tutorials {extra}: run `{REFRESH}`"


@needs_jupytext
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_output_has_every_cell_and_promised_figure(path):
    folder = runner.output_dir(path.stem)
    record = json.loads((folder / "cells.json").read_text(encoding="utf-8"))
    assert record["mode"] == "MINIMM_QUICK=1"
    cells = runner.code_cells(path)
    if record["source_sha256"] == runner.sha256(path.read_text(encoding="utf-8")):
        assert [c["sha256"] for c in record["cells"]] == [runner.sha256(c) for c in cells]
    assert any(c["output"].strip() for c in record["cells"]), f"{path.name}: no cell printed anything"
    figures = [f for c in record["cells"] for f in c["figures"]]
    for name in promised_figures(path.stem):
        assert name in figures, f"{path.name}: the docs have no {name}, which tutorials/README.md promises"
    assert sorted(p.name for p in folder.iterdir()) == sorted(figures + ["cells.json"])
    for name in figures:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert 1000 < len(data) <= runner.MAX_PNG_BYTES, f"{name}: {len(data)} bytes (kept small to commit)"


@needs_jupytext
def test_runner_gives_each_cell_its_own_output_and_figures(tmp_path):
    script = tmp_path / "tutorials" / "99_small.py"
    script.parent.mkdir()
    script.write_text(
        "# %% [markdown]\n# # A small tutorial\n\n"
        "# %%\nimport os\nprint('first cell')\nprint('two lines')\n\n"
        "# %% [markdown]\n# Some text.\n\n"
        "# %%\nfrom matplotlib.figure import Figure\nfig = Figure(figsize=(2, 2))\n"
        "fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])\n"
        "fig.savefig(os.path.join(os.environ['MINIMM_FIGURES'], '99_line.png'), dpi=60)\n\n"
        "# %%\nx = 1 + 1\n\n"
        "# %%\nfor i in range(3):\n    print('row', i)\n",
        encoding="utf-8")
    out = tmp_path / "output"
    record = runner.run_tutorial(script, root=out)
    cells = record["cells"]
    assert [c["output"] for c in cells] == ["first cell\ntwo lines", "", "", "row 0\nrow 1\nrow 2"]
    assert [c["figures"] for c in cells] == [[], ["99_line.png"], [], []]
    assert (out / "99_small" / "99_line.png").read_bytes().startswith(PNG_MAGIC)
    assert runner.is_current(script, root=out)
    script.write_text(script.read_text(encoding="utf-8") + "\n# %%\nprint('new')\n", encoding="utf-8")
    assert not runner.is_current(script, root=out)


@needs_jupytext
def test_runner_reports_a_failing_tutorial(tmp_path):
    script = tmp_path / "98_broken.py"
    script.write_text("# %%\nprint('before')\n\n# %%\nassert 1 == 2, 'the claim fails'\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="the claim fails"):
        runner.run_tutorial(script, root=tmp_path / "output")
