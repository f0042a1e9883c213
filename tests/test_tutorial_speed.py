"""Tutorials run as fast as the CLI and show progress (issue #13 item 1).

* ``tutorial_settings()`` — called at the top of every tutorial — pins the BLAS thread count as
  the CLI's Trainer does, so a tutorial's own training loops (outside the Trainer) run at the
  same speed (measured: tutorial 07 took 2.2× its CLI twin before);
* ``minimm.training.progress`` puts the Trainer's bar on a loop written by hand, on a terminal only;
* the timing harness (``python -m benchmarks.tutorial_times``) measures silences on a real terminal.
The measured table is in tutorials/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minimm.training import console, progress

ROOT = Path(__file__).resolve().parents[1]

_BLAS_THREADS = textwrap.dedent("""
    import sys
    from threadpoolctl import threadpool_info
    import numpy
    if sys.argv[1] == "tutorial":
        from minimm.viz import tutorial_settings
        tutorial_settings()
    print(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
""")


def _blas_threads(mode: str, **env) -> int:
    env = {**{k: v for k, v in os.environ.items() if k != "MINIMM_NUM_THREADS"}, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.run([sys.executable, "-c", _BLAS_THREADS, mode], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


def test_tutorial_settings_pins_blas_threads(tmp_path):
    env = {"MINIMM_FIGURES": str(tmp_path / "fig"), "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    if _blas_threads("plain", **env) < 2:
        pytest.skip("this BLAS runs one thread anyway: nothing to pin")
    assert _blas_threads("tutorial", **env) == 1
    assert _blas_threads("tutorial", MINIMM_NUM_THREADS="2", **env) == 2  # the one setting still rules


def test_progress_is_the_iterable_off_a_terminal(monkeypatch):
    monkeypatch.setattr(console, "stderr_is_tty", lambda: False)
    items = range(3)
    assert progress(items, "x") is items


def test_progress_is_a_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(console, "stderr_is_tty", lambda: True)
    bar = progress(range(3), "fusion")
    try:
        assert list(bar) == [0, 1, 2] and bar.desc == "fusion" and bar.total == 3
    finally:
        bar.close()


def test_timing_harness_sees_a_silence_on_a_terminal(tmp_path):
    from benchmarks.tutorial_times import run_in_terminal

    script = tmp_path / "quiet.py"
    script.write_text("import time\nprint('start', flush=True)\ntime.sleep(1.5)\nprint('end')\n")
    result = run_in_terminal([sys.executable, str(script)], dict(os.environ), tmp_path)
    assert result["rc"] == 0 and "end" in result["tail"]
    assert 1.4 <= result["longest_silence"] <= result["seconds"]


def test_a_hand_loop_with_progress_is_never_silent_on_a_terminal(tmp_path):
    pytest.importorskip("tqdm")
    from benchmarks.tutorial_times import run_in_terminal

    script = tmp_path / "loop.py"
    script.write_text("import time\nfrom minimm.training import progress\n"
                      "for _ in progress(range(10), 'training'):\n    time.sleep(0.3)\n")
    result = run_in_terminal([sys.executable, str(script)], dict(os.environ, PYTHONPATH=str(ROOT)), tmp_path)
    assert result["rc"] == 0
    assert result["tail"].count("training:") >= 3  # the bar was drawn, and redrawn as the loop went on


def test_every_cli_twin_of_a_tutorial_is_a_command_the_cli_accepts():
    """The timing harness pairs tutorials with the CLI commands doing their training; each must parse
    and name a model the CLI can build (a typo would time an error message)."""
    from benchmarks.tutorial_times import CLI_EQUIVALENT, TUTORIALS
    from minimm.app.builders import _BUILDERS
    from minimm.app.cli import build_parser

    parser = build_parser()
    for stem, commands in CLI_EQUIVALENT.items():
        assert (TUTORIALS / f"{stem}.py").is_file(), stem
        for argv in commands:
            args = parser.parse_args(argv)
            if argv[0] == "train":
                assert (args.model, args.dataset) in _BUILDERS, (stem, argv)
