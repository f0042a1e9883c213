"""mkdocs hook: render the tutorials (jupytext "percent" .py files) as documentation pages, with
what each code cell printed and drew.

Why a hook: the tutorials are the source of truth and run in CI as plain Python; the docs show the
same text and code without a copy that could drift. At build time each ``tutorials/NN_*.py`` is
parsed with jupytext into cells; markdown cells are kept verbatim and code cells become fenced
Python blocks. The pages exist only inside the build (``File.generated``): nothing is written to
``docs/`` and nothing generated is committed. ``tutorials/README.md`` becomes the section's index,
with its links to ``NN_x.py`` pointed at the rendered ``NN_x.md`` pages.

Under each code cell the page shows the cell's printed output and figures from a quick run
(``MINIMM_QUICK=1``), stored in ``docs/tutorials/output/NN_x/`` by ``python
docs/_hooks/tutorial_outputs.py`` (one command refreshes every tutorial whose text changed). A cell
is matched to its output by a hash of its source, so a cell edited since shows no stale output.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
OUTPUT = ROOT / "docs" / "tutorials" / "output"
SECTION = "Tutorials"
REFRESH = "python docs/_hooks/tutorial_outputs.py"


def _tutorial_files() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def _title(md: str, fallback: str) -> str:
    """The first heading, as plain text: the nav shows titles verbatim, so markdown emphasis
    (``*and*``) would show its asterisks."""
    for line in md.splitlines():
        if line.startswith("# "):
            return re.sub(r"(\*{1,2}|_{1,2})(\S[^*_]*?)\1", r"\2", line[2:].strip())
    return fallback


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _outputs(path: Path) -> dict | None:
    """The stored quick-run record of ``path`` (``cells.json``), or None."""
    record = OUTPUT / path.stem / "cells.json"
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8"))


def _cell_output(cell: dict, stem: str) -> str:
    """A cell's printed text as a ``text`` block and its figures as images."""
    parts = []
    if cell["output"].strip():
        parts.append(f'```text\n{cell["output"]}\n```')
    for name in cell["figures"]:
        parts.append(f"![{name}](output/{stem}/{name})")
    return "\n\n".join(parts)


def _render(path: Path) -> str:
    """The tutorial as markdown: markdown cells verbatim, code cells as ```python blocks, each
    followed by its stored output (when that output was made from the same cell source)."""
    import jupytext

    text = path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    record = _outputs(path)
    stored = {} if record is None else {c["sha256"]: c for c in reversed(record["cells"])}
    parts = []
    for cell in nb.cells:
        src = cell.source.strip("\n")
        if not src.strip():
            continue
        if cell.cell_type == "markdown":
            parts.append(src)
        else:
            parts.append(f"```python\n{src}\n```")
            out = stored.get(_sha(src))
            if out is not None and (out["output"].strip() or out["figures"]):
                parts.append(_cell_output(out, path.stem))
    body = "\n\n".join(parts)
    note = (
        f'!!! note "Run it"\n    `python tutorials/{path.name}` (add `MINIMM_QUICK=1` for a fast run; figures go '
        f"to `tutorials/figures/` or to `$MINIMM_FIGURES`). `jupytext --to ipynb tutorials/{path.name}` makes a notebook."
    )
    if record is None:
        note += f"\n    No stored output yet: `{REFRESH} {path.stem[:2]}` adds it to this page."
    else:
        note += ("\n    The output under each cell is from a quick run (`MINIMM_QUICK=1`: smaller data, fewer "
                 "epochs, so its numbers are below a full run's).")
        if record.get("source_sha256") != _sha(text):
            note += f" The tutorial changed since; `{REFRESH}` refreshes it."
    # put the note after the title line
    lines = body.split("\n", 1)
    if lines[0].startswith("# "):
        return lines[0] + "\n\n" + note + "\n\n" + (lines[1] if len(lines) > 1 else "") + "\n"
    return note + "\n\n" + body + "\n"


def _index() -> str:
    readme = TUTORIALS / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Tutorials\n"
    # links to the .py sources become links to the rendered pages
    return re.sub(r"\]\((\d\d_[A-Za-z0-9_]+)\.py\)", r"](\1.md)", text)


def on_config(config):
    """Fill the nav's Tutorials section with the index and one page per tutorial."""
    entries = ["tutorials/index.md"]
    for path in _tutorial_files():
        title = _title(_render(path), path.stem)
        entries.append({title: f"tutorials/{path.stem}.md"})
    for item in config.nav or []:
        if isinstance(item, dict) and SECTION in item:
            item[SECTION] = entries
    return config


def on_files(files, config):
    files.append(File.generated(config, "tutorials/index.md", content=_index()))
    for path in _tutorial_files():
        files.append(File.generated(config, f"tutorials/{path.stem}.md", content=_render(path)))
    return files
