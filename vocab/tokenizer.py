"""The project's one WordPiece tokenizer, configured from a vocabulary directory.

A vocabulary directory holds `vocab.txt` (one token per line, id = line number) and `tokenizer_config.json`
(HF-compatible: `transformers.AutoTokenizer.from_pretrained(DIR)` loads it) recording the casing and accent
settings, so that the TFRecord job and pretraining cannot tokenize differently from each other or from the
vocabulary's learner.

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
import json
import logging
from typing import Iterable, Mapping, Sequence

import numpy as np

from vocab import fast_path
from vocab.files import exists, join, read_bytes, write_bytes_atomic

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MODEL_MAX_LENGTH = 512


class VocabError(ValueError):
    """A vocabulary directory is missing, malformed, or disagrees with the settings data was built with."""


def tokenizer_config(vocab_size: int, do_lower_case: bool, strip_accents: bool) -> dict:
    """The `tokenizer_config.json` contents: HF's keys, so transformers loads the directory unchanged."""
    return {
        "do_lower_case": bool(do_lower_case),
        "strip_accents": bool(strip_accents),
        "tokenize_chinese_chars": True,
        "tokenizer_class": "ElectraTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "vocab_size": int(vocab_size),
    }


def vocab_bytes(tokens: Sequence[str]) -> bytes:
    return "".join(token + "\n" for token in tokens).encode("utf-8")


def parse_vocab(data: bytes, source: str = "vocab.txt") -> list[str]:
    """Tokens of a vocab.txt, one per line, trailing whitespace dropped as BERT and HF do.

    A blank line stays a (never matching) token so that later ids do not shift: SciBERT's scivocab has one.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise VocabError(f"{source} is not UTF-8: {err}") from err
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip() for line in lines]


def write_vocab_dir(path: str, tokens: list[str], do_lower_case: bool, strip_accents: bool) -> None:
    """Write DIR/vocab.txt and DIR/tokenizer_config.json (local or gs://), each atomically.

    The config goes last: a reader that finds it also finds the complete vocab.txt it describes.
    """
    _validate_tokens(tokens, path, allow_blank=False)
    write_bytes_atomic(join(path, VOCAB_FILE), vocab_bytes(tokens))
    config = tokenizer_config(len(tokens), do_lower_case, strip_accents)
    write_bytes_atomic(join(path, CONFIG_FILE), (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def _validate_tokens(tokens: Sequence[str], source: str, allow_blank: bool = True) -> dict[str, int]:
    ids: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token != token.strip() or "\n" in token:
            raise VocabError(f"{source}: token {i} ({token!r}) has surrounding whitespace")
        if not token:
            if allow_blank:
                continue
            raise VocabError(f"{source}: token {i} is empty")
        if token in ids:
            raise VocabError(f"{source}: token {token!r} appears twice (ids {ids[token]} and {i})")
        ids[token] = i
    missing = [t for t in SPECIAL_TOKENS if t not in ids]
    if missing:
        raise VocabError(f"{source}: special tokens {missing} are missing")
    if ids["[PAD]"] != 0:
        raise VocabError(f"{source}: [PAD] must have id 0 (ELECTRA pads with 0), it has id {ids['[PAD]']}")
    return ids


class Tokenizer:
    """Fast batch WordPiece tokenization with the reference BERT ids; load it once per worker."""

    def __init__(self, tokens: Sequence[str], do_lower_case: bool, strip_accents: bool, source: str = "vocab"):
        self.tokens = list(tokens)
        self._ids = _validate_tokens(self.tokens, source)
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
    def from_vocab_dir(cls, path: str) -> "Tokenizer":
        """Load DIR/vocab.txt with the settings in DIR/tokenizer_config.json (local or gs://)."""
        config = read_config(path)
        vocab_path = join(path, VOCAB_FILE)
        try:
            tokens = parse_vocab(read_bytes(vocab_path), vocab_path)
        except FileNotFoundError as err:
            raise VocabError(f"no {VOCAB_FILE} in vocabulary directory {path}") from err
        if config.get("vocab_size") is not None and config["vocab_size"] != len(tokens):
            raise VocabError(
                f"{path}: {CONFIG_FILE} says vocab_size={config['vocab_size']} but {VOCAB_FILE} has "
                f"{len(tokens)} tokens"
            )
        return cls(tokens, config["do_lower_case"], config["strip_accents"], source=vocab_path)

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


def read_config(path: str) -> dict:
    """DIR/tokenizer_config.json, with a clear error when it is missing or lacks the settings."""
    config_path = join(path, CONFIG_FILE)
    try:
        config = json.loads(read_bytes(config_path))
    except FileNotFoundError as err:
        detail = "" if exists(join(path, VOCAB_FILE)) else f" (and no {VOCAB_FILE} either)"
        raise VocabError(
            f"no {CONFIG_FILE} in vocabulary directory {path}{detail}: the casing and accent settings "
            f"(do_lower_case, strip_accents) that data and training must share are unknown; write it with "
            f"vocab.tokenizer.write_vocab_dir"
        ) from err
    except json.JSONDecodeError as err:
        raise VocabError(f"{config_path} is not valid JSON: {err}") from err
    for key in ("do_lower_case", "strip_accents"):
        if not isinstance(config.get(key), bool):
            raise VocabError(f"{config_path} must set {key} to true or false, found {config.get(key)!r}")
    return config


def check_compatible(actual: Mapping, expected: Mapping) -> None:
    """Raise VocabError when a setting in `expected` (e.g. recorded with the data) differs from `actual`."""
    known = {key: value for key, value in expected.items() if key in actual}
    conflicts = [f"{key}: expected {value!r}, vocabulary has {actual[key]!r}"
                 for key, value in sorted(known.items()) if actual[key] != value]
    if conflicts:
        raise VocabError("tokenizer settings disagree with how the data was built: " + "; ".join(conflicts))
