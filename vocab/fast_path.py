"""Which characters tensorflow_text's FastBertTokenizer treats differently from the reference BERT tokenizer.

FastBertTokenizer (C++, ~20 MB/s per core) and HF `tokenizers`' BertWordPieceTokenizer (the reference, ~3 MB/s)
run the same WordPiece algorithm but normalise and split text differently for some characters:

- its "lower case + NFD + strip accents" is a per-character table built from ICU's NFKC case folding, so
  compatibility characters change: "µ" (MICRO SIGN) becomes Greek "μ", "½" becomes "1⁄2", "™" becomes "tm",
  "ﬂ" becomes "fl", full-width "：％＞～" become ASCII, "ß" becomes "ss";
- it turns control and format characters (Cc, Cf) into spaces, where BERT deletes them ("a\\x00b" is one word
  for BERT, two for FastBert), and keeps private-use characters BERT deletes;
- its Unicode tables (punctuation, letters) are from a different Unicode version than the Rust crates behind
  HF `tokenizers`.

These are the "3 of 679 documents tokenized differently" (REFERENCE §6): in PubMed text mostly µl / µm / µg,
℃ and full-width punctuation. Rather than hard-code a list that goes stale when either library is upgraded,
`divergent_characters` derives it from the installed libraries: it tokenizes every assigned code point in
four positions (inside, before and after a word, and alone) with both tokenizers over a vocabulary that holds
every character, so any difference in normalisation or splitting shows up as different pieces. The sweep
takes about 2 s once per process and setting. Characters that are unassigned or private-use in Python's
Unicode database are divergent without testing, as are combining characters that canonical reordering (which
the reference's NFD does and the per-character table cannot) could move.
"""
from __future__ import annotations

import functools
import logging
import unicodedata

import numpy as np

logger = logging.getLogger(__name__)

# Categories never tested: surrogates cannot reach the tokenizers, private use and unassigned (in Python's
# Unicode version) are sent to the reference unconditionally.
_UNTESTED_CATEGORIES = frozenset({"Cs", "Co", "Cn"})
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def fast_tokenizer(vocab: list[str], do_lower_case: bool, strip_accents: bool):
    """The FastBertTokenizer used for `vocab` under these settings (ids as int64).

    It can only lower-case and strip accents together; lower-casing alone is done by Python's `str.lower`
    before it (see `prepare`), stripping accents alone is not done at all (those characters are divergent).
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    return tf_text.FastBertTokenizer(
        vocab=vocab,
        suffix_indicator="##",
        max_bytes_per_word=100,  # BERT's limit is 100 characters: identical for ASCII, see Tokenizer
        token_out_type=tf.int64,
        unknown_token="[UNK]",
        lower_case_nfd_strip_accents=do_lower_case and strip_accents,
    )


def lowercases_in_python(do_lower_case: bool, strip_accents: bool) -> bool:
    return do_lower_case and not strip_accents


def reference_tokenizer(vocab: dict[str, int], do_lower_case: bool, strip_accents: bool):
    """HF `tokenizers`' BertWordPieceTokenizer with BERT's settings: the definition of correct ids."""
    from tokenizers import BertWordPieceTokenizer

    return BertWordPieceTokenizer(
        vocab,
        unk_token="[UNK]",
        clean_text=True,
        handle_chinese_chars=True,
        strip_accents=strip_accents,
        lowercase=do_lower_case,
        wordpieces_prefix="##",
    )


@functools.lru_cache(maxsize=1)
def _assigned_code_points() -> tuple[list[int], list[int]]:
    """(tested, untested) code points: the latter are surrogates, private use and unassigned."""
    tested, untested = [], []
    for cp in range(0x110000):
        (untested if unicodedata.category(chr(cp)) in _UNTESTED_CATEGORIES else tested).append(cp)
    return tested, untested


def _survives_stripping(char: str) -> bool:
    return unicodedata.combining(char) > 0 and unicodedata.category(char) != "Mn"


def _reordering_hazards(tested: list[int]) -> set[int]:
    """Characters whose NFD holds a combining mark that survives accent stripping (not Mn) and that canonical
    reordering may move past another mark: the per-character table cannot reproduce that reordering."""
    hazards = set()
    for cp in tested:
        char = chr(cp)
        if _survives_stripping(char) or (
            unicodedata.decomposition(char)
            and any(_survives_stripping(part) for part in unicodedata.normalize("NFD", char))
        ):
            hazards.add(cp)
    return hazards


@functools.lru_cache(maxsize=None)
def divergent_characters(do_lower_case: bool, strip_accents: bool) -> np.ndarray:
    """A read-only boolean array indexed by code point: True where the fast path may differ from the reference.

    An array rather than a regex: looking up every code point of a batch in it runs at hundreds of MB/s, where
    `re` with a class of thousands of ranges manages ~1 MB/s.
    """
    tested, untested = _assigned_code_points()
    # Whitespace and control characters cannot be vocabulary entries (they never survive pre-tokenization).
    in_vocab = [chr(cp) for cp in tested if not chr(cp).isspace() and unicodedata.category(chr(cp)) != "Cc"]
    vocab = _SPECIALS + in_vocab + ["##" + c for c in in_vocab]
    fast = fast_tokenizer(vocab, do_lower_case, strip_accents)
    reference = reference_tokenizer({token: i for i, token in enumerate(vocab)}, do_lower_case, strip_accents)

    # Inside a word, alone, and word-final (where Python's lower() writes a final sigma).
    probes = [f"a{chr(cp)}b {chr(cp)} a{chr(cp)}" for cp in tested]
    expected = [encoding.ids for encoding in reference.encode_batch(probes, add_special_tokens=False)]
    if lowercases_in_python(do_lower_case, strip_accents):
        probes = [probe.lower() for probe in probes]
    ragged = fast.tokenize(probes)
    flat = ragged.flat_values.numpy().tolist()
    splits = ragged.row_splits.numpy().tolist()

    divergent = {cp for i, cp in enumerate(tested) if flat[splits[i]:splits[i + 1]] != expected[i]}
    logger.info(
        "fast path: %d of %d assigned code points tokenize differently from the reference "
        "(do_lower_case=%s, strip_accents=%s); texts containing them use the reference tokenizer",
        len(divergent), len(tested), do_lower_case, strip_accents,
    )
    divergent.update(untested)
    if strip_accents:
        divergent.update(_reordering_hazards(tested))
    flags = np.zeros(0x110000, dtype=bool)
    flags[sorted(divergent)] = True
    flags.setflags(write=False)
    return flags
