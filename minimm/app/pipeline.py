"""The multimodal pipeline: preprocess → align → fuse → generate, as one object.

:class:`MultimodalPipeline` wires the models of this package together for the shapes data (16×16
pictures, captions, sounds). It trains nothing of its own; each step is a model defined elsewhere:

1. **preprocess** — images become flat pixel rows in [0, 1]; captions are tokenised into a binary
   bag of words (:class:`minimm.data.BagOfWords`) for the encoders and the conditional generator;
   sounds become log band energies (:func:`minimm.data.band_energies`).
2. **align** — an :class:`~minimm.multimodal.align.AlignmentNetwork` projects each modality into
   one shared space, trained contrastively (symmetric InfoNCE): a picture lands next to its caption
   and its sound.
3. **fuse** — a fusion network combines the aligned embeddings of whichever modalities are
   present into one vector per sample (missing modalities allowed): the pipeline's joint latent,
   drawn on the latent map.
4. **generate** — a caption-conditioned VAE draws pictures for a caption
   (:meth:`generate_image`), and an autoregressive caption decoder writes a caption for a picture
   (:meth:`describe`).

``fit`` trains the steps in order with progress bars; ``evaluate`` measures them on the held-out
split with an independently trained attribute classifier; ``save``/``load`` keep everything in
one folder (``pipeline.json`` for the configuration and the vocabularies, ``weights.npz`` for the
tensors, written by :mod:`minimm.io`: no pickle).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from .. import backend as B
from .. import io as mio
from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import tensor
from ..data import BagOfWords, DataLoader, TensorDataset, Vocabulary, band_energies, load_shapes
from ..generative.contrastive import info_nce, normalize_embeddings
from ..multimodal.align import AlignmentNetwork
from ..multimodal.caption import CaptionDecoder
from ..multimodal.fuse import WeightedAverageFusion
from ..multimodal.vae import CVAE
from ..optim import Adam
from ..training import Trainer
from .builders import bow_from_dict, bow_to_dict
from .configs import config
from .demo import DEMO_CAPTIONS, evaluate_pipeline, write_figures
from .train import held_out_alignment, train_captioner, train_cvae_shapes

__all__ = ["MultimodalPipeline", "DEMO_CAPTIONS"]


CONFIG_NAME = "pipeline.json"
WEIGHTS_NAME = "weights.npz"
FORMAT = "minimm-pipeline"


def _np(x) -> np.ndarray:
    return np.asarray(B.to_numpy(x.array if isinstance(x, Tensor) else x))


class MultimodalPipeline:
    """preprocess → align → fuse → generate on the shapes data.

    ``device``: where every model lives; ``seed``: drives data, initialisation and sampling.
    ``n_train``/``n_test``: sizes of the shapes splits (``quick`` fits use a quarter of them).
    ``embed_dim``: the shared space of the alignment. Components after :meth:`fit` (or :meth:`load`):
    ``vectorizer`` (bag of words), ``aligner``, ``fusion``, ``generator`` (CVAE), ``captioner``,
    and ``history`` (per-component loss history).
    """

    def __init__(self, device="cpu", seed: int = 0, n_train: int = 4000, n_test: int = 1000, embed_dim=None,
                 image_size: int = 16):
        self.device = str(B.device(device))
        self.seed = int(seed)
        self.n_train, self.n_test = int(n_train), int(n_test)
        self.embed_dim = int(embed_dim if embed_dim is not None else config("pipeline")["embed_dim"])
        self.image_size = int(image_size)
        self.vectorizer = None
        self.aligner = None
        self.fusion = None
        self.generator = None
        self.captioner = None
        self.sample_rate = 4000
        self.sound_stats = None  # mean/std of the sound features, fitted on the training split
        self.component_args: dict = {}  # constructor arguments of each model, for load()
        self.history: dict = {}
        self.splits = None
        self.quick = False

    # -- 1. preprocess ------------------------------------------------------------------------------
    def load_data(self, quick: bool = False):
        """The shapes splits this pipeline trains and evaluates on (with sounds)."""

        n_train, n_test = (self.n_train // 4, self.n_test // 4) if quick else (self.n_train, self.n_test)
        return load_shapes(n_train=n_train, n_test=n_test, seed=self.seed, image_size=self.image_size,
                           sample_rate=self.sample_rate)

    def preprocess_images(self, images) -> Tensor:
        """Images (N, H, W) or (H, W) in [0, 1] → flat rows (N, H·W) on the pipeline's device."""
        if isinstance(images, Tensor):
            x = images.to(self.device)
        else:
            x = tensor(np.asarray(images, dtype=np.float32), device=self.device)
        if x.ndim == 2 and x.shape[-1] != self.image_size * self.image_size:
            x = x.reshape(1, -1)  # one (H, W) image
        return x.reshape(x.shape[0], -1)

    def preprocess_text(self, captions) -> Tensor:
        """Captions → binary bag of words (N, V): which vocabulary words each caption contains."""
        if isinstance(captions, str):
            captions = [captions]
        return tensor(self.vectorizer.transform(list(captions)), device=self.device)

    def preprocess_sound(self, sounds) -> Tensor:
        """Sounds (N, T) → standardised log band energies per frame, flattened (N, frames·bands).

        Per frame, because two attributes live in time: the size is the tone's duration and the
        position its loudness envelope; the pitch (shape) picks the band, the loudness the level.
        """

        feats = band_energies(np.asarray(_np(sounds), dtype=np.float64), sample_rate=self.sample_rate,
                              n_bands=16, n_fft=256, hop_length=128, per_frame=True)
        feats = np.asarray(feats, dtype=np.float64).reshape(len(feats), -1)
        if self.sound_stats is None:  # fitted once, on the training sounds
            self.sound_stats = {"mean": feats.mean(axis=0).tolist(), "std": (feats.std(axis=0) + 1e-3).tolist()}
        feats = (feats - np.asarray(self.sound_stats["mean"])) / np.asarray(self.sound_stats["std"])
        return tensor(feats.astype(np.float32), device=self.device)

    def preprocess(self, ds) -> dict:
        """A dataset split → the dict of model inputs: ``image`` (N, H·W), ``text`` (N, V), ``sound``."""
        out = {"image": self.preprocess_images(ds.image), "text": self.preprocess_text(ds.caption)}
        if "sound" in ds.modalities:
            out["sound"] = self.preprocess_sound(ds.sound)
        return out

    # -- training -----------------------------------------------------------------------------------
    def fit(self, train_split=None, epochs=None, device=None, progress: bool = True, quick: bool = False, log=None):
        """Train every step on the shapes data; returns ``self``.

        ``train_split``: ``(train, test)`` splits (default: :meth:`load_data`); ``epochs``: an int
        for every component or a dict ``{"align": .., "generator": .., "captioner": ..}`` (default:
        the reference setups, fewer with ``quick``); ``device`` overrides the pipeline's.
        ``log``: a function receiving one line per finished step (the CLI prints them).
        """

        if device is not None:
            self.device = str(B.device(device))
        say = log or (lambda msg: None)
        # bars only on a terminal: in a log file or CI they are noise
        progress = bool(progress) and _stderr_is_tty()
        self.quick = bool(quick)
        splits = train_split if train_split is not None else self.load_data(quick)
        self.splits = splits
        self.sample_rate = int(splits.train.info.get("sample_rate", self.sample_rate))
        eps = self._epochs(epochs, quick)
        # 1. preprocess: the caption vocabulary and the sound scaler, fitted on the training split
        t = time.perf_counter()
        self.vectorizer = BagOfWords(binary=True).fit(splits.train.caption)
        self.sound_stats = None
        inputs = self.preprocess(splits.train)
        say(f"  1 preprocess  {len(splits.train)} samples: images {tuple(inputs['image'].shape[1:])}, "
            f"{inputs['text'].shape[1]} caption words"
            + (f", sound {inputs['sound'].shape[1]} band energies" if "sound" in inputs else "")
            + f"  ({time.perf_counter() - t:.1f} s)")
        # 2. align and 3. fuse, trained together
        t = time.perf_counter()
        self._fit_alignment(inputs, eps["align"], progress, held_out=self.preprocess(splits.test))
        say(f"  2 align       contrastive over {', '.join(self.aligner.modalities)}, {eps['align']} epochs")
        say(f"  3 fuse        gated average of the aligned embeddings  ({time.perf_counter() - t:.1f} s)")
        # 4. generate
        t = time.perf_counter()
        self._fit_generator(splits, eps["generator"], progress)
        say(f"  4 generate    caption → image (CVAE), {eps['generator']} epochs  ({time.perf_counter() - t:.1f} s)")
        t = time.perf_counter()
        self._fit_captioner(splits, eps["captioner"], progress)
        say(f"  4 generate    image → caption (decoder), {eps['captioner']} epochs"
            f"  ({time.perf_counter() - t:.1f} s)")
        return self

    @staticmethod
    def _epochs(epochs, quick: bool) -> dict:
        c = config("pipeline")
        defaults = dict(c["quick_epochs"] if quick else c["epochs"])
        if epochs is None:
            return defaults
        if isinstance(epochs, int):
            return {k: epochs for k in defaults}
        return {**defaults, **epochs}

    def _fit_alignment(self, inputs: dict, epochs: int, progress: bool, held_out=None) -> None:
        """Steps 2 and 3: the aligner (symmetric InfoNCE over every pair of modalities) and the
        fusion, trained together. The fusion sees a random subset of the aligned embeddings and
        must land next to the picture's embedding (InfoNCE again): "whatever you know about a
        sample — its caption, its sound, both — put it where its picture is"."""
        c = config("pipeline")
        B.manual_seed(self.seed)
        dims = {k: int(v.shape[1]) for k, v in inputs.items()}
        self.component_args["aligner"] = {"input_dims": dims, "embed_dim": self.embed_dim, "hidden": c["align_hidden"]}
        self.component_args["fusion"] = {"input_dims": {k: self.embed_dim for k in dims},
                                         "out_features": self.embed_dim}
        self.aligner = AlignmentNetwork(**self.component_args["aligner"]).to(self.device)
        self.fusion = WeightedAverageFusion(**self.component_args["fusion"]).to(self.device)
        self.aligner.vectorizer = self.vectorizer
        both = _Pair(self.aligner, self.fusion)
        opt = Adam(both.parameters(), lr=c["lr"])
        subsets = [[k for k in dims if k != "image"]] + [[k] for k in dims if k != "image"] + [list(dims)]
        rng = np.random.default_rng(self.seed)

        def step(model, batch):
            opt.zero_grad()
            emb = model.aligner(batch)
            align = model.aligner.contrastive_loss(emb)
            chosen = subsets[int(rng.integers(len(subsets)))]
            fused = normalize_embeddings(model.fusion({k: emb[k] for k in chosen}))
            fuse = info_nce(fused, emb["image"].detach(), logit_scale=model.aligner.logit_scale().detach())
            loss = align + fuse
            loss.backward()
            opt.step()
            model.aligner.logit_scale.clamp_()
            return {"loss": loss, "align": align, "fuse": fuse}

        loader = DataLoader(TensorDataset(**inputs), batch_size=c["batch_size"], shuffle=True, drop_last=True, seed=self.seed,
                            device=self.device)
        validate = None if held_out is None else held_out_alignment(held_out, c["batch_size"])  # the dashed curve
        trainer = Trainer(both, opt, loader, epochs, device=self.device, progress=progress, seed=self.seed,
                          step_fn=step, validate=validate)
        self.history["align + fuse"] = trainer.fit()
        both.eval()

    def _fit_generator(self, splits, epochs: int, progress: bool) -> None:
        """Step 4a: caption → image, the reference shapes CVAE (:func:`minimm.app.train_cvae_shapes`)."""
        self.generator, hist = train_cvae_shapes(splits, epochs=epochs, device=self.device, seed=self.seed,
                                                 progress=progress, validation=splits.test)
        g = self.generator
        self.component_args["generator"] = {"x_dim": g.x_dim, "cond_dim": g.cond_dim, "z_dim": g.z_dim,
                                            "hidden": config("cvae_shapes")["model"]["hidden"],
                                            "image_shape": list(g.image_shape)}
        self.history["caption → image (CVAE)"] = hist

    def _fit_captioner(self, splits, epochs: int, progress: bool) -> None:
        """Step 4b: image → caption, the reference decoder (:func:`minimm.app.train_captioner`)."""
        self.captioner, hist = train_captioner(splits, epochs=epochs, device=self.device, seed=self.seed,
                                               progress=progress, validation=splits.test)
        c = self.captioner
        m = config("captioner")["model"]
        self.component_args["captioner"] = {
            "args": {"image_dim": c.image_dim, "d_model": c.d_model, "n_heads": m["n_heads"],
                     "n_layers": m["n_layers"], "max_len": c.max_len, "n_prefix": c.n_prefix,
                     "image_hidden": int(c.image_encoder[0].weight.shape[0]), "positions": c.positions},
            "vocabulary": c.vocab.to_dict(),
        }
        self.history["image → caption (decoder)"] = hist

    # -- inference ----------------------------------------------------------------------------------
    def generate_image(self, text, n: int = 1) -> np.ndarray:
        """``n`` pictures for the caption ``text``: a NumPy array (n, H, W) in [0, 1].

        A list of captions gives (len(text), n, H, W).
        """
        self._need("generator")
        texts = [text] if isinstance(text, str) else list(text)
        self.generator.eval()
        with no_grad():
            x = self.generator.generate([t for t in texts for _ in range(n)])
        out = _np(x).reshape(len(texts), n, self.image_size, self.image_size)
        return out[0] if isinstance(text, str) else out

    def describe(self, image, strategy: str = "greedy", temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None):
        """The caption of one image (H, W) → a string, or of a batch (N, H, W) → a list of strings.

        Written token by token by the decoder: ``strategy="greedy"`` (the most probable word each
        time), ``"sample"`` (from softmax(logits / ``temperature``), among the ``top_k`` best) or
        ``"top_p"`` (nucleus sampling: among the fewest words whose probabilities sum to ``top_p``).
        """
        self._need("captioner")
        arr = image if isinstance(image, Tensor) else np.asarray(image, dtype=np.float32)
        single = arr.ndim == 2
        x = self.preprocess_images(arr)
        self.captioner.eval()
        with no_grad():
            captions = self.captioner.generate(x, strategy=strategy, temperature=temperature, top_k=top_k,
                                               top_p=top_p)
        return captions[0] if single else list(captions)

    def embed(self, image=None, caption=None, sound=None) -> Tensor:
        """The fused embedding (N, embed_dim) of whichever modalities are given (unit norm)."""

        self._need("aligner")
        inputs = {}
        if image is not None:
            inputs["image"] = self.preprocess_images(image)
        if caption is not None:
            inputs["text"] = self.preprocess_text(caption)
        if sound is not None:
            inputs["sound"] = self.preprocess_sound(sound)
        if not inputs:
            raise ValueError("embed: give at least one of image, caption, sound")
        self.aligner.eval()
        self.fusion.eval()
        with no_grad():
            return normalize_embeddings(self.fusion(self.aligner(inputs)))

    def _need(self, component: str) -> None:
        if getattr(self, component) is None:
            raise RuntimeError(f"the pipeline has no trained {component}: call fit() or load() first")

    # -- evaluation and figures (the demo's, in :mod:`minimm.app.demo`) -------------------------------
    def evaluate(self, splits=None, evaluator=None) -> dict:
        """Held-out metrics of every step: :func:`minimm.app.demo.evaluate_pipeline`."""
        return evaluate_pipeline(self, splits, evaluator)

    def write_figures(self, out_dir, captions=DEMO_CAPTIONS, samples: int = 6) -> list[str]:
        """The demo's figures in ``out_dir``: :func:`minimm.app.demo.write_figures`."""
        return write_figures(self, out_dir, captions, samples)

    # -- saving -------------------------------------------------------------------------------------
    @staticmethod
    def is_saved(path) -> bool:
        """Whether ``path`` is a folder written by :meth:`save`."""
        return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_NAME))

    def save(self, path) -> None:
        """Write the pipeline to the folder ``path``: ``pipeline.json`` (settings, vocabularies, the
        sound scaler, constructor arguments, loss history) and ``weights.npz`` (every state dict)."""

        for c in ("vectorizer", "aligner", "fusion", "generator", "captioner"):
            self._need(c)
        os.makedirs(path, exist_ok=True)
        config = {
            "format": FORMAT, "version": 1,
            "settings": {"seed": self.seed, "n_train": self.n_train, "n_test": self.n_test,
                         "embed_dim": self.embed_dim, "image_size": self.image_size,
                         "sample_rate": self.sample_rate, "quick": self.quick},
            "vectorizer": bow_to_dict(self.vectorizer),
            "sound_stats": self.sound_stats,
            "components": self.component_args,
            "history": self.history,
        }
        mio.save({c: getattr(self, c).state_dict() for c in ("aligner", "fusion", "generator", "captioner")},
                 os.path.join(path, WEIGHTS_NAME))
        tmp = os.path.join(path, CONFIG_NAME + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=1, ensure_ascii=False)
        os.replace(tmp, os.path.join(path, CONFIG_NAME))

    @classmethod
    def load(cls, path, device=None) -> MultimodalPipeline:
        """Rebuild a pipeline written by :meth:`save` on ``device`` (default: the CPU)."""

        cfg_path = os.path.join(path, CONFIG_NAME)
        if not os.path.isfile(cfg_path):
            raise FileNotFoundError(f"no saved pipeline at {path!r} (it has no {CONFIG_NAME})")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        if cfg.get("format") != FORMAT:
            raise mio.CheckpointError(f"{cfg_path!r} does not describe a {FORMAT}")
        s = cfg["settings"]
        pipe = cls(device=device or "cpu", seed=s["seed"], n_train=s["n_train"], n_test=s["n_test"],
                   embed_dim=s["embed_dim"], image_size=s["image_size"])
        pipe.sample_rate, pipe.quick = s["sample_rate"], s["quick"]
        pipe.vectorizer = bow_from_dict(cfg["vectorizer"])
        pipe.sound_stats = cfg["sound_stats"]
        pipe.component_args = args = cfg["components"]
        pipe.history = cfg["history"]
        pipe.aligner = AlignmentNetwork(**args["aligner"])
        pipe.aligner.vectorizer = pipe.vectorizer
        pipe.fusion = WeightedAverageFusion(**args["fusion"])
        pipe.generator = CVAE(vectorizer=pipe.vectorizer, **args["generator"])
        pipe.captioner = CaptionDecoder(Vocabulary.from_dict(args["captioner"]["vocabulary"]),
                                        **args["captioner"]["args"])
        state = mio.load(os.path.join(path, WEIGHTS_NAME), map_location=pipe.device)
        for c in ("aligner", "fusion", "generator", "captioner"):
            module = getattr(pipe, c)
            module.load_state_dict(state[c])
            module.to(pipe.device)
            module.eval()
        return pipe


class _Pair(nn.Module):
    """The aligner and the fusion trained as one (for the Trainer: parameters, state, modes)."""

    def __init__(self, aligner, fusion):
        super().__init__()
        self.aligner = aligner
        self.fusion = fusion


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
