"""Text preprocessing from scratch: tokenising, vocabularies, padding, one-hot, bag-of-words, TF-IDF.

The path from a sentence to numbers a model can use::

    "A big round shape!"  --tokenize-->  ["a", "big", "round", "shape"]
                          --Vocabulary.encode-->  [5, 17, 9, 12]
    a batch of such lists --pad_sequences-->  ids (N, L) and a mask (N, L) of real tokens

or, ignoring word order, a bag-of-words / TF-IDF vector per sentence. This module holds the
vocabulary and the batching; the tokenizer lives in :mod:`minimm.data.tokens` and the vectorisers
in :mod:`minimm.data.bag_of_words` (both importable from here too).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ..backend import asarray, device_of, get_array_module, native_dtype
from ._arrays import as_index_array
from .bag_of_words import BagOfWords, TfidfVectorizer
from .tokens import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Tokenizer, as_tokens, tokenize

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
            counts.update(as_tokens(item, tokenizer))
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
        ids = [self.token_to_id(t) for t in as_tokens(text, self.tokenizer)]
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
