"""Words to tokens: the tokenizer shared by vocabularies (:mod:`minimm.data.text`) and the
bag-of-words vectorisers (:mod:`minimm.data.bag_of_words`), and the special tokens.

    "A big round shape!"  --tokenize-->  ["a", "big", "round", "shape"]
"""

from __future__ import annotations

import re

__all__ = ["tokenize", "Tokenizer", "PAD", "UNK", "BOS", "EOS", "SPECIAL_TOKENS"]

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


def as_tokens(text_or_tokens, tokenizer) -> list[str]:
    """A text cut into tokens by ``tokenizer``, or an already-tokenised sequence as a list."""
    if isinstance(text_or_tokens, str):
        return tokenizer(text_or_tokens)
    return list(text_or_tokens)
