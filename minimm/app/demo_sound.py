"""The demo's sound part: train the caption → sound generator and write what it plays for a few captions.

``minimm demo`` calls :func:`train_demo_sound` (before it writes anything) and then
:func:`write_demo_sounds` into its output folder: one WAV per caption (16-bit PCM, 4 kHz),
``sounds.png`` (their spectrograms) and ``sound/`` — a ``minimm train sound`` folder, so
``minimm generate --modality sound --checkpoint DIR/sound --text "..." --out x.wav`` works on it.
"""

from __future__ import annotations

import os

from .. import io as mio
from ..data import tokenize
from ..data.datasets.shapes import SYNONYMS, caption_attributes
from .builders import bow_to_dict, write_config
from .builders_sound import write_sound_files
from .cli_common import CLIError
from .configs import config
from .train_sound import load_sound_splits, train_sound_generator

__all__ = ["DEMO_SOUND_CAPTIONS", "check_demo_captions", "train_demo_sound", "write_demo_sounds"]

DEMO_SOUND_CAPTIONS = (
    "a large bright circle at the top left",
    "a small dim cross in the middle",
    "a big vivid triangle at the lower right",
)


def check_demo_captions(captions) -> None:
    """Refuse, in one line, a ``--sound-text`` that is empty or names no attribute (saying which
    words were not understood) — before a minute of training, not after."""
    for text in captions or ():
        if not text.strip():
            raise CLIError('--sound-text is empty: describe a sound, e.g. "a large bright circle at the top left"')
        if not any(caption_attributes(text).values()):
            known = {w for table in SYNONYMS.values() for syns in table.values() for syn in syns for w in syn.split()}
            unknown = [w for w in tokenize(text) if w not in known]
            raise CLIError(f"--sound-text {text!r} names no shape, size, brightness or position "
                           f"(not understood: {', '.join(unknown) or text})")


def train_demo_sound(device="cpu", seed: int = 0, quick: bool = False, log=print):
    """The caption → sound generator of the demo (reference epochs; ``quick``: a few, on less data)."""
    log("training the caption → sound generator (spectrogram CVAE; waveforms by Griffin-Lim) ...")
    model, _ = train_sound_generator(load_sound_splits(seed, quick), device=device, seed=seed, quick=quick)
    model.demo_seed, model.demo_quick = seed, bool(quick)
    log(f"  trained in {model.train_seconds:.1f} s")
    return model


def write_demo_sounds(out_dir: str, model, captions=DEMO_SOUND_CAPTIONS) -> list[str]:
    """Write ``sound_1.wav`` … (one per caption), ``sound.png`` and the model folder ``sound/``;
    returns the file names written (relative to ``out_dir``)."""
    captions = list(captions)
    waves = model.generate(captions, n_iter=getattr(model, "griffin_lim_iterations", 32), seed=model.demo_seed)
    paths = write_sound_files(os.path.join(out_dir, "sound.wav"), waves, model.spec.sample_rate, captions)
    folder = os.path.join(out_dir, "sound")
    os.makedirs(folder, exist_ok=True)
    c = config("sound_generator")
    args = {"cond_dim": model.cond_dim, **c["model"], "spec": model.spec.to_dict()}
    write_config(folder, {"class": "SoundGenerator", "args": args, "vectorizer": bow_to_dict(model.vectorizer),
                          "griffin_lim_iterations": c["griffin_lim_iterations"], "kind": "sound",
                          "dataset": "shapes", "seed": model.demo_seed, "quick": model.demo_quick})
    mio.save({"model": model.state_dict()}, os.path.join(folder, "checkpoint.npz"))
    return [os.path.relpath(p, out_dir) for p in paths] + ["sound/"]
