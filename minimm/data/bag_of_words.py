"""Bag-of-words and TF-IDF vectors from scratch: one vector per sentence, word order ignored.

The vectorisers follow scikit-learn's ``CountVectorizer``/``TfidfVectorizer`` conventions
(``vocabulary_`` maps a word to its column, columns in alphabetical order,
``get_feature_names_out``) and give the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .tokens import Tokenizer, as_tokens

__all__ = ["BagOfWords", "TfidfVectorizer"]


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
        docs = [as_tokens(d, self.tokenizer) for d in documents]
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
        docs = [as_tokens(d, self.tokenizer) for d in documents]
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
