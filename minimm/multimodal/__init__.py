"""The multimodal layer: the seed's four steps — preprocess → align → fuse → generate.

* :mod:`.evaluators` — independently trained judges of generated samples (digits, shapes);
* :mod:`.align` — a shared embedding space for images and text (contrastive or adversarial);
* :mod:`.fuse` — combining modalities, any of which may be missing (concatenation, gates,
  attention, product / mixture of Gaussian experts);
* :mod:`.vae` — generators with a latent: VAE, caption-conditioned CVAE, multimodal VAE (PoE / MoE);
* :mod:`.gan` — the seed's Generator / Discriminator and a label- or text-conditioned GAN;
* :mod:`.caption` — image → caption: an autoregressive decoder with causal self-attention;
* :mod:`.audio_gen` — image → sound: a digit's DTMF tone played by a learned sinusoid bank;
* :mod:`.training` — the training loop (progress bar, checkpoints, bit-identical resume, Ctrl-C);
* :mod:`.pipeline` — the four steps wired into one object for the shapes data (the demo);
* :mod:`.recipes` — the quality table, one recipe per row (``minimm evaluate``);
* :mod:`.builders` — the models ``minimm train`` builds by name, and loading them back.
"""

from . import align, evaluators, fuse
from .align import (
    AdversarialAligner,
    AlignmentNetwork,
    ModalityDiscriminator,
    evaluate_alignment,
    retrieve,
    train_alignment,
    zero_shot_classify,
)
from .evaluators import DigitEvaluator, ShapesEvaluator, train_digit_evaluator, train_shapes_evaluator
from .fuse import AttentionFusion, FusionNetwork, GaussianMixture, MoEFusion, PoEFusion, WeightedAverageFusion
from . import vae
from .vae import (
    CVAE, MVAE, VAE, evaluate_cvae_digits, evaluate_cvae_shapes, evaluate_mvae, evaluate_vae, train_cvae_digits,
    train_cvae_shapes, train_mvae, train_vae,
)
from . import gan
from .gan import ConditionalGAN, Discriminator, Generator, evaluate_cgan, gan_step, train_cgan
from . import caption
from .caption import CaptionDecoder, CausalSelfAttentionBlock, evaluate_captioner, train_captioner
from . import audio_gen
from .audio_gen import ToneGenerator, evaluate_tone_generator, train_tone_generator
from . import training, pipeline, recipes, builders
from .training import OptimizerGroup, Trainer
from .pipeline import MultimodalPipeline
from .recipes import evaluate_all

__all__ = [
    "align",
    "evaluators",
    "fuse",
    "FusionNetwork",
    "WeightedAverageFusion",
    "AttentionFusion",
    "PoEFusion",
    "MoEFusion",
    "GaussianMixture",
    "AlignmentNetwork",
    "ModalityDiscriminator",
    "AdversarialAligner",
    "train_alignment",
    "evaluate_alignment",
    "retrieve",
    "zero_shot_classify",
    "DigitEvaluator",
    "ShapesEvaluator",
    "train_digit_evaluator",
    "train_shapes_evaluator",
    "vae", "VAE", "CVAE", "MVAE", "train_vae", "evaluate_vae", "train_cvae_shapes", "evaluate_cvae_shapes",
    "train_mvae", "evaluate_mvae", "train_cvae_digits", "evaluate_cvae_digits",
    "gan", "Generator", "Discriminator", "ConditionalGAN", "gan_step", "train_cgan", "evaluate_cgan",
    "caption", "CaptionDecoder", "CausalSelfAttentionBlock", "train_captioner", "evaluate_captioner",
    "audio_gen", "ToneGenerator", "train_tone_generator", "evaluate_tone_generator",
    "training", "Trainer", "OptimizerGroup", "pipeline", "MultimodalPipeline", "recipes", "evaluate_all", "builders",
]
