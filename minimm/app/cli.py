"""The ``minimm`` command line (also ``python -m minimm``). ``minimm`` alone prints the help.

Commands:

* ``minimm demo [--out DIR] [--device D] [--quick] [--seed N]`` — trains the multimodal pipeline
  on the shapes data (about a minute on 2 CPU cores; ``--quick``: seconds, a smoke test), prints a
  results table and writes to DIR: ``metrics.json``, ``loss_curves.png``, ``caption_to_image.png``,
  ``image_to_caption.png``, ``latent_map.png``, ``alignment_heatmap.png`` and the trained pipeline
  (``pipeline/``, for ``generate`` and ``caption``).
* ``minimm train {cvae,mvae,cgan,caption,align} --dataset {shapes,digits} --epochs N --device D
  --out DIR [--resume | --overwrite]`` — one model, a checkpoint each epoch (``DIR/checkpoint.npz``),
  one log line per epoch as it ends, and bit-identical continuation with ``--resume``; Ctrl-C saves
  a checkpoint first. A folder that already holds a run is never overwritten without ``--overwrite``.
* ``minimm evaluate [--quick] [--out DIR] [--only NAMES]`` — the quality table (every model on its
  defaults, measured on the held-out split), written as ``results.md`` and ``results.json``.
* ``minimm generate --checkpoint PATH --text "..." --out x.png`` and
  ``minimm caption --checkpoint PATH --image x.png`` — use a trained pipeline (``DIR/pipeline``
  from ``demo``) or a ``train cvae`` / ``train caption`` run on shapes (its ``DIR``).
* ``minimm info`` — the backends minimm can use; ``minimm --version``.

Errors a user can cause (a bad device, a missing or damaged checkpoint, a bad image, a folder that
cannot be written, a missing optional package) print one line ``minimm: error: ...`` and exit with
status 1, and leave no half-written file; bad arguments print the usage and exit with 2.
The BLAS library runs on ``MINIMM_NUM_THREADS`` threads (default 1: the models are small).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from .. import __version__
from .. import backend as B
from .. import io as mio
from .. import manual_seed
from ..data.datasets.shapes import ATTRIBUTES, caption_attributes
from ..io.atomic import atomic_write
from ..io.errors import describe_os_error
from ..viz import show_samples
from . import builders
from .demo import demo_table
from .pipeline import CONFIG_NAME as PIPELINE_CONFIG, MultimodalPipeline
from .quality import RECIPES, evaluate_all, format_table

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
SEED_MAX = 2**32 - 1
CHECKPOINT = "checkpoint.npz"

QUICK_WARNING = ("note: --quick trains for a few seconds on less data: these numbers only show that "
                 "everything runs (a smoke test), not what the models reach; run without --quick for that")


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


def _check_seed(seed: int) -> None:
    """NumPy's generators take seeds in [0, 2**32): say so before anything runs."""
    if not 0 <= seed <= SEED_MAX:
        raise CLIError(f"--seed must be between 0 and {SEED_MAX}, got {seed}")


def _say(msg: str = "") -> None:
    print(msg, flush=True)  # flushed: a log file shows each line as it happens


def _warn(msg: str) -> None:
    print(f"minimm: warning: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Writing files: check the folder first, never leave half a file
# ---------------------------------------------------------------------------------------------
def _cannot_write(path: str, exc: OSError) -> CLIError:
    """``cannot write 'path': no space left on device`` — the one line every OS error becomes."""
    if isinstance(exc, mio.CheckpointWriteError):
        return CLIError(str(exc))
    return CLIError(f"cannot write {path!r}: {describe_os_error(exc)}")


@contextlib.contextmanager
def _writing(path: str):
    """Turn any OS error while writing ``path`` into one :class:`CLIError`."""
    try:
        yield
    except OSError as exc:
        raise _cannot_write(getattr(exc, "filename", None) or path, exc) from None


def _prepare_folder(path: str, option: str = "--out") -> None:
    """Create the output folder and prove it is writable *before* any work starts, so a typo or a
    read-only place fails in a second instead of after the training."""
    if os.path.lexists(path) and not os.path.isdir(path):
        what = "a symbolic link that leads nowhere (or a loop)" if os.path.islink(path) else "a file"
        raise CLIError(f"{option} {path!r} is {what}, not a folder: choose another {option}")
    with _writing(path):
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".minimm-probe-", dir=path)  # the real test, also for root
        os.close(fd)
        os.unlink(probe)


def _write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON atomically: the old file or the new one, never half of one."""
    data = json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8")
    with _writing(path):
        atomic_write(path, lambda f: f.write(data))


@contextlib.contextmanager
def _staged(out: str):
    """A hidden temporary folder inside ``out``; what is written there is moved into ``out`` only
    when everything has been written. On any error nothing new appears in ``out``."""
    with _writing(out):
        tmp = tempfile.mkdtemp(prefix=".minimm-tmp-", dir=out)
    try:
        try:
            yield tmp
            for name in sorted(os.listdir(tmp)):
                src, dst = os.path.join(tmp, name), os.path.join(out, name)
                if os.path.isdir(src) and os.path.isdir(dst) and not os.path.islink(dst):
                    os.replace(dst, os.path.join(tmp, name + ".old"))  # a folder cannot be replaced in one step
                os.replace(src, dst)
        except OSError as exc:
            # name the user's path, not the temporary folder's
            raise CLIError(str(_cannot_write(getattr(exc, "filename", None) or out, exc)).replace(tmp, out)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    """``minimm demo``: the four pipeline steps on shapes, a results table and the figures."""
    device = _check_device(args.device)
    _check_seed(args.seed)
    out = args.out
    _prepare_folder(out)
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
    with _staged(out) as tmp:
        names = [os.path.basename(p) for p in pipe.write_figures(tmp)]
        pipe.save(os.path.join(tmp, "pipeline"))
        _write_json(os.path.join(tmp, "metrics.json"), metrics)
    _say("")
    _say(demo_table(metrics))
    if args.quick:
        _say(QUICK_WARNING)
    _say("")
    _say(f"wrote {os.path.join(out, 'metrics.json')}")
    for name in names:
        _say(f"wrote {os.path.join(out, name)}")
    _say(f"wrote {os.path.join(out, 'pipeline')}/ (try: minimm generate --checkpoint {os.path.join(out, 'pipeline')} "
         '--text "a small dim square at the bottom right" --out x.png)')
    _say(f"done in {metrics['total_seconds']:.1f} s")
    return 0


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
def _read_run_config(out: str) -> dict:
    """The ``config.json`` of a ``minimm train`` folder, or one clear line why it cannot be read."""
    path = os.path.join(out, builders.CONFIG_NAME)
    try:
        cfg = builders.read_config(out)
    except FileNotFoundError:
        raise CLIError(f"{out!r} has a {CHECKPOINT} but no {builders.CONFIG_NAME}: it was not written by "
                       "`minimm train` (or is damaged)") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise CLIError(f"{path!r} is damaged (not valid JSON: {exc}); the folder cannot be resumed or used") from None
    except OSError as exc:
        raise CLIError(f"cannot read {path!r}: {describe_os_error(exc)}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("kind"), str):
        raise CLIError(f"{path!r} is damaged: it does not say which model the folder holds")
    return cfg


def _same_json(a, b) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _check_resumable(out: str, saved: dict, config: dict) -> None:
    """Refuse a resume whose model or settings differ from the folder's, before anything is written."""
    if _same_json(saved, config):
        return
    flags = {"seed": "--seed", "quick": "--quick", "dataset": "--dataset"}
    diffs = [f"{flags[k]} {saved.get(k)!r} there, {config.get(k)!r} here" for k in flags
             if not _same_json(saved.get(k), config.get(k))]
    what = "; ".join(diffs) if diffs else "the model's settings differ (made by another minimm version?)"
    raise CLIError(f"cannot resume {out!r}: {what}; resume with the run's own options, or use another --out")


def _describe_run(out: str) -> str:
    try:
        cfg = builders.read_config(out)
        return f"a {cfg['kind']} model on {cfg['dataset']}"
    except Exception:  # noqa: BLE001 - only for the message: the run exists either way
        return "a training run"


def _epoch_line(h: dict) -> str:
    logs = "  ".join(f"{k} {v:.4f}" for k, v in h.items() if k not in ("epoch", "seconds"))
    return f"  epoch {h['epoch']:3d}  {logs}  ({h.get('seconds', 0.0):.1f} s)"


def _log_each_epoch(trainer, already: int) -> dict:
    """Print one line per epoch as soon as its checkpoint is written (the Trainer saves after every
    epoch). Done by wrapping the trainer's ``save_checkpoint``, the one call each epoch ends with."""
    state = {"last": already}
    save = trainer.save_checkpoint

    def save_and_log(*a, **kw):
        path = save(*a, **kw)
        for h in trainer.history:
            if h["epoch"] > state["last"]:
                _say(_epoch_line(h))
                state["last"] = h["epoch"]
        return path

    trainer.save_checkpoint = save_and_log
    return state


def cmd_train(args) -> int:
    """``minimm train``: one model on one dataset, a checkpoint every epoch, ``--resume``."""
    device = _check_device(args.device)
    _check_seed(args.seed)
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.distributed:
        raise CLIError("--distributed: the Trainer has no data-parallel mode in this version yet; use "
                       "minimm.distributed from Python (docs: distributed) or train without --distributed")
    out = args.out
    ckpt = os.path.join(out, CHECKPOINT)
    if os.path.lexists(out) and not os.path.isdir(out):
        _prepare_folder(out)  # raises: a file (or a broken link) where the folder should be
    if os.path.isdir(ckpt):
        raise CLIError(f"cannot write {ckpt!r}: it is a folder, not a file")
    has_run = os.path.lexists(ckpt) or os.path.lexists(os.path.join(out, builders.CONFIG_NAME))
    saved = None
    # Every check before any write: a refused command leaves the folder exactly as it was.
    if args.resume:
        if not os.path.isfile(ckpt):
            raise CLIError(f"cannot resume: no checkpoint at {ckpt} (train without --resume first)")
        saved = _read_run_config(out)
        if (saved.get("kind"), saved.get("dataset")) != (args.model, args.dataset):
            raise CLIError(f"cannot resume {out!r}: it holds a {saved.get('kind')} model trained on "
                           f"{saved.get('dataset')}, not {args.model} on {args.dataset} (resume it with "
                           f"`minimm train {saved.get('kind')} --dataset {saved.get('dataset')} --resume`, "
                           f"or train {args.model} in another --out)")
    elif has_run and not args.overwrite:
        raise CLIError(f"{out!r} already holds {_describe_run(out)}: continue it with --resume, replace it "
                       "with --overwrite, or choose another --out")
    try:
        trainer, config = builders.build(args.model, args.dataset, device=device, epochs=args.epochs,
                                          seed=args.seed, out_dir=out, quick=args.quick,
                                          batch_size=args.batch_size)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.resume:
        _check_resumable(out, saved, config)
        try:  # read (and check) the checkpoint now: a mismatch must surface before anything is written
            trainer.load_checkpoint()
        except (mio.CheckpointError, ValueError, KeyError, TypeError) as exc:
            raise CLIError(f"cannot resume from {ckpt!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        done = trainer.epoch
        if done >= trainer.epochs:
            _say(f"nothing to train: {out} already holds {done} of {trainer.epochs} epochs of {args.model} on "
                 f"{args.dataset} (pass a larger --epochs to train more); {ckpt} is unchanged")
            return 0
    else:
        done = 0
        _prepare_folder(out)
        if args.overwrite:  # the user asked for it: the old run goes before the new one starts
            for name in (CHECKPOINT, "history.json", builders.CONFIG_NAME):
                path = os.path.join(out, name)
                if os.path.lexists(path) and not os.path.isdir(path):
                    with _writing(path):
                        os.unlink(path)
        _write_json(os.path.join(out, builders.CONFIG_NAME), config)
    _say(f"training {args.model} on {args.dataset} for {trainer.epochs} epochs on {device} → {ckpt}"
         + (f" (resuming after epoch {done})" if args.resume else ""))
    state = _log_each_epoch(trainer, done)
    try:
        with _writing(ckpt):
            history = trainer.fit(resume=args.resume)
    except KeyboardInterrupt:
        _say(f"\ninterrupted: checkpoint saved at {ckpt} (epoch {trainer.epoch}, step {trainer.step}); "
             "continue with --resume")
        return EXIT_INTERRUPTED
    for h in history:  # any epoch not yet printed (a trainer that saves less often)
        if h["epoch"] > state["last"]:
            _say(_epoch_line(h))
    _say(f"saved {ckpt} ({trainer.epoch - done} epoch{'s' if trainer.epoch - done != 1 else ''} trained)")
    if args.quick:
        _say("note: --quick trains on less data: a smoke test, not the model's quality")
    return 0


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    """``minimm evaluate``: every model of the quality table, written as markdown and JSON."""
    device = _check_device(args.device)
    _check_seed(args.seed)
    only = args.only.split(",") if args.only else None
    if only:
        bad = [n for n in only if n not in RECIPES]
        if bad:
            raise CLIError(f"unknown recipe(s) {bad}; choose from {', '.join(RECIPES)}")
    _prepare_folder(args.out)
    _say(f"minimm evaluate: the quality table ({'quick' if args.quick else 'full'} setting, {device})")

    def echo(e):
        v = "error: " + e["error"] if "error" in e else f"{e['value']:.4g} (target {e['target']})"
        _say(f"  {e['model']}: {e['task']}: {v}  [{e['seconds']:.1f} s]")

    entries = evaluate_all(quick=args.quick, out_dir=args.out, device=device, seed=args.seed, only=only, echo=echo)
    _say("")
    _say(format_table(entries))
    if args.quick:
        _say(QUICK_WARNING)
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
    is_pipeline = MultimodalPipeline.is_saved(path)
    name = PIPELINE_CONFIG if is_pipeline else builders.CONFIG_NAME
    try:
        if is_pipeline:
            return MultimodalPipeline.load(path, device=device)
        return builders.load_for_inference(path, device=device)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    except mio.CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        # a damaged or hand-edited JSON file: JSONDecodeError, a missing field, a field of the wrong type
        why = f"not valid JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else f"{type(exc).__name__}: {exc}"
        raise CLIError(f"cannot load {path!r}: its {name} is damaged ({why}); write the folder again") from None


def _text_vectorizer(model):
    """The bag of words a text-conditioned generator reads its caption with (None if it has none)."""
    vec = getattr(model, "vectorizer", None)
    return vec if vec is not None else getattr(getattr(model, "model", None), "vectorizer", None)


def _check_caption(model, text: str) -> None:
    """Say which words and attributes of ``text`` the model understood; refuse a caption of which it
    understands no attribute (it would draw a grey blob), warn when it understands only some."""
    if not text.strip():
        raise CLIError('--text is empty: describe a picture, e.g. "a small dim square at the bottom right"')
    vec = _text_vectorizer(model)
    if vec is None:
        return  # the model itself says it cannot draw from captions
    tokens = vec.tokenizer(text)
    unknown = [w for w in tokens if w not in vec.vocabulary_]
    found = caption_attributes(text)
    named = {a: v for a, v in found.items() if v}
    if not named:
        raise CLIError(f"the model understands none of {text!r}: it knows captions naming a shape, size, "
                       "brightness and position, e.g. \"a small dim square at the bottom right\""
                       + (f" (unknown words: {', '.join(unknown)})" if unknown else ""))
    missing = [a for a in ATTRIBUTES if not found[a]]
    conflicting = [a for a, v in named.items() if len(v) > 1]
    if unknown or missing or conflicting:
        understood = ", ".join(f"{a} {'/'.join(v)}" for a, v in named.items())
        parts = [f"understood {understood}"]
        if missing:
            parts.append(f"not named, so left to chance: {', '.join(missing)}")
        if conflicting:
            parts.append(f"contradictory: {', '.join(conflicting)}")
        if unknown:
            parts.append(f"ignored unknown words: {', '.join(unknown)}")
        _warn("; ".join(parts))


def _image_format(out: str) -> str:
    """The file format ``--out``'s extension names (one matplotlib can write), or a clear error."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in formats:
        hint = f"e.g. {out.rstrip('.')}.png" if not ext else f"one of {', '.join(sorted(formats))}"
        raise CLIError(f"--out {out!r} needs an image file extension ({hint})")
    return ext


def cmd_generate(args) -> int:
    """``minimm generate``: images from a caption (or a label) with a trained checkpoint."""
    device = _check_device(args.device)
    _check_seed(args.seed)
    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} is a folder: name a file in it, e.g. {os.path.join(args.out, 'x.png')}")
    fmt = _image_format(args.out)
    model = _load_for_inference(args.checkpoint, device)
    _check_caption(model, args.text)
    manual_seed(args.seed)
    try:
        images = np.asarray(model.generate_image(args.text, n=args.n))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    folder = os.path.dirname(os.path.abspath(args.out))
    with _writing(folder):
        os.makedirs(folder, exist_ok=True)
    if args.n == 1:
        # the picture itself, each pixel an 8×8 block: `minimm caption --image` reads it back exactly
        import matplotlib.image as mpimg

        big = np.kron(np.clip(images[0], 0.0, 1.0), np.ones((8, 8)))
        draw = lambda f: mpimg.imsave(f, big, cmap="gray", vmin=0.0, vmax=1.0, format=fmt)  # noqa: E731
    else:  # several samples: a captioned grid
        fig = show_samples(images, captions=[args.text] * args.n, ncols=min(args.n, 8))
        draw = lambda f: fig.savefig(f, dpi=100, format=fmt)  # noqa: E731
    with _writing(args.out):
        atomic_write(args.out, draw)  # the old file or the whole new one, never half a picture
    _say(f"wrote {args.out} ({args.n} image{'s' if args.n > 1 else ''} for {args.text!r})")
    return 0


def _read_image(path: str) -> np.ndarray:
    """A grey image in [0, 1] from a PNG (or .npy) file; colour images are averaged to grey."""
    if not os.path.isfile(path):
        raise CLIError(f"no image at {path!r}")
    try:
        if path.endswith(".npy"):
            img = np.load(path, allow_pickle=False)
        else:
            import matplotlib.image as mpimg

            img = mpimg.imread(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise CLIError(f"cannot read {path!r} as an image: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
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


_MODELS = {
    "cvae": "caption → image conditional VAE (shapes: captions; digits: labels)",
    "mvae": "multimodal VAE of digit images and number words (digits only)",
    "cgan": "conditional GAN (digits: labels; shapes: captions)",
    "caption": "image → caption autoregressive decoder",
    "align": "contrastive image–caption alignment",
}


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
    common(demo)

    train = sub.add_parser("train", help="train one model with checkpoints each epoch",
                           description="Train one model, with a checkpoint and one log line per epoch. A "
                                       "folder that holds a run is only continued (--resume) or replaced "
                                       "(--overwrite), never overwritten by accident.")
    train.add_argument("model", choices=list(_MODELS), metavar="MODEL",
                       help="which model: " + "; ".join(f"{k}: {v}" for k, v in _MODELS.items()))
    train.add_argument("--dataset", choices=["shapes", "digits"], default="shapes",
                       help="shapes (generated, 16×16 pictures with captions) or digits (8×8 handwritten "
                            "digits; needs scikit-learn: pip install minimm[data]) (default: shapes)")
    train.add_argument("--epochs", type=int, default=None,
                       help="number of epochs (default: the model's reference setup, e.g. 40 for cvae on shapes)")
    train.add_argument("--batch-size", type=int, default=64, help="samples per optimiser step (default: 64)")
    train.add_argument("--out", default="minimm-train",
                       help="folder of checkpoint.npz, config.json and history.json (default: ./minimm-train)")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out, bit-identically (default: off; a finished run is left as it is)")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace a run already in --out (default: off, such a folder is refused)")
    train.add_argument("--quick", action="store_true", help="a smaller dataset, for smoke tests (default: off)")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the ranks of `mpiexec -n N` (default: off; not available yet)")
    common(train)

    ev = sub.add_parser("evaluate", help="train every model of the quality table and measure it",
                        description="Train every model of the README's quality table on its defaults and "
                                    "measure it on the held-out split; writes results.md and results.json.")
    ev.add_argument("--quick", action="store_true",
                    help="reduced epochs: a smoke test, the numbers are then not final (default: off)")
    ev.add_argument("--out", default="minimm-results",
                    help="folder for results.md and results.json (default: ./minimm-results)")
    ev.add_argument("--only", default=None, metavar="NAME[,NAME...]",
                    help="comma-separated recipe names, of: " + ", ".join(RECIPES) + " (default: all)")
    common(ev)

    gen = sub.add_parser("generate", help="draw images from a caption with a trained model")
    gen.add_argument("--checkpoint", required=True,
                     help="DIR/pipeline from demo, or a `train cvae`/`train cgan` folder on shapes (required)")
    gen.add_argument("--text", required=True,
                     help='the caption (required), naming a shape, size, brightness and position, e.g. '
                          '"a small dim square at the bottom right"')
    gen.add_argument("--out", default="generated.png",
                     help="image file to write, its extension the format (default: generated.png): the picture "
                          "itself, or a grid when --n > 1")
    gen.add_argument("--n", type=int, default=1, help="number of samples (default: 1)")
    common(gen)

    cap = sub.add_parser("caption", help="describe an image with a trained model")
    cap.add_argument("--checkpoint", required=True,
                     help="DIR/pipeline from demo, or a `train caption` folder on shapes (required)")
    cap.add_argument("--image", required=True, help="a 16×16 grey PNG (or a multiple of 16), or .npy (required)")
    common(cap, seed=False)

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
        with _blas_threads():
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("\nminimm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, mio.CheckpointError) as exc:
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
