"""Which characters tensorflow_text's FastBertTokenizer treats differently from the reference BERT tokenizer.

FastBertTokenizer (C++, ~20 MB/s per core) and HF `tokenizers`' BertWordPieceTokenizer (the reference, ~2-3 MB/s)
run the same WordPiece algorithm but normalise and split text differently for some characters (measured by
the sweep below; 4,817 of 144,762 assigned code points with lower-casing, 588 without):
- its "lower case + NFD + strip accents" table behaves like NFKC case folding, so compatibility characters
  change: "µ" (MICRO SIGN) becomes Greek "μ", "½" becomes "1⁄2", "™" becomes "tm", "ﬂ" becomes "fl",
  "℃" becomes "°c", full-width "：％＞～" become ASCII, "ß" becomes "ss";
- it turns control and format characters (Cc, Cf) into spaces, where BERT deletes them ("a\x00b" is one word
  for BERT, two for FastBert), and keeps private-use characters that BERT deletes;
- its Unicode tables (punctuation, letters) come from a different Unicode version than the Rust crates behind
  HF `tokenizers` (which, for one, start CJK Extension E at U+2B920 instead of U+2B820).

These explain why FastBertTokenizer alone tokenizes some real documents differently (3 of 679 in an early
check; with scivocab 22 of the 1,486 PubMed sample abstracts and 0 of the 148 GENIA ones), all for µl / µm /
µg, ℃, ™, ½, ﬂ, Ⅱ or full-width punctuation. Rather than hard-code a list that goes stale when either library is upgraded, `divergent_characters` derives it from the installed
libraries: both tokenizers split every assigned code point in context (inside a word and alone, plus
word-final where Python lower-cases first) over a vocabulary holding every character, so any difference in
normalisation or splitting shows up as different pieces. The sweep takes 1-2 s once per process and setting,
on first use. Unassigned and private-use code points (in Python's Unicode database) count as divergent
without testing, as do combining characters that canonical reordering (which the reference's NFD does and a
per-character table cannot) could move.
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
# Large blocks of letters that both tokenizers treat by code-point range (CJK ideographs are split off one by
# one; Hangul syllables decompose algorithmically): 110,000 of the 145,000 assigned code points. Each is
# tested at its edges and every _BLOCK_STRIDE-th code point, and counts as divergent as a whole if any tested
# code point is; this makes the sweep 4x faster. CJK Extension E (U+2B820-U+2CEAF) is swept in full: HF
# `tokenizers` starts that range at U+2B920, so its first 256 characters are not split off there.
_UNIFORM_BLOCKS = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x17000, 0x187F7), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2CEB0, 0x2EBEF), (0x30000, 0x3134F),
)
_BLOCK_STRIDE = 61
_BLOCK_EDGE = 4


def fast_tokenizer(vocab: list[str], do_lower_case: bool, strip_accents: bool):
    """The FastBertTokenizer used for `vocab` under these settings (ids as int64).

    It can only lower-case and strip accents together; lower-casing alone is done by Python's `str.lower`
    before it (see `lowercases_in_python`), stripping accents alone is not done at all (those characters are
    divergent).
    """
    import tensorflow as tf
    import tensorflow_text as tf_text

    return tf_text.FastBertTokenizer(
        vocab=vocab,
        suffix_indicator="##",
        max_bytes_per_word=100,  # BERT's limit is 100 characters: identical for ASCII, see Tokenizer
        token_out_type=tf.int64,
        unknown_token="[UNK]",
        fast_bert_normalizer_model_buffer=_normalizer_model(do_lower_case and strip_accents),
    )


@functools.lru_cache(maxsize=None)
def _normalizer_model(lower_case_nfd_strip_accents: bool) -> bytes:
    """The normalizer's character table (the same for every vocabulary; ~0.7 s to build)."""
    import tensorflow_text as tf_text

    return tf_text.build_fast_bert_normalizer_model(lower_case_nfd_strip_accents)


def lowercases_in_python(do_lower_case: bool, strip_accents: bool) -> bool:
    return do_lower_case and not strip_accents


def reference_tokenizer(vocab: dict[str, int], do_lower_case: bool, strip_accents: bool,
                        handle_chinese_chars: bool = True):
    """HF `tokenizers`' BertWordPieceTokenizer with BERT's settings: the definition of correct ids (also the
    tokenizer fine-tuning uses, for its word alignments, pairs, truncation and padding)."""
    from tokenizers import BertWordPieceTokenizer

    return BertWordPieceTokenizer(
        vocab,
        unk_token="[UNK]",
        clean_text=True,
        handle_chinese_chars=handle_chinese_chars,
        strip_accents=strip_accents,
        lowercase=do_lower_case,
        wordpieces_prefix="##",
    )


@functools.lru_cache(maxsize=1)
def _assigned_code_points() -> tuple[np.ndarray, np.ndarray]:
    """(tested, untested) code points: the latter are surrogates, private use and unassigned."""
    untested = np.fromiter((unicodedata.category(chr(cp)) in _UNTESTED_CATEGORIES for cp in range(0x110000)),
                           dtype=bool, count=0x110000)
    return np.flatnonzero(~untested), np.flatnonzero(untested)


def _probed(tested: np.ndarray) -> np.ndarray:
    """The code points the sweep tries: all, except inside _UNIFORM_BLOCKS only edges and a stride."""
    keep = np.ones(len(tested), dtype=bool)
    for start, end in _UNIFORM_BLOCKS:
        inside = (tested >= start) & (tested <= end)
        offset = tested - start
        sampled = (offset % _BLOCK_STRIDE == 0) | (offset < _BLOCK_EDGE) | (end - tested < _BLOCK_EDGE)
        keep &= ~inside | sampled
    return tested[keep]


def _survives_stripping(char: str) -> bool:
    return unicodedata.combining(char) > 0 and unicodedata.category(char) != "Mn"


@functools.lru_cache(maxsize=1)
def _reordering_hazards() -> np.ndarray:
    """Characters whose NFD holds a combining mark that survives accent stripping (not Mn) and that canonical
    reordering may move past another mark: the per-character table cannot reproduce that reordering."""
    tested, _ = _assigned_code_points()
    return np.array([
        cp for cp in tested.tolist()
        if _survives_stripping(chr(cp)) or (
            unicodedata.decomposition(chr(cp))
            and any(_survives_stripping(part) for part in unicodedata.normalize("NFD", chr(cp))))
    ], dtype=np.int64)


@functools.lru_cache(maxsize=None)
def divergent_characters(do_lower_case: bool, strip_accents: bool) -> np.ndarray:
    """A read-only boolean array indexed by code point: True where the fast path may differ from the reference.

    An array rather than a regex: looking up every code point of a batch in it runs at hundreds of MB/s, where
    `re` with a class of thousands of ranges manages ~1 MB/s.
    """
    tested, untested = _assigned_code_points()
    # Whitespace and control characters cannot be vocabulary entries (they never survive pre-tokenization).
    in_vocab = [c for c in map(chr, tested.tolist()) if not c.isspace() and unicodedata.category(c) != "Cc"]
    vocab = _SPECIALS + in_vocab + ["##" + c for c in in_vocab]
    fast = fast_tokenizer(vocab, do_lower_case, strip_accents)
    reference = reference_tokenizer({token: i for i, token in enumerate(vocab)}, do_lower_case, strip_accents)

    # Inside a word and alone; word-final too where Python's lower() runs first (it writes a final sigma).
    python_lower = lowercases_in_python(do_lower_case, strip_accents)
    template = "a{0}b {0} a{0}" if python_lower else "a{0}b {0}"
    probed = _probed(tested)
    probes = [template.format(c) for c in map(chr, probed.tolist())]
    expected = [encoding.ids for encoding in reference.encode_batch(probes, add_special_tokens=False)]
    if python_lower:
        probes = [probe.lower() for probe in probes]
    ragged = fast.tokenize(probes)
    flat = ragged.flat_values.numpy().tolist()
    splits = ragged.row_splits.numpy().tolist()

    flags = np.zeros(0x110000, dtype=bool)
    flags[[cp for i, cp in enumerate(probed.tolist()) if flat[splits[i]:splits[i + 1]] != expected[i]]] = True
    for start, end in _UNIFORM_BLOCKS:
        if flags[start:end + 1].any():
            flags[tested[(tested >= start) & (tested <= end)]] = True
    logger.info(
        "fast path: %d of %d assigned code points (%d probed) tokenize differently from the reference "
        "(do_lower_case=%s, strip_accents=%s); texts containing them use the reference tokenizer",
        int(flags.sum()), len(tested), len(probed), do_lower_case, strip_accents,
    )
    flags[untested] = True
    if strip_accents:
        flags[_reordering_hazards()] = True
    flags.setflags(write=False)
    return flags
