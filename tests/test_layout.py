"""The house rules of the package, checked from the source (ast; nothing is imported):

* layers import only downward: ``backend`` < ``autograd`` < ``creation`` < ``ops`` < ``nn`` <
  ``optim`` < ``generative``; ``testing`` may use all of those; and no module below the training
  floor and the application floor imports them (both floors may not exist yet: the rule then
  holds trivially);
* no file over ``MAX_FILE_LINES`` and no function over ``MAX_FUNCTION_LINES`` in the directories
  of ``SIZE_CHECKED``, except the few in ``ALLOWED`` with the reason written next to them.

``python tests/test_layout.py`` lists every file and function over the limits in all of minimm/,
checked or not.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minimm"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60

# The floors of the core, bottom first. A module may import its own floor and those below it at
# load time; the one cycle (autograd needs ops in three functions) is imported inside them.
FLOORS = ["backend", "cuda", "autograd", "creation", "ops", "nn", "optim", "generative", "testing"]
TOP_FLOORS = ("training", "app")  # the floors above the models: nothing below may import them

# The parts of minimm/ whose sizes are checked. Widen to the whole package by adding the rest.
SIZE_CHECKED = ["__init__.py", "__main__.py", "autograd", "backend", "creation.py", "cuda.py", "ops", "nn",
                "optim", "generative", "testing"]

# path (relative to minimm/) or "path:function" -> why it may exceed the limit
ALLOWED = {
    "autograd/fastpath.py:walk": "the plain walk unrolled for speed: one loop that runs once per node "
                                 "of every backward pass, so its helpers are inlined on purpose",
}


def _modules(root=PACKAGE):
    for path in sorted(root.rglob("*.py")):
        yield path, path.relative_to(root).as_posix()


def _floor(rel: str) -> str:
    return rel.split("/")[0].removesuffix(".py")


def _imported_floors(path: Path, rel: str, top_level_only: bool):
    """The minimm floors a module imports, as (floor, line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = rel.split("/")[:-1]  # the module's package, as parts below minimm
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
                names = [target] if target else [[a.name] for a in node.names]
            elif node.module and node.module.split(".")[0] == "minimm":
                target = node.module.split(".")[1:]
                names = [target] if target else [[a.name] for a in node.names]
            else:
                continue
            for parts in names:
                if parts:
                    yield parts[0], node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "minimm" and len(parts) > 1:
                    yield parts[1], node.lineno


def layering_violations(root=PACKAGE) -> list[str]:
    out = []
    for path, rel in _modules(root):
        floor = _floor(rel)
        if floor in TOP_FLOORS or rel == "__main__.py":  # ``python -m minimm`` is the application's door
            continue
        for target, line in _imported_floors(path, rel, top_level_only=False):
            if target in TOP_FLOORS:
                out.append(f"{rel}:{line} imports minimm.{target}, a floor above it")
        if floor not in FLOORS:
            continue
        for target, line in _imported_floors(path, rel, top_level_only=True):
            if target in FLOORS and FLOORS.index(target) > FLOORS.index(floor):
                out.append(f"{rel}:{line} ({floor}) imports {target}, a floor above it")
    return out


def size_violations(checked=None) -> list[str]:
    out = []
    for path, rel in _modules():
        if checked is not None and not any(rel == c or rel.startswith(c + "/") for c in checked):
            continue
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_FILE_LINES and rel not in ALLOWED:
            out.append(f"{rel}: {n} lines (limit {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in ALLOWED:
                    out.append(f"{rel}:{node.lineno} {node.name}(): {length} lines (limit {MAX_FUNCTION_LINES})")
    return out


def test_layers_import_only_downward():
    assert layering_violations() == []


def test_the_layering_check_sees_an_upward_import(tmp_path):
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "bad.py").write_text("from ..nn import Module\n")
    (tmp_path / "nn").mkdir()
    (tmp_path / "nn" / "worse.py").write_text("def f():\n    from minimm.training import Trainer\n")
    (tmp_path / "nn" / "fine.py").write_text("from ..ops import shape\nfrom . import init\n")
    found = layering_violations(tmp_path)
    assert len(found) == 2 and found[0].startswith("nn/worse.py:2") and found[1].startswith("ops/bad.py:1")


def test_files_and_functions_stay_small():
    assert size_violations(SIZE_CHECKED) == []


def test_allowed_exceptions_still_exist_and_still_need_it():
    # an entry whose file or function shrank (or went away) must leave the list
    for key in ALLOWED:
        rel, _, fn = key.partition(":")
        path = PACKAGE / rel
        assert path.exists(), key
        text = path.read_text(encoding="utf-8")
        if not fn:
            assert text.count("\n") > MAX_FILE_LINES, f"{key} is no longer over the limit"
            continue
        nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == fn]
        assert nodes, key
        assert any(n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES for n in nodes), f"{key} is short now"


if __name__ == "__main__":
    problems = layering_violations() + size_violations()
    print("\n".join(problems) or "nothing over the limits")
    sys.exit(1 if problems else 0)
