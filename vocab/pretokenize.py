"""BERT's basic tokenization (clean, split CJK, lower-case / strip accents, split on spaces and punctuation):
the words that WordPiece sees, and therefore what the vocabulary is learned from."""
from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable

# BERT counts every non-alphanumeric printable ASCII character as punctuation.
_ASCII_PUNCTUATION = string.punctuation
_ASCII_WORD = re.compile(rf"[^\s{re.escape(_ASCII_PUNCTUATION)}]+|[{re.escape(_ASCII_PUNCTUATION)}]")


class WordSplitter:
    """Text -> words, exactly as HF `tokenizers`' BertNormalizer + BertPreTokenizer (the reference) split it.

    Printable-ASCII text, the bulk of the corpus, takes a regex path ~10x faster than the reference; in other
    lines only the space-separated chunks that are not printable ASCII go through the reference itself.
    """

    def __init__(self, do_lower_case: bool, strip_accents: bool):
        from tokenizers import normalizers, pre_tokenizers

        self.do_lower_case = do_lower_case
        self._normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=do_lower_case)
        self._pre_tokenizer = pre_tokenizers.BertPreTokenizer()

    def words(self, text: str) -> list[str]:
        if text.isascii() and text.isprintable():
            return self._ascii_words(text)
        # BERT never joins text across U+0020, so only the chunks holding something else need the reference.
        words: list[str] = []
        for chunk in text.split(" "):
            if chunk.isascii() and chunk.isprintable():
                words.extend(self._ascii_words(chunk))
            else:
                normalized = self._normalizer.normalize_str(chunk)
                words.extend(word for word, _ in self._pre_tokenizer.pre_tokenize_str(normalized))
        return words

    def _ascii_words(self, text: str) -> list[str]:
        return _ASCII_WORD.findall(text.lower() if self.do_lower_case else text)


def count_words(texts: Iterable[str], splitter: WordSplitter) -> Counter:
    """Occurrences of each word in `texts` (in-memory; the Beam job counts per bundle and combines)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(splitter.words(text))
    return counts
