"""The application floor: what the ``minimm`` command runs, built on the models of
:mod:`minimm.multimodal` and the :class:`~minimm.training.Trainer`.

* :mod:`.configs` — the reference configuration of every model, written once;
* :mod:`.train` — the ``train_*`` recipes (reference model + Trainer);
* :mod:`.evaluate` — the ``evaluate_*`` recipes (held-out metrics, independent evaluators);
* :mod:`.quality` — the quality table, one recipe per row (``minimm evaluate``);
* :mod:`.train_sound`, :mod:`.evaluate_sound`, :mod:`.quality_sound` — the text ↔ sound and DTMF rows;
* :mod:`.pipeline` — :class:`MultimodalPipeline`, preprocess → align → fuse → generate (``minimm demo``);
* :mod:`.demo` — the demo's metrics table and figures;
* :mod:`.builders` — the models ``minimm train`` builds by name, and loading them back;
* :mod:`.cli` — the command line (with :mod:`.cli_common`, :mod:`.cli_train`, :mod:`.cli_infer`).
"""

from . import configs, evaluate, train
from .configs import CONFIGS, config
from .evaluate import (
    default_digit_evaluator, default_shapes_evaluator, evaluate_alignment, evaluate_captioner, evaluate_cgan,
    evaluate_cvae_digits, evaluate_cvae_shapes, evaluate_mvae, evaluate_vae,
)
from .train import (
    fit, make_loader, train_alignment, train_captioner, train_cgan, train_conv_gan, train_conv_vae, train_cvae_digits,
    train_cvae_shapes, train_digit_evaluator, train_mvae, train_shapes_evaluator, train_tone_generator, train_vae,
)
from . import quality, demo, pipeline, builders
from . import train_sound, evaluate_sound, quality_sound
from .evaluate_sound import evaluate_tone_waveforms
from .quality import HOLDOUT_COMBINATIONS, evaluate_all
from .pipeline import MultimodalPipeline

__all__ = [
    "configs", "train", "evaluate", "quality", "demo", "pipeline", "builders", "CONFIGS", "config", "fit",
    "make_loader", "train_vae", "train_conv_vae", "train_conv_gan", "train_cvae_digits", "train_cvae_shapes",
    "train_mvae", "train_cgan", "train_captioner", "train_tone_generator", "train_alignment",
    "train_digit_evaluator", "train_shapes_evaluator", "evaluate_vae", "evaluate_cvae_digits",
    "evaluate_cvae_shapes", "evaluate_mvae", "evaluate_cgan", "evaluate_captioner", "evaluate_tone_waveforms",
    "evaluate_alignment", "default_digit_evaluator", "default_shapes_evaluator", "HOLDOUT_COMBINATIONS",
    "evaluate_all", "MultimodalPipeline", "train_sound", "evaluate_sound", "quality_sound",
]
