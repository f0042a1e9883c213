"""Run the tutorials in quick mode and keep what they print and draw, for the docs' tutorial pages.

    python docs/_hooks/tutorial_outputs.py            # the tutorials whose output is missing or out of date
    python docs/_hooks/tutorial_outputs.py --all      # every tutorial
    python docs/_hooks/tutorial_outputs.py 07 12      # these ones

Why committed output, not execution at build time: all tutorials together take minutes even in
quick mode, and ``mkdocs build`` must stay fast and need nothing but the docs tools. So this
script runs each ``tutorials/NN_*.py`` once, as a learner would (``python script.py``, with
``MINIMM_QUICK=1``), and writes ``docs/tutorials/output/NN_x/``: ``cells.json`` (per code cell:
a hash of its source, what it printed, the figures it saved) and those figures as small PNGs. The
mkdocs hook (``docs/_hooks/tutorials.py``) shows each cell's output under it. ``cells.json`` also
holds a hash of the whole tutorial, so ``tests/test_tutorial_outputs.py`` fails when a tutorial
changed and its output was not refreshed (run this script: it refreshes only those).

How the output is split by cell: the script run is the tutorial's own code with one line added
after each code cell, which prints a marker and the figure folder's listing; what was printed
between two markers belongs to the cell, and the figures that appeared (or changed) to it too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
OUTPUT = ROOT / "docs" / "tutorials" / "output"
MARKER = "@@minimm-docs-cell"
MAX_LINES = 60  # longer outputs keep their head and tail
MAX_PNG_BYTES = 200_000

_PRELUDE = f'''
def _minimm_docs_cell_done(i):
    import json as _json, os as _os, sys as _sys
    folder = _os.environ["MINIMM_FIGURES"]
    names = sorted(_os.listdir(folder)) if _os.path.isdir(folder) else []
    listing = {{n: _os.stat(_os.path.join(folder, n)).st_mtime_ns for n in names}}
    _sys.stdout.flush()
    print("\\n{MARKER} %d %s" % (i, _json.dumps(listing)), flush=True)
'''


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tutorial_files() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def code_cells(path: Path) -> list[str]:
    """The tutorial's non-empty code cells, as the docs page shows them (jupytext percent format)."""
    import jupytext

    nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    return [c.source.strip("\n") for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def output_dir(stem: str, root: Path = OUTPUT) -> Path:
    return root / stem


def is_current(path: Path, root: Path = OUTPUT) -> bool:
    """Whether the stored output of ``path`` was made from its current text."""
    record = output_dir(path.stem, root) / "cells.json"
    if not record.is_file():
        return False
    try:
        return json.loads(record.read_text(encoding="utf-8")).get("source_sha256") == sha256(
            path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return False


def _trim(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if len(lines) > MAX_LINES:
        head, tail = lines[: MAX_LINES - 15], lines[-12:]
        lines = head + [f"... ({len(lines) - len(head) - len(tail)} lines omitted)"] + tail
    return "\n".join(lines)


def _small_png(src: Path, dst: Path) -> None:
    """Copy a PNG as a palette image (256 colours, optimised): a few times smaller, same look."""
    try:
        from PIL import Image
    except ImportError:  # pillow comes with matplotlib; without it the file is copied as it is
        shutil.copyfile(src, dst)
        return
    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    if dst.stat().st_size > src.stat().st_size:
        shutil.copyfile(src, dst)


def run_tutorial(path: Path, root: Path = OUTPUT, timeout: float = 900) -> dict:
    """Run ``path`` in quick mode and write its ``cells.json`` and figures under ``root``; returns the record."""
    cells = code_cells(path)
    script = _PRELUDE + "".join(f"\n# %%\n{src}\n_minimm_docs_cell_done({i})\n" for i, src in enumerate(cells))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        figures = tmp / "figures"
        figures.mkdir()
        (tmp / path.name).write_text(script, encoding="utf-8")
        env = dict(os.environ, MINIMM_QUICK="1", MINIMM_FIGURES=str(figures), MPLBACKEND="Agg",
                   PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, path.name], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=timeout)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{path.name} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                               f"{proc.stderr[-4000:]}")
        parts = re.split(rf"\n?{MARKER} (\d+) (.*)\n", proc.stdout)
        # parts: [out_0, i_0, listing_0, out_1, i_1, listing_1, ..., trailing]
        record = {"tutorial": path.name, "source_sha256": sha256(path.read_text(encoding="utf-8")),
                  "mode": "MINIMM_QUICK=1", "seconds": round(seconds, 1), "cells": []}
        before: dict = {}
        out = output_dir(path.stem, root)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for k in range(0, len(parts) - 1, 3):
            text, index, listing = parts[k], int(parts[k + 1]), json.loads(parts[k + 2])
            new = [n for n, t in listing.items() if before.get(n) != t and n.lower().endswith(".png")]
            before = listing
            for name in new:
                _small_png(figures / name, out / name)
            record["cells"].append({"index": index, "sha256": sha256(cells[index]), "output": _trim(text),
                                    "figures": new})
        if len(record["cells"]) != len(cells):
            raise RuntimeError(f"{path.name}: {len(record['cells'])} cell markers for {len(cells)} code cells")
    (out / "cells.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Refresh the docs' copy of what each tutorial prints and draws "
                                            "(quick mode).")
    p.add_argument("only", nargs="*", help="tutorial numbers or stems (default: those missing or out of date)")
    p.add_argument("--all", action="store_true", help="every tutorial, even those up to date")
    args = p.parse_args(argv)
    paths = tutorial_files()
    if args.only:
        paths = [t for t in paths if any(t.stem == w or t.stem.startswith(w + "_") for w in args.only)]
    elif not args.all:
        paths = [t for t in paths if not is_current(t)]
    stems = {t.stem for t in tutorial_files()}
    for old in OUTPUT.iterdir() if OUTPUT.is_dir() else []:
        if old.is_dir() and old.name not in stems:  # a tutorial renamed or removed
            shutil.rmtree(old)
    if not paths:
        print("every tutorial's output is up to date")
    failed = []
    for path in paths:
        try:
            record = run_tutorial(path)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failed.append(path.name)
            print(f"{path.name}: FAILED\n{exc}", file=sys.stderr)
            continue
        figs = sum(len(c["figures"]) for c in record["cells"])
        print(f"{path.name}: {len(record['cells'])} cells, {figs} figures, {record['seconds']:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
