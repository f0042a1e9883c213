"""Clips as files and figures: an animated GIF, a frame-strip picture, and reading a clip back.

A clip is an array (T, 3, H, W) in [0, 1] (:mod:`minimm.data.datasets.shapes_video`). GIFs are
written with each pixel as a ``scale`` × ``scale`` block, so they are big enough to see, and read
back by block averaging — ``minimm caption --clip`` reads what ``minimm generate --modality video``
wrote. Pillow (a dependency of matplotlib) writes and reads the GIF frames.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["write_gif", "read_clip", "clip_strip", "check_clip_shape"]


def _rgb_frames(clip, scale: int) -> list:
    clip = np.clip(np.asarray(clip, dtype=np.float64), 0.0, 1.0)
    frames = np.transpose(clip, (0, 2, 3, 1))                        # (T, H, W, 3)
    big = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    return [(255 * f + 0.5).astype(np.uint8) for f in big]


def write_gif(path, clip, scale: int = 8, frame_ms: int = 150) -> None:
    """Write one clip (T, 3, H, W) in [0, 1] as an endlessly looping GIF (``frame_ms`` per frame)."""
    from PIL import Image

    images = [Image.fromarray(f, mode="RGB") for f in _rgb_frames(clip, scale)]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)


def check_clip_shape(clip: np.ndarray, shape, where: str) -> np.ndarray:
    """``clip`` as (T, C, H, W) float32; a clip (T, H, W, C) is transposed; anything else is one
    clear error naming the expected and the given shape."""
    want = tuple(int(s) for s in shape)
    clip = np.asarray(clip, dtype=np.float32)
    if clip.shape == want:
        return clip
    if clip.ndim == 4 and clip.shape == (want[0], want[2], want[3], want[1]):
        return np.transpose(clip, (0, 3, 1, 2))
    raise ValueError(f"{where}: expected a clip of shape {want} (frames, channels, height, width), "
                     f"got {tuple(clip.shape)}")


def read_clip(path: str, shape) -> np.ndarray:
    """A clip (T, C, H, W) in [0, 1] from a GIF (each frame block-averaged down to H × W) or a .npy
    array; a ValueError names the file and what is wrong with it."""
    if not os.path.isfile(path):
        raise ValueError(f"no clip at {path!r}")
    t, c, h, w = (int(s) for s in shape)
    if path.lower().endswith(".npy"):
        try:
            clip = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's to fix
            raise ValueError(f"cannot read {path!r} as a .npy array: {exc}") from None
        return check_clip_shape(clip, shape, path)
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as im:
            frames = [np.asarray(f.convert("RGB"), dtype=np.float32) / 255.0 for f in ImageSequence.Iterator(im)]
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read {path!r} as a GIF: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    fh, fw = frames[0].shape[:2]
    if len(frames) != t or fh % h or fw % w:
        raise ValueError(f"{path!r} has {len(frames)} frames of {fh}×{fw}; the model reads {t} frames of "
                         f"{h}×{w} (or a multiple of that)")
    clip = np.stack([f.reshape(h, fh // h, w, fw // w, 3).mean(axis=(1, 3)) for f in frames])
    return np.transpose(clip, (0, 3, 1, 2))[:, :c].astype(np.float32)


def clip_strip(clips, captions=None):
    """A figure with one row of frames per clip (and its caption above the row); returns the figure."""
    import matplotlib.pyplot as plt

    clips = np.clip(np.asarray(clips, dtype=np.float64), 0.0, 1.0)
    n, t = clips.shape[:2]
    fig, axes = plt.subplots(n, t, figsize=(0.9 * t, 1.05 * n + 0.2), squeeze=False)
    for i in range(n):
        for j in range(t):
            axes[i, j].imshow(np.transpose(clips[i, j], (1, 2, 0)), interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        if captions is not None:
            axes[i, 0].set_title(captions[i], fontsize=8, loc="left")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.92, wspace=0.08, hspace=0.45)
    return fig
