"""Vectorised 6-mer tokenizer with the published SegmentNT vocabulary.

Ids 0-5 are special tokens (<cls> = 3), ids 6-4101 the 4096 6-mers with digits A=0, T=1, C=2,
G=3 (most significant first), ids 4102-4106 single letters. A window is cut into 6-mers left to
right and <cls> is prepended; no <eos>.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genoseg.errors import DataError
from genoseg.model.limits import NUCLEOTIDES_PER_TOKEN, WINDOW_MULTIPLE

CLS_ID = 3
PAD_ID = 1
KMER_OFFSET = 6
# Rows of the embedding every SegmentNT checkpoint has (config vocab_size).
VOCABULARY_SIZE = 4107
SPECIAL_TOKENS = ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>")
SINGLE_LETTERS = ("A", "T", "C", "G", "N")
DIGIT_ALPHABET = "ATCG"

# ASCII byte → digit (A=0, T=1, C=2, G=3); 255 marks anything else.
_BYTE_TO_DIGIT = np.full(256, 255, dtype=np.uint8)
for _digit, _letter in enumerate(DIGIT_ALPHABET):
    _BYTE_TO_DIGIT[ord(_letter)] = _digit
_PLACE_VALUES = 4 ** np.arange(NUCLEOTIDES_PER_TOKEN - 1, -1, -1, dtype=np.int64)


class TokenizationError(DataError, ValueError):
    pass


def kmer_id(kmer: str) -> int:
    """Id of one 6-mer by the published formula; the reference the vectorised path is tested against."""
    return KMER_OFFSET + sum(DIGIT_ALPHABET.index(base) * 4 ** (5 - i) for i, base in enumerate(kmer))


def default_vocabulary() -> list[str]:
    kmers = [""] * 4096
    for code in range(4096):
        digits = [(code // 4**p) % 4 for p in range(5, -1, -1)]
        kmers[code] = "".join(DIGIT_ALPHABET[d] for d in digits)
    return list(SPECIAL_TOKENS) + kmers + list(SINGLE_LETTERS)


class Tokenizer:
    """Maps upper-case, N-free windows (length ≡ 0 mod 24) to token ids, many windows at once."""

    def __init__(self, kmer_code_to_id: np.ndarray | None = None, cls_id: int = CLS_ID, pad_id: int = PAD_ID) -> None:
        if kmer_code_to_id is None:
            kmer_code_to_id = np.arange(4096, dtype=np.int64) + KMER_OFFSET
        self.kmer_code_to_id = kmer_code_to_id
        self.cls_id = cls_id
        self.pad_id = pad_id

    @classmethod
    def from_vocab_file(cls, path: str | Path) -> "Tokenizer":
        """A checkpoint's vocab.txt (one token per line, line number = id) is the authority."""
        try:
            tokens = Path(path).read_bytes().decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            raise TokenizationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        ids: dict[str, int] = {}
        for i, token in enumerate(tokens):
            token = token.strip()
            if not token:
                continue
            if token in ids:
                raise TokenizationError(f"{path}: line {i + 1}: token {token!r} is also on line {ids[token] + 1}")
            ids[token] = i
        if len(tokens) > VOCABULARY_SIZE + 1 and any(t.strip() for t in tokens[VOCABULARY_SIZE:]):
            raise TokenizationError(f"{path}: more than {VOCABULARY_SIZE} tokens; the model's embedding has {VOCABULARY_SIZE}")
        if "<cls>" not in ids:
            raise TokenizationError(f"{path}: vocabulary has no <cls> token")
        table = np.empty(4096, dtype=np.int64)
        for code, kmer in enumerate(default_vocabulary()[KMER_OFFSET : KMER_OFFSET + 4096]):
            if kmer not in ids:
                raise TokenizationError(f"{path}: vocabulary lacks the 6-mer {kmer}")
            table[code] = ids[kmer]
        return cls(table, ids["<cls>"], ids.get("<pad>", PAD_ID))

    pad_base = ord("A")  # filler under padding: masked in attention and the head, so any base would do

    @staticmethod
    def token_count(bases: int) -> int:
        """Tokens of a window of `bases` (a multiple of 6), <cls> included."""
        return 1 + bases // 6

    def encode_batch(self, windows: np.ndarray) -> np.ndarray:
        """(B, L) uint8 ASCII array → (B, 1 + L/6) int64 token ids with <cls> first."""
        if windows.ndim != 2:
            raise TokenizationError("expected a (batch, length) array of ASCII bytes")
        batch, length = windows.shape
        if length == 0 or length % WINDOW_MULTIPLE:
            raise TokenizationError(f"window length {length} is not a positive multiple of {WINDOW_MULTIPLE}")
        digits = _BYTE_TO_DIGIT[windows]
        bad = digits == 255
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise TokenizationError(
                f"window {row} has {chr(windows[row, col])!r} at offset {col}; only upper-case A, C, G, T are allowed"
            )
        codes = digits.reshape(batch, length // NUCLEOTIDES_PER_TOKEN, NUCLEOTIDES_PER_TOKEN).astype(np.int64) @ _PLACE_VALUES
        ids = np.empty((batch, codes.shape[1] + 1), dtype=np.int64)
        ids[:, 0] = self.cls_id
        ids[:, 1:] = self.kmer_code_to_id[codes]
        return ids

    def encode(self, sequence: str | bytes) -> np.ndarray:
        """One window → (1 + L/6,) token ids."""
        raw = sequence.encode("ascii") if isinstance(sequence, str) else sequence
        return self.encode_batch(np.frombuffer(raw, dtype=np.uint8)[None, :])[0]


class BaseTokenizer:
    """One token per base for the one-hot trunks (Enformer, Borzoi): A 0, C 1, G 2, T 3, and
    anything else 4, which the trunks read as N (an all-zero one-hot column). Padding is N too:
    these trunks have no padding mask, and N is what they were trained to read as "no sequence"."""

    pad_id = 4
    pad_base = ord("N")
    _CODES = np.full(256, 4, dtype=np.int64)
    for _code, _base in enumerate(b"ACGT"):
        _CODES[_base] = _code
        _CODES[ord(chr(_base).lower())] = _code

    @staticmethod
    def token_count(bases: int) -> int:
        return bases

    def encode_batch(self, windows: np.ndarray) -> np.ndarray:
        """(B, L) uint8 ASCII array → (B, L) int64 base codes."""
        return self._CODES[windows]
