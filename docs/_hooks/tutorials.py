"""mkdocs hook: render the tutorials (jupytext "percent" .py files) as documentation pages.

Why a hook: the tutorials are the source of truth and run in CI as plain Python; the docs show the
same text and code without a copy that could drift. At build time each ``tutorials/NN_*.py`` is
parsed with jupytext into cells; markdown cells are kept verbatim and code cells become fenced
Python blocks. The pages exist only inside the build (``File.generated``): nothing is written to
``docs/`` and nothing generated is committed. ``tutorials/README.md`` becomes the section's index,
with its links to ``NN_x.py`` pointed at the rendered ``NN_x.md`` pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
SECTION = "Tutorials"


def _tutorial_files() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def _title(md: str, fallback: str) -> str:
    """The first heading, as plain text: the nav shows titles verbatim, so markdown emphasis
    (``*and*``) would show its asterisks."""
    for line in md.splitlines():
        if line.startswith("# "):
            return re.sub(r"(\*{1,2}|_{1,2})(\S[^*_]*?)\1", r"\2", line[2:].strip())
    return fallback


def _render(path: Path) -> str:
    """The tutorial as markdown: markdown cells verbatim, code cells as ```python blocks."""
    import jupytext

    nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    parts = []
    for cell in nb.cells:
        src = cell.source.strip("\n")
        if not src.strip():
            continue
        if cell.cell_type == "markdown":
            parts.append(src)
        else:
            parts.append(f"```python\n{src}\n```")
    body = "\n\n".join(parts)
    note = (
        f'!!! note "Run it"\n    `python tutorials/{path.name}` (add `MINIMM_QUICK=1` for a fast run; figures go '
        f"to `tutorials/figures/` or to `$MINIMM_FIGURES`). `jupytext --to ipynb tutorials/{path.name}` makes a notebook."
    )
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
