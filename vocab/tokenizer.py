"""Fast WordPiece tokenization of corpus text with exactly the reference BERT ids, for the data stages.

Configured from a parsed vocabulary directory (`vocab.vocabulary`), which records the casing and accent
settings, so that the TFRecords job, pretraining and fine-tuning cannot tokenize differently from each other or
from the vocabulary's learner. The project has one definition of correct ids and one place that configures it:
`vocab.fast_path.reference_tokenizer` (HF `tokenizers`' `BertWordPieceTokenizer` with the vocabulary's
settings). This module makes it fast for bulk text; fine-tuning uses the reference itself, because it needs
word alignments, pairs, truncation and padding.

Ids are those of the reference BERT tokenization, HF `tokenizers`' `BertWordPieceTokenizer` with the same
settings (clean text, split CJK characters, lower-case and/or strip accents, `##` continuations, words over
100 characters become `[UNK]`). Speed comes from tensorflow_text's `FastBertTokenizer`; a text goes to the
reference tokenizer instead when the fast one could differ on it (see `vocab.fast_path`):
- it contains a character that the fast tokenizer normalises or splits differently (e.g. "µ", "½", "™",
  control characters, full-width punctuation);
- it is not pure ASCII and the fast result holds `[UNK]`: the fast tokenizer limits words to 100 *bytes*
  where BERT limits them to 100 *characters*, which agree on ASCII, and a word over either limit becomes
  `[UNK]`, so a result without `[UNK]` cannot have hit the difference.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Iterable, Sequence

import numpy as np

from vocab import fast_path
from vocab.vocabulary import SPECIAL_TOKENS, Vocabulary, check_compatible, validate_tokens, vocab_bytes

logger = logging.getLogger(__name__)


class Tokenizer:
    """Fast batch WordPiece tokenization with the reference BERT ids; load it once per worker."""

    def __init__(self, tokens: Sequence[str], do_lower_case: bool, strip_accents: bool, source: str = "vocab"):
        self.tokens = list(tokens)
        self._ids = validate_tokens(self.tokens, source)
        self.vocab_size = len(self.tokens)
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = bool(strip_accents)
        self.vocab_sha256 = hashlib.sha256(vocab_bytes(self.tokens)).hexdigest()
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (self._ids[t] for t in SPECIAL_TOKENS)
        self._fast = fast_path.fast_tokenizer(self.tokens, self.do_lower_case, self.strip_accents)
        self._lowercase_first = fast_path.lowercases_in_python(self.do_lower_case, self.strip_accents)
        self._reference = fast_path.reference_tokenizer(self._ids, self.do_lower_case, self.strip_accents)
        self._divergent: np.ndarray | None = None  # derived on first use: settings() stays instant
        self.chunks_via_reference = 0  # space-separated chunks that took the reference path (for metrics)

    @classmethod
    def from_vocabulary(cls, vocabulary: Vocabulary) -> "Tokenizer":
        """The tokenizer of a parsed vocabulary directory (read it with `pipelines.common.read_vocabulary` or
        `vocab.vocabulary.read_vocabulary`)."""
        return cls(vocabulary.tokens, vocabulary.do_lower_case, vocabulary.strip_accents,
                   source=vocabulary.vocab_path)

    def settings(self) -> dict:
        """What data built with this tokenizer must record, and what a later stage checks with
        `check_compatible`."""
        return {
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "vocab_size": self.vocab_size,
            "vocab_sha256": self.vocab_sha256,
        }

    def check_compatible(self, expected: Mapping) -> None:
        """Raise VocabError naming both values for every setting in `expected` that differs from this one."""
        check_compatible(self.settings(), expected)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids of each text, no special tokens added.

        Texts the fast tokenizer may get wrong are split at spaces (BERT never joins text across U+0020, so
        ids(text) is the concatenation of ids(chunk)) and only the suspect chunks, usually single words such
        as "µl", go to the reference tokenizer.
        """
        texts = list(texts)
        if not texts:
            return []
        result, suspect = self._fast_pass(texts)
        if suspect:
            chunked = [texts[i].split(" ") for i in suspect]
            chunks = [chunk for text_chunks in chunked for chunk in text_chunks]
            chunk_ids, suspect_chunks = self._fast_pass(chunks)
            if suspect_chunks:
                self.chunks_via_reference += len(suspect_chunks)
                encodings = self._reference.encode_batch([chunks[j] for j in suspect_chunks],
                                                         add_special_tokens=False)
                for j, encoding in zip(suspect_chunks, encodings):
                    chunk_ids[j] = encoding.ids
            position = 0
            for i, text_chunks in zip(suspect, chunked):
                pieces = chunk_ids[position:position + len(text_chunks)]
                result[i] = [token_id for ids in pieces for token_id in ids]
                position += len(text_chunks)
        return result

    def _fast_pass(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Fast-tokenizer ids of each text, and the positions of texts whose ids may be wrong.

        The checks run on whole-batch arrays, not per text in Python: a text is suspect when it holds a
        divergent character, or when its ids hold [UNK] and it is not ASCII.
        """
        prepared = [text.lower() for text in texts] if self._lowercase_first else texts
        ragged = self._fast.tokenize(prepared)
        flat_array = ragged.flat_values.numpy()
        splits_array = ragged.row_splits.numpy()
        flat = flat_array.tolist()
        splits = splits_array.tolist()
        ids = [flat[splits[i]:splits[i + 1]] for i in range(len(texts))]

        suspect = self._has_divergent_character(texts)
        unk_rows = np.searchsorted(splits_array, np.flatnonzero(flat_array == self.unk_id), side="right") - 1
        for row in np.unique(unk_rows).tolist():
            if not texts[row].isascii():
                suspect[row] = True
        return ids, np.flatnonzero(suspect).tolist()

    def _has_divergent_character(self, texts: list[str]) -> np.ndarray:
        """Per text, whether it holds a character the fast tokenizer may treat differently: all code points of
        the batch in one array, looked up in the divergence table; the few hits are mapped back to texts."""
        if self._divergent is None:
            self._divergent = fast_path.divergent_characters(self.do_lower_case, self.strip_accents)
        code_points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        hits = np.flatnonzero(self._divergent[code_points])
        suspect = np.zeros(len(texts), dtype=bool)
        if len(hits):
            ends = np.cumsum(np.array(list(map(len, texts)), dtype=np.int64))
            suspect[np.searchsorted(ends, hits, side="right")] = True
        return suspect

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def decode_ids(self, ids: Iterable[int]) -> list[str]:
        """The tokens for `ids` (for debugging and tests; no detokenization)."""
        return [self.tokens[i] for i in ids]

    def token_to_id(self, token: str) -> int:
        return self._ids[token]


