"""griffe extension: turn the reStructuredText bits of minimm's docstrings into Markdown.

minimm's docstrings are written for ``help()`` and Sphinx-style readers: ``:math:`x```, ``.. math::``
blocks, ``:func:`name``` roles and ``double-backtick`` literals. mkdocstrings renders docstrings as
Markdown, where those would show up verbatim. This extension rewrites them, only for the docs build
(the source stays as it is): math becomes ``$...$`` / ``$$...$$`` for pymdownx.arithmatex, roles
become code spans and literals single-backtick code.
"""

from __future__ import annotations

import re

from griffe import Extension

_ROLE_MATH = re.compile(r":math:`([^`]+)`")
_ROLE_REF = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc)s?:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+?)``")


def _math_blocks(text: str) -> str:
    """``.. math:: x`` (inline argument) or an indented block after ``.. math::`` → ``$$ ... $$``."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", line)
        if not m:
            out.append(line)
            i += 1
            continue
        indent, first = m.group(1), m.group(2).strip()
        body = [first] if first else []
        i += 1
        # the block: following lines indented deeper than the directive (blank lines allowed)
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        expr = " ".join(b for b in body if b)
        if indent:  # inside a list item: a display block would end the item, so use inline math
            out.extend(["", f"{indent}$\\displaystyle {expr}$", ""])
        else:
            out.extend(["", f"$$ {expr} $$", ""])
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    text = _math_blocks(text)
    text = _ROLE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = _ROLE_REF.sub(lambda m: f"`{m.group(1)}`", text)
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    return text


class RstToMarkdown(Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and doc.value:
            doc.value = rst_to_markdown(doc.value)
