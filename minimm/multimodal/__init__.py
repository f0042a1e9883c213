"""The multimodal models — the article's four steps, preprocess → align → fuse → generate, as modules.

* :mod:`.common` — small shared pieces (an MLP, a module's device, conditions as host arrays);
* :mod:`.evaluators` — the judges of generated samples (digits, shapes classifiers);
* :mod:`.align` — a shared embedding space for images and text (contrastive or adversarial);
* :mod:`.fuse` — combining modalities, any of which may be missing (concatenation, gates,
  attention, product / mixture of Gaussian experts);
* :mod:`.vae` — generators with a latent: VAE, caption-conditioned CVAE, multimodal VAE (PoE / MoE);
* :mod:`.gan` — a Generator / Discriminator and a label- or text-conditioned GAN;
* :mod:`.caption` — image → caption: an autoregressive decoder with causal self-attention;
* :mod:`.audio_gen` — image → sound: an MLP that writes a digit's DTMF waveform, sample by sample;
* :mod:`.sound` — text ↔ sound: a caption → spectrogram CVAE (played by Griffin-Lim), a sound →
  caption decoder, and the sound judge.

Models only: they are trained by :class:`minimm.training.Trainer`, and their reference recipes
(``train_*``, ``evaluate_*``), the demo pipeline and the command line live in :mod:`minimm.app`.
"""

from . import align, audio_gen, caption, common, evaluators, fuse, gan, sound, vae
from .align import AdversarialAligner, AlignmentNetwork, ModalityDiscriminator, retrieve, zero_shot_classify
from .audio_gen import ToneGenerator
from .caption import CaptionDecoder, CausalSelfAttentionBlock
from .evaluators import DigitEvaluator, ShapesEvaluator
from .fuse import AttentionFusion, FusionNetwork, GaussianMixture, MoEFusion, PoEFusion, WeightedAverageFusion
from .gan import ConditionalGAN, Discriminator, Generator, gan_step
from .sound import SoundCaptioner, SoundGenerator, SoundJudge, SpectrogramSpec
from .vae import CVAE, MVAE, VAE

__all__ = [
    "align", "audio_gen", "caption", "common", "evaluators", "fuse", "gan", "sound", "vae",
    "FusionNetwork", "WeightedAverageFusion", "AttentionFusion", "PoEFusion", "MoEFusion", "GaussianMixture",
    "AlignmentNetwork", "ModalityDiscriminator", "AdversarialAligner", "retrieve", "zero_shot_classify",
    "DigitEvaluator", "ShapesEvaluator", "VAE", "CVAE", "MVAE",
    "Generator", "Discriminator", "ConditionalGAN", "gan_step",
    "CaptionDecoder", "CausalSelfAttentionBlock", "ToneGenerator",
    "SpectrogramSpec", "SoundGenerator", "SoundCaptioner", "SoundJudge",
]
