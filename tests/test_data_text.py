"""Tokenizer, vocabulary, padding, one-hot, bag-of-words and TF-IDF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimm import backend as B
from minimm.data import (
    BagOfWords,
    TfidfVectorizer,
    Tokenizer,
    Vocabulary,
    one_hot,
    pad_sequences,
    sequence_mask,
    tokenize,
)

CORPUS = [
    "A large bright circle at the top left.",
    "top left: a big round shape, bright",
    "there is a dim square in the middle, and it is small",
    "a small dim cross at the bottom right",
    "The circle is bright!",
]


def test_tokenize_lowercases_splits_punctuation_and_whitespace():
    assert tokenize("Top  left:\ta BIG round\nshape, bright.") == [
        "top",
        "left",
        "a",
        "big",
        "round",
        "shape",
        "bright",
    ]
    assert tokenize("Hi, there!", keep_punctuation=True) == ["hi", ",", "there", "!"]
    assert tokenize("Don't PANIC", lower=False) == ["Don't", "PANIC"]
    assert Tokenizer(keep_punctuation=True)("a,b") == ["a", ",", "b"]


def test_vocabulary_order_specials_min_freq_and_max_size():
    vocab = Vocabulary.build(CORPUS)
    assert vocab.tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    # Most frequent first ("a" appears 4 times), ties alphabetical: deterministic ids.
    assert vocab.tokens[4] == "a"
    counts = [vocab.counts[t] for t in vocab.tokens[4:]]
    assert counts == sorted(counts, reverse=True)
    frequent = Vocabulary.build(CORPUS, min_freq=2)
    assert all(vocab.counts[t] >= 2 for t in frequent.tokens[4:]) and "round" not in frequent
    small = Vocabulary.build(CORPUS, max_size=7)
    assert len(small) == 7 and small.tokens[4:] == vocab.tokens[4:7]
    with pytest.raises(ValueError, match="special"):
        Vocabulary.build(CORPUS, max_size=3)


def test_unknown_words_map_to_unk():
    vocab = Vocabulary.build(CORPUS)
    ids = vocab.encode("a purple circle")
    assert ids[1] == vocab.unk_id and vocab["purple"] == vocab.unk_id
    assert vocab.decode(ids) == "a <unk> circle"


VOCAB = Vocabulary.build(CORPUS)
WORDS = VOCAB.tokens[4:]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=0, max_size=12), st.booleans(), st.booleans())
def test_decode_encode_round_trip_on_in_vocabulary_text(words, bos, eos):
    sentence = " ".join(words)
    ids = VOCAB.encode(sentence, add_bos=bos, add_eos=eos)
    assert len(ids) == len(words) + bos + eos
    assert VOCAB.decode(ids) == sentence
    # Capitals and punctuation are normalised away by the tokenizer, so they round-trip to the same words.
    assert VOCAB.decode(VOCAB.encode(sentence.upper() + " !")) == sentence


def test_bos_eos_and_truncation():
    ids = VOCAB.encode("a large bright circle", add_bos=True, add_eos=True, max_len=4)
    assert ids[0] == VOCAB.bos_id and ids[-1] == VOCAB.eos_id and len(ids) == 4
    assert VOCAB.decode(ids) == "a large"
    # Decoding stops at <eos>: whatever a decoder emits after it is ignored.
    assert VOCAB.decode([VOCAB["a"], VOCAB.eos_id, VOCAB["circle"]]) == "a"
    assert (
        VOCAB.decode([VOCAB.bos_id, VOCAB["a"], 0, 0], skip_special=False, stop_at_eos=False) == "<bos> a <pad> <pad>"
    )


def test_vocabulary_json_save_load_is_identical(tmp_path):
    vocab = Vocabulary.build(CORPUS, tokenizer=Tokenizer(keep_punctuation=True))
    path = tmp_path / "vocab.json"
    vocab.save(path)
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    assert raw["tokens"] == vocab.tokens
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens and len(loaded) == len(vocab)
    for s in CORPUS:
        assert loaded.encode(s) == vocab.encode(s)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": ["a", "b"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary.load(bad)


def test_pad_sequences_and_masks():
    ids, mask = pad_sequences([[5, 6, 7], [8], []], pad_value=0)
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert ids.dtype == np.int64 and mask.dtype == bool
    ids, mask = pad_sequences([[5, 6, 7], [8]], max_len=2, padding="pre", truncating="pre")
    np.testing.assert_array_equal(ids, [[6, 7], [0, 8]])
    np.testing.assert_array_equal(mask, [[1, 1], [0, 1]])
    batch, m = VOCAB.encode_batch(["a circle", "a large bright circle"], add_eos=True)
    assert batch.shape == (2, 5) and m.sum() == 3 + 5 and batch[0, -1] == VOCAB.pad_id


def test_sequence_mask_and_one_hot_on_every_device(device):
    lengths = B.asarray(np.array([2, 0, 3]), dev=device)
    mask = sequence_mask(lengths, max_len=4)
    assert B.device_of(mask) == B.device(device)
    np.testing.assert_array_equal(B.to_numpy(mask), [[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]])
    idx = B.asarray(np.array([[0, 2], [1, 1]]), dev=device)
    oh = one_hot(idx, 3)
    assert B.device_of(oh) == B.device(device)
    np.testing.assert_array_equal(B.to_numpy(oh), np.eye(3, dtype=np.float32)[[[0, 2], [1, 1]]])
    assert B.to_numpy(oh).dtype == np.float32


def test_bag_of_words_matches_scikit_learn_count_vectorizer():
    fe = pytest.importorskip("sklearn.feature_extraction.text")
    ours = BagOfWords(dtype="float64")
    x = ours.fit_transform(CORPUS)
    ref = fe.CountVectorizer(token_pattern=r"(?u)\b\w+\b")
    y = ref.fit_transform(CORPUS).toarray()
    assert list(ours.get_feature_names_out()) == list(ref.get_feature_names_out())
    assert ours.vocabulary_ == {k: int(v) for k, v in ref.vocabulary_.items()}
    np.testing.assert_array_equal(x, y)
    # Unknown words are ignored; binary mode records presence.
    np.testing.assert_array_equal(ours.transform(["zebra zebra"]), 0.0)
    assert BagOfWords(binary=True).fit(CORPUS).transform(["a a a circle"]).max() == 1.0


def test_bag_of_words_min_df_and_max_features():
    bow = BagOfWords(min_df=2).fit(CORPUS)
    assert "round" not in bow.vocabulary_ and "circle" in bow.vocabulary_
    top = BagOfWords(max_features=3).fit(CORPUS)
    assert len(top.vocabulary_) == 3 and "a" in top.vocabulary_


@pytest.mark.parametrize(
    "sublinear,smooth,norm", [(False, True, "l2"), (True, True, "l2"), (False, False, None), (False, True, "l1")]
)
def test_tfidf_matches_scikit_learn(sublinear, smooth, norm):
    fe = pytest.importorskip("sklearn.feature_extraction.text")
    docs = CORPUS + ["circle circle circle square"]
    ours = TfidfVectorizer(sublinear_tf=sublinear, smooth_idf=smooth, norm=norm, dtype="float64").fit(docs)
    ref = fe.TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", sublinear_tf=sublinear, smooth_idf=smooth, norm=norm).fit(
        docs
    )
    np.testing.assert_allclose(ours.idf_, ref.idf_, rtol=1e-12)
    np.testing.assert_allclose(ours.transform(docs), ref.transform(docs).toarray(), rtol=1e-12, atol=1e-12)
    # A document of unknown words is the zero vector, not NaN.
    np.testing.assert_array_equal(ours.transform(["zebra"]), 0.0)


def test_tfidf_idf_formula_by_hand():
    docs = ["a b", "a c", "a"]
    tfidf = TfidfVectorizer(norm=None).fit(docs)
    # idf = ln((1 + n) / (1 + df)) + 1 with n = 3: "a" in 3 docs, "b" and "c" in 1.
    expected = {"a": 1.0, "b": np.log(4 / 2) + 1, "c": np.log(4 / 2) + 1}
    for word, col in tfidf.vocabulary_.items():
        assert tfidf.idf_[col] == pytest.approx(expected[word], rel=1e-12)
