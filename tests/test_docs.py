"""The documentation site builds in strict mode: a broken link, a missing page in the nav, an
unresolved API reference or a docstring mkdocstrings cannot render fails this test (and CI)."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def test_mkdocs_build_strict(tmp_path):
    missing = _missing("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "jupytext")
    if missing:
        pytest.skip(f"docs tools not installed ({', '.join(missing)}): pip install -e '.[test]'")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    # the pages the site promises are really there, including the rendered tutorials
    for page in ["index.html", "pipeline/index.html", "concepts/gradcheck/index.html", "math/gan/index.html",
                 "api/autograd/index.html", "tutorials/index.html"]:
        assert (site / page).is_file(), page
    for tutorial in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py")):
        html = site / "tutorials" / tutorial.stem / "index.html"
        assert html.is_file(), f"tutorial {tutorial.name} was not rendered"
        text = html.read_text(encoding="utf-8")
        assert 'class="highlight"' in text and "minimm" in text, f"{tutorial.name}: no code rendered"
        _check_tutorial_output(site, tutorial, text)
    _check_offline(site)


def _check_tutorial_output(site: Path, tutorial: Path, text: str) -> None:
    """The page shows the tutorial's stored quick-run output: every figure as an image served by
    the site, and each cell's printed text (docs/_hooks/tutorial_outputs.py makes them)."""
    record_path = ROOT / "docs" / "tutorials" / "output" / tutorial.stem / "cells.json"
    assert record_path.is_file(), f"{tutorial.name}: no stored output (python docs/_hooks/tutorial_outputs.py)"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    for cell in record["cells"]:
        for name in cell["figures"]:
            assert f'src="../output/{tutorial.stem}/{name}"' in text, f"{tutorial.name}: figure {name} not shown"
            assert (site / "tutorials" / "output" / tutorial.stem / name).is_file(), name
        lines = [line for line in cell["output"].splitlines() if line.strip()]
        if lines:
            assert lines[0] in plain, f"{tutorial.name}: printed output {lines[0]!r} not shown"


def _check_offline(site: Path) -> None:
    """The site needs no network: no page loads a script, stylesheet, font or image from another
    host; MathJax and its fonts are served from the site itself, and nav titles are plain text."""
    external = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=\"(https?:)?//", re.I)
    css_url = re.compile(r"url\(\s*[\"']?(https?:)?//", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        hit = external.search(text) or css_url.search(text)
        assert hit is None, f"{page.relative_to(site)} loads from another host: {text[hit.start():hit.start() + 120]}"
        for title in re.findall(r'class="md-ellipsis">\s*([^<]*)', text):  # nav and table-of-contents entries
            assert not re.search(r"\*\w+\*", title), f"{page.relative_to(site)}: emphasis shown literally in {title!r}"
    for css in site.rglob("*.css"):
        assert css_url.search(css.read_text(encoding="utf-8")) is None, f"{css.relative_to(site)} loads a font"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<script src="assets/mathjax/tex-chtml\.js"', index), "MathJax is not served locally"
    config = (site / "javascripts" / "mathjax.js").read_text(encoding="utf-8")
    assert 'fontURL: base + "fonts"' in config and "../assets/mathjax/" in config
    # the fonts MathJax's CHTML output asks for are there
    assert (site / "assets" / "mathjax" / "fonts" / "MathJax_Main-Regular.woff").is_file()
    assert (site / "assets" / "mathjax" / "fonts" / "MathJax_Math-Italic.woff").is_file()
