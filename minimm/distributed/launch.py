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
the same SIGKILL, and it once named one of those. Each rank here leaves a note of its process id in a
folder the launcher gives it (``MINIMM_LAUNCH_DIR``); the launcher watches those processes (a Linux
``pidfd`` per rank) and sees which one ended first, so the banner is replaced by one line that names
that rank and how the job ended. Ranks that fail a check print their own one-line ``DistributedError`` as before.

**No rank outlives a failed one.** MPICH's launcher usually stops the other ranks when one leaves
with an error, but not always: a stalled rank once kept a finished job waiting in CI. Each rank also
leaves a ``done`` note when Python exits normally; when a rank has ended without it, the launcher
waits ``STOP_GRACE_S`` seconds (for ranks failing alike to print their own line) and then stops the
ranks still running itself, saying so in one line::

    launch: rank 0 of 2 ended abnormally; rank 1 of 2, still running 3 s later, was stopped by the launcher

Options for ``mpiexec`` itself (a host file for several machines: ``-f hosts``) go in the
environment variable ``MINIMM_MPIEXEC_ARGS``. Only ranks on the launcher's own machine leave notes:
ranks elsewhere are left to MPICH. The exit status is ``mpiexec``'s (1 if it was 0 but ranks were stopped).
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .comm import EXIT_GRACE_S, mpiexec_path

__all__ = ["launch_command", "main", "banner_filter", "rank_of_pid", "FirstToEnd"]

# The lines of MPICH's "BAD TERMINATION" banner (hydra prints them on its standard output).
_BANNER = re.compile(r"^(=+|=   .*|YOUR APPLICATION TERMINATED WITH THE EXIT STRING: .*|"
                     r"This typically refers to a problem with your application\.|"
                     r"Please see the FAQ page for debugging suggestions)\s*$")
_PID = re.compile(r"^=   PID (\d+) ")
_EXIT_STRING = re.compile(r"EXIT STRING: (.*?)\s*$")


#: Seconds the launcher waits, after a rank ended without finishing, before it stops the ranks still
#: running: time for ranks that failed alike to print their own line (each waits ``EXIT_GRACE_S``).
STOP_GRACE_S = 3 * EXIT_GRACE_S


def launch_command(n: int, argv: list[str], mpiexec: str | None = None, mpiexec_args=()) -> list[str]:
    """The command line that starts ``n`` ranks of ``python argv…`` (``mpiexec_args``, such as
    ``-f hosts``, go to ``mpiexec`` before ``-n``)."""
    if int(n) < 1:
        raise ValueError(f"launch: -n must be at least 1, got {n}")
    if not argv:
        raise ValueError("launch: give a script (or -m module) to run")
    mpiexec = mpiexec or mpiexec_path()
    if mpiexec is None:
        raise FileNotFoundError("launch: no mpiexec next to this Python or on PATH; install it with: "
                                "pip install minimm[mpi]")
    return [mpiexec, *mpiexec_args, "-n", str(int(n)), sys.executable, *argv]


def rank_of_pid(folder, pid: int) -> str:
    """``"rank R of N"`` for a process that left its note in ``folder``, else ``"the rank with pid P"``."""
    try:
        with open(os.path.join(str(folder), f"pid{int(pid)}"), encoding="utf-8") as f:
            r, n = f.read().split()
        return f"rank {int(r)} of {int(n)}"
    except (OSError, ValueError):
        return f"the rank with pid {pid}"


def _release(fds: dict, poller, fd: int) -> int:
    """Stop watching the pidfd ``fd`` of a process that ended; its pid."""
    poller.unregister(fd)
    os.close(fd)
    return fds.pop(fd)


class FirstToEnd(threading.Thread):
    """Watch the ranks that left a note in ``folder``: which process ended first, and which ended
    without finishing; after ``grace`` seconds, stop the ranks still running beside one that did.

    A ``pidfd`` becomes readable the moment its process ends, so one ``poll`` over all of them wakes
    at the first death — before MPICH's launcher has heard of it, told the other ranks' proxies and
    killed them. ``pid`` stays None when no rank ended first alone (two ready at one wake-up, or no
    pidfd support), and the banner's own pid is used instead.

    A rank that leaves through Python's normal exit leaves a second note, ``done<pid>``, first (see
    :func:`~minimm.distributed.comm.init`); a rank that ends without it crashed, was killed or left
    with a one-line error. MPICH's launcher normally stops the other ranks then, but not always (a
    stalled rank once outlived its job by minutes in CI), so ``grace`` seconds after such an end —
    time for ranks failing alike to print their own line — the ranks still running are sent
    SIGTERM, then SIGKILL, through their pidfds (never a recycled pid); ``stopped`` lists them.
    """

    def __init__(self, folder: str, stop: threading.Event, period: float = 0.05, grace: float | None = None):
        super().__init__(daemon=True)
        self.folder, self.stop, self.period, self.grace = folder, stop, period, grace
        self.pid: int | None = None          # the process that ended first, alone
        self.failed: int | None = None       # the first that ended without its done note
        self.stopped: list[int] = []         # the ranks this launcher stopped
        self.said = False                    # whether the one-line report has been written
        self.saw_end = threading.Event()     # set once the first end has been seen

    def _watch_new(self, fds: dict, seen: set, poller) -> list[int]:
        """Open a pidfd for each new note (ranks write them as they start); the pids already gone."""
        gone = []
        for name in os.listdir(self.folder):
            if not (name.startswith("pid") and name[3:].isdigit()) or int(name[3:]) in seen:
                continue
            pid = int(name[3:])
            seen.add(pid)
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:        # already gone before we looked
                gone.append(pid)
                continue
            fds[fd] = pid
            poller.register(fd, select.POLLIN)
        return gone

    def _stop_rest(self, fds: dict, poller) -> None:
        """SIGTERM to every rank still running; SIGKILL to any still there a second later."""
        self.stopped = sorted(fds.values())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for fd in list(fds):
                try:
                    signal.pidfd_send_signal(fd, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 1.0
            while fds and time.monotonic() < deadline:
                for fd, _ in poller.poll(50):
                    _release(fds, poller, fd)

    def run(self) -> None:
        if not hasattr(os, "pidfd_open"):
            return
        fds: dict[int, int] = {}          # pidfd -> pid, of the ranks still running
        seen: set[int] = set()
        poller = select.poll()
        failed_at = None
        try:
            while not self.stop.is_set():
                ended = self._watch_new(fds, seen, poller)
                for fd, _ in poller.poll(int(self.period * 1000)):
                    ended.append(_release(fds, poller, fd))
                if ended and not self.saw_end.is_set():
                    self.pid = ended[0] if len(ended) == 1 else None
                    self.saw_end.set()
                unfinished = [p for p in ended if not os.path.exists(os.path.join(self.folder, f"done{p}"))]
                if unfinished and self.failed is None:
                    self.failed, failed_at = unfinished[0], time.monotonic()
                if (failed_at is not None and self.grace is not None and fds and not self.stopped
                        and time.monotonic() - failed_at >= self.grace):
                    self._stop_rest(fds, poller)
        except OSError:
            return                        # no pidfd support after all: MPICH's report stands
        finally:
            for fd in fds:
                os.close(fd)

    def stopped_line(self) -> str | None:
        """The one line that says which rank ended without finishing and which ranks were stopped
        here, when there were any."""
        if not self.stopped:
            return None
        who = rank_of_pid(self.folder, self.failed)
        them = ", ".join(rank_of_pid(self.folder, p) for p in self.stopped)
        return (f"launch: {who} ended abnormally; {them}, still running {self.grace:g} s later, "
                f"{'was' if len(self.stopped) == 1 else 'were'} stopped by the launcher")


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
            report = None
            if first is not None:
                first.saw_end.wait(timeout=1)     # the watcher wakes at the first death, long before this
                pid = first.pid if first.pid is not None else pid
                report = first.stopped_line()     # the launcher, not mpiexec, stopped some ranks
                if first.said:
                    continue
                first.said = True
            who = rank_of_pid(folder, pid) if (pid is not None and folder is not None) else "a rank"
            err.write((report or f"launch: {who} ended abnormally ({m.group(1)}); mpiexec stopped the other ranks")
                      + "\n")
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
        cmd = launch_command(a.nproc, a.rest, mpiexec_args=shlex.split(os.environ.get("MINIMM_MPIEXEC_ARGS", "")))
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
        watcher = FirstToEnd(folder, stop, grace=STOP_GRACE_S)
        watcher.start()
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
            reader = threading.Thread(target=banner_filter, args=(proc.stdout, folder),
                                      kwargs={"first": watcher}, daemon=True)
            reader.start()
            code = proc.wait()
            reader.join(timeout=5)
        stop.set()
        watcher.join(timeout=1)
        line = watcher.stopped_line()
        if line and not watcher.said:        # MPICH printed no banner for the ranks stopped here
            watcher.said = True
            print(line, file=sys.stderr, flush=True)
    return code or (1 if watcher.stopped else 0)


if __name__ == "__main__":
    sys.exit(main())
