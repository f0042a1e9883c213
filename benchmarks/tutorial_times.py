"""Wall time of every tutorial against the same training through the CLI, and its longest silence.

    python -m benchmarks.tutorial_times                  # every tutorial, full mode
    python -m benchmarks.tutorial_times --only 07,12 --quick --json times.json

Each command runs as a learner runs it in a terminal: ``python tutorials/NN_x.py`` attached to a
pseudo-terminal (so a progress bar shows exactly as it would on screen), figures sent to a
temporary folder. Measured per command: the wall time, and the **longest silence** — the longest
stretch with nothing written to the terminal (from the start, between outputs, or before the
end). A step longer than ~10 s must show progress, so a silence above 10 s is the defect this
measures. Tutorials that train a model the CLI also trains are paired with that ``minimm``
command (same model, dataset and epochs); the ratio tutorial / CLI must stay under 2. Tutorials do
more than train (checks, figures, extra experiments), so the ratio is an upper bound on any
slowdown of the training itself.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"

#: tutorial stem -> the CLI command(s) doing its training (same model, dataset, epochs)
CLI_EQUIVALENT = {
    "07_alignment": [["train", "align", "--dataset", "digits", "--epochs", "30"]],
    "10_vae_math": [["train", "cvae", "--dataset", "digits", "--epochs", "150"]],
    "11_multimodal_vae": [["train", "mvae", "--dataset", "digits", "--epochs", "60"],
                          ["train", "mvae", "--dataset", "shapes", "--epochs", "100"]],
    "12_captioning": [["train", "caption", "--dataset", "shapes", "--epochs", "12"]],
    "13_conditional_gan": [["evaluate", "--only", "cgan"]],
    "17_diffusion_and_flow_matching": [["train", "diffusion", "--dataset", "shapes"]],
    "19_generating_video": [["train", "cvae", "--dataset", "video"], ["train", "caption", "--dataset", "video"]],
    "20_generating_sound": [["train", "tone", "--dataset", "digits"], ["train", "sound", "--dataset", "shapes"],
                            ["train", "sound-caption", "--dataset", "shapes"]],
}


def run_in_terminal(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Run ``cmd`` on a pseudo-terminal; its wall time, longest silence, exit code and output tail."""
    master, slave = pty.openpty()
    # a real terminal's size: a pseudo-terminal starts at 0 × 0, where a progress bar has no room
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    last, longest, chunks, where = t0, 0.0, [], ""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                data = b""
            if not data:
                break
            now = time.perf_counter()
            if now - last > longest:  # remember what the screen showed before the silence
                longest = now - last
                where = b"".join(chunks)[-120:].decode("utf-8", "replace")
            last = now
            chunks.append(data)
        elif proc.poll() is not None:
            break
    rc = proc.wait()
    end = time.perf_counter()
    os.close(master)
    if end - last > longest:
        longest, where = end - last, b"".join(chunks)[-120:].decode("utf-8", "replace")
    tail = b"".join(chunks).decode("utf-8", "replace")[-1500:]
    return {"seconds": round(end - t0, 1), "longest_silence": round(longest, 1), "rc": rc, "tail": tail,
            "silence_after": where.replace("\r", "\n").strip().splitlines()[-1:] if where.strip() else []}


def measure(stems: list[str], quick: bool) -> list[dict]:
    rows = []
    for stem in stems:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, MINIMM_FIGURES=str(Path(tmp) / "figures"), PYTHONPATH=str(ROOT),
                       COLUMNS="100", LINES="40")
            if quick:
                env["MINIMM_QUICK"] = "1"
            tut = run_in_terminal([sys.executable, str(TUTORIALS / f"{stem}.py")], env, Path(tmp))
            row = {"tutorial": stem, "seconds": tut["seconds"], "longest_silence": tut["longest_silence"],
                   "rc": tut["rc"], "cli": None, "cli_seconds": None, "ratio": None}
            row["silence_after"] = tut["silence_after"]
            if tut["rc"] != 0:
                row["tail"] = tut["tail"]
            cmds = CLI_EQUIVALENT.get(stem, [])
            if cmds:
                total = 0.0
                for i, args in enumerate(cmds):
                    out = ["--out", str(Path(tmp) / f"cli{i}")] if args[0] in ("train", "evaluate") else []
                    extra = ["--quick"] if quick else []
                    cli = run_in_terminal([sys.executable, "-m", "minimm", *args, *out, *extra], env, Path(tmp))
                    total += cli["seconds"]
                    if cli["rc"] != 0:
                        row["cli_tail"] = cli["tail"]
                row["cli"] = " ; ".join("minimm " + " ".join(a) for a in cmds)
                row["cli_seconds"] = round(total, 1)
                row["ratio"] = round(tut["seconds"] / total, 2)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def startup_seconds() -> float:
    """Seconds to start Python and import what every tutorial imports: a yardstick of the load."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import minimm, matplotlib.pyplot, sklearn.datasets"], check=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return round(time.perf_counter() - t0, 1)


def table(rows: list[dict]) -> str:
    lines = ["| tutorial | wall (s) | longest silence (s) | CLI doing its training | CLI (s) | ratio |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cli = f"`{r['cli']}`" if r["cli"] else "—"
        cli_s = "" if r["cli_seconds"] is None else f"{r['cli_seconds']:.0f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['tutorial']} | {r['seconds']:.0f} | {r['longest_silence']:.0f} | {cli} | {cli_s} "
                     f"| {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated tutorial numbers or stems (default: all)")
    p.add_argument("--quick", action="store_true", help="MINIMM_QUICK=1 and --quick (default: full mode)")
    p.add_argument("--json", help="write the rows to this file")
    args = p.parse_args(argv)
    stems = [p.stem for p in sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))]
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        stems = [s for s in stems if any(s == w or s.startswith(w + "_") for w in wanted)]
    startup = [startup_seconds()]
    rows = measure(stems, args.quick)
    startup.append(startup_seconds())
    if args.json:
        Path(args.json).write_text(json.dumps({"startup_seconds": startup, "rows": rows}, indent=1))
    print(table(rows))
    print(f"\nstartup (python -c 'import minimm, matplotlib.pyplot, sklearn.datasets'): {startup[0]:.1f} s before, "
          f"{startup[1]:.1f} s after — the machine's load scales every number above")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
