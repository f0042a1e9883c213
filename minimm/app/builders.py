"""The models ``minimm train`` builds by name, and loading a trained one back for inference.

``build(kind, dataset, ...)`` returns a ready :class:`~minimm.training.Trainer` (model,
optimiser, DataLoader with its own seeded shuffling, checkpoints in ``out_dir``) plus a JSON
``config`` that says how to rebuild the model: its class, constructor arguments and the text
vectoriser's vocabulary. ``minimm train`` writes the config next to the checkpoint
(``config.json``), so ``minimm generate`` / ``minimm caption`` can rebuild the model from the folder
alone — with no pickle anywhere.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import backend as B
from .. import io as mio
from ..autograd import no_grad
from ..data import BagOfWords, Vocabulary, load_digits, load_shapes, tokenize
from ..data.text import Tokenizer
from ..multimodal.align import AlignmentNetwork
from ..multimodal.caption import CaptionDecoder
from ..multimodal.denoiser import ConditionalDiffusion
from ..multimodal.gan import ConditionalGAN, gan_step
from ..multimodal.vae import CVAE, MVAE
from ..optim import Adam
from ..optim.lr_scheduler import CosineAnnealingLR
from ..training import OptimizerGroup, Trainer
from .builders_sound import SOUND_BUILDERS, SOUND_CLASSES, rebuild_sound
from .configs import config
from .builders_video import VIDEO_CLASSES, build_clip_captioner, build_clip_cvae, rebuild_video
from .train import contrastive_step, make_loader

__all__ = ["KINDS", "DATASETS", "build", "write_config", "read_config", "load_for_inference",
           "bow_to_dict", "bow_from_dict", "default_batch_size"]

KINDS = ("cvae", "mvae", "cgan", "caption", "align", "diffusion", "sound", "sound-caption", "tone")
DATASETS = ("shapes", "digits", "video")
CONFIG_NAME = "config.json"


# ---------------------------------------------------------------------------------------------
# Text vectorisers as JSON
# ---------------------------------------------------------------------------------------------
def bow_to_dict(bow) -> dict:
    """A fitted :class:`minimm.data.BagOfWords` as plain JSON data."""
    return {"vocabulary": dict(bow.vocabulary_), "binary": bool(bow.binary), "min_df": bow.min_df,
            "max_features": bow.max_features, "tokenizer": bow.tokenizer.to_dict(), "dtype": str(np.dtype(bow.dtype))}


def bow_from_dict(d: dict):
    """Rebuild the :class:`minimm.data.BagOfWords` that :func:`bow_to_dict` described."""
    bow = BagOfWords(min_df=d["min_df"], max_features=d["max_features"], binary=d["binary"],
                     tokenizer=Tokenizer(**d["tokenizer"]), dtype=d["dtype"])
    bow.vocabulary_ = {str(k): int(v) for k, v in d["vocabulary"].items()}
    return bow


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def _splits(dataset: str, quick: bool, seed: int, binarize: bool = False, with_sound: bool = False):
    if dataset == "shapes":
        return load_shapes(n_train=1000 if quick else 4000, n_test=200 if quick else 1000, seed=seed,
                           with_sound=with_sound)
    return load_digits(seed=seed, binarize=binarize, with_sound=with_sound)


# ---------------------------------------------------------------------------------------------
# Builders: (kind, dataset) -> (model, optimizer, train dataset, epochs, step_fn, config)
# ---------------------------------------------------------------------------------------------
def _cvae(dataset, quick, seed, device):
    splits = _splits(dataset, quick, seed, binarize=(dataset == "digits"))
    train = splits.train
    image_shape = tuple(int(s) for s in train.image.shape[1:])
    x_dim = int(np.prod(image_shape))
    c = config(f"cvae_{dataset}")
    if dataset == "shapes":
        bow = BagOfWords(binary=True).fit(train.caption)
        args = {"x_dim": x_dim, "cond_dim": len(bow.vocabulary_), **c["model"], "image_shape": list(image_shape)}
        model = CVAE(vectorizer=bow, **args)
        config_ = {"class": "CVAE", "args": args, "vectorizer": bow_to_dict(bow)}
    else:
        args = {"x_dim": x_dim, "cond_dim": 10, **c["model"], "image_shape": list(image_shape)}
        model = CVAE(**args)
        config_ = {"class": "CVAE", "args": args}
    model.to(device)
    return model, Adam(model.parameters(), lr=c["lr"]), train, c["epochs"], None, config_


def _align(dataset, quick, seed, device):
    train = _splits(dataset, quick, seed).train
    bow = BagOfWords(binary=True).fit(train.caption)
    x_dim = int(np.prod(train.image.shape[1:]))
    c = config(f"align_{dataset}")
    args = {"input_dims": {"image": x_dim, "text": len(bow.vocabulary_)}, **c["model"]}
    model = AlignmentNetwork(**args).to(device)
    model.vectorizer = bow
    opt = Adam(model.parameters(), lr=c["lr"])
    step = contrastive_step(opt)
    config_ = {"class": "AlignmentNetwork", "args": args, "vectorizer": bow_to_dict(bow)}
    return model, opt, train, c["epochs"], step, config_


def _mvae(dataset, quick, seed, device):
    """Digits with number words (binarised images), or shapes with captions as bags of words."""
    train = _splits(dataset, quick, seed, binarize=(dataset == "digits")).train
    c = config(f"mvae_{dataset}")
    args, config_ = dict(c["model"]), {"class": "MVAE"}
    bow = None
    if dataset == "shapes":
        bow = BagOfWords(binary=True).fit(train.caption)
        args["txt_dim"] = len(bow.vocabulary_)
        config_["vectorizer"] = bow_to_dict(bow)
    config_["args"] = args
    model = MVAE(vectorizer=bow, **args).to(device)
    return model, Adam(model.parameters(), lr=c["lr"]), train, c["epochs"], None, config_


def _cgan(dataset, quick, seed, device):
    splits = _splits(dataset, quick, seed)
    train = splits.train
    image_shape = [int(s) for s in train.image.shape[1:]]
    x_dim = int(np.prod(image_shape))
    c = config(f"cgan_{dataset}")
    if dataset == "digits":  # label-conditioned
        args = {"z_dim": c["model"]["z_dim"], "x_dim": x_dim, "hidden": c["model"]["hidden"], "cond_dim": 10,
                "image_shape": image_shape}
        model, config_ = ConditionalGAN(**args), {"class": "ConditionalGAN", "args": args}
    else:  # shapes: conditioned on the caption's bag of words
        bow = BagOfWords(binary=True).fit(train.caption)
        args = {"z_dim": c["model"]["z_dim"], "x_dim": x_dim, "hidden": c["model"]["hidden"],
                "cond_dim": len(bow.vocabulary_), "image_shape": image_shape}
        model = ConditionalGAN(vectorizer=bow, **args)
        config_ = {"class": "ConditionalGAN", "args": args, "vectorizer": bow_to_dict(bow)}
    model.to(device)
    opt_g, opt_d = model.configure_optimizers(lr=c["lr"], betas=c["betas"])
    # two optimisers, checkpointed together; gan_step does one D and one G update per batch
    return model, OptimizerGroup(g=opt_g, d=opt_d), train, c.get("cli_epochs", c["epochs"]), gan_step, config_


def _caption(dataset, quick, seed, device):
    train = _splits(dataset, quick, seed).train
    vocab = Vocabulary.build(train.caption)
    c = config("captioner")
    args = {"image_dim": int(np.prod(train.image.shape[1:])), **c["model"],
            "max_len": max(len(tokenize(cap)) for cap in train.caption) + 2}
    model = CaptionDecoder(vocab, **args).to(device)
    config_ = {"class": "CaptionDecoder", "args": args, "vocabulary": vocab.to_dict(),
               "image_shape": [int(s) for s in train.image.shape[1:]]}
    return model, Adam(model.parameters(), lr=c["lr"]), train, c["epochs"], None, config_


def _diffusion(dataset, quick, seed, device, schedule=None):
    """Caption → image (shapes) or label → image (digits, x / 16) diffusion, the reference setup of
    :mod:`minimm.app.diffusion`: the same model, optimiser and data as ``train_diffusion_*``.
    ``schedule``: the noise schedule, ``"linear"`` or ``"cosine"`` (None: the reference one)."""
    train = _splits(dataset, quick, seed).train
    image_shape = [int(s) for s in train.image.shape[1:]]
    c = config(f"diffusion_{dataset}")
    args = {"x_dim": int(np.prod(image_shape)), **c["model"], "image_shape": image_shape}
    # written into config.json either way, so a resumed run can be checked against it
    args["schedule"] = schedule or c["model"].get("schedule", DEFAULT_SCHEDULE)
    config_ = {"class": "ConditionalDiffusion"}
    if dataset == "shapes":
        bow = BagOfWords(binary=True).fit(train.caption)
        args["cond_dim"] = len(bow.vocabulary_)
        model = ConditionalDiffusion(vectorizer=bow, **args)
        config_["vectorizer"] = bow_to_dict(bow)
    else:
        args["cond_dim"] = 10
        model = ConditionalDiffusion(**args)
    config_["args"] = args
    # the Gaussian baseline's per-pixel mean and variance: buffers, so the checkpoint carries them
    model.fit_data_statistics(train.image).to(device)
    return model, Adam(model.parameters(), lr=c["lr"]), train, c["epochs"], None, config_


_BUILDERS = {
    ("cvae", "shapes"): _cvae, ("cvae", "digits"): _cvae,
    ("mvae", "digits"): _mvae, ("mvae", "shapes"): _mvae,
    ("cgan", "digits"): _cgan, ("cgan", "shapes"): _cgan,
    ("caption", "shapes"): _caption, ("caption", "digits"): _caption,
    ("align", "shapes"): _align, ("align", "digits"): _align,
    ("diffusion", "shapes"): _diffusion, ("diffusion", "digits"): _diffusion,
    ("cvae", "video"): build_clip_cvae, ("caption", "video"): build_clip_captioner,
    **SOUND_BUILDERS,
}


#: models whose learning rate and epochs were tuned with their own reference batch
_OWN_BATCH = {("diffusion", "shapes"), ("diffusion", "digits"), ("mvae", "shapes")}

#: The noise schedule of a ``train diffusion`` run without ``--schedule`` (ConditionalDiffusion's default).
DEFAULT_SCHEDULE = "cosine"
SCHEDULES = ("linear", "cosine")


def default_batch_size(kind: str, dataset: str) -> int:
    """``--batch-size``'s default: the reference batch of a model tuned with its own (diffusion: 256
    on shapes, 64 on digits; the shapes MVAE: 128), 64 for every other model."""
    return config(f"{kind}_{dataset}")["batch_size"] if (kind, dataset) in _OWN_BATCH else 64


def build(kind: str, dataset: str, device="cpu", epochs=None, seed: int = 0, out_dir=None, quick: bool = False,
          batch_size: int | None = None, progress: bool = True, schedule: str | None = None):
    """A Trainer for model ``kind`` on ``dataset`` and the config that rebuilds the model.

    Raises ``ValueError`` for a combination that has no model (e.g. a caption decoder on digits).
    ``batch_size`` None: :func:`default_batch_size`. ``schedule``: a diffusion model's noise
    schedule (``"linear"`` or ``"cosine"``; None: :data:`DEFAULT_SCHEDULE`).
    """
    if kind not in KINDS or dataset not in DATASETS:
        raise ValueError(f"unknown model/dataset {kind!r}/{dataset!r}: models {KINDS}, datasets {DATASETS}")
    builder = _BUILDERS.get((kind, dataset))
    if builder is None:
        have = ", ".join(f"{k} on {d}" for k, d in _BUILDERS)
        raise ValueError(f"`minimm train {kind}` has no model for the {dataset} data; available: {have}")
    if schedule is not None and kind != "diffusion":
        raise ValueError(f"--schedule: only a diffusion model has a noise schedule; train {kind} without it")
    if schedule is not None and schedule not in SCHEDULES:
        raise ValueError(f"--schedule must be linear or cosine, got {schedule!r} (or leave it out: "
                         f"{DEFAULT_SCHEDULE})")
    B.manual_seed(seed)  # the model's initial weights
    extra = {"schedule": schedule} if kind == "diffusion" else {}
    model, optimizer, train, default_epochs, step_fn, config = builder(dataset, quick, seed, device, **extra)
    config.update({"kind": kind, "dataset": dataset, "seed": seed, "quick": bool(quick)})
    # contrastive losses need negatives: never a last batch of one pair
    # The loader owns its generator (seeded), so its shuffling state is saved in the checkpoint.
    batch_size = default_batch_size(kind, dataset) if batch_size is None else batch_size
    loader = make_loader(train, batch_size, True, seed, device, model, drop_last=kind == "align")
    epochs = epochs if epochs is not None else default_epochs
    scheduler = None
    if kind in ("caption", "diffusion", "sound-caption"):
        # cosine decay over the reference run's epochs, stepped once per epoch. Its length must not
        # depend on --epochs: "1 epoch, then --resume to 2" must follow the same schedule as "2 epochs".
        scheduler = CosineAnnealingLR(optimizer, T_max=default_epochs)
    trainer = Trainer(model, optimizer, loader, epochs, device=device, out_dir=out_dir, progress=progress, seed=seed,
                      step_fn=step_fn, scheduler=scheduler)
    return trainer, config


def write_config(out_dir, config: dict) -> str:
    """Write ``config`` (how to rebuild a trained model) as JSON into ``out_dir``, atomically."""
    path = os.path.join(out_dir, CONFIG_NAME)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    os.replace(path + ".tmp", path)
    return path


def read_config(out_dir) -> dict:
    """Read the JSON written by :func:`write_config`; a clear error when it is missing."""
    path = os.path.join(out_dir, CONFIG_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{out_dir!r} is not a `minimm train` folder: it has no {CONFIG_NAME}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Inference from a `minimm train` folder
# ---------------------------------------------------------------------------------------------
#: the classes that draw images from captions (trained on shapes) or labels (trained on digits)
_IMAGE_GENERATORS = ("CVAE", "ConditionalGAN", "ConditionalDiffusion", "MVAE")


class TrainedModel:
    """A model rebuilt from a ``minimm train`` folder, with the pipeline's inference methods."""

    def __init__(self, model, config: dict):
        self.model = model
        self.config = config
        shape = config.get("args", {}).get("image_shape") or config.get("image_shape") or [16, 16]
        self.image_size = int(shape[-1])

    def generate_clip(self, text, n: int = 1):
        """``n`` clips (n, T, C, H, W) as a NumPy array for one caption (``train cvae --dataset video``)."""
        if self.config["class"] != "ClipCVAE":
            raise ValueError(f"a {self.config['kind']} model trained on {self.config['dataset']} does not draw "
                             "clips; train `cvae` with --dataset video")
        self.model.eval()
        return B.to_numpy(self.model.generate([text] * n).array)

    @property
    def is_diffusion(self) -> bool:
        return self.config["class"] == "ConditionalDiffusion"

    def samplers(self) -> tuple:
        """The samplers this model can draw with (empty for a model without sampler options)."""
        if not self.is_diffusion:
            return ()
        return ("ddim", "ddpm") if self.model.objective == "epsilon" else ("euler", "heun")

    def check_sampling(self, sampler=None, steps=None, guidance=None, eta=None) -> dict:
        """The sampler options of ``minimm generate`` checked against this model (``ValueError``
        with one line naming the option); returns those given, for :meth:`generate_image`."""
        given = {k: v for k, v in (("sampler", sampler), ("steps", steps), ("guidance", guidance), ("eta", eta))
                 if v is not None}
        if not given:
            return {}
        if not self.is_diffusion:
            flags = ", ".join(f"--{k}" for k in given)
            raise ValueError(f"{flags}: only a diffusion model has sampler options; this is a "
                             f"{self.config.get('kind')} model (train one with `minimm train diffusion`)")
        m = self.model
        sampler = sampler or m.sampler
        if sampler not in self.samplers():
            kind = "an ε-prediction diffusion" if m.objective == "epsilon" else "a flow-matching"
            raise ValueError(f"--sampler {sampler}: {kind} model samples with {' or '.join(self.samplers())}")
        if sampler == "ddpm" and steps is not None and steps != m.T:
            raise ValueError(f"--steps {steps}: the ddpm sampler takes all T = {m.T} ancestral steps; omit "
                             f"--steps, or use --sampler ddim for {steps} steps")
        if sampler in ("ddim", "ddpm") and steps is not None and steps > m.T:
            raise ValueError(f"--steps must be at most the model's T = {m.T}, got {steps}")
        if eta is not None and sampler != "ddim":
            raise ValueError(f"--eta is the ddim sampler's noise; --sampler {sampler} takes none")
        return given

    def _draw(self, condition, sampling: dict):
        self.model.eval()
        with no_grad():
            if self.is_diffusion:
                return B.to_numpy(self.model.generate(condition, **sampling).array)
            return B.to_numpy(self.model.generate(condition).array)

    def generate_image(self, text, n: int = 1, **sampling):
        """``n`` images (n, H, W) as a NumPy array for one caption (CVAE, cGAN or diffusion on shapes);
        ``sampling``: a diffusion model's ``sampler``, ``steps``, ``guidance``, ``eta``."""
        if self.config["class"] not in _IMAGE_GENERATORS or "vectorizer" not in self.config:
            raise ValueError(f"a {self.config['kind']} model trained on {self.config['dataset']} "
                             "does not draw images from captions; train `cvae`, `cgan`, `mvae` or `diffusion` "
                             "with --dataset shapes" + (" (or pass --label)" if self.draws_labels else ""))
        return self._draw([text] * n, self.check_sampling(**sampling))

    @property
    def draws_labels(self) -> bool:
        """Whether the model draws images from class labels (a cvae, cgan, mvae or diffusion model on digits)."""
        args = self.config.get("args", {})
        return self.config["class"] in _IMAGE_GENERATORS and "vectorizer" not in self.config \
            and args.get("cond_dim", args.get("txt_dim", 0)) > 0

    def generate_label(self, label: int, n: int = 1, **sampling):
        """``n`` images (n, H, W) of class ``label`` (a label-conditioned model, e.g. on digits)."""
        if not self.draws_labels:
            raise ValueError(f"--label: a {self.config['kind']} model trained on {self.config['dataset']} does not "
                             "draw images from labels; pass --text, or train `cvae`, `cgan`, `mvae` or `diffusion` "
                             "with --dataset digits")
        args = self.config["args"]
        classes = int(args.get("cond_dim", args.get("txt_dim", 0)))
        if not 0 <= label < classes:
            raise ValueError(f"--label must be a class id in [0, {classes - 1}], got {label}")
        return self._draw(np.full(n, label, dtype=np.int64), self.check_sampling(**sampling))

    def describe(self, image, strategy: str = "greedy", temperature: float = 1.0, top_k=None, top_p=None):
        """The caption of one image (H, W) (greedy decoding by default)."""
        if self.config["class"] not in ("CaptionDecoder", "ClipCaptioner"):
            raise ValueError(f"a {self.config['kind']} model does not write captions; train `caption`")
        img = np.asarray(image, dtype=np.float32)
        single = img.ndim == (4 if self.config["class"] == "ClipCaptioner" else 2)  # one clip, or one image
        x = img.reshape(1 if single else img.shape[0], -1)
        captions = self.model.generate(x, strategy=strategy, temperature=temperature, top_k=top_k, top_p=top_p)
        return captions[0] if single else captions


def _rebuild(config: dict):
    if config["class"] in SOUND_CLASSES:
        return rebuild_sound(config)
    vec = bow_from_dict(config["vectorizer"]) if "vectorizer" in config else None
    if config["class"] == "CVAE":
        return CVAE(vectorizer=vec, **config["args"])
    if config["class"] == "CaptionDecoder":
        return CaptionDecoder(Vocabulary.from_dict(config["vocabulary"]), **config["args"])
    if config["class"] == "ConditionalGAN":
        return ConditionalGAN(vectorizer=vec, **config["args"])
    if config["class"] == "ConditionalDiffusion":
        return ConditionalDiffusion(vectorizer=vec, **config["args"])
    if config["class"] == "MVAE":
        return MVAE(vectorizer=vec, **config["args"])
    if config["class"] in VIDEO_CLASSES:
        return rebuild_video(config)
    raise ValueError(f"cannot rebuild a {config['class']} model")


def load_for_inference(path, device="cpu") -> TrainedModel:
    """Rebuild the model of a ``minimm train`` folder (or of its ``checkpoint.npz``) on ``device``."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    ckpt = path if os.path.isfile(path) else os.path.join(folder, "checkpoint.npz")
    config = read_config(folder)
    if not os.path.isfile(ckpt):
        raise FileNotFoundError(f"no checkpoint at {ckpt!r}")
    model = _rebuild(config)
    state = mio.load(ckpt, map_location=str(B.device(device)))
    if not isinstance(state, dict) or "model" not in state:
        raise mio.CheckpointError(f"{ckpt!r} is not a training checkpoint")
    model.load_state_dict(state["model"])
    model.to(device)
    return TrainedModel(model, config)
