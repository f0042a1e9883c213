"""``minimm generate --modality video`` and ``minimm caption --clip``, and the demo's clips (used by
:mod:`minimm.app.cli_infer` and :mod:`minimm.app.cli`).

A generated clip is written as an animated GIF (``.gif``) or as a strip of its frames in any
picture format matplotlib writes (``.png``, ``.pdf``, ...); a clip to caption is read from a GIF
or a ``.npy`` array (:mod:`minimm.app.clips`).
"""

from __future__ import annotations

import os

import numpy as np

from .. import manual_seed
from ..io.atomic import atomic_write
from ..data.datasets.shapes_video import video_caption_attributes
from .builders_video import check_video_caption
from .cli_common import CLIError, say, warn, writing
from .clips import clip_strip, read_clip, write_gif

__all__ = ["generate_video", "caption_clip", "demo_clips", "video_demo_captions", "add_video_demo_options",
           "DEMO_VIDEO_CAPTIONS"]

DEMO_VIDEO_CAPTIONS = ("a small red circle drifting left slowly", "a big blue box moving up quickly",
                       "a tiny green triangle sliding right fast", "a large red cross gliding down gently")


def _video_format(out: str) -> str:
    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(out)[1].lower().lstrip(".")
    if ext == "gif" or ext in FigureCanvasBase.get_supported_filetypes():
        return ext
    raise CLIError(f"--out {out!r} needs a .gif (an animation) or a picture extension such as .png (a frame strip)")


def _require(model, cls: str, option: str, recipe: str) -> None:
    """One clear error when the loaded model is not a ``cls`` (what ``option`` needs)."""
    if getattr(model, "config", {}).get("class") != cls:
        raise CLIError(f"{option} needs a model trained with `minimm train {recipe} --dataset video --out DIR`")


def _checked(read, *args):
    """``read(*args)``, its ValueError (a bad caption or clip) turned into the CLI's one-line error."""
    try:
        return read(*args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _write_clips(path: str, clips: np.ndarray, captions, fmt: str) -> None:
    if fmt == "gif" and len(clips) == 1:
        draw = lambda f: write_gif(f, clips[0])  # noqa: E731
    elif fmt == "gif":
        # several clips in one animation: side by side, a black column between them
        t, c, h, w = clips.shape[1:]
        gap = np.zeros((t, c, h, 1), dtype=clips.dtype)
        row = np.concatenate([x for clip in clips for x in (clip, gap)][:-1], axis=3)
        draw = lambda f: write_gif(f, row)  # noqa: E731
    else:
        fig = clip_strip(clips, captions)
        draw = lambda f: fig.savefig(f, dpi=100, format=fmt)  # noqa: E731
    with writing(path):
        atomic_write(path, draw)


def generate_video(args, model) -> int:
    """Clips for ``args.text`` with a ``train cvae --dataset video`` model, written to ``args.out``."""
    fmt = _video_format(args.out)
    _require(model, "ClipCVAE", "--modality video", "cvae")
    for note in _checked(check_video_caption, args.text, model.model.vectorizer):
        warn(note)
    manual_seed(args.seed)
    clips = model.generate_clip(args.text, n=args.n)
    folder = os.path.dirname(os.path.abspath(args.out))
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    _write_clips(args.out, clips, [args.text] * len(clips), fmt)
    what = "animation" if fmt == "gif" else "frame strip"
    say(f"wrote {args.out} ({args.n} clip{'s' if args.n > 1 else ''} of {clips.shape[1]} frames, {what}, "
        f"for {args.text!r})")
    return 0


def caption_clip(args, model) -> int:
    """The caption of the clip in ``args.clip`` (GIF or .npy) with a ``train caption --dataset video`` model."""
    _require(model, "ClipCaptioner", "--clip", "caption")
    say(model.describe(_checked(read_clip, args.clip, model.model.clip_shape)))
    return 0


def demo_clips(out_dir: str, quick: bool = False, seed: int = 0, captions=DEMO_VIDEO_CAPTIONS, log=say) -> list[str]:
    """The demo's video part: train the caption → clip CVAE, write one GIF per caption and a strip
    of all of them into ``out_dir``; returns the paths written."""
    from .train_video import train_clip_cvae
    from ..autograd import no_grad

    log(f"video: training the caption → clip model{' (quick)' if quick else ''} ...")
    model, _ = train_clip_cvae(seed=seed, quick=quick)
    manual_seed(seed)
    with no_grad():
        clips = np.asarray(model.generate(list(captions)).array)
    paths = []
    for i, (caption, clip) in enumerate(zip(captions, clips)):
        path = os.path.join(out_dir, f"video_{i}.gif")
        write_gif(path, clip)
        paths.append(path)
    strip = os.path.join(out_dir, "text_to_video.png")
    fig = clip_strip(clips, list(captions))
    fig.savefig(strip, dpi=100)
    paths.append(strip)
    log(f"video: {len(captions)} clips in {model.train_seconds:.0f} s of training")
    return paths


def add_video_demo_options(demo) -> None:
    """``minimm demo --video`` / ``--video-text TEXT`` (repeatable): the demo also writes clips."""
    demo.add_argument("--video", action="store_true",
                      help="also train the caption → clip model and write a GIF per caption and a frame strip "
                           "(text_to_video.png) for a few example captions (default: off)")
    demo.add_argument("--video-text", action="append", default=None, metavar="TEXT",
                      help='a caption to make a clip of, e.g. "a small red circle drifting left slowly" '
                           "(repeatable; implies --video; default: none)")


def video_demo_captions(args) -> list:
    """The captions the demo makes clips of (none without --video / --video-text); a caption naming
    no clip attribute is refused before anything trains."""
    captions = list(args.video_text or ())
    if not captions and getattr(args, "video", False):
        captions = list(DEMO_VIDEO_CAPTIONS)
    for c in captions:
        if not c.strip():
            raise CLIError('--video-text is empty: describe a clip, e.g. "a small red circle drifting left slowly"')
        if not any(video_caption_attributes(c).values()):
            raise CLIError(f"--video-text {c!r} names no shape, colour, size, direction or speed, e.g. "
                           '"a small red circle drifting left slowly"')
    return captions
