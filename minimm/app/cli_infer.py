"""``minimm generate`` and ``minimm caption``: with a trained pipeline or ``minimm train``
folder (used by :mod:`minimm.app.cli`)."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .. import io as mio
from .. import manual_seed
from ..data.datasets.shapes import ATTRIBUTES, caption_attributes
from ..io.atomic import atomic_write
from ..viz import show_samples
from . import builders
from .cli_common import CLIError, check_device, check_seed, say, warn, writing
from .cli_video import caption_clip, generate_video
from .cli_sound import caption_sound, generate_sound
from .pipeline import CONFIG_NAME as PIPELINE_CONFIG, MultimodalPipeline

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
        warn("; ".join(parts))


def _image_format(out: str) -> str:
    """The file format ``--out``'s extension names (one matplotlib can write), or a clear error."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext not in formats:
        hint = f"e.g. {out.rstrip('.')}.png" if not ext else f"one of {', '.join(sorted(formats))}"
        raise CLIError(f"--out {out!r} needs an image file extension ({hint})")
    return ext


def _check_sampling_numbers(args) -> None:
    """The sampler options that need no model, checked before anything is loaded."""
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps must be at least 1, got {args.steps}")
    if args.guidance is not None and not (math.isfinite(args.guidance) and args.guidance >= 0):
        raise CLIError(f"--guidance must be a finite number >= 0 (0: no guidance), got {args.guidance}")
    if args.eta is not None and not 0.0 <= args.eta <= 1.0:
        raise CLIError(f"--eta must be between 0 (deterministic DDIM) and 1 (DDPM-like), got {args.eta}")


def _sampling_note(model, sampling: dict) -> str:
    """``, ddim 20 steps, guidance 0.5`` for a diffusion model (what was actually used), else ''."""
    m = getattr(model, "model", None)
    if not getattr(model, "is_diffusion", False):
        return ""
    sampler = sampling.get("sampler", m.sampler)
    steps = m.T if sampler == "ddpm" else sampling.get("steps", m.steps)
    note = f", {sampler} {steps} steps, guidance {sampling.get('guidance', m.guidance):g}"
    return note + (f", eta {sampling.get('eta', m.eta):g}" if sampler == "ddim" else "")


def cmd_generate(args) -> int:
    """``minimm generate``: images (or, with ``--modality sound``, a WAV) from a caption."""
    device = check_device(args.device)
    check_seed(args.seed)
    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    _check_sampling_numbers(args)
    if getattr(args, "modality", "image") == "sound":
        return generate_sound(args, device, _load_for_inference, _check_caption)
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} is a folder: name a file in it, e.g. {os.path.join(args.out, 'x.png')}")
    if getattr(args, "modality", "image") == "video":
        return generate_video(args, _load_for_inference(args.checkpoint, device))
    fmt = _image_format(args.out)
    model = _load_for_inference(args.checkpoint, device)
    sampling = {"sampler": args.sampler, "steps": args.steps, "guidance": args.guidance, "eta": args.eta}
    sampling = {k: v for k, v in sampling.items() if v is not None}
    try:
        if sampling and not hasattr(model, "check_sampling"):  # a demo pipeline: a CVAE, no sampler
            raise ValueError(f"{', '.join('--' + k for k in sampling)}: only a diffusion model has sampler "
                             "options; this is a demo pipeline (train one with `minimm train diffusion`)")
        if args.label is not None:
            if not hasattr(model, "generate_label"):
                raise ValueError("--label: a demo pipeline draws from captions; pass --text")
            what = f"label {args.label}"
            model.check_sampling(**sampling)
            manual_seed(args.seed)
            images = np.asarray(model.generate_label(args.label, n=args.n, **sampling))
        else:
            what = repr(args.text)
            if sampling:
                model.check_sampling(**sampling)
            _check_caption(model, args.text)
            manual_seed(args.seed)
            images = np.asarray(model.generate_image(args.text, n=args.n, **sampling))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    folder = os.path.dirname(os.path.abspath(args.out))
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    if args.n == 1:
        # the picture itself, each pixel an 8×8 block: `minimm caption --image` reads it back exactly
        import matplotlib.image as mpimg

        big = np.kron(np.clip(images[0], 0.0, 1.0), np.ones((8, 8)))
        draw = lambda f: mpimg.imsave(f, big, cmap="gray", vmin=0.0, vmax=1.0, format=fmt)  # noqa: E731
    else:  # several samples: a grid, each titled with its caption (or label)
        titles = [args.text if args.label is None else str(args.label)] * args.n
        fig = show_samples(images, captions=titles, ncols=min(args.n, 8))
        draw = lambda f: fig.savefig(f, dpi=100, format=fmt)  # noqa: E731
    with writing(args.out):
        atomic_write(args.out, draw)  # the old file or the whole new one, never half a picture
    say(f"wrote {args.out} ({args.n} image{'s' if args.n > 1 else ''} for {what}{_sampling_note(model, sampling)})")
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
    """``minimm caption``: a caption for an image file (or, with ``--sound``, a WAV file)."""
    device = check_device(args.device)
    given = [name for name in ("image", "clip", "sound") if getattr(args, name, None) is not None]
    if len(given) != 1:
        raise CLIError("give one of --image (a picture), --clip (a GIF or .npy clip) or --sound (a WAV file)")
    model = _load_for_inference(args.checkpoint, device)
    if given == ["clip"]:
        return caption_clip(args, model)
    if given == ["sound"]:
        return caption_sound(model, args.sound)
    img = _fit_size(_read_image(args.image), model.image_size)
    try:
        caption = model.describe(img)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    say(caption if isinstance(caption, str) else caption[0])
    return 0


def add_generate_parser(sub, common) -> None:
    """The ``generate`` sub-command's options (``common`` adds ``--device`` and ``--seed``)."""
    gen = sub.add_parser("generate", help="draw images from a caption (or a digit label) with a trained model",
                         description="Draw images with a trained model: from a caption (--text: a demo "
                                     "pipeline, or a `train cvae|cgan|diffusion --dataset shapes` folder) or a "
                                     "class label (--label: a `train cvae|cgan|diffusion --dataset digits` "
                                     "folder). A diffusion model also takes --sampler, --steps, --guidance "
                                     "and --eta.")
    gen.add_argument("--checkpoint", required=True,
                     help="DIR/pipeline from demo, or a `minimm train` folder of cvae, cgan or diffusion (required)")
    what = gen.add_mutually_exclusive_group(required=True)
    what.add_argument("--text",
                      help='the caption, naming a shape, size, brightness and position, e.g. '
                           '"a small dim square at the bottom right" (no default: give this or --label)')
    what.add_argument("--label", type=int, default=None,
                      help="a class id (a digit 0-9) for a model trained on digits (no default: give this or --text)")
    gen.add_argument("--out", default="generated.png",
                     help="image file to write, its extension the format (default: generated.png): the picture "
                          "itself, or a grid when --n > 1")
    gen.add_argument("--n", type=int, default=1, help="number of samples (default: 1)")
    gen.add_argument("--modality", choices=["image", "video", "sound"], default="image",
                     help="image (a picture), video (a clip: .gif animation or a .png frame strip; needs `train "
                          "cvae --dataset video`) or sound (a `train sound` folder: --out x.wav, 16-bit PCM, plus "
                          "its spectrogram x.png) (default: image)")
    diff = gen.add_argument_group("diffusion sampling (a `train diffusion` folder only; defaults: the model's "
                                  "reference setting, which meets the quality table's targets)")
    diff.add_argument("--sampler", choices=["ddim", "ddpm", "euler", "heun"], default=None,
                      help="ddim (few deterministic steps) or ddpm (all T = 1000 ancestral steps) for a "
                           "diffusion model; euler or heun for a flow-matching one (default: ddim)")
    diff.add_argument("--steps", type=int, default=None,
                      help="sampling steps, at least 1 (default: the model's, 5 on shapes, 20 on digits; ddpm "
                           "always takes T = 1000)")
    diff.add_argument("--guidance", type=float, default=None,
                      help="classifier-free guidance w >= 0: (1+w)·ε(x, c) − w·ε(x, ∅); 0 is the plain "
                           "conditional model, larger is more faithful and less varied (default: the model's, "
                           "0.25 on shapes, 0.5 on digits)")
    diff.add_argument("--eta", type=float, default=None,
                      help="ddim's noise, 0 (deterministic) to 1 (as stochastic as ddpm) (default: the model's, "
                           "0.75 on shapes, 0 on digits)")
    common(gen)


def add_caption_parser(sub, common) -> None:
    """The ``caption`` sub-command's options (``common`` adds ``--device``)."""
    cap = sub.add_parser("caption", help="describe an image with a trained model")
    cap.add_argument("--checkpoint", required=True,
                     help="DIR/pipeline from demo, or a `train caption` folder on shapes (required)")
    cap.add_argument("--image", default=None,
                     help="a 16×16 grey PNG (or a multiple of 16), or .npy (default: none; give --image, --clip or "
                          "--sound)")
    cap.add_argument("--clip", default=None,
                     help="a clip instead of an image: a GIF of 8 frames of 16×16 (or a multiple), or a .npy "
                          "array (8, 3, 16, 16); needs `train caption --dataset video` (default: none)")
    cap.add_argument("--sound", default=None,
                     help="a mono 16-bit WAV of 0.4 s at 4000 Hz, for a `train sound-caption` folder (default: none)")
    common(cap, seed=False)
