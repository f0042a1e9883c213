"""``import minimm`` loads the engine, nn and optim; io, data, generative, utils and save/load come on first use."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("minimm.io", "minimm.data", "minimm.generative", "minimm.utils", "minimm.serialization")


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_leaves_the_heavy_layers_unloaded():
    loaded = _run("import sys, minimm; print(' '.join(sorted(sys.modules)))").split()
    assert not [m for m in LAZY if m in loaded]
    assert "zipfile" not in loaded and "tempfile" not in loaded  # what minimm.io brings


def test_lazy_names_resolve_like_eager_ones():
    got = _run(
        "import minimm; from minimm import save, load\n"
        "import minimm.io as io\n"
        "print(minimm.io is io, minimm.save is save, minimm.load is load, minimm.utils.data.DataLoader.__name__,\n"
        "      minimm.generative.vae.__name__, minimm.data.__name__, 'save' in dir(minimm))"
    )
    assert got == "True True True DataLoader minimm.generative.vae minimm.data True"


def test_unknown_attribute_is_a_clear_error():
    import minimm
    import pytest

    with pytest.raises(AttributeError, match="module 'minimm' has no attribute 'nope'"):
        minimm.nope  # noqa: B018


def test_the_strict_stand_in_is_imported_on_first_use():
    got = _run(
        "import sys, minimm\n"
        "before = 'array_api_strict' in sys.modules\n"
        "x = minimm.ones(2, device='strict')\n"
        "print(before, 'array_api_strict' in sys.modules, x.device, (x + x).tolist())"
    )
    assert got == "False True strict [2.0, 2.0]"
    # an array the caller made with array_api_strict itself is recognised without minimm loading it first
    got = _run(
        "import array_api_strict as xs, minimm\n"
        "a = xs.asarray([1.0, 3.0], device=xs.Device('device1'))\n"
        "print(minimm.tensor(a).device, minimm.backend.get_array_module(a) is xs)"
    )
    assert got == "strict True"
