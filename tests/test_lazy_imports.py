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
