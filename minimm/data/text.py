"""Text preprocessing from scratch: tokenising, vocabularies, padding, one-hot, bag-of-words, TF-IDF.

The path from a sentence to numbers a model can use::

    "A big round shape!"  --tokenize-->  ["a", "big", "round", "shape"]
                          --Vocabulary.encode-->  [5, 17, 9, 12]
    a batch of such lists --pad_sequences-->  ids (N, L) and a mask (N, L) of real tokens

or, ignoring word order, a bag-of-words / TF-IDF vector per sentence. Vectorisers follow
scikit-learn's ``CountVectorizer``/``TfidfVectorizer`` conventions (``vocabulary_`` maps a word to its
column, columns in alphabetical order, ``get_feature_names_out``) and give the same numbers.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ..backend import asarray, device_of, get_array_module, native_dtype
from ._arrays import as_index_array

__all__ = [
    "tokenize",
    "Tokenizer",
    "Vocabulary",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "SPECIAL_TOKENS",
    "pad_sequences",
    "sequence_mask",
    "one_hot",
    "BagOfWords",
    "TfidfVectorizer",
]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)

# A word is a run of letters, digits or apostrophes inside a word ("don't"); any other non-space
# character is a punctuation token of its own.
_WORD = r"\w+(?:'\w+)*"
_TOKEN_RE = re.compile(rf"{_WORD}|[^\w\s]", re.UNICODE)
_WORD_RE = re.compile(_WORD, re.UNICODE)


def tokenize(text: str, lower: bool = True, keep_punctuation: bool = False) -> list[str]:
    """Split ``text`` into tokens: lower-case it, split on whitespace, and split punctuation off.

    >>> tokenize("Top left: a BIG round shape, bright.")
    ['top', 'left', 'a', 'big', 'round', 'shape', 'bright']
    >>> tokenize("Hi, there!", keep_punctuation=True)
    ['hi', ',', 'there', '!']
    """
    if lower:
        text = text.lower()
    pattern = _TOKEN_RE if keep_punctuation else _WORD_RE
    return pattern.findall(text)


class Tokenizer:
    """:func:`tokenize` with its options fixed, as a callable object (handy to pass around)."""

    def __init__(self, lower: bool = True, keep_punctuation: bool = False):
        self.lower = lower
        self.keep_punctuation = keep_punctuation

    def __call__(self, text: str) -> list[str]:
        return tokenize(text, lower=self.lower, keep_punctuation=self.keep_punctuation)

    def to_dict(self) -> dict:
        return {"lower": self.lower, "keep_punctuation": self.keep_punctuation}

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Tokenizer(lower={self.lower}, keep_punctuation={self.keep_punctuation})"


def _as_tokens(text_or_tokens, tokenizer) -> list[str]:
    if isinstance(text_or_tokens, str):
        return tokenizer(text_or_tokens)
    return list(text_or_tokens)


class Vocabulary:
    """A two-way map between tokens and integer ids.

    The special tokens come first and so have fixed ids: ``<pad>`` = 0 (so zero-padding is
    padding), ``<unk>`` = 1 (any word not in the vocabulary), ``<bos>`` = 2 and ``<eos>`` = 3 (the
    start and end of a sequence for an autoregressive decoder). Ordinary tokens follow, most
    frequent first, ties broken alphabetically so that the same corpus always gives the same ids.

    Build one with :meth:`build` (``min_freq`` drops rare words, ``max_size`` caps the total size
    *including* the four specials, like torchtext's ``max_tokens``).
    """

    def __init__(self, tokens: Iterable[str] = (), tokenizer: Tokenizer | None = None):
        self.tokenizer = tokenizer or Tokenizer()
        self._itos: list[str] = list(SPECIAL_TOKENS)
        self._stoi: dict[str, int] = {t: i for i, t in enumerate(self._itos)}
        for t in tokens:
            self.add(t)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: Iterable,
        min_freq: int = 1,
        max_size: int | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> Vocabulary:
        """Count the tokens of ``corpus`` (strings or token lists) and keep the frequent ones."""
        tokenizer = tokenizer or Tokenizer()
        counts: Counter = Counter()
        for item in corpus:
            counts.update(_as_tokens(item, tokenizer))
        for s in SPECIAL_TOKENS:
            counts.pop(s, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            if max_size < len(SPECIAL_TOKENS):
                raise ValueError(f"max_size={max_size} leaves no room for the {len(SPECIAL_TOKENS)} special tokens")
            ranked = ranked[: max_size - len(SPECIAL_TOKENS)]
        vocab = cls(ranked, tokenizer=tokenizer)
        vocab.counts = {t: counts[t] for t in ranked}
        return vocab

    def add(self, token: str) -> int:
        """Add ``token`` if it is new; return its id."""
        if token not in self._stoi:
            self._stoi[token] = len(self._itos)
            self._itos.append(token)
        return self._stoi[token]

    # -- lookups ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: str) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        return self._stoi.get(token, self.unk_id)

    def __iter__(self):
        return iter(self._itos)

    @property
    def pad_id(self) -> int:
        return self._stoi[PAD]

    @property
    def unk_id(self) -> int:
        return self._stoi[UNK]

    @property
    def bos_id(self) -> int:
        return self._stoi[BOS]

    @property
    def eos_id(self) -> int:
        return self._stoi[EOS]

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, or ``unk_id`` when it is unknown."""
        return self._stoi.get(token, self.unk_id)

    def id_to_token(self, idx: int) -> str:
        """The token with id ``idx``."""
        return self._itos[int(idx)]

    # -- sentences ----------------------------------------------------------------------------
    def encode(self, text, add_bos: bool = False, add_eos: bool = False, max_len: int | None = None) -> list[int]:
        """Ids of a sentence (a string is tokenised first); unknown words become ``<unk>``.

        ``max_len`` truncates (the ``<eos>``, if asked for, is kept as the last id).
        """
        ids = [self.token_to_id(t) for t in _as_tokens(text, self.tokenizer)]
        if add_bos:
            ids.insert(0, self.bos_id)
        if max_len is not None and len(ids) + add_eos > max_len:
            ids = ids[: max_len - int(add_eos)]
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids, skip_special: bool = True, stop_at_eos: bool = True) -> str:
        """The sentence for ``ids`` (tokens joined by spaces).

        ``<pad>``, ``<bos>`` and ``<eos>`` are dropped when ``skip_special`` (``<unk>`` is kept: it
        says something was there); decoding stops at the first ``<eos>`` when ``stop_at_eos``.
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        words = []
        drop = {self.pad_id, self.bos_id, self.eos_id} if skip_special else set()
        for i in ids:
            i = int(i)
            if stop_at_eos and i == self.eos_id:
                break
            if i not in drop:
                words.append(self._itos[i])
        return " ".join(words)

    def encode_batch(self, texts: Sequence, add_bos=False, add_eos=False, max_len=None, dtype="int64"):
        """Encode and pad a batch: returns ``(ids, mask)`` as from :func:`pad_sequences`."""
        seqs = [self.encode(t, add_bos=add_bos, add_eos=add_eos, max_len=max_len) for t in texts]
        return pad_sequences(seqs, pad_value=self.pad_id, max_len=max_len, dtype=dtype)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"tokens": self._itos, "tokenizer": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> Vocabulary:
        tokens = list(d["tokens"])
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a saved vocabulary must start with the special tokens {SPECIAL_TOKENS}")
        return cls(tokens[len(SPECIAL_TOKENS) :], tokenizer=Tokenizer(**d.get("tokenizer", {})))

    def save(self, path) -> None:
        """Write the vocabulary as JSON (UTF-8, human-readable) atomically."""
        path = os.fspath(path)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        with open(os.fspath(path), encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._itos == other._itos and self.tokenizer == other.tokenizer

    def __repr__(self) -> str:
        head = ", ".join(self._itos[:8])
        return f"Vocabulary(size={len(self)}: {head}{', ...' if len(self) > 8 else ''})"


# ---------------------------------------------------------------------------------------------
# Batches of sequences
# ---------------------------------------------------------------------------------------------
def pad_sequences(
    sequences: Sequence[Sequence[int]],
    pad_value: int = 0,
    max_len: int | None = None,
    padding: str = "post",
    truncating: str = "post",
    dtype="int64",
):
    """Pad (and truncate) id lists to one length; return ``(ids, mask)`` as NumPy arrays.

    ``ids`` has shape (N, L) with ``L = max_len`` or the longest sequence; ``mask[i, t]`` is True
    where ``ids[i, t]`` is a real token and False on padding, which is what attention and masked
    losses need. ``padding``/``truncating`` = ``"post"`` (at the end) or ``"pre"`` (at the start).
    """
    if padding not in ("post", "pre") or truncating not in ("post", "pre"):
        raise ValueError("padding and truncating must be 'post' or 'pre'")
    seqs = [list(s.tolist() if hasattr(s, "tolist") else s) for s in sequences]
    length = max((len(s) for s in seqs), default=0) if max_len is None else int(max_len)
    ids = np.full((len(seqs), length), pad_value, dtype=dtype)
    mask = np.zeros((len(seqs), length), dtype=bool)
    for i, s in enumerate(seqs):
        if len(s) > length:
            s = s[:length] if truncating == "post" else s[len(s) - length :]
        if not s:
            continue
        if padding == "post":
            ids[i, : len(s)] = s
            mask[i, : len(s)] = True
        else:
            ids[i, length - len(s) :] = s
            mask[i, length - len(s) :] = True
    return ids, mask


def sequence_mask(lengths, max_len: int | None = None):
    """``mask[i, t] = t < lengths[i]``: the padding mask from sequence lengths (any backend)."""
    lengths = as_index_array(lengths)
    xp = get_array_module(lengths)
    n = int(xp.max(lengths)) if max_len is None else int(max_len)
    steps = asarray(np.arange(n), dev=device_of(lengths))
    return xp.reshape(steps, (1, -1)) < xp.reshape(lengths, (-1, 1))


def one_hot(indices, num_classes: int, dtype="float32"):
    """``out[..., k] = 1 if indices[...] == k else 0``: shape ``indices.shape + (num_classes,)``.

    Written as a broadcast comparison against ``arange(num_classes)``, so it runs on any backend.
    """
    idx = as_index_array(indices)
    xp = get_array_module(idx)
    classes = asarray(np.arange(num_classes), dev=device_of(idx))
    hit = xp.reshape(idx, (*idx.shape, 1)) == classes
    return xp.astype(hit, native_dtype(xp, dtype))


# ---------------------------------------------------------------------------------------------
# Bag-of-words and TF-IDF
# ---------------------------------------------------------------------------------------------
class BagOfWords:
    """Count vectoriser: each document becomes a vector of word counts (order is forgotten).

    ``fit`` learns the vocabulary (words with at least ``min_df`` documents; the ``max_features``
    most frequent ones by total count when capped); ``vocabulary_`` maps word -> column, columns in
    alphabetical order as in scikit-learn's ``CountVectorizer``. Unknown words are ignored by
    ``transform``. ``binary=True`` records presence (0/1) instead of counts. Output: a dense NumPy
    array (n_documents, n_words) of ``dtype``.
    """

    def __init__(
        self,
        min_df: int = 1,
        max_features: int | None = None,
        binary: bool = False,
        tokenizer: Tokenizer | None = None,
        dtype="float32",
    ):
        self.min_df = min_df
        self.max_features = max_features
        self.binary = binary
        self.tokenizer = tokenizer or Tokenizer()
        self.dtype = dtype

    def fit(self, documents: Iterable, y=None):
        """Learn the vocabulary of ``documents`` (strings or token lists)."""
        docs = [_as_tokens(d, self.tokenizer) for d in documents]
        df: Counter = Counter()
        total: Counter = Counter()
        for toks in docs:
            total.update(toks)
            df.update(set(toks))
        words = [w for w in df if df[w] >= self.min_df]
        if self.max_features is not None:
            words = sorted(words, key=lambda w: (-total[w], w))[: self.max_features]
        self.vocabulary_ = {w: i for i, w in enumerate(sorted(words))}
        return self

    def get_feature_names_out(self) -> np.ndarray:
        """The word of each column."""
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)

    def _counts(self, documents) -> np.ndarray:
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(documents) first")
        docs = [_as_tokens(d, self.tokenizer) for d in documents]
        out = np.zeros((len(docs), len(self.vocabulary_)), dtype=np.float64)
        for i, toks in enumerate(docs):
            for w in toks:
                j = self.vocabulary_.get(w)
                if j is not None:
                    out[i, j] += 1.0
        return out

    def transform(self, documents: Iterable) -> np.ndarray:
        """Word counts (or presences) of each document."""
        counts = self._counts(documents)
        if self.binary:
            counts = (counts > 0).astype(np.float64)
        return counts.astype(self.dtype)

    def fit_transform(self, documents, y=None) -> np.ndarray:
        """``fit`` then ``transform`` on the same documents."""
        documents = list(documents)
        return self.fit(documents).transform(documents)


class TfidfVectorizer(BagOfWords):
    """TF-IDF vectoriser with scikit-learn's default formula.

    For word t in document d among n documents, of which df(t) contain t::

        tf(t, d)  = count of t in d                    (1 + log(count) if sublinear_tf)
        idf(t)    = log((1 + n) / (1 + df(t))) + 1     (smooth_idf: as if one extra document held every word)
        tfidf     = tf * idf, then each row divided by its Euclidean norm (norm='l2')

    Words in every document get idf = 1, not 0, so they still count a little; rare words count more.
    """

    def __init__(
        self,
        min_df: int = 1,
        max_features: int | None = None,
        norm: str | None = "l2",
        smooth_idf: bool = True,
        sublinear_tf: bool = False,
        tokenizer: Tokenizer | None = None,
        dtype="float32",
    ):
        super().__init__(min_df=min_df, max_features=max_features, tokenizer=tokenizer, dtype=dtype)
        if norm not in ("l2", "l1", None):
            raise ValueError(f"norm must be 'l2', 'l1' or None, got {norm!r}")
        self.norm = norm
        self.smooth_idf = smooth_idf
        self.sublinear_tf = sublinear_tf

    def fit(self, documents: Iterable, y=None):
        """Learn the vocabulary and each word's inverse document frequency."""
        documents = list(documents)
        super().fit(documents)
        present = self._counts(documents) > 0
        n = present.shape[0]
        df = present.sum(axis=0)
        s = 1.0 if self.smooth_idf else 0.0
        self.idf_ = np.log((n + s) / (df + s)) + 1.0
        return self

    def transform(self, documents: Iterable) -> np.ndarray:
        """TF-IDF vectors of each document (rows normalised by ``norm``)."""
        if not hasattr(self, "idf_"):
            raise RuntimeError("TfidfVectorizer is not fitted yet: call fit(documents) first")
        tf = self._counts(documents)
        if self.sublinear_tf:
            with np.errstate(divide="ignore"):
                tf = np.where(tf > 0, 1.0 + np.log(np.where(tf > 0, tf, 1.0)), 0.0)
        x = tf * self.idf_
        if self.norm is not None:
            ord_ = 2 if self.norm == "l2" else 1
            norms = np.linalg.norm(x, ord=ord_, axis=1, keepdims=True)
            x = x / np.where(norms == 0, 1.0, norms)  # empty documents stay all-zero
        return x.astype(self.dtype)
