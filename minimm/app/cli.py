"""The ``minimm`` command line (also ``python -m minimm``). ``minimm`` alone prints the help.

Commands:

* ``minimm demo [--out DIR] [--device D] [--quick] [--seed N]`` — trains the multimodal pipeline
  on the shapes data (about a minute on 2 CPU cores; ``--quick``: seconds, a smoke test), prints a
  results table and writes to DIR: ``metrics.json``, ``loss_curves.png``, ``caption_to_image.png``,
  ``image_to_caption.png``, ``latent_map.png``, ``alignment_heatmap.png`` and the trained pipeline
  (``pipeline/``, for ``generate`` and ``caption``).
* ``minimm train {cvae,mvae,cgan,caption,align,diffusion,sound,sound-caption,tone} --dataset {shapes,digits,video}
  --epochs N --device D
  --out DIR [--resume | --overwrite]`` — one model, a checkpoint each epoch (``DIR/checkpoint.npz``),
  one log line per epoch as it ends, and bit-identical continuation with ``--resume``; Ctrl-C saves
  a checkpoint first. A folder that already holds a run is never overwritten without ``--overwrite``.
* ``minimm evaluate [--quick] [--out DIR] [--only NAMES] [--seeds 0,1,2] [--workers P] [--update FILE]
  [--resume | --overwrite]`` — the quality table (every model on its defaults, measured on the held-out
  split; with ``--seeds`` mean ± sd over seeds that each re-draw the split), written as ``results.md``
  and ``results.json``; each finished (recipe, seed) pair goes to ``DIR/runs.jsonl`` at once, so an
  interrupted run continues with ``--resume``; ``--update`` replaces those recipes' entries in an
  existing results file.
* ``minimm generate --checkpoint PATH --text "..." --out x.png`` and
  ``minimm caption --checkpoint PATH --image x.png`` — use a trained pipeline (``DIR/pipeline``
  from ``demo``) or a ``train cvae`` / ``train caption`` run on shapes (its ``DIR``); ``--label N``
  draws from a model trained on digits, and a ``train diffusion`` run takes ``--sampler``,
  ``--steps``, ``--guidance`` and ``--eta`` (defaults: its reference sampler).
  Sound: ``minimm generate --modality sound --checkpoint DIR --text "..." --out x.wav`` (a ``train sound``
  folder or the demo's ``DIR/sound``; writes the WAV and ``x.png``, its spectrogram) and
  ``minimm caption --checkpoint DIR --sound x.wav`` (a ``train sound-caption`` folder).
* ``minimm info`` — the backends minimm can use; ``minimm --version``.

Errors a user can cause (a bad device, a missing or damaged checkpoint, a bad image, a folder that
cannot be written, a missing optional package) print one line ``minimm: error: ...`` and exit with
status 1, and leave no half-written file; bad arguments print the usage and exit with 2.
The BLAS library runs on ``MINIMM_NUM_THREADS`` threads (default 1: the models are small).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from .. import __version__
from .. import backend as B
from .. import io as mio
from ..distributed import DistributedError
from ..io.errors import describe_os_error
from ..threads import limit_threads
from ..training import NonFiniteError
from .cli_common import (EXIT_ERROR, EXIT_INTERRUPTED, QUICK_WARNING, SEED_MAX, CLIError, check_device, check_seed,
                         prepare_folder, say, staged, write_json)
from .cli_video import add_video_demo_options, demo_clips, video_demo_captions
from .cli_infer import add_caption_parser, add_generate_parser, cmd_caption, cmd_generate
from .cli_train import add_train_parser, cmd_train
from .demo import demo_table
from .demo_sound import DEMO_SOUND_CAPTIONS, check_demo_captions, train_demo_sound, write_demo_sounds
from .pipeline import MultimodalPipeline
from .quality import RECIPES, evaluate_all, format_baselines, format_table
from .results import JOURNAL, load_results, read_journal, update_results

__all__ = ["main", "build_parser", "COMMANDS", "CLIError"]


def _backends_report() -> str:
    lines = [f"minimm {__version__}", "backends:"]
    lines.append("  cpu     NumPy " + np.__version__ + " (default)")
    if B.cuda_is_available():
        lines.append(f"  cuda    CuPy, {B.cuda_device_count()} GPU(s)")
    else:
        why = "CuPy not installed (pip install minimm[gpu])" if not B.cupy_is_installed() else "CuPy found no GPU"
        lines.append(f"  cuda    unavailable: {why}")
    lines.append("  strict  " + ("array-api-strict stand-in device (tests)" if B.strict_is_available()
                                 else "unavailable (pip install minimm[test])"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    """``minimm demo``: the four pipeline steps on shapes, a results table and the figures."""
    device = check_device(args.device)
    check_seed(args.seed)
    out = args.out
    check_demo_captions(args.sound_text)
    prepare_folder(out)
    say(f"minimm demo: preprocess → align → fuse → generate on the shapes data ({device}"
        f"{', quick' if args.quick else ''}, seed {args.seed})")
    video_captions = video_demo_captions(args)  # checked before anything trains
    t0 = time.perf_counter()
    pipe = MultimodalPipeline(device=device, seed=args.seed)
    pipe.fit(quick=args.quick, progress=True, log=say)
    sound_model = train_demo_sound(device, args.seed, args.quick, log=say)
    train_seconds = time.perf_counter() - t0
    say("evaluating on the held-out test split ...")
    metrics = pipe.evaluate()
    metrics["train_seconds"] = round(train_seconds, 2)
    metrics["total_seconds"] = round(time.perf_counter() - t0, 2)
    metrics["quick"] = bool(args.quick)
    metrics["device"] = device
    metrics["seed"] = args.seed
    with staged(out) as tmp:
        names = [os.path.basename(p) for p in pipe.write_figures(tmp)]
        if video_captions:
            names += [os.path.basename(p) for p in demo_clips(tmp, args.quick, args.seed, video_captions)]
        names += write_demo_sounds(tmp, sound_model, args.sound_text or DEMO_SOUND_CAPTIONS)
        pipe.save(os.path.join(tmp, "pipeline"))
        write_json(os.path.join(tmp, "metrics.json"), metrics)
    say("")
    say(demo_table(metrics))
    if args.quick:
        say(QUICK_WARNING)
    say("")
    say(f"wrote {os.path.join(out, 'metrics.json')}")
    for name in names:
        say(f"wrote {os.path.join(out, name)}")
    say(f"wrote {os.path.join(out, 'pipeline')}/ (try: minimm generate --checkpoint {os.path.join(out, 'pipeline')} "
        '--text "a small dim square at the bottom right" --out x.png)')
    say(f"done in {metrics['total_seconds']:.1f} s")
    return 0


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------
def _parse_seeds(args) -> list[int]:
    if args.seeds is None:
        check_seed(args.seed)
        return [args.seed]
    if args.seed != 0:
        raise CLIError("give --seed N or --seeds N,M,..., not both")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise CLIError(f"--seeds takes comma-separated integers such as 0,1,2, got {args.seeds!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise CLIError(f"--seeds needs distinct seeds, got {args.seeds!r}")
    for s in seeds:
        check_seed(s)
    return seeds


def _check_update_file(path: str) -> None:
    """Fail before any training when ``--update FILE`` is no results file or cannot be written."""
    if os.path.exists(path):
        try:
            load_results(path)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--update {path!r}: {_first_line(exc)}") from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK):
        raise CLIError(f"--update {path!r}: its folder {folder!r} cannot be written")


def _usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_evaluate_out(args, names, seeds) -> None:
    """An ``--out`` that holds an earlier evaluation is continued (``--resume``) or replaced
    (``--overwrite``) only when asked: hours of measurements are never lost by accident."""
    journal = os.path.join(args.out, JOURNAL)
    held = [n for n in ("results.json", JOURNAL) if os.path.exists(os.path.join(args.out, n))]
    if args.resume:
        if not os.path.exists(journal):
            raise CLIError(f"--resume: {args.out!r} holds no interrupted evaluation ({JOURNAL}); run without --resume")
        try:
            done = read_journal(journal, args.quick, check_device(args.device))
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"--resume: {journal!r} cannot be read ({_first_line(exc)}); use --overwrite") from None
        reused = sum((n, s) in done for n in names for s in seeds)  # only this run's pairs are reused
        say(f"minimm evaluate: resuming {args.out}: {reused} finished (recipe, seed) pairs are reused")
    elif held and not args.overwrite:
        raise CLIError(f"--out {args.out!r} already holds an evaluation ({', '.join(held)}): continue it with "
                       "--resume, replace it with --overwrite, or choose another --out")


def cmd_evaluate(args) -> int:
    """``minimm evaluate``: every model of the quality table, written as markdown and JSON."""
    device = check_device(args.device)
    seeds = _parse_seeds(args)
    if args.workers is None:  # the default: every core this process may use, on the CPU
        args.workers = _usable_cores() if device == "cpu" else 1
    if args.workers < 1:
        raise CLIError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and device != "cpu":
        raise CLIError(f"--workers {args.workers} runs CPU processes; with --device {device} use --workers 1")
    only = args.only.split(",") if args.only else None
    if only:
        bad = [n for n in only if n not in RECIPES]
        if bad:
            raise CLIError(f"unknown recipe(s) {bad}; choose from {', '.join(RECIPES)}")
    if args.update:
        _check_update_file(args.update)
    _check_evaluate_out(args, only or list(RECIPES), seeds)
    prepare_folder(args.out)
    say(f"minimm evaluate: the quality table ({'quick' if args.quick else 'full'} setting, {device}, "
        f"seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"
        f"{f', {args.workers} workers' if args.workers > 1 else ''})")

    def echo(e):
        v = "error: " + e["error"] if "error" in e else f"{e['value']:.4g} (target {e['target']})"
        say(f"  seed {e['seed']}: {e['model']}: {e['task']}: {v}  [{e['seconds']:.1f} s]")
        if e.get("baselines"):
            say(f"    trivial baselines (✓: meets the target): {format_baselines(e)}")

    t0 = time.perf_counter()
    entries = evaluate_all(quick=args.quick, out_dir=args.out, device=device, seeds=seeds, only=only, echo=echo,
                           workers=args.workers, resume=args.resume)
    say("")
    say(format_table(entries))
    if args.quick:
        say(QUICK_WARNING)
    say("")
    say(f"wrote {os.path.join(args.out, 'results.md')} and {os.path.join(args.out, 'results.json')} "
        f"({time.perf_counter() - t0:.0f} s)")
    if args.update:
        update_results(args.update, entries)
        say(f"updated {args.update}: replaced the entries of {', '.join(dict.fromkeys(e['recipe'] for e in entries))} "
            "(regenerate the docs' tables: python -m minimm.app.tables)")
    return EXIT_ERROR if any("error" in e for e in entries) else 0


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------
def _add_evaluate_parser(sub, common) -> None:
    ev = sub.add_parser("evaluate", help="train every model of the quality table and measure it",
                        description="Train every model of the README's quality table on its defaults and "
                                    "measure it on the held-out split; writes results.md and results.json.")
    ev.add_argument("--quick", action="store_true",
                    help="reduced epochs: a smoke test, the numbers are then not final (default: off)")
    ev.add_argument("--out", default="minimm-results",
                    help="folder for results.md and results.json (default: ./minimm-results)")
    ev.add_argument("--only", default=None, metavar="NAME[,NAME...]",
                    help="comma-separated recipe names, of: " + ", ".join(RECIPES) + " (default: all)")
    ev.add_argument("--seeds", default=None, metavar="N[,N...]",
                    help="run every recipe once per seed (each seed re-draws the data split and the "
                         "initialisation) and report mean ± sd, e.g. 0,1,2 (default: --seed alone)")
    ev.add_argument("--workers", type=int, default=None, metavar="P",
                    help="run the (recipe, seed) pairs in P processes, CPU only; the numbers do not "
                         "depend on it (default: every usable core on the CPU, 1 on a GPU)")
    again = ev.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help=f"continue an interrupted evaluation in --out: the (recipe, seed) pairs recorded in "
                            f"its {JOURNAL} are reused, the others run (default: off)")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the evaluation that --out already holds (default: refuse)")
    ev.add_argument("--update", default=None, metavar="FILE",
                    help="also replace the entries of the recipes run here inside the results file FILE "
                         "(e.g. docs/assets/results.json), keeping its other entries (default: none)")
    common(ev)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``minimm`` command and its sub-commands (every option's help
    names its default)."""
    parser = argparse.ArgumentParser(
        prog="minimm", description="minimm: multimodal generation from scratch. Start with `minimm demo`.",
        epilog="`minimm COMMAND --help` describes a command's options.")
    parser.add_argument("--version", action="version", version=f"minimm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,train,evaluate,generate,caption,info}")

    def common(p, device=True, seed=True):
        if device:
            p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
        if seed:
            p.add_argument("--seed", type=int, default=0, help=f"random seed, 0 to {SEED_MAX} (default: 0)")

    demo = sub.add_parser("demo", help="train the multimodal pipeline on shapes, write figures and metrics",
                          description="Train preprocess → align → fuse → generate on the shapes data, print "
                                      "held-out metrics and write figures and the trained pipeline to --out.")
    demo.add_argument("--out", default="minimm-demo", help="output folder (default: ./minimm-demo)")
    demo.add_argument("--quick", action="store_true",
                      help="a few seconds on less data: a smoke test, its numbers are not the models' quality "
                           "(default: off)")
    add_video_demo_options(demo)
    demo.add_argument("--sound-text", action="append", default=None, metavar="CAPTION",
                      help="a caption to play as a sound (sound_N.wav + sound.png); repeat for several "
                           "(default: three example captions)")
    common(demo)

    add_train_parser(sub, common)

    _add_evaluate_parser(sub, common)

    add_generate_parser(sub, common)
    add_caption_parser(sub, common)

    sub.add_parser("info", help="print the backends minimm can use")
    return parser


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "evaluate": cmd_evaluate, "generate": cmd_generate,
            "caption": cmd_caption}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv=None) -> int:
    """Run the ``minimm`` command line with ``argv``; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # `minimm` alone: what it can do, not a minute of training
        parser.print_help()
        return 0
    args = parser.parse_args(argv)  # bad arguments: usage on stderr, SystemExit(2)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "info":
        print(_backends_report())
        return 0
    try:
        # one BLAS thread by default (MINIMM_NUM_THREADS), also for generate/caption and the demo's
        # inference, which run outside Trainer.fit and the evaluate recipes
        threads = limit_threads()
    except ValueError as exc:  # a bad MINIMM_NUM_THREADS
        print(f"minimm: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        with threads:
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\nminimm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, mio.CheckpointError, NonFiniteError, DistributedError) as exc:
        msg = _first_line(exc)
    except ImportError as exc:  # an optional package: its message says which extra to install
        msg = _first_line(exc)
    except OSError as exc:  # one not caught where it happened: still one line, never a traceback
        where = getattr(exc, "filename", None)
        msg = f"{where!r}: {describe_os_error(exc)}" if where else describe_os_error(exc)
    print(f"minimm: error: {msg}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
