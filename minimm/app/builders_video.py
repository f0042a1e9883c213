"""``minimm train cvae|caption --dataset video``: the video models' builders, their JSON configs,
and the checks ``minimm generate --modality video`` / ``minimm caption --clip`` run on their input
(used by :mod:`minimm.app.builders` and :mod:`minimm.app.cli_infer`)."""

from __future__ import annotations

import numpy as np

from ..data import BagOfWords, Vocabulary, tokenize
from ..data.datasets.shapes_video import VIDEO_ATTRIBUTES, load_shapes_video, video_caption_attributes
from ..multimodal.video import ClipCaptioner, ClipCVAE
from ..optim import Adam
from .configs import config

__all__ = ["build_clip_cvae", "build_clip_captioner", "rebuild_video", "VIDEO_CLASSES", "check_video_caption"]

VIDEO_CLASSES = ("ClipCVAE", "ClipCaptioner")


def _train_split(quick: bool, seed: int):
    return load_shapes_video(n_train=960 if quick else 2400, n_test=96, seed=seed).train


def build_clip_cvae(dataset, quick, seed, device):
    """(model, optimiser, train set, epochs, step_fn, config) of the caption → clip CVAE."""
    from .builders import bow_to_dict

    train = _train_split(quick, seed)
    bow = BagOfWords(binary=True).fit(train.caption)
    c = config("clip_cvae")
    args = {"clip_shape": [int(s) for s in train.clip.shape[1:]], "cond_dim": len(bow.vocabulary_), **c["model"]}
    model = ClipCVAE(vectorizer=bow, **args).to(device)
    config_ = {"class": "ClipCVAE", "args": args, "vectorizer": bow_to_dict(bow)}
    return model, Adam(model.parameters(), lr=c["lr"]), train, c["epochs"], None, config_


def build_clip_captioner(dataset, quick, seed, device):
    """(model, optimiser, train set, epochs, step_fn, config) of the clip → caption decoder, on the
    frozen convolutions of the clip judge of the same training clips (trained first, see
    :func:`~minimm.app.train_video.encoder_from_judge`)."""
    from .evaluate_video import default_clip_judge
    from .train_video import encoder_from_judge, trainable

    train = _train_split(quick, seed)
    vocab = Vocabulary.build(train.caption)
    c = config("clip_captioner")
    args = {"clip_shape": [int(s) for s in train.clip.shape[1:]], **c["model"],
            "max_len": max(len(tokenize(cap)) for cap in train.caption) + 2}
    model = encoder_from_judge(ClipCaptioner(vocab, **args).to(device), default_clip_judge(device, seed, quick))
    config_ = {"class": "ClipCaptioner", "args": args, "vocabulary": vocab.to_dict()}
    return model, Adam(trainable(model), lr=c["lr"]), train, c["epochs"], None, config_


def rebuild_video(config: dict):
    """The untrained model a video config describes (its weights come from the checkpoint)."""
    from .builders import bow_from_dict

    if config["class"] == "ClipCVAE":
        return ClipCVAE(vectorizer=bow_from_dict(config["vectorizer"]), **config["args"])
    return ClipCaptioner(Vocabulary.from_dict(config["vocabulary"]), **config["args"])


def check_video_caption(text: str, vectorizer) -> list[str]:
    """Refuse (ValueError, one line) an empty caption, or one naming no clip attribute — saying which
    words were not understood; return warnings for a caption understood only in part."""
    if not text.strip():
        raise ValueError('--text is empty: describe a clip, e.g. "a small red circle drifting left slowly"')
    unknown = [w for w in vectorizer.tokenizer(text) if w not in vectorizer.vocabulary_]
    found = video_caption_attributes(text)
    named = {a: v for a, v in found.items() if v}
    if not named:
        words = f"; words not understood: {', '.join(unknown)}" if unknown else ""
        raise ValueError(f"the video model understands none of {text!r}{words}. It knows captions naming a shape, "
                         "colour, size, direction and speed, e.g. \"a small red circle drifting left slowly\"")
    notes = []
    missing = [a for a in VIDEO_ATTRIBUTES if not found[a]]
    if missing:
        notes.append(f"not named, so left to chance: {', '.join(missing)}")
    conflicting = [a for a, v in named.items() if len(v) > 1]
    if conflicting:
        notes.append(f"contradictory: {', '.join(conflicting)}")
    if unknown:
        notes.append(f"words not understood: {', '.join(unknown)}")
    return notes


def as_clip_batch(clip) -> np.ndarray:
    """One clip (T, C, H, W) as a batch of one."""
    return np.asarray(clip, dtype=np.float32)[None]
