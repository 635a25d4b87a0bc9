"""The original approach to ELECTRA pretraining data, re-implemented faithfully for comparison.

What a user of google-research/electra runs: `build_pretraining_dataset.py` (one process per core) with BERT's
pure-Python `FullTokenizer` (`model/tokenization.py`), one line of text at a time, writing `tf.train.Example`s
with `tf.io.TFRecordWriter` round-robin into its output files. The algorithms here are the same, step for step
and at the same cost (per-character Python loops, one `Example` proto per example), after the 2020-03-16 fix
of the segment split; only the code is this project's. The tests use it as the oracle for `pretraining_data.packing` and
the TFRecords job (`tests/test_packing.py`, `tests/test_tfrecords.py`, `tests/test_tfrecords_format.py`);
`benchmarks/tfrecords.py` and `benchmarks/vocab.py` time it.
"""
from __future__ import annotations

import random
import unicodedata
from typing import Iterable, Optional

UNK = "[UNK]"
MAX_CHARS_PER_WORD = 200


def load_vocab(path: str) -> dict[str, int]:
    """token -> id; the id is the line number, the token the stripped line (as BERT reads it)."""
    with open(path, encoding="utf-8", errors="ignore") as handle:
        return {line.strip(): index for index, line in enumerate(handle)}


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # Every non-alphanumeric ASCII character counts, whatever its Unicode class.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


class BasicTokenizer:
    """Cleaning, CJK spacing, whitespace split, lower case + accent stripping, punctuation split."""

    def __init__(self, do_lower_case: bool = True, strip_accents: bool = True):
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents

    def tokenize(self, text: str) -> list[str]:
        cleaned = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            cleaned.append(" " if _is_whitespace(char) else char)
        spaced = []
        for char in cleaned:  # CJK ideographs become words of their own
            spaced.append(f" {char} " if _is_cjk(ord(char)) else char)
        pieces: list[str] = []
        for token in "".join(spaced).split():
            if self.do_lower_case:
                token = token.lower()
                if self.strip_accents:
                    token = "".join(
                        c for c in unicodedata.normalize("NFD", token) if unicodedata.category(c) != "Mn"
                    )
            pieces.extend(self._split_on_punctuation(token))
        return " ".join(pieces).split()

    @staticmethod
    def _split_on_punctuation(token: str) -> list[str]:
        words: list[list[str]] = []
        start_new_word = True
        for char in token:
            if _is_punctuation(char):
                words.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    words.append([])
                start_new_word = False
                words[-1].append(char)
        return ["".join(word) for word in words]


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece; a word it cannot cover, or longer than 200 characters, is [UNK]."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab

    def tokenize(self, text: str) -> list[str]:
        output: list[str] = []
        for word in text.split():
            chars = list(word)
            if len(chars) > MAX_CHARS_PER_WORD:
                output.append(UNK)
                continue
            pieces: list[str] = []
            start = 0
            while start < len(chars):
                end = len(chars)
                piece = None
                while start < end:
                    candidate = "".join(chars[start:end])
                    if start > 0:
                        candidate = "##" + candidate
                    if candidate in self.vocab:
                        piece = candidate
                        break
                    end -= 1
                if piece is None:
                    pieces = [UNK]
                    break
                pieces.append(piece)
                start = end
            output.extend(pieces)
        return output


class FullTokenizer:
    """BERT's reference tokenizer: basic tokenization, then WordPiece on each word."""

    def __init__(self, vocab: str | dict[str, int], do_lower_case: bool = True, strip_accents: bool = True):
        """`vocab`: a vocab.txt path, or token -> id."""
        self.vocab = load_vocab(vocab) if isinstance(vocab, str) else vocab
        self.basic = BasicTokenizer(do_lower_case, strip_accents)
        self.wordpiece = WordpieceTokenizer(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.basic.tokenize(text) for piece in self.wordpiece.tokenize(word)]

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.vocab[token] for token in tokens]

    def encode(self, text: str) -> list[int]:
        return self.convert_tokens_to_ids(self.tokenize(text))


class ExampleBuilder:
    """The original's builder: lines in, an example out whenever the target length is reached or a doc ends.

    `rng` defaults to the `random` module, the original's generator; `make_example` turns the two segments
    into the output record (the original builds a `tf.train.Example`).
    """

    def __init__(self, tokenizer: FullTokenizer, max_length: int, rng=random, make_example=None):
        self._tokenizer = tokenizer
        self._rng = rng
        self._sentences: list[list[int]] = []
        self._length = 0
        self._max_length = max_length
        self.target_length = max_length
        self._make_example = make_example or self.segments

    def add_line(self, line: str):
        line = line.strip().replace("\n", " ")
        if not line and self._length != 0:  # a blank line ends the document
            return self._create_example()
        ids = self._tokenizer.convert_tokens_to_ids(self._tokenizer.tokenize(line))
        self._sentences.append(ids)
        self._length += len(ids)
        if self._length >= self.target_length:
            return self._create_example()
        return None

    def _create_example(self):
        if self._rng.random() < 0.1:  # sometimes a single segment, as in classification tasks
            first_target = 100000
        else:
            first_target = (self.target_length - 3) // 2  # 3 = [CLS] and two [SEP] still to come
        first: list[int] = []
        second: list[int] = []
        for sentence in self._sentences:
            if (len(first) == 0 or len(first) + len(sentence) < first_target
                    or (len(second) == 0 and len(first) < first_target and self._rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence
        first = first[: self._max_length - 2]
        second = second[: max(0, self._max_length - len(first) - 3)]
        self._sentences = []
        self._length = 0
        if self._rng.random() < 0.05:  # sometimes a random, shorter target for the next example
            self.target_length = self._rng.randint(5, self._max_length)
        else:
            self.target_length = self._max_length
        return self._make_example(first, second)

    @staticmethod
    def segments(first: list[int], second: list[int]) -> tuple[list[int], list[int]]:
        return first, second


def tf_example_maker(vocab: dict[str, int], max_length: int):
    """The original's `_make_tf_example`: `[CLS] A [SEP] B [SEP]`, padded, as a serialised `tf.train.Example`."""
    import tensorflow as tf

    def feature(values: list[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def make(first: list[int], second: list[int]) -> bytes:
        input_ids = [vocab["[CLS]"]] + first + [vocab["[SEP]"]]
        segment_ids = [0] * len(input_ids)
        if second:
            input_ids += second + [vocab["[SEP]"]]
            segment_ids += [1] * (len(second) + 1)
        input_mask = [1] * len(input_ids)
        input_ids += [0] * (max_length - len(input_ids))
        input_mask += [0] * (max_length - len(input_mask))
        segment_ids += [0] * (max_length - len(segment_ids))
        return tf.train.Example(features=tf.train.Features(feature={
            "input_ids": feature(input_ids), "input_mask": feature(input_mask), "segment_ids": feature(segment_ids),
        })).SerializeToString()

    return make


def write_examples(
    input_files: list[str], vocab_file: str, output_dir: str, max_length: int, num_out_files: int,
    do_lower_case: bool = True, strip_accents: bool = True, rng: Optional[random.Random] = None,
) -> int:
    """One process of the original job: every input file, line by line, into `num_out_files` TFRecord files."""
    import tensorflow as tf

    tokenizer = FullTokenizer(vocab_file, do_lower_case, strip_accents)
    builder = ExampleBuilder(tokenizer, max_length, rng or random, tf_example_maker(tokenizer.vocab, max_length))
    writers = [
        tf.io.TFRecordWriter(f"{output_dir}/pretrain_data.tfrecord-{i}-of-{num_out_files}")
        for i in range(num_out_files)
    ]
    written = 0

    def write(example: Optional[bytes]) -> None:
        nonlocal written
        if example:
            writers[written % len(writers)].write(example)
            written += 1

    for path in input_files:
        with tf.io.gfile.GFile(path) as handle:
            for line in handle:
                line = line.strip()
                write(builder.add_line(line))  # blank lines separate documents
        write(builder.add_line(""))
    for writer in writers:
        writer.close()
    return written
