"""``minimm train sound | sound-caption | tone``: the sound models built by name, rebuilt for inference,
and what the CLI does with them (a WAV and its spectrogram figure; a caption for a WAV).

The builders follow :mod:`minimm.app.builders` (which registers them): each returns ``(model,
optimizer, train dataset, epochs, step_fn, config)``, the config being the JSON that rebuilds the
model — class, constructor arguments, the spectrogram settings, the vectoriser or vocabulary.
"""

from __future__ import annotations

import os

import numpy as np

from ..data import BagOfWords, Vocabulary, load_digits, tokenize
from ..io.atomic import atomic_write
from ..io.wav import check_wav, write_wav
from ..multimodal.audio_gen import ToneGenerator
from ..multimodal.sound import SoundCaptioner, SoundGenerator, SpectrogramSpec
from ..optim import Adam
from .configs import config
from .train_sound import CAPTIONER_SPEC, GENERATOR_SPEC, load_sound_splits, spectrogram_dataset

__all__ = ["SOUND_BUILDERS", "SOUND_CLASSES", "rebuild_sound", "sound_figure", "write_sound_files",
           "caption_wav"]


def _bow_json(bow):
    from .builders import bow_to_dict  # builders imports this module: import at call time

    return bow_to_dict(bow)


def _sound(dataset, quick, seed, device):
    train = load_sound_splits(seed, quick).train
    c = config("sound_generator")
    bow = BagOfWords(binary=True).fit(train.caption)
    args = {"cond_dim": len(bow.vocabulary_), **c["model"], "spec": GENERATOR_SPEC.to_dict()}
    model = SoundGenerator(vectorizer=bow, **args).to(device)
    config_ = {"class": "SoundGenerator", "args": args, "vectorizer": _bow_json(bow),
               "griffin_lim_iterations": c["griffin_lim_iterations"]}
    data = spectrogram_dataset(train, GENERATOR_SPEC)
    return model, Adam(model.parameters(), lr=c["lr"]), data, c["epochs"], None, config_


def _sound_caption(dataset, quick, seed, device):
    train = load_sound_splits(seed, quick).train
    c = config("sound_captioner")
    vocab = Vocabulary.build(train.caption)
    args = {**c["model"], "spec": CAPTIONER_SPEC.to_dict(),
            "max_len": max(len(tokenize(cap)) for cap in train.caption) + 2}
    model = SoundCaptioner(vocab, **args).to(device)
    config_ = {"class": "SoundCaptioner", "args": args, "vocabulary": vocab.to_dict()}
    data = spectrogram_dataset(train, CAPTIONER_SPEC, key="image")
    return model, Adam(model.parameters(), lr=c["lr"]), data, c["epochs"], None, config_


def _tone(dataset, quick, seed, device):
    train = load_digits(seed=seed).train
    c = config("tone_generator")
    args = {"image_dim": int(np.prod(train.image.shape[1:])), **c["model"],
            "sample_rate": int(train.info.get("sample_rate", 8000)), "n_samples": int(train.sound.shape[1])}
    model = ToneGenerator(**args).to(device)
    epochs = c["quick_epochs"] if quick else c["epochs"]
    return model, Adam(model.parameters(), lr=c["lr"]), train, epochs, None, {"class": "ToneGenerator", "args": args}


SOUND_BUILDERS = {("sound", "shapes"): _sound, ("sound-caption", "shapes"): _sound_caption,
                  ("tone", "digits"): _tone}
SOUND_CLASSES = ("SoundGenerator", "SoundCaptioner", "ToneGenerator")


def rebuild_sound(config_: dict):
    """The untrained model a sound config describes (its weights are loaded afterwards)."""
    from .builders import bow_from_dict

    cls, args = config_["class"], dict(config_["args"])
    if cls == "SoundGenerator":
        model = SoundGenerator(vectorizer=bow_from_dict(config_["vectorizer"]), **args)
        model.griffin_lim_iterations = int(config_.get("griffin_lim_iterations", 32))
        return model
    if cls == "SoundCaptioner":
        return SoundCaptioner(Vocabulary.from_dict(config_["vocabulary"]), **args)
    if cls == "ToneGenerator":
        return ToneGenerator(**args)
    raise ValueError(f"cannot rebuild a {cls} model")


# ---------------------------------------------------------------------------------------------
# Files: WAV + spectrogram figure, and reading a WAV back
# ---------------------------------------------------------------------------------------------
def sound_figure(waves, sample_rate: int, titles, spec: SpectrogramSpec | None = None):
    """A figure with each waveform's log-magnitude spectrogram (time across, frequency up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = spec or SpectrogramSpec(n_samples=np.shape(waves)[-1], sample_rate=sample_rate, eps=0.01)
    s = spec.log_magnitude(waves)
    n = len(s)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    for ax, img, title in zip(axes[0], s, titles):
        ax.imshow(img.T, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, spec.n_samples / sample_rate, 0, sample_rate / 2))
        ax.set_title(title if len(title) <= 40 else title[:37] + "...", fontsize=8)
        ax.set_xlabel("time (s)")
    axes[0][0].set_ylabel("frequency (Hz)")
    fig.tight_layout()
    return fig


def write_sound_files(wav_path: str, waves, sample_rate: int, titles) -> list[str]:
    """Write ``waves`` as WAV files (``x.wav``; ``x_1.wav``, ``x_2.wav``, ... for several) and their
    spectrograms as ``x.png``, each file whole or not at all. Returns the paths written."""
    import matplotlib.pyplot as plt

    stem = os.path.splitext(wav_path)[0]
    waves = np.atleast_2d(np.asarray(waves, dtype=np.float64))
    written = []
    for i, w in enumerate(waves):
        path = wav_path if len(waves) == 1 else f"{stem}_{i + 1}.wav"
        write_wav(path, w, sample_rate)
        written.append(path)
    fig = sound_figure(waves, sample_rate, titles)
    atomic_write(stem + ".png", lambda f: fig.savefig(f, dpi=100, format="png"))
    plt.close(fig)
    return written + [stem + ".png"]


def caption_wav(model: SoundCaptioner, path: str) -> str:
    """The greedy caption of the WAV at ``path`` (ValueError when its rate or length is wrong)."""
    spec = model.spec
    x = check_wav(path, spec.sample_rate, spec.n_samples)
    return model.describe(x[None])[0]
