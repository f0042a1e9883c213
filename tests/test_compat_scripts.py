"""The compatibility suite: short PyTorch teaching scripts (``tests/compat_scripts/``), written
``import torch`` style, run unchanged on minimm through ``python -m minimm.compat``.

Each script asserts what it teaches (a loss below a bound, a closed form, a resumed run identical)
and prints one ``COMPAT_RESULT`` line. When PyTorch is installed (``pip install 'minimm[compat]'``)
each script also runs on PyTorch and the two results are compared: up to rounding where the script
fixes its weights and data, within the stated tolerance where the weights are random (the two
libraries draw different random numbers). Without PyTorch that half is skipped, saying so.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_DIR = ROOT / "tests" / "compat_scripts"
SCRIPTS = sorted(SCRIPT_DIR.glob("[0-9][0-9]_*.py"))
HAVE_TORCH = importlib.util.find_spec("torch") is not None
MARKER = "COMPAT_RESULT "


@functools.lru_cache(maxsize=None)
def run_script(name: str, library: str) -> dict:
    """Run one script under ``library`` ('minimm' or 'torch') and return its reported result."""
    script = SCRIPT_DIR / name
    cmd = [sys.executable, "-m", "minimm.compat", str(script)] if library == "minimm" else [sys.executable, str(script)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, cwd=SCRIPT_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed under {library}:\n{proc.stdout}\n{proc.stderr}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    assert len(lines) == 1, f"{name} under {library} printed {len(lines)} result lines:\n{proc.stdout}"
    return json.loads(lines[0][len(MARKER):])


def compare(mine: dict, theirs: dict) -> list[str]:
    """The disagreements between a minimm result and a PyTorch result of one script."""
    problems = []
    if set(mine["values"]) != set(theirs["values"]):
        return [f"different values reported: {sorted(mine['values'])} vs {sorted(theirs['values'])}"]
    for key in mine["exact"]:
        a, b = mine["values"][key], theirs["values"][key]
        if not math.isclose(a, b, rel_tol=mine["rtol"], abs_tol=mine["atol"]):
            problems.append(f"{key}: minimm {a!r} vs PyTorch {b!r} (must agree up to rounding, rtol={mine['rtol']})")
    for key, tol in mine["tol"].items():
        a, b = mine["values"][key], theirs["values"][key]
        if not abs(a - b) <= tol:
            problems.append(f"{key}: minimm {a!r} vs PyTorch {b!r} (allowed difference {tol})")
    return problems


def test_the_suite_has_a_dozen_scripts():
    assert len(SCRIPTS) >= 12, [s.name for s in SCRIPTS]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_runs_on_minimm(script):
    result = run_script(script.name, "minimm")
    assert result["values"], f"{script.name} reported nothing"
    assert all(math.isfinite(v) for v in result["values"].values()), result
    # every reported value is compared with PyTorch one way or the other
    assert set(result["exact"]) | set(result["tol"]) == set(result["values"]), result


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (pip install 'minimm[compat]'): "
                                           "the PyTorch half of each script comparison does not run")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_matches_pytorch(script):
    problems = compare(run_script(script.name, "minimm"), run_script(script.name, "torch"))
    assert not problems, "\n".join(problems)


def test_compare_accepts_agreement_and_names_each_disagreement():
    mine = {"values": {"w": 1.0, "loss": 0.5}, "exact": ["w"], "tol": {"loss": 0.1}, "rtol": 1e-6, "atol": 1e-9}
    assert compare(mine, {"values": {"w": 1.0 + 1e-8, "loss": 0.55}}) == []
    problems = compare(mine, {"values": {"w": 1.001, "loss": 0.7}})
    assert len(problems) == 2 and problems[0].startswith("w:") and problems[1].startswith("loss:")
    assert "different values" in compare(mine, {"values": {"w": 1.0}})[0]
