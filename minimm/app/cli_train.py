"""``minimm train``: one model, a checkpoint and a log line per epoch, and a resume checked in full
before anything in the folder is written (used by :mod:`minimm.app.cli`)."""

from __future__ import annotations

import contextlib
import inspect
import json
import os

from .. import io as mio
from ..io.errors import describe_os_error
from . import builders
from .cli_common import (CHECKPOINT, EXIT_INTERRUPTED, CLIError, check_device, check_seed, prepare_folder, say,
                         writing, write_json)

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


def _schedule_of(config: dict):
    """A diffusion run's noise schedule as its config records it (None for other models)."""
    args = config.get("args")
    return args.get("schedule") if isinstance(args, dict) else None


def _check_resumable(out: str, saved: dict, config: dict) -> None:
    """Refuse a resume whose model or settings differ from the folder's, before anything is written."""
    if _same_json(saved, config):
        return
    flags = {"seed": "--seed", "quick": "--quick", "dataset": "--dataset"}
    diffs = [f"{flags[k]} {saved.get(k)!r} there, {config.get(k)!r} here" for k in flags
             if not _same_json(saved.get(k), config.get(k))]
    there, here = _schedule_of(saved), _schedule_of(config)
    if there != here:
        diffs.append(f"--schedule {there!r} there, {here!r} here")
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
                say(_epoch_line(h))
                state["last"] = h["epoch"]
        return path

    trainer.save_checkpoint = save_and_log
    return state


def _check_folder(args) -> dict | None:
    """Every check of ``--out`` that needs no model, before anything is written: a file or a folder
    in the wrong place, a run that would be overwritten, a resume of another model. Returns the
    folder's saved config when resuming."""
    out = args.out
    ckpt = os.path.join(out, CHECKPOINT)
    if os.path.lexists(out) and not os.path.isdir(out):
        prepare_folder(out)  # raises: a file (or a broken link) where the folder should be
    if os.path.isdir(ckpt):
        raise CLIError(f"cannot write {ckpt!r}: it is a folder, not a file")
    if not args.resume:
        has_run = os.path.lexists(ckpt) or os.path.lexists(os.path.join(out, builders.CONFIG_NAME))
        if has_run and not args.overwrite:
            raise CLIError(f"{out!r} already holds {_describe_run(out)}: continue it with --resume, replace it "
                           "with --overwrite, or choose another --out")
        return None
    if not os.path.isfile(ckpt):
        raise CLIError(f"cannot resume: no checkpoint at {ckpt} (train without --resume first)")
    saved = _read_run_config(out)
    if (saved.get("kind"), saved.get("dataset")) != (args.model, args.dataset):
        raise CLIError(f"cannot resume {out!r}: it holds a {saved.get('kind')} model trained on "
                       f"{saved.get('dataset')}, not {args.model} on {args.dataset} (resume it with "
                       f"`minimm train {saved.get('kind')} --dataset {saved.get('dataset')} --resume`, "
                       f"or train {args.model} in another --out)")
    return saved


def _start_fresh(out: str, config: dict, overwrite: bool) -> None:
    """A new run: the folder (checked writable), the old run removed when asked, ``config.json``."""
    prepare_folder(out)
    if overwrite:  # the user asked for it: the old run goes before the new one starts
        for name in (CHECKPOINT, "history.json", builders.CONFIG_NAME):
            path = os.path.join(out, name)
            if os.path.lexists(path) and not os.path.isdir(path):
                with writing(path):
                    os.unlink(path)
    write_json(os.path.join(out, builders.CONFIG_NAME), config)


def _load_for_resume(trainer, ckpt: str) -> None:
    """Read (and so check) the checkpoint now: a mismatch must surface before anything is written."""
    try:
        trainer.load_checkpoint()
    # RuntimeError: a DistributedError (a checkpoint of another number of ranks)
    except (mio.CheckpointError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CLIError(f"cannot resume from {ckpt!r}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None


def _join_world(args) -> int:
    """``--distributed``: join the ranks ``mpiexec -n N`` started, *before* the model is built (the
    Trainer then wraps it and averages gradients). ``--batch-size`` stays the global batch, so N
    ranks train on the batches one process would. Returns the number of ranks."""
    from ..training import Trainer

    if "distributed" not in inspect.signature(Trainer).parameters:
        raise CLIError("--distributed: this version's Trainer has no data-parallel mode; train without --distributed")
    from .. import distributed as dist

    try:
        dist.init(device=args.device)
    except dist.DistributedError as exc:
        raise CLIError(f"--distributed: {exc}") from None
    world = dist.world_size()
    if args.batch_size % world:
        raise CLIError(f"--distributed: --batch-size {args.batch_size} is the global batch; it must be a "
                       f"multiple of the {world} ranks")
    return world


def _shard(trainer, world: int, seed: int) -> None:
    """Give the trainer this rank's shard: the same data and transform, a per-rank batch."""
    from ..distributed import DistributedLoader

    old = trainer.train_loader
    trainer.train_loader = DistributedLoader(old.dataset, batch_size=old.batch_size // world, shuffle=True,
                                             drop_last=old.drop_last, seed=seed, device=old.device,
                                             transform=old.transform)


def _rank() -> int:
    from .. import distributed as dist

    return dist.rank() if dist.is_initialized() else 0


def cmd_train(args) -> int:
    """``minimm train``: one model on one dataset, a checkpoint every epoch, ``--resume``; with
    ``--distributed`` under ``mpiexec`` every rank runs this and only rank 0 prints and writes."""
    if args.batch_size is None:  # the model's reference batch (resolved first: --distributed divides it)
        args.batch_size = builders.default_batch_size(args.model, args.dataset)
    world = _join_world(args) if args.distributed else 1
    quiet = open(os.devnull, "w") if _rank() > 0 else None  # noqa: SIM115 - closed below
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            return _train(args, world)
    finally:
        if quiet:
            quiet.close()


def _train(args, world: int) -> int:
    """``minimm train``: one model on one dataset, a checkpoint every epoch, ``--resume``."""
    device = check_device(args.device)
    check_seed(args.seed)
    if args.epochs is not None and args.epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")
    out, ckpt = args.out, os.path.join(args.out, CHECKPOINT)
    saved = _check_folder(args)  # a refused command leaves the folder exactly as it was
    schedule = args.schedule
    if schedule is None and saved is not None and args.model == "diffusion":
        schedule = _schedule_of(saved)  # --resume keeps the run's own schedule
    try:
        trainer, config = builders.build(args.model, args.dataset, device=device, epochs=args.epochs,
                                          seed=args.seed, out_dir=out, quick=args.quick,
                                          batch_size=args.batch_size, schedule=schedule)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except RuntimeError as exc:  # the data-parallel Trainer refuses a model it cannot split (GANs, alignment)
        if world == 1:
            raise
        raise CLIError(f"--distributed: {exc}") from None
    if world > 1:
        _shard(trainer, world, args.seed)
    done = 0
    if args.resume:
        _check_resumable(out, saved, config)
        _load_for_resume(trainer, ckpt)
        done = trainer.epoch
        if done >= trainer.epochs:
            say(f"nothing to train: {out} already holds {done} of {trainer.epochs} epochs of {args.model} on "
                f"{args.dataset} (pass a larger --epochs to train more); {ckpt} is unchanged")
            return 0
    elif _rank() == 0:
        _start_fresh(out, config, args.overwrite)
    say(f"training {args.model} on {args.dataset} for {trainer.epochs} epochs on {device} → {ckpt}"
        + (f" (resuming after epoch {done})" if args.resume else ""))
    state = _log_each_epoch(trainer, done)
    try:
        with writing(ckpt):
            history = trainer.fit(resume=args.resume)
    except KeyboardInterrupt:
        say(f"\ninterrupted: checkpoint saved at {ckpt} (epoch {trainer.epoch}, step {trainer.step}); "
            "continue with --resume")
        return EXIT_INTERRUPTED
    for h in history:  # any epoch not yet printed (a trainer that saves less often)
        if h["epoch"] > state["last"]:
            say(_epoch_line(h))
    n = trainer.epoch - done
    say(f"saved {ckpt} ({n} epoch{'s' if n != 1 else ''} trained)")
    if args.quick:
        say("note: --quick trains on less data: a smoke test, not the model's quality")
    return 0


_MODELS = {
    "cvae": "caption → image conditional VAE (shapes: captions; digits: labels)",
    "mvae": "multimodal VAE: digit images with number words, or shapes with their captions",
    "cgan": "conditional GAN (digits: labels; shapes: captions)",
    "caption": "image → caption autoregressive decoder",
    "align": "contrastive image–caption alignment",
    "diffusion": "denoising diffusion with classifier-free guidance (shapes: captions; digits: labels)",
    "sound": "caption → sound generator (shapes; spectrogram CVAE, waveform by Griffin-Lim)",
    "sound-caption": "sound → caption autoregressive decoder (shapes)",
    "tone": "digit image → DTMF waveform generator (digits)",
}


def add_train_parser(sub, common) -> None:
    """The ``train`` sub-command's options (``common`` adds ``--device`` and ``--seed``)."""
    train = sub.add_parser("train", help="train one model with checkpoints each epoch",
                           description="Train one model, with a checkpoint and one log line per epoch. A "
                                       "folder that holds a run is only continued (--resume) or replaced "
                                       "(--overwrite), never overwritten by accident.")
    train.add_argument("model", choices=list(_MODELS), metavar="MODEL",
                       help="which model: " + "; ".join(f"{k}: {v}" for k, v in _MODELS.items()))
    train.add_argument("--dataset", choices=["shapes", "digits", "video"], default="shapes",
                       help="shapes (generated, 16×16 pictures with captions), digits (8×8 handwritten "
                            "digits; needs scikit-learn: pip install minimm[data]) or video (generated 8-frame "
                            "clips of moving coloured shapes, for cvae and caption) (default: shapes)")
    train.add_argument("--epochs", type=int, default=None,
                       help="number of epochs (default: the model's reference setup, e.g. 40 for cvae on shapes, "
                            "165 for diffusion on shapes, 100 for diffusion on digits)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="samples per optimiser step (default: 64; diffusion: its reference batch, 256 on "
                            "shapes, 64 on digits; mvae on shapes: 128)")
    train.add_argument("--schedule", default=None, metavar="{linear,cosine}",
                       help="diffusion only: the noise schedule β_1 … β_T (default: cosine; --resume keeps the "
                            "run's own)")
    train.add_argument("--out", default="minimm-train",
                       help="folder of checkpoint.npz, config.json and history.json (default: ./minimm-train)")
    mode = train.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in --out, bit-identically (default: off; a finished run is left as it is)")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace a run already in --out (default: off, such a folder is refused)")
    train.add_argument("--quick", action="store_true", help="a smaller dataset, for smoke tests (default: off)")
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel over the ranks of `mpiexec -n N minimm train ...`; --batch-size is the "
                            "global batch (default: off)")
    common(train)
