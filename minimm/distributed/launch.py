"""Start N ranks of a script with the ``mpiexec`` that came with the ``mpi`` extra.

    python -m minimm.distributed.launch -n 2 train.py --epochs 3
    python -m minimm.distributed.launch -n 2 -m some.module args

is ``mpiexec -n 2 <this python> train.py --epochs 3`` with the ``mpiexec`` found next to this Python
(where the ``mpich`` wheel installs it) or on ``PATH``, and the same Python on every rank — the usual
mistake with a bare ``mpiexec python`` is a different interpreter that lacks minimm. Each rank gets
one BLAS thread unless ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` are set: N ranks on N cores
should not each start a pool of N threads.

**A dead rank is reported in one line.** When a rank's process dies (killed, out of memory, a crash
in C code) MPICH's launcher stops every other rank at once and prints a ten-line "BAD TERMINATION"
banner that names a process id — not always the one that died first: the ranks it stopped die of
the same SIGKILL, and it reports the lowest rank. Each rank here leaves a note of its process id in a
folder the launcher gives it (``MINIMM_LAUNCH_DIR``); the launcher watches those processes (a Linux
``pidfd`` per rank) and sees which one ended first, so the banner is replaced by one line that names
that rank and how the job ended. Ranks that fail a check print their own one-line ``DistributedError`` as before.
The exit status is ``mpiexec``'s.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import subprocess
import sys
import tempfile
import threading

from .comm import mpiexec_path

__all__ = ["launch_command", "main", "banner_filter", "rank_of_pid", "FirstToEnd"]

# The lines of MPICH's "BAD TERMINATION" banner (hydra prints them on its standard output).
_BANNER = re.compile(r"^(=+|=   .*|YOUR APPLICATION TERMINATED WITH THE EXIT STRING: .*|"
                     r"This typically refers to a problem with your application\.|"
                     r"Please see the FAQ page for debugging suggestions)\s*$")
_PID = re.compile(r"^=   PID (\d+) ")
_EXIT_STRING = re.compile(r"EXIT STRING: (.*?)\s*$")


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


def rank_of_pid(folder, pid: int) -> str:
    """``"rank R of N"`` for a process that left its note in ``folder``, else ``"the rank with pid P"``."""
    try:
        with open(os.path.join(str(folder), f"pid{int(pid)}"), encoding="utf-8") as f:
            r, n = f.read().split()
        return f"rank {int(r)} of {int(n)}"
    except (OSError, ValueError):
        return f"the rank with pid {pid}"


class FirstToEnd(threading.Thread):
    """Watch the ranks that left a note in ``folder`` and remember which process ended first.

    A ``pidfd`` becomes readable the moment its process ends, so one ``poll`` over all of them wakes
    at the first death — before MPICH's launcher has heard of it, told the other ranks' proxies and
    killed them. ``pid`` stays None when no rank ended first alone (two ready at one wake-up, or no
    pidfd support), and the banner's own pid is used instead.
    """

    def __init__(self, folder: str, stop: threading.Event, period: float = 0.05):
        super().__init__(daemon=True)
        self.folder, self.stop, self.period = folder, stop, period
        self.pid: int | None = None

    def run(self) -> None:
        if not hasattr(os, "pidfd_open"):
            return
        fds: dict[int, int] = {}          # pidfd -> pid
        seen: set[int] = set()
        poller = select.poll()
        try:
            while not self.stop.is_set():
                ended = []
                for name in os.listdir(self.folder):     # ranks write their notes as they start
                    if not (name.startswith("pid") and name[3:].isdigit()) or int(name[3:]) in seen:
                        continue
                    pid = int(name[3:])
                    seen.add(pid)
                    try:
                        fd = os.pidfd_open(pid)
                    except ProcessLookupError:        # already gone before we looked
                        ended.append(pid)
                        continue
                    except OSError:
                        return
                    fds[fd] = pid
                    poller.register(fd, select.POLLIN)
                ended += [fds[fd] for fd, _ in poller.poll(int(self.period * 1000))]
                if ended:
                    self.pid = ended[0] if len(ended) == 1 else None
                    return
        finally:
            for fd in fds:
                os.close(fd)


def banner_filter(lines, folder=None, out=sys.stdout, err=sys.stderr, first=None) -> None:
    """Copy the launcher's output ``lines`` to ``out`` as they come, MPICH's banner excepted; in its
    place one line on ``err`` names the rank (from the notes in ``folder``) and how the job ended.
    ``first`` (a :class:`FirstToEnd`, joined here) names the rank that ended first, when it knows."""
    pid = None
    for line in lines:
        if not _BANNER.match(line.rstrip("\n")):
            out.write(line)
            out.flush()
            continue
        m = _PID.match(line)
        pid = int(m.group(1)) if m else pid
        m = _EXIT_STRING.search(line)
        if m:
            if first is not None:
                first.stop.set()
                first.join(timeout=1)
                pid = first.pid if first.pid is not None else pid
            who = rank_of_pid(folder, pid) if (pid is not None and folder is not None) else "a rank"
            err.write(f"launch: {who} ended abnormally ({m.group(1)}); mpiexec stopped the other ranks\n")
            err.flush()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minimm.distributed.launch",
                                description="run N ranks of a Python script under mpiexec")
    p.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="the script (or -m module) and its arguments")
    argv = list(sys.argv[1:] if argv is None else argv)
    # `-n N` comes first; everything after it is the rank's command line, options included
    # (`-m module`), which argparse's REMAINDER would try to parse as the launcher's own
    head = 1 if argv and argv[0].startswith(("-n", "--nproc=")) and argv[0] not in ("-n", "--nproc") else 2
    a = p.parse_args(argv[:head])
    a.rest = argv[head:]
    try:
        cmd = launch_command(a.nproc, a.rest)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    with tempfile.TemporaryDirectory(prefix="minimm-launch-") as folder:
        env["MINIMM_LAUNCH_DIR"] = folder
        # Ranks' standard error (tracebacks, progress bars) passes straight through; standard output
        # is read line by line so that the banner can be replaced by one line.
        stop = threading.Event()
        watcher = FirstToEnd(folder, stop)
        watcher.start()
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
            reader = threading.Thread(target=banner_filter, args=(proc.stdout, folder),
                                      kwargs={"first": watcher}, daemon=True)
            reader.start()
            code = proc.wait()
            reader.join(timeout=5)
        stop.set()
        watcher.join(timeout=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
