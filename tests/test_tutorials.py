"""Every tutorial runs, in quick mode, as the learner would run it: ``python tutorials/NN_x.py``.

A failing ``assert`` inside a tutorial (the numeric proof of its claim) makes the script exit with
a non-zero code and fails this test. Each tutorial must also write the figures that
``tutorials/README.md`` promises for it, as non-empty PNG files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def promised_figures(stem: str) -> list[str]:
    """The ``NN_*.png`` names that tutorials/README.md lists on the line linking to ``stem``.py."""
    readme = (ROOT / "tutorials" / "README.md").read_text(encoding="utf-8")
    for line in readme.splitlines():
        if f"({stem}.py)" in line:
            return re.findall(r"`(\d\d_[A-Za-z0-9_]+\.png)`", line)
    return []


def test_there_are_tutorials_and_each_is_listed():
    assert len(TUTORIALS) >= 5
    for path in TUTORIALS:
        assert promised_figures(path.stem), f"tutorials/README.md does not list {path.name} with its figures"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_and_draws(path, tmp_path):
    figures = tmp_path / "figures"
    env = dict(os.environ, MINIMM_QUICK="1", MINIMM_FIGURES=str(figures), MPLBACKEND="Agg",
               PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, f"{path.name} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    pngs = sorted(figures.glob("*.png"))
    assert pngs, f"{path.name} wrote no figure to $MINIMM_FIGURES"
    for png in pngs:
        data = png.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), f"{png.name} is empty or not a PNG"
    for name in promised_figures(path.stem):
        assert (figures / name).is_file(), f"{path.name} did not write {name}, which tutorials/README.md promises"
