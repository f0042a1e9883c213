"""The math the project teaches: the GAN objective, the VAE's ELBO, and contrastive alignment.

* :mod:`minimm.generative.gan` — the article's L_D and L_G (stable, on logits), D* and V(D, G);
* :mod:`minimm.generative.vae` — reparameterisation, Gaussian KL, ELBO, IWAE, product of experts;
* :mod:`minimm.generative.contrastive` — symmetric InfoNCE and CLIP's learnable logit scale;
* :mod:`minimm.generative.sampling` — temperature, top-k and nucleus (top-p) decoding.

"The article" in these docstrings is the article on multimodal generation that the project
teaches from; its equations are written out where they are used.
"""

from __future__ import annotations

from . import contrastive, gan, sampling, vae
from .contrastive import LogitScale, info_nce
from .gan import discriminator_loss, generator_loss, optimal_discriminator, value_function
from .sampling import sample_logits, top_k_filter, top_p_filter
from .vae import (
    ELBO, elbo, gaussian_kl, gaussian_log_prob, iwae, iwae_bound, product_of_experts, reparameterize,
)

__all__ = [
    "gan", "vae", "contrastive",
    "discriminator_loss", "generator_loss", "optimal_discriminator", "value_function",
    "reparameterize", "gaussian_kl", "gaussian_log_prob", "elbo", "ELBO", "iwae_bound", "iwae",
    "product_of_experts", "info_nce", "LogitScale", "sampling", "top_k_filter", "top_p_filter", "sample_logits",
]
