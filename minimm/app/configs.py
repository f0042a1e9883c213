"""The reference configurations: every model's hyper-parameters, written once.

The ``train_*`` recipes (:mod:`minimm.app.train`), ``minimm train`` (:mod:`minimm.app.builders`)
and the demo pipeline (:mod:`minimm.app.pipeline`) all read their defaults from here. Each entry
holds the model's constructor arguments (``model``) and its training setting: optimiser learning
rate, batch size, epochs of the reference run and of the ``quick`` run. The numbers are those of
the reference setups that reach the README's quality table.
"""

from __future__ import annotations

__all__ = ["CONFIGS", "config", "epochs_for"]

CONFIGS: dict = {
    # judges of generated samples (trained on real data only)
    "digit_evaluator": {"model": {"hidden": 128}, "lr": 1e-3, "batch_size": 64, "epochs": 100, "quick_epochs": 20},
    "shapes_evaluator": {"model": {"hidden": 128}, "lr": 1e-3, "batch_size": 64, "epochs": 30, "quick_epochs": 10},
    # VAE on binarised digits: 64-512-(8, 8), Bernoulli pixels, 400 epochs. −IWAE on seeds 0/1/2 (re-drawn
    # splits): 128 wide, 200 epochs: only 0.01-0.31 nats below a Bernoulli mixture with as many parameters;
    # 256 wide, 200 epochs: 17.14 / 17.51 / 17.52, above the best mixture's 17.39 on two seeds; 256 wide,
    # 400 epochs: 16.91 / 17.23 / 17.31; 512 wide, 400 epochs: 16.70 / 16.94 / 17.29 (~15 CPU-s a seed)
    "vae_digits": {"model": {"hidden": 512, "z_dim": 8}, "lr": 1e-3, "batch_size": 64, "epochs": 400,
                   "quick_epochs": 60},
    # the same VAE with a convolutional encoder / transposed-convolutional decoder (8×8 → 4×4 → 2×2), 200 epochs
    # like the MLP's (100: -IWAE 17.27-17.58 on seeds 0-2, not below every mixture; test -IWAE still falls to 200
    # though the train -ELBO drops 2 nats below the test one; 16 channels under-fit, a cosine lr did not help;
    # 24 channels: 16.97 / 17.18 / 17.34 at 200 epochs, at two thirds of 32's cost (32: 16.92 / 17.08 / 17.24);
    # 240 epochs 16.84 / 17.03 / 17.33 (mean 17.07, 32's mean at 200 for 20 % more time than 200); batch 128 at
    # Adam 2e-3 saved only 14 % of the time and lost 0.14 nats on seed 0)
    "conv_vae_digits": {"model": {"channels": 24, "z_dim": 8}, "lr": 1e-3, "batch_size": 64, "epochs": 240,
                        "quick_epochs": 30},
    # label-conditioned CVAE on binarised digits: [x, y] → 128 → 2z, [z, y] → 128 → 64
    "cvae_digits": {"model": {"hidden": 128, "z_dim": 8}, "lr": 1e-3, "batch_size": 64, "epochs": 200,
                    "quick_epochs": 60},
    # caption-conditioned CVAE on shapes: bag of words → 256 → z 8
    "cvae_shapes": {"model": {"hidden": 256, "z_dim": 8}, "lr": 1e-3, "batch_size": 64, "epochs": 40,
                    "quick_epochs": 20},
    # MVAE: PoE with the prior expert, sub-sampled ELBOs, text likelihood weight 10, and a cross-modal
    # term (the image-only ELBO also explains the word, cross_weight 1). Without it (200 epochs) q(z | image)
    # named the digit no better than the nearest class-mean image (image→label 85.6 / 86.0 / 89.5 % against
    # 85.6 / 87.4 / 89.5 %, seeds 0-2; λ_text 50 or 100, z 16: 78-84 %, seed 0); with it 60 epochs reach
    # 93.1 / 92.7 / 96.5 % (word→image coherence 92-94 %, recall 17-25 %) in ~7 CPU-s, not ~16. 100 epochs:
    # 92.0 / 94.7 / 95.9 %, recall 28-33 % (without the term: 26-34 %), ~10 CPU-s
    "mvae_digits": {"model": {"img_dim": 64, "txt_dim": 10, "img_hidden": 128, "txt_hidden": 64, "z_dim": 8,
                              "lambda_text": 10.0, "experts": "poe", "cross_weight": 1.0},
                    "lr": 1e-3, "batch_size": 64, "epochs": 60, "quick_epochs": 30},
    # MVAE on shapes (tutorial 11, part 2): captions as bags of words under a Bernoulli likelihood,
    # text weight 90 (about 30 words against 256 pixels weighted 3), z 16
    "mvae_shapes": {"model": {"img_dim": 256, "img_hidden": 512, "txt_hidden": 128, "z_dim": 16,
                              "lambda_image": 3.0, "lambda_text": 90.0, "text_likelihood": "bernoulli",
                              "image_shape": [16, 16]},
                    "lr": 2e-3, "batch_size": 128, "epochs": 100, "quick_epochs": 25},
    # conditional GAN: G [z16, y] → 256 → 64, D [x, y] → 256 → 1, Adam β₁ = 0.5, 200 epochs (width 128 at
    # 100 epochs lost to a per-class Gaussian on every sample metric: Fréchet 2.8 vs 1.6, coverage 67 vs 82 %)
    "cgan_digits": {"model": {"z_dim": 16, "hidden": 256}, "lr": 1e-3, "betas": (0.5, 0.999), "batch_size": 32,
                    "epochs": 200, "quick_epochs": 50, "cli_epochs": 50},
    # DCGAN-style players (ConvGAN) in the cGAN's game and setting, one stride-2 layer each (8×8 ↔ 4×4, 32
    # channels), the discriminator's head an MLP [features, y] → 128 → 1, samples from the generator's weight
    # average (EMA 0.999). The two-layer DCGAN (16 → 32 channels, 8×8 → 4×4 → 2×2, batch norm, no average) lost
    # to a per-class Gaussian on every sample metric (Fréchet 3.5 vs 1.65, coverage 77 vs 85 %); one layer
    # without the head or the average: Fréchet 1.7 (seed 0); with the average 1.42, with both 1.16 (seeds 0–2);
    # (the average's decay ramped up from 0.1: 1.01, coverage 93 %, ~19 CPU-s a seed); 70 epochs: 1.17, 91 %, ~13
    "conv_gan_digits": {"model": {"z_dim": 16, "channels": 32, "layers": 1, "hidden": 128, "ema": 0.999,
                                  "batch_norm": False},
                        "lr": 1e-3, "betas": (0.5, 0.999), "batch_size": 32, "epochs": 100, "quick_epochs": 20},
    # text-conditioned GAN on shapes (``minimm train cgan --dataset shapes``)
    "cgan_shapes": {"model": {"z_dim": 16, "hidden": 256}, "lr": 1e-3, "betas": (0.5, 0.999), "batch_size": 64,
                    "epochs": 50, "quick_epochs": 50},
    # autoregressive captioner: 2 causal blocks of width 64, 4 heads, learned positions ("sinusoidal":
    # the fixed table), Adam 1e-3 with cosine decay, batch 32. The shape word is the weakest signal in
    # the pixels (a small dim circle and square differ by 0.36 in L2, less than the noise's 0.8): at
    # Adam 3e-3 / batch 64 the loss sat on a plateau (0.68–0.70 against ≈ 0.61 once shapes are read:
    # shapes confused in pairs, log 2 per caption) until the cosine lowered the rate; seeds 1 and 2 ended there
    # (51 %, 48 % of captions right; seed 0 escaped: 98.5 %). A third of the rate and twice the steps
    # read the shapes on every seed (99.2 / 98.5 / 98.7 %, seeds 0–2) for ~43 CPU-s instead of ~35.
    "captioner": {"model": {"d_model": 64, "n_heads": 4, "n_layers": 2, "positions": "learned"}, "lr": 1e-3,
                  "batch_size": 32,
                  "epochs": 12, "quick_epochs": 5},
    # video (moving-shapes clips): the clip judge (conv per frame + conv per frame difference → MLP,
    # five heads), the caption → clip CVAE with a moving latent, and the clip → caption decoder.
    # Judge: 8 epochs (15 read 97.5 % of real test clips right, 8 read 96.3 %, seed 0); 16 channels, not
    # 8 — the 8-channel judge (10 epochs, 95.9 %) read a per-pixel Gaussian's clips right in 93.5 % on
    # seed 1, above the model; a strided frame convolution instead of max-pooling, 92.7 % on seed 0
    "clip_judge": {"model": {"channels": 16, "hidden": 128}, "lr": 3e-3, "batch_size": 64, "epochs": 8,
                   "quick_epochs": 3},
    # CVAE: the steps count, not the epochs — batch 32 for 24 epochs costs half of batch 64 for 45
    "clip_cvae": {"model": {"hidden": 256, "z_dim": 8, "state_dim": 32}, "lr": 3e-3, "batch_size": 32,
                  "epochs": 24, "quick_epochs": 4},
    # clip → caption on the judge's frozen convolutions and first layer (train_video.encoder_from_judge;
    # channels and hidden are the judge's): 10 epochs at Adam 3e-3 / batch 64 read 96.0 % right (seed 0).
    # Learning the encoder through the caption loss (the image captioner's cure, Adam 1e-3 / batch 32,
    # 20 epochs: 95.6 / 94.2 / 97.4 % on seeds 0-2) cost ~100 CPU-s; at 3e-3 / batch 64 the shape word,
    # the faintest signal in a 16×16 frame, was learnt only on some seeds
    "clip_captioner": {"model": {"d_model": 64, "n_heads": 4, "n_layers": 2, "channels": 16, "hidden": 128},
                       "lr": 3e-3, "batch_size": 64, "epochs": 10, "quick_epochs": 3},
    # image → DTMF tone: MLP image-256-256-800 writing the waveform, loss on the magnitudes of the
    # DFT zero-padded to 2 × 800 samples (every 5 Hz)
    "tone_generator": {"model": {"hidden": 256, "oversample": 2}, "lr": 2e-3, "batch_size": 64, "epochs": 15,
                       "quick_epochs": 6},
    # shapes sounds (text ↔ sound): the judge CNN (real sounds only), the caption → spectrogram CVAE
    # (waveform by Griffin-Lim), the sound → caption decoder (CNN sound encoder, 2 causal blocks)
    "sound_judge": {"model": {"channels": 8, "hidden": 64}, "lr": 3e-3, "batch_size": 64, "epochs": 8,
                    "quick_epochs": 3},
    "sound_generator": {"model": {"hidden": 256, "z_dim": 8, "sigma": 0.5}, "lr": 2e-3, "batch_size": 128,
                        "epochs": 30, "quick_epochs": 3, "griffin_lim_iterations": 32},
    "sound_captioner": {"model": {"d_model": 64, "n_heads": 4, "n_layers": 2, "n_prefix": 2, "channels": 8},
                        "lr": 3e-3, "batch_size": 64, "epochs": 14, "quick_epochs": 2},
    # contrastive alignment on digits: image 64-128-32, text BoW-64-32, dropout 0.3 (see train_alignment)
    "align_digits": {"model": {"embed_dim": 32, "hidden": {"image": 128, "text": 64}, "dropout": 0.3},
                     "lr": 1e-3, "batch_size": 64, "epochs": 30, "quick_epochs": 10, "adv_weight": 0.5},
    # alignment on shapes (``minimm train align --dataset shapes``): 256-128-32
    "align_shapes": {"model": {"embed_dim": 32, "hidden": 128, "dropout": 0.0}, "lr": 1e-3, "batch_size": 64,
                     "epochs": 30, "quick_epochs": 30},
    # caption → image diffusion on shapes: MLP 256 wide, one residual block, x₀-parameterised ε-loss
    # with min-SNR weights, Adam 3e-3 on a cosine to 0, batch 256, 165 epochs (~35 CPU-s); sampled by
    # stochastic DDIM (η = 0.75) in 5 steps with classifier-free guidance w = 0.25. Measured on seed 0
    # against the earlier 2 blocks × 240 epochs × batch 128 (~120 CPU-s): two blocks, batch 128, flow
    # matching, lr 5e-3, weight averaging (EMA) or more steps all did worse per CPU-second, and η > 0
    # lifts coherence and coverage of the shorter-trained model (docs/math/diffusion.md, "Results")
    "diffusion_shapes": {"model": {"hidden": 256, "depth": 1, "guidance": 0.25, "steps": 5, "eta": 0.75},
                         "lr": 3e-3, "batch_size": 256, "epochs": 165, "quick_epochs": 8},
    # label → image diffusion on digits (x / 16): the same denoiser, 128 wide (64 pixels need no more:
    # ~7 CPU-s); w = 0.5 (more costs recall)
    "diffusion_digits": {"model": {"hidden": 128, "depth": 2, "guidance": 0.5, "steps": 20}, "lr": 2e-3,
                         "batch_size": 64, "epochs": 100, "quick_epochs": 10},
    # the demo pipeline: epochs of its three trained steps, and its alignment / fusion step
    "pipeline": {"epochs": {"align": 15, "generator": 40, "captioner": 12},
                 "quick_epochs": {"align": 8, "generator": 25, "captioner": 5},
                 "embed_dim": 32, "align_hidden": 128, "lr": 1e-3, "batch_size": 128},
}


def config(name: str) -> dict:
    """The reference configuration ``name`` (a copy: change it freely)."""
    if name not in CONFIGS:
        raise KeyError(f"no reference configuration {name!r}; known: {sorted(CONFIGS)}")
    c = CONFIGS[name]
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in c.items()}


def epochs_for(name: str, epochs=None, quick: bool = False):
    """``epochs`` when given, else the reference (or ``quick``) number of epochs of ``name``."""
    if epochs is not None:
        return epochs
    c = CONFIGS[name]
    return c["quick_epochs"] if quick else c["epochs"]
