"""``python -m minimm.compat script.py [args …]``: run a PyTorch script with ``torch`` → minimm.

The script runs as ``__main__`` with ``sys.argv = [script.py, args …]``. If it reaches for a
PyTorch feature that minimm lacks, the run stops with one line naming it and the script line::

    minimm.compat: torch.fft is not available in minimm (…) [train.py:12]
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

from . import ModuleNotInMinimm, NotInMinimm, install

USAGE = "usage: python -m minimm.compat SCRIPT.py [ARGS ...]   (runs SCRIPT with `import torch` → minimm)"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    script = argv[0]
    if not os.path.isfile(script):
        print(f"minimm.compat: no script at {script!r}\n{USAGE}", file=sys.stderr)
        return 2
    install()
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except (NotInMinimm, ModuleNotInMinimm) as exc:
        where = [f for f in traceback.extract_tb(exc.__traceback__)
                 if os.path.abspath(f.filename) == os.path.abspath(script)]
        loc = f" [{os.path.basename(script)}:{where[-1].lineno}]" if where else ""
        print(f"{exc}{loc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
