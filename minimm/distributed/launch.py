"""Start N ranks of a script with the ``mpiexec`` that came with the ``mpi`` extra.

    python -m minimm.distributed.launch -n 2 train.py --epochs 3
    python -m minimm.distributed.launch -n 2 -m some.module args

is ``mpiexec -n 2 <this python> train.py --epochs 3`` with the ``mpiexec`` found next to this Python
(where the ``mpich`` wheel installs it) or on ``PATH``, and the same Python on every rank — the usual
mistake with a bare ``mpiexec python`` is a different interpreter that lacks minimm. Each rank gets
one BLAS thread unless ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` are set: N ranks on N cores
should not each start a pool of N threads. The exit status is ``mpiexec``'s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .comm import mpiexec_path

__all__ = ["launch_command", "main"]


def launch_command(n: int, argv: list[str], mpiexec: str | None = None) -> list[str]:
    """The command line that starts ``n`` ranks of ``python argv…``."""
    if int(n) < 1:
        raise ValueError(f"launch: -n must be at least 1, got {n}")
    if not argv:
        raise ValueError("launch: give a script (or -m module) to run")
    mpiexec = mpiexec or mpiexec_path()
    if mpiexec is None:
        raise FileNotFoundError("launch: no mpiexec next to this Python or on PATH; install it with: "
                                "pip install minimm[mpi]")
    return [mpiexec, "-n", str(int(n)), sys.executable, *argv]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minimm.distributed.launch",
                                description="run N ranks of a Python script under mpiexec")
    p.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the script (or -m module) and its arguments")
    a = p.parse_args(argv)
    try:
        cmd = launch_command(a.nproc, a.rest)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
