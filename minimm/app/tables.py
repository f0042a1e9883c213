"""The README's and docs/results.md's quality tables, generated from ONE results file.

``python -m minimm.app.tables`` reads ``docs/assets/results.json`` (what ``minimm evaluate
--update docs/assets/results.json`` or ``--out`` writes) and rewrites the region between the two
markers below in ``README.md`` and ``docs/results.md`` with :func:`minimm.app.quality.format_table`
of it; ``--check`` only says whether they are up to date (exit status 1 if not). The tables are
therefore never typed by hand, and never typed twice: ``tests/test_results_tables.py`` fails when a
committed table differs from what the results file gives.
"""

from __future__ import annotations

import argparse
import os
import sys

from .quality import format_table
from .results import load_results

__all__ = ["START", "END", "RESULTS_FILE", "DOCUMENTS", "render", "replace_region", "stale_documents", "main"]

START = "<!-- results-table: start (generated from docs/assets/results.json by `python -m minimm.app.tables`) -->"
END = "<!-- results-table: end -->"
RESULTS_FILE = os.path.join("docs", "assets", "results.json")
DOCUMENTS = ("README.md", os.path.join("docs", "results.md"))


def render(entries: list[dict]) -> str:
    """The table region's content for the entries: the markdown table and the seeds it averages."""
    seeds = sorted({tuple(e.get("seeds", [e.get("seed", 0)])) for e in entries})
    if len(seeds) == 1:
        s = seeds[0]
        note = (f"Mean ± sd over seeds {', '.join(map(str, s))}" if len(s) > 1 else f"Seed {s[0]}")
    else:
        note = "Seeds differ between rows (see `seeds` in the results file)"
    quick = any(e.get("quick") for e in entries)
    note += (", quick setting" if quick else "") + "; seconds: mean per seed, wall clock."
    return f"{note}\n\n{format_table(entries)}"


def replace_region(text: str, content: str, where: str = "document") -> str:
    """``text`` with the part between :data:`START` and :data:`END` replaced by ``content``."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"{where}: no table region (a line {START!r}, later a line {END!r})")
    return text[: i + len(START)] + "\n" + content + "\n" + text[j:]


def _rewritten(root, results):
    """``(doc, path, text, new)`` for every document of :data:`DOCUMENTS`: its text now, and with its
    table region rendered from the results file."""
    content = render(load_results(results or os.path.join(root, RESULTS_FILE)))
    for doc in DOCUMENTS:
        path = os.path.join(root, doc)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        yield doc, path, text, replace_region(text, content, path)


def stale_documents(root=".", results=None) -> list[str]:
    """The documents (of :data:`DOCUMENTS`, under ``root``) whose table differs from the results file's."""
    return [doc for doc, _, text, new in _rewritten(root, results) if new != text]


def write_documents(root=".", results=None) -> list[str]:
    """Rewrite the table region of every document; return those that changed."""
    changed = []
    for doc, path, text, new in _rewritten(root, results):
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            changed.append(doc)
    return changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minimm.app.tables",
                                description="Rewrite the quality tables of README.md and docs/results.md from "
                                            "the results file.")
    p.add_argument("--results", default=None, help=f"the results file (default: ROOT/{RESULTS_FILE})")
    p.add_argument("--root", default=".", help="the repository root (default: .)")
    p.add_argument("--check", action="store_true", help="only check; exit 1 if a table is out of date")
    args = p.parse_args(argv)
    try:
        if args.check:
            stale = stale_documents(args.root, args.results)
            for doc in stale:
                print(f"out of date: {doc} (run python -m minimm.app.tables)")
            return 1 if stale else 0
        for doc in write_documents(args.root, args.results):
            print(f"rewrote the table of {doc}")
        return 0
    except (OSError, ValueError) as exc:
        print(f"minimm.app.tables: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
