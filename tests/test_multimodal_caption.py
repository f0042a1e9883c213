"""Tests of the autoregressive caption decoder: causality, teacher forcing, decoding strategies,
gradients (float64 central differences) — on every device, at tiny sizes."""

import numpy as np
import pytest

import minimm
from minimm.data import Vocabulary
from minimm.multimodal.caption import CaptionDecoder, caption_accuracy
from minimm.testing import gradcheck_parameters

CAPTIONS = ["a small dim circle at the top left", "a large bright square in the center",
            "a small bright cross at the bottom right"]


def tiny(device, d_model=8, n_layers=2, image_dim=9, max_len=10):
    vocab = Vocabulary.build(CAPTIONS)
    return CaptionDecoder(vocab, image_dim=image_dim, d_model=d_model, n_heads=2, n_layers=n_layers,
                          max_len=max_len, image_hidden=6).to(device)


def images(n, device, dim=9, dtype=minimm.float32):
    rng = np.random.default_rng(0)
    return minimm.tensor(rng.random((n, dim)), dtype=dtype, device=device)


def test_forward_shapes(device):
    model = tiny(device)
    tokens = minimm.tensor(np.array([[2, 5, 6], [2, 7, 3]]), device=device)
    logits = model(images(2, device), tokens)
    assert logits.shape == (2, 3, len(model.vocab))
    with pytest.raises(ValueError, match="max_len"):
        model(images(1, device), minimm.tensor(np.full((1, 11), 4), device=device))


def test_changing_a_future_token_never_changes_an_earlier_output(device):
    """The causal mask: logits at position t depend on tokens 0..t only."""
    model = tiny(device)
    x = images(2, device)
    rng = np.random.default_rng(1)
    base = rng.integers(4, len(model.vocab), size=(2, 8))
    with minimm.no_grad():
        ref = model(x, minimm.tensor(base, device=device)).numpy()
        for j in range(8):
            changed = base.copy()
            changed[:, j] = (changed[:, j] + 1 - 4) % (len(model.vocab) - 4) + 4
            out = model(x, minimm.tensor(changed, device=device)).numpy()
            np.testing.assert_array_equal(out[:, :j], ref[:, :j])  # bit-identical before j
            assert not np.allclose(out[:, j], ref[:, j])           # position j itself does see it


def test_output_depends_on_the_image(device):
    model = tiny(device)
    tokens = minimm.tensor(np.array([[2, 5, 6]]), device=device)
    with minimm.no_grad():
        a = model(images(2, device)[:1], tokens).numpy()
        b = model(images(2, device)[1:], tokens).numpy()
    assert not np.allclose(a, b)


def test_teacher_forcing_loss_ignores_padding(device):
    model = tiny(device)
    batch = model.collate({"image": images(3, device), "caption": CAPTIONS})
    loss, logs = model.loss(batch)
    ids = model.encode_captions(CAPTIONS)
    with minimm.no_grad():
        logits = model(batch["image"], ids[:, :-1]).numpy()
    target = ids.numpy()[:, 1:]
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    real = target != model.vocab.pad_id
    by_hand = -np.take_along_axis(logp, target[..., None], -1)[..., 0][real].mean()
    assert loss.item() == pytest.approx(by_hand, rel=1e-4)
    assert ids.numpy()[0, 0] == model.vocab.bos_id and model.vocab.eos_id in ids.numpy()[0]
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name


def test_generate_strategies(device):
    model = tiny(device)
    x = images(4, device)
    greedy, ids = model.generate(x, max_len=6, return_ids=True)
    assert len(greedy) == 4 and ids.shape[0] == 4 and ids.shape[1] <= 6
    assert all(isinstance(c, str) for c in greedy)
    # top_k = 1 sampling is greedy decoding, whatever the temperature.
    assert model.generate(x, max_len=6, strategy="sample", top_k=1, temperature=3.0) == greedy
    minimm.manual_seed(0)
    s1 = model.generate(x, max_len=6, strategy="sample", temperature=1.0)
    minimm.manual_seed(0)
    assert model.generate(x, max_len=6, strategy="sample", temperature=1.0) == s1  # seeded
    with pytest.raises(ValueError, match="strategy"):
        model.generate(x, strategy="beam")
    with pytest.raises(ValueError, match="temperature"):
        model.generate(x, strategy="sample", temperature=0.0)


def test_sampling_follows_the_softmax():
    """Gumbel-max draws with temperature τ have the frequencies of softmax(logits / τ); top-k
    never draws outside the k best."""
    logits = minimm.tensor(np.tile(np.log([[0.5, 0.3, 0.15, 0.05]]), (20000, 1)))
    draws = CaptionDecoder._choose(logits, "sample", 1.0, None).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    p2 = np.array([0.5, 0.3, 0.15, 0.05]) ** 2
    draws = CaptionDecoder._choose(logits, "sample", 0.5, None).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, p2 / p2.sum(), atol=0.015)
    draws = CaptionDecoder._choose(logits, "sample", 1.0, 2).numpy()
    assert set(np.unique(draws)) == {0, 1}
    np.testing.assert_allclose((draws == 0).mean(), 0.5 / 0.8, atol=0.015)


def test_caption_loss_gradcheck(device):
    model = tiny(device, d_model=4, n_layers=1, image_dim=3).double()
    batch = model.collate({"image": images(2, device, dim=3, dtype=minimm.float64), "caption": CAPTIONS[:2]})
    assert gradcheck_parameters(model, lambda b: model.loss(b)[0], batch)


def test_caption_accuracy_parses_attributes():
    attrs = {"shape": np.array([0, 1, 2]), "size": np.array([0, 1, 0]), "position": np.array([0, 4, 3]),
             "intensity": np.array([0, 1, 1])}
    caps = ["a tiny faint disc in the upper left corner",       # all four right, in synonyms
            "a large bright square",                            # no position: cannot be right
            "a small bright cross at the bottom right"]         # wrong shape (truth: triangle)
    assert caption_accuracy(caps, attrs).tolist() == [True, False, False]


# ---------------------------------------------------------------------------------------------
# Nucleus (top-p) sampling and sinusoidal positions
# ---------------------------------------------------------------------------------------------
def test_top_p_near_zero_is_greedy_and_one_is_plain_sampling(device):
    """p → 0 keeps only the most likely token (greedy decoding, whatever the temperature); p = 1
    keeps them all, so with the same seed it draws exactly what plain sampling draws."""
    model = tiny(device)
    x = images(4, device)
    greedy = model.generate(x, max_len=6)
    minimm.manual_seed(3)
    assert model.generate(x, max_len=6, strategy="top_p", top_p=1e-6, temperature=3.0) == greedy
    minimm.manual_seed(3)
    plain = model.generate(x, max_len=6, strategy="sample", temperature=2.0)
    minimm.manual_seed(3)
    assert model.generate(x, max_len=6, strategy="top_p", top_p=1.0, temperature=2.0) == plain
    with pytest.raises(ValueError, match="top_p"):
        model.generate(x, strategy="top_p", top_p=0.0)


def test_top_p_draws_follow_the_renormalised_nucleus():
    """Frequencies (fixed seed, 20 000 rows): p = 1 has softmax's; p = 0.7 keeps the smallest set
    reaching 0.7 — {0.5, 0.3} — renormalised to (0.625, 0.375); p = 0.85 adds the 0.15 token."""
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = minimm.tensor(np.tile(np.log(probs), (20000, 1)))
    minimm.manual_seed(0)
    freq = np.bincount(CaptionDecoder._choose(logits, "top_p", 1.0, None, 1.0).numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, probs, atol=0.015)
    minimm.manual_seed(0)
    freq = np.bincount(CaptionDecoder._choose(logits, "top_p", 1.0, None, 0.7).numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.625, 0.375, 0, 0], atol=0.015)
    assert freq[2:].sum() == 0
    minimm.manual_seed(0)
    freq = np.bincount(CaptionDecoder._choose(logits, "top_p", 1.0, None, 0.85).numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, np.r_[probs[:3] / 0.95, 0], atol=0.015)


def test_sinusoidal_positions_option(device):
    """``positions="sinusoidal"``: no position parameters, the fixed table added, and it trains."""
    vocab = Vocabulary.build(CAPTIONS)
    minimm.manual_seed(0)
    model = CaptionDecoder(vocab, image_dim=9, d_model=8, n_heads=2, n_layers=1, max_len=10, image_hidden=6,
                           positions="sinusoidal").to(device)
    assert "pos_emb" not in dict(model.named_parameters())
    batch = model.collate({"image": images(3, device), "caption": CAPTIONS})
    opt = minimm.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss, _ = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses  # 3.2 → 1.0 nats in 30 steps
    # the positions matter: the same token at two places gets different logits
    tokens = minimm.tensor(np.array([[2, 5, 5, 5]]), device=device)
    with minimm.no_grad():
        out = model(images(1, device), tokens).numpy()
    assert not np.allclose(out[0, 1], out[0, 2])
    with pytest.raises(ValueError, match="positions"):
        CaptionDecoder(vocab, positions="rotary")


def test_learned_positions_stay_the_default_bit_identically():
    """Explicit ``positions="learned"`` builds the same model as before the option existed:
    same parameters from the same seed, in the same order, and the same logits."""
    vocab = Vocabulary.build(CAPTIONS)
    minimm.manual_seed(0)
    a = CaptionDecoder(vocab, image_dim=9, d_model=8, n_heads=2, n_layers=1, max_len=10, image_hidden=6)
    minimm.manual_seed(0)
    b = CaptionDecoder(vocab, image_dim=9, d_model=8, n_heads=2, n_layers=1, max_len=10, image_hidden=6,
                       positions="learned")
    names = [n for n, _ in a.named_parameters()]
    assert names == [n for n, _ in b.named_parameters()] and "pos_emb" in names
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    tokens = minimm.tensor(np.array([[2, 5, 6]]))
    x = images(1, "cpu")
    with minimm.no_grad():
        out = b(x, tokens).numpy()
        np.testing.assert_array_equal(a(x, tokens).numpy(), out)
        # the learned path, step by step: [prefix, token embeddings] + the first rows of pos_emb
        h = minimm.cat([b.image_encoder(x).reshape(1, 1, 8), b.tok_emb(tokens)], dim=1) + b.pos_emb[:4]
        for block in b.blocks:
            h = block(h)
        np.testing.assert_array_equal(b.head(b.ln_f(h[:, 1:, :])).numpy(), out)


def test_the_loss_reads_tokens_made_when_the_batch_was_collated(device):
    """Captions become token ids in ``prepare_batch`` (the loader's transform) or ``collate``, never
    inside ``loss``; the collated ids stay integers (they index the embedding)."""
    model = tiny(device)
    raw = {"image": images(3, device), "caption": CAPTIONS[:3]}
    with pytest.raises(ValueError, match=r"CaptionDecoder.loss: the batch has no 'tokens'.*prepare_batch"):
        model.loss(raw)
    batch = model.collate(raw)
    assert batch["tokens"].dtype == minimm.int64 and batch["tokens"].device == model.tok_emb.weight.device
    loss, _ = model.loss(batch)
    expected, _ = model.loss({**raw, "tokens": model.encode_captions(raw["caption"])})
    assert loss.item() == expected.item()
