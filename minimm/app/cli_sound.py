"""``minimm generate --modality sound`` and ``minimm caption --sound`` (used by :mod:`minimm.app.cli_infer`)."""

from __future__ import annotations

import os

from .. import manual_seed
from .builders_sound import caption_wav, write_sound_files
from .cli_common import CLIError, say, writing


def _sound_model(loaded, cls: str, train_kind: str, what: str):
    """The model inside a loaded ``minimm train`` folder if it is a ``cls``, else one clear error."""
    config = getattr(loaded, "config", None)
    if not config or config.get("class") != cls:
        held = f"a {config.get('kind')} model" if config else "the demo pipeline (images and captions)"
        raise CLIError(f"the checkpoint holds {held}; {what} needs a `minimm train {train_kind}` folder")
    return loaded.model


def generate_sound(args, device: str, load, check_caption) -> int:
    """Write ``--n`` sounds for ``--text`` as 16-bit PCM WAV (``--out x.wav``) and their spectrogram
    (``x.png``). ``load(path, device)`` and ``check_caption(model, text)``: ``minimm generate``'s own."""
    if os.path.splitext(args.out)[1].lower() != ".wav":
        stem = os.path.splitext(args.out)[0] or "generated"
        raise CLIError(f"--out {args.out!r}: --modality sound writes a WAV file, e.g. {stem}.wav")
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} is a folder: name a file in it, e.g. {os.path.join(args.out, 'x.wav')}")
    loaded = load(args.checkpoint, device)
    model = _sound_model(loaded, "SoundGenerator", "sound --dataset shapes", "--modality sound")
    check_caption(loaded, args.text)
    manual_seed(args.seed)
    waves = model.generate([args.text] * args.n, n_iter=getattr(model, "griffin_lim_iterations", 32), seed=args.seed)
    folder = os.path.dirname(os.path.abspath(args.out))
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    with writing(args.out):
        paths = write_sound_files(args.out, waves, model.spec.sample_rate, [args.text] * args.n)
    for p in paths:
        say(f"wrote {p}")
    return 0


def caption_sound(loaded, path: str) -> int:
    """Print the caption of the WAV file at ``path``."""
    model = _sound_model(loaded, "SoundCaptioner", "sound-caption --dataset shapes", "--sound")
    if not os.path.isfile(path):
        raise CLIError(f"no WAV file at {path!r}")
    try:
        caption = caption_wav(model, path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    say(caption)
    return 0
