"""The house rules of the package, checked from the source (ast; nothing is imported):

* layers import only downward: ``backend`` < ``autograd`` < ``creation`` < ``ops`` < ``nn`` <
  ``optim`` < ``generative``; ``testing`` may use all of those; and no module below the training
  floor and the application floor imports them (both floors may not exist yet: the rule then
  holds trivially);
* ``distributed`` is a floor of its own: above ``nn``, ``optim``, ``data`` and ``io`` (it wraps models
  and loaders), below ``training`` and the application (a training loop calls its hooks; it calls no
  training loop), and beside the models (it imports no ``multimodal``/``generative`` model);
* ``minimm/__main__.py`` is the program's entry point (``python -m minimm``): it sits above every
  floor, so it may import the application;
* no file over ``MAX_FILE_LINES`` and no function over ``MAX_FUNCTION_LINES`` anywhere in minimm/,
  except the few in ``ALLOWED`` with the reason written next to them;
* no module uses another module's private name (``from .x import _y``, ``x._y``, or a private
  module ``_x`` from outside its package), except the few in ``PRIVATE_ALLOWED``. A package's
  ``__init__`` shares its private names with the modules inside that package (they are its parts);
* inside minimm the raw array of a tensor is ``t.array``: ``t.data`` is PyTorch's detached Tensor
  view, so a ``.data`` attribute (or ``getattr(x, "data")``) anywhere but in ``DATA_ALLOWED`` is an
  old-style use a merge brought back (``python /work/wt/rename_data.py ROOT`` renames them).

``python tests/test_layout.py`` lists every violation, then the allowed exceptions with their reasons.
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
ENTRY_POINT = "__main__"  # ``python -m minimm``: above everything, it starts the application's CLI
# floors that sit beside others: what each may not import (besides the TOP_FLOORS)
SIDE_FLOORS = {"distributed": ("multimodal", "generative", "metrics")}

# path (relative to minimm/) or "path:function" -> why it may exceed the limit
ALLOWED = {
    "autograd/fastpath.py:walk": "the plain walk unrolled for speed: one loop that runs once per node "
                                 "of every backward pass, so its helpers are inlined on purpose",
}

# "importer -> exporter.name" (paths relative to minimm/) -> why it may use another module's private name
PRIVATE_ALLOWED = {
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
        if floor in TOP_FLOORS or floor == ENTRY_POINT:
            continue
        for target, line in _imported_floors(path, rel, top_level_only=False):
            if target in TOP_FLOORS:
                out.append(f"{rel}:{line} imports minimm.{target}, a floor above it")
            elif target in SIDE_FLOORS.get(floor, ()):
                out.append(f"{rel}:{line} ({floor}) imports {target}, a floor beside it")
        if floor not in FLOORS:
            continue
        for target, line in _imported_floors(path, rel, top_level_only=True):
            if target in FLOORS and FLOORS.index(target) > FLOORS.index(floor):
                out.append(f"{rel}:{line} ({floor}) imports {target}, a floor above it")
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_file(parts, root):
    """The file of module ``minimm.<parts>`` (relative to root), or None when it is not a module."""
    base = root.joinpath(*parts) if parts else root
    if base.is_dir() and (base / "__init__.py").is_file():
        return (base / "__init__.py").relative_to(root).as_posix()
    if parts and base.with_suffix(".py").is_file():
        return base.with_suffix(".py").relative_to(root).as_posix()
    return None


def _may_share(importer: str, exporter: str) -> bool:
    """A package's ``__init__`` shares its private names with the modules inside the package."""
    return exporter.endswith("__init__.py") and importer.startswith(exporter.removesuffix("__init__.py"))


def _module_aliases(tree, package, root):
    """Yield (node, target parts, imported names) for each minimm import, and the module aliases."""
    aliases = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "minimm":
                target = node.module.split(".")[1:]
            else:
                continue
            found.append((node, target))
            for a in node.names:
                if _module_file(target + [a.name], root):
                    aliases[a.asname or a.name] = target + [a.name]
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "minimm":
                    found.append((node, parts[1:]))
                    aliases[a.asname or "minimm"] = parts[1:] if a.asname else []
    return found, aliases


def private_name_uses(root=PACKAGE) -> list[str]:
    """Every use of another module's private name, as ``"importer -> exporter.name: how (line)"``."""
    out = set()
    for path, rel in _modules(root):
        parts = rel.removesuffix(".py").split("/")
        package = parts[:-1]  # for a package's __init__ too: relative imports start from the package
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports, aliases = _module_aliases(tree, package, root)

        def report(target_parts, name, how, line):
            exporter = _module_file(target_parts, root)
            if exporter and exporter != rel and not _may_share(rel, exporter):
                out.add(f"{rel} -> {exporter}.{name}: {how} (line {line})")

        for node, target in imports:
            for i, p in enumerate(target):  # a private module, used from outside its package
                inside = rel.startswith("/".join(target[:i]) + "/") if i else True
                if _private(p) and not inside:
                    out.add(f"{rel} -> {_module_file(target[: i + 1], root)}: imports private module "
                            f"minimm.{'.'.join(target[: i + 1])} (line {node.lineno})")
                    break
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if _private(a.name) and not _module_file(target + [a.name], root):
                        report(target, a.name, f"imports {a.name}", node.lineno)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain, cur = [], node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if not isinstance(cur, ast.Name) or cur.id not in aliases:
                continue
            target = list(aliases[cur.id])
            for k, attr in enumerate(reversed(chain)):
                if _module_file(target + [attr], root):
                    target.append(attr)
                    continue
                if _private(attr):
                    report(target, attr, f"uses {cur.id}.{'.'.join(list(reversed(chain))[: k + 1])}", node.lineno)
                break
    return sorted(out)


# path (relative to minimm/) -> why it may use a ``.data`` attribute
DATA_ALLOWED = {
    "autograd/tensor.py": "defines the `data` property (PyTorch's .data) beside the `array` slot",
}
MODULE_NAMES = {"minimm", "utils", "torch"}  # minimm.data, minimm.utils.data, torch.utils.data: modules


def data_attribute_uses(root=PACKAGE) -> list[str]:
    """Every ``x.data`` attribute and ``getattr/hasattr/setattr(x, "data")`` in the package, except
    module paths (``minimm.utils.data``) and calls (``st.data()``), outside ``DATA_ALLOWED``."""
    out = []
    for path, rel in _modules(root):
        if rel in DATA_ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "data" and id(node) not in called:
                v = node.value
                name = v.id if isinstance(v, ast.Name) else v.attr if isinstance(v, ast.Attribute) else None
                if name not in MODULE_NAMES:
                    out.append(f"{rel}:{node.lineno} uses .data (the raw array is .array)")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant) and node.args[1].value == "data"):
                out.append(f"{rel}:{node.lineno} uses {node.func.id}(..., 'data') (the raw array is .array)")
    return sorted(out)


def size_violations(root=PACKAGE) -> list[str]:
    out = []
    for path, rel in _modules(root):
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
    assert size_violations() == []


def test_the_size_check_sees_a_long_file_and_a_long_function(tmp_path):
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    body = "".join("    y = 1\n" for _ in range(MAX_FUNCTION_LINES))
    (tmp_path / "fine.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}")
    found = size_violations(tmp_path)
    assert found == [f"fine.py:5 long(): {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})",
                     f"long.py: {MAX_FILE_LINES + 1} lines (limit {MAX_FILE_LINES})"]


def test_distributed_stays_between_the_models_and_training(tmp_path):
    (tmp_path / "distributed").mkdir()
    (tmp_path / "distributed" / "hooks.py").write_text("from ..multimodal.vae import VAE\nfrom ..nn import Module\n")
    found = layering_violations(tmp_path)
    assert found == ["distributed/hooks.py:1 (distributed) imports multimodal, a floor beside it"]


def test_no_module_uses_another_modules_private_name():
    found = [v for v in private_name_uses() if v.split(": ", 1)[0] not in PRIVATE_ALLOWED]
    assert found == []


def test_the_private_name_check_sees_each_kind_of_use(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("_shared = 1\n")
    (tmp_path / "pkg" / "a.py").write_text("def _helper():\n    pass\n\n\nhelper = _helper\n")
    (tmp_path / "pkg" / "_impl.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "b.py").write_text(
        "from . import _shared\n"                 # fine: the package's own __init__
        "from .a import _helper\n"                # 1: a private name of a sibling
        "from . import a\n"
        "from ._impl import x\n"                  # fine: a private module inside its package
        "y = a._helper\n")                        # 2: the same, as an attribute
    (tmp_path / "c.py").write_text(
        "import minimm.pkg.a as m\n"
        "from .pkg._impl import x\n"              # 3: a private module from outside its package
        "z = m._helper\n"                         # 4: attribute of an imported module
        "w = m.helper\n")
    found = private_name_uses(tmp_path)
    assert found == ["c.py -> pkg/_impl.py: imports private module minimm.pkg._impl (line 2)",
                     "c.py -> pkg/a.py._helper: uses m._helper (line 3)",
                     "pkg/b.py -> pkg/a.py._helper: imports _helper (line 2)",
                     "pkg/b.py -> pkg/a.py._helper: uses a._helper (line 5)"]


def test_no_module_reads_the_raw_array_as_data():
    assert data_attribute_uses() == []


def test_the_data_check_sees_attribute_and_getattr_uses(tmp_path):
    # the sources say DATA for `data`, so that the rename codemod leaves this test's examples alone
    (tmp_path / "autograd").mkdir()
    (tmp_path / "autograd" / "tensor.py").write_text("def f(t):\n    return t.DATA\n".replace("DATA", "data"))
    (tmp_path / "ops.py").write_text((
        "import minimm.utils.DATA\n"
        "from .DATA import loader\n"            # fine: a module
        "x = minimm.utils.DATA.DataLoader\n"    # fine: a module path
        "y = st.DATA()\n"                       # fine: a call
        "z = t.array + t.DATA\n"                # 1
        "w = getattr(t, 'DATA', t)\n"           # 2
        "t.grad.DATA = None\n").replace("DATA", "data"))  # 3
    assert data_attribute_uses(tmp_path) == [
        "ops.py:5 uses .data (the raw array is .array)",
        "ops.py:6 uses getattr(..., 'data') (the raw array is .array)",
        "ops.py:7 uses .data (the raw array is .array)"]


def test_private_allowances_are_still_needed():
    found = {v.split(": ", 1)[0] for v in private_name_uses()}
    assert set(PRIVATE_ALLOWED) <= found, set(PRIVATE_ALLOWED) - found


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
    problems = layering_violations() + size_violations() + data_attribute_uses() + [
        v for v in private_name_uses() if v.split(": ", 1)[0] not in PRIVATE_ALLOWED]
    print("\n".join(problems) or "no violations")
    print("allowed, with their reasons:")
    for key, why in {**ALLOWED, **PRIVATE_ALLOWED, **DATA_ALLOWED}.items():
        print(f"  {key}: {why}")
    sys.exit(1 if problems else 0)
