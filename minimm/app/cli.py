"""The ``minimm`` command line (also ``python -m minimm``, which runs ``minimm demo``).

Commands:

* ``minimm demo [--out DIR] [--device D] [--quick] [--seed N]`` — trains the multimodal pipeline
  on the shapes data (about a minute on 2 CPU cores; ``--quick``: seconds), prints a results table
  and writes to DIR: ``metrics.json``, ``loss_curves.png``, ``caption_to_image.png``,
  ``image_to_caption.png``, ``latent_map.png``, ``alignment_heatmap.png`` and the trained pipeline
  (``pipeline/``, for ``generate`` and ``caption``).
* ``minimm train {cvae,mvae,cgan,caption,align} --dataset {shapes,digits} --epochs N --device D
  --out DIR [--resume]`` — one model, a checkpoint each epoch (``DIR/checkpoint.npz``) and
  bit-identical continuation with ``--resume``; Ctrl-C saves a checkpoint first.
* ``minimm evaluate [--quick] [--out DIR]`` — the quality table (every model on its defaults,
  measured on the held-out split), written as ``results.md`` and ``results.json``.
* ``minimm generate --checkpoint PATH --text "..." --out x.png`` and
  ``minimm caption --checkpoint PATH --image x.png`` — use a trained pipeline (``DIR/pipeline``
  from ``demo``) or a ``train cvae`` / ``train caption`` run on shapes (its ``DIR``).
* ``minimm info`` — the backends minimm can use.

Errors a user can cause (a bad device, a missing checkpoint, a bad image) print one line
``minimm: error: ...`` and exit with status 1; bad arguments print the usage and exit with 2.
The BLAS library runs on ``MINIMM_NUM_THREADS`` threads (default 1: the models are small).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np

from .. import __version__
from .. import backend as B
from .. import io as mio
from .. import manual_seed
from ..viz import show_samples
from . import builders
from .demo import demo_table
from .pipeline import MultimodalPipeline
from .quality import RECIPES, evaluate_all, format_table

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A problem to report in one line (no traceback): bad device, missing file, ..."""


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


def _check_device(spec: str) -> str:
    """Parse and check ``--device`` up front, so a typo fails before any training starts."""
    try:
        dev = B.check_device(spec)
    except B.DeviceError as exc:
        raise CLIError(str(exc)) from None
    return str(dev)


def _say(msg: str = "") -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    """``minimm demo``: the four pipeline steps on shapes, a results table and the figures."""
    device = _check_device(args.device)
    out = args.out
    os.makedirs(out, exist_ok=True)
    _say(f"minimm demo: preprocess → align → fuse → generate on the shapes data ({device}"
         f"{', quick' if args.quick else ''}, seed {args.seed})")
    t0 = time.perf_counter()
    pipe = MultimodalPipeline(device=device, seed=args.seed)
    pipe.fit(quick=args.quick, progress=True, log=_say)
    train_seconds = time.perf_counter() - t0
    _say("evaluating on the held-out test split ...")
    metrics = pipe.evaluate()
    metrics["train_seconds"] = round(train_seconds, 2)
    metrics["total_seconds"] = round(time.perf_counter() - t0, 2)
    metrics["quick"] = bool(args.quick)
    metrics["device"] = device
    metrics["seed"] = args.seed
    files = pipe.write_figures(out)
    pipe.save(os.path.join(out, "pipeline"))
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1, ensure_ascii=False)
    _say("")
    _say(demo_table(metrics))
    _say("")
    _say(f"wrote {os.path.join(out, 'metrics.json')}")
    for path in files:
        _say(f"wrote {path}")
    _say(f"wrote {os.path.join(out, 'pipeline')}/ (try: minimm generate --checkpoint {os.path.join(out, 'pipeline')} "
         '--text "a small dim square at the bottom right" --out x.png)')
    _say(f"done in {metrics['total_seconds']:.1f} s")
    return 0


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
def cmd_train(args) -> int:
    """``minimm train``: one model on one dataset, a checkpoint every epoch, ``--resume``."""
    device = _check_device(args.device)
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    ckpt = os.path.join(args.out, "checkpoint.npz")
    if args.resume and not os.path.isfile(ckpt):
        raise CLIError(f"cannot resume: no checkpoint at {ckpt} (train without --resume first)")
    try:
        trainer, config = builders.build(args.model, args.dataset, device=device, epochs=args.epochs,
                                          seed=args.seed, out_dir=args.out, quick=args.quick,
                                          batch_size=args.batch_size)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    os.makedirs(args.out, exist_ok=True)
    builders.write_config(args.out, config)
    _say(f"training {args.model} on {args.dataset} for {trainer.epochs} epochs on {device} → {ckpt}"
         + (" (resuming)" if args.resume else ""))
    try:
        history = trainer.fit(resume=args.resume)
    except KeyboardInterrupt:
        _say(f"\ninterrupted: checkpoint saved at {ckpt} (epoch {trainer.epoch}, step {trainer.step}); "
             "continue with --resume")
        return EXIT_INTERRUPTED
    for h in history:
        logs = "  ".join(f"{k} {v:.4f}" for k, v in h.items() if k not in ("epoch", "seconds"))
        _say(f"  epoch {h['epoch']:3d}  {logs}")
    _say(f"saved {ckpt}")
    return 0


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    """``minimm evaluate``: every model of the quality table, written as markdown and JSON."""
    device = _check_device(args.device)
    only = args.only.split(",") if args.only else None
    if only:
        bad = [n for n in only if n not in RECIPES]
        if bad:
            raise CLIError(f"unknown recipe(s) {bad}; choose from {', '.join(RECIPES)}")
    _say(f"minimm evaluate: the quality table ({'quick' if args.quick else 'full'} setting, {device})")

    def echo(e):
        v = "error: " + e["error"] if "error" in e else f"{e['value']:.4g} (target {e['target']})"
        _say(f"  {e['model']}: {e['task']}: {v}  [{e['seconds']:.1f} s]")

    entries = evaluate_all(quick=args.quick, out_dir=args.out, device=device, seed=args.seed, only=only, echo=echo)
    _say("")
    _say(format_table(entries))
    _say("")
    _say(f"wrote {os.path.join(args.out, 'results.md')} and {os.path.join(args.out, 'results.json')}")
    return EXIT_ERROR if any("error" in e for e in entries) else 0


# ---------------------------------------------------------------------------------------------
# generate / caption
# ---------------------------------------------------------------------------------------------
def _load_for_inference(path: str, device: str):
    if not os.path.exists(path):
        raise CLIError(f"no checkpoint at {path!r} (run `minimm demo --out DIR` and pass DIR/pipeline, "
                       "or `minimm train cvae --dataset shapes --out DIR` and pass DIR)")
    if MultimodalPipeline.is_saved(path):
        return MultimodalPipeline.load(path, device=device)
    try:
        return builders.load_for_inference(path, device=device)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None


def cmd_generate(args) -> int:
    """``minimm generate``: images from a caption (or a label) with a trained checkpoint."""
    device = _check_device(args.device)
    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    model = _load_for_inference(args.checkpoint, device)
    manual_seed(args.seed)
    try:
        images = np.asarray(model.generate_image(args.text, n=args.n))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    if args.n == 1:
        # the picture itself, each pixel an 8×8 block: `minimm caption --image` reads it back exactly
        import matplotlib.image as mpimg  # optional dependency (minimm[demo]): imported only when used

        big = np.kron(np.clip(images[0], 0.0, 1.0), np.ones((8, 8)))
        mpimg.imsave(args.out, big, cmap="gray", vmin=0.0, vmax=1.0)
    else:  # several samples: a captioned grid
        show_samples(images, captions=[args.text] * args.n, ncols=min(args.n, 8), path=args.out)
    _say(f"wrote {args.out} ({args.n} image{'s' if args.n > 1 else ''} for {args.text!r})")
    return 0


def _read_image(path: str) -> np.ndarray:
    """A grey image in [0, 1] from a PNG (or .npy) file; colour images are averaged to grey."""
    if not os.path.isfile(path):
        raise CLIError(f"no image at {path!r}")
    if path.endswith(".npy"):
        img = np.load(path, allow_pickle=False)
    else:
        try:
            import matplotlib.image as mpimg  # optional dependency (minimm[demo]): imported only when used

            img = mpimg.imread(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
            raise CLIError(f"cannot read {path!r} as an image: {exc}") from None
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    if img.ndim != 2:
        raise CLIError(f"{path!r}: expected a 2-D grey image, got shape {img.shape}")
    if img.max() > 1.0:
        img = img / 255.0
    return img


def _fit_size(img: np.ndarray, size: int) -> np.ndarray:
    """Downsample a square picture to ``size`` × ``size`` by block averaging (e.g. a saved figure)."""
    if img.shape == (size, size):
        return img
    h, w = img.shape
    if h % size or w % size:
        raise CLIError(f"the image is {h}×{w}; the model reads {size}×{size} images (or a multiple of that)")
    return img.reshape(size, h // size, size, w // size).mean(axis=(1, 3))


def cmd_caption(args) -> int:
    """``minimm caption``: a caption for an image file with a trained checkpoint."""
    device = _check_device(args.device)
    model = _load_for_inference(args.checkpoint, device)
    img = _fit_size(_read_image(args.image), model.image_size)
    try:
        caption = model.describe(img)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    _say(caption if isinstance(caption, str) else caption[0])
    return 0


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------
def _blas_threads():
    """Limit the BLAS library to ``MINIMM_NUM_THREADS`` threads (default 1) while a command runs.

    Why: minimm's models are small (matrices of a few hundred rows), where a multi-threaded BLAS
    spends more time waking and synchronising threads than multiplying — and on a busy machine
    its spinning threads fight for the cores: measured here, one CVAE epoch took 5.3 s with the
    default threads on 2 loaded cores and 0.14 s with one. Needs threadpoolctl (installed with
    scikit-learn); without it the BLAS default stays.
    """
    try:
        n = int(os.environ.get("MINIMM_NUM_THREADS", "1"))
    except ValueError:
        n = 1
    try:  # optional (installed with scikit-learn), so imported only here
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=max(1, n), user_api="blas")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``minimm`` command and its sub-commands."""
    parser = argparse.ArgumentParser(prog="minimm", description="minimm: multimodal generation from scratch")
    sub = parser.add_subparsers(dest="command", metavar="{demo,train,evaluate,generate,caption,info}")

    def common(p, device=True, seed=True):
        if device:
            p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
        if seed:
            p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    demo = sub.add_parser("demo", help="train the multimodal pipeline on shapes, write figures and metrics")
    demo.add_argument("--out", default="minimm-demo", help="output folder (default ./minimm-demo)")
    demo.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    common(demo)

    train = sub.add_parser("train", help="train one model with checkpoints each epoch")
    train.add_argument("model", choices=["cvae", "mvae", "cgan", "caption", "align"])
    train.add_argument("--dataset", choices=["shapes", "digits"], default="shapes")
    train.add_argument("--epochs", type=int, default=None, help="number of epochs (default: the reference setup)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--out", default="minimm-train", help="folder of checkpoint.npz (default ./minimm-train)")
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz, bit-identically")
    train.add_argument("--quick", action="store_true", help="a smaller dataset, for CI")
    common(train)

    ev = sub.add_parser("evaluate", help="train every model of the quality table and measure it")
    ev.add_argument("--quick", action="store_true", help="reduced epochs (numbers are then not final)")
    ev.add_argument("--out", default="minimm-results", help="folder for results.md and results.json")
    ev.add_argument("--only", default=None, help="comma-separated recipe names (default: all)")
    common(ev)

    gen = sub.add_parser("generate", help="draw images from a caption with a trained model")
    gen.add_argument("--checkpoint", required=True, help="DIR/pipeline from demo, or a `train cvae` folder")
    gen.add_argument("--text", required=True, help='e.g. "a small dim square at the bottom right"')
    gen.add_argument("--out", default="generated.png",
                     help="PNG to write (default generated.png): the picture itself, or a grid when --n > 1")
    gen.add_argument("--n", type=int, default=1, help="number of samples (default 1)")
    common(gen)

    cap = sub.add_parser("caption", help="describe an image with a trained model")
    cap.add_argument("--checkpoint", required=True, help="DIR/pipeline from demo, or a `train caption` folder")
    cap.add_argument("--image", required=True, help="a 16×16 grey PNG (or a multiple of 16), or .npy")
    common(cap, seed=False)

    sub.add_parser("info", help="print the backends minimm can use")
    return parser


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "evaluate": cmd_evaluate, "generate": cmd_generate,
            "caption": cmd_caption}


def main(argv=None) -> int:
    """Run the ``minimm`` command line with ``argv``; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["demo"]  # `minimm` / `python -m minimm` alone runs the demo
    args = parser.parse_args(argv)  # bad arguments: usage on stderr, SystemExit(2)
    if args.command == "info":
        print(_backends_report())
        return 0
    try:
        with _blas_threads():
            return COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"minimm: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nminimm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except mio.CheckpointError as exc:
        print(f"minimm: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
