"""Examples -> fixed-length id arrays with the run's own WordPiece vocabulary (HF `tokenizers`)."""

from __future__ import annotations

import collections
import dataclasses
import logging
import re

import numpy as np

from evaluation.tasks import Example, Task
from pretrain.files import read_vocabulary
from vocab.fast_path import reference_tokenizer

log = logging.getLogger(__name__)

IGNORE = -1  # label of positions that are not scored (padding, special tokens, later word-pieces)
UNUSED = re.compile(r"\[unused\d+\]")


@dataclasses.dataclass
class Features:
    """Model inputs [N, L] and targets: int class ids ([N, L] for tokens, [N] for sequences),
    float scores [N] or multi-hot [N, K]."""

    input_ids: np.ndarray
    input_mask: np.ndarray
    segment_ids: np.ndarray
    labels: np.ndarray
    # For NER: the position of each word's first word-piece (-1: cut off by max_seq_length).
    word_starts: list[list[int]] | None = None


class Featurizer:
    """Tokenizes a task's examples once per run. Entity markers of relation tasks (`@GENE$`)
    take `[unusedN]` slots when the vocabulary has them (one slot per marker, never split);
    otherwise they stay text and become existing word-pieces (`@`, `gene`, `$`), as in BLURB."""

    def __init__(self, vocab_dir: str, task: Task, max_seq_length: int):
        # A pretraining run's `vocab/` or a Hugging Face model directory: a null or absent `strip_accents`
        # follows `do_lower_case`, as in BERT.
        vocabulary = read_vocabulary(vocab_dir)
        vocab = vocabulary.token_ids()
        self.tokenizer = reference_tokenizer(vocab, vocabulary.do_lower_case, vocabulary.strip_accents,
                                             vocabulary.tokenize_chinese_chars)
        self.task = task
        self.max_seq_length = max_seq_length
        self.pad_id = vocabulary.pad_id
        unused = [token for token in vocab if UNUSED.fullmatch(token)]
        self.markers = dict(zip(task.entity_markers, unused))
        if task.entity_markers and len(self.markers) < len(task.entity_markers):
            self.markers = {}
            log.info("the vocabulary has too few [unused*] slots: entity markers stay word-pieces")
        if self.markers:
            self.tokenizer.add_special_tokens(list(self.markers.values()))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.enable_padding(length=max_seq_length, pad_id=self.pad_id)
        self.truncated: list[bool] = []  # of the last sequence examples: cut at max_seq_length

    def _mark(self, text: str) -> str:
        for marker, slot in self.markers.items():
            text = text.replace(marker, f" {slot} ")
        return text

    def features(self, examples: list[Example], tag_ids: dict[str, int] | None = None,
                 labels: tuple[str, ...] = ()) -> Features:
        if self.task.head == "token":
            return self._token_features(examples, tag_ids or {})
        if examples and examples[0].text_b is not None:
            encodings = self.tokenizer.encode_batch(
                [(self._mark(e.text_a), self._mark(e.text_b)) for e in examples])
        else:
            encodings = self.tokenizer.encode_batch([self._mark(e.text_a) for e in examples])
        self.truncated = [bool(e.overflowing) for e in encodings]
        if self.task.head == "regression":
            targets = np.array([e.label for e in examples], np.float32)
        elif self.task.head == "multilabel":
            targets = np.array([e.label for e in examples], np.float32).reshape(len(examples), -1)
        else:
            index = {label: i for i, label in enumerate(labels)}
            targets = np.array([index[e.label] for e in examples], np.int32)
        return Features(*self._arrays(encodings), targets)

    def _arrays(self, encodings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.array([e.ids for e in encodings], np.int32),
                np.array([e.attention_mask for e in encodings], np.int32),
                np.array([e.type_ids for e in encodings], np.int32))

    def _token_features(self, examples: list[Example], tag_ids: dict[str, int]) -> Features:
        encodings = self.tokenizer.encode_batch([e.text_a for e in examples], is_pretokenized=True)
        labels = np.full((len(examples), self.max_seq_length), IGNORE, np.int32)
        starts: list[list[int]] = []
        truncated = 0
        unknown: collections.Counter = collections.Counter()
        for row, (example, encoding) in enumerate(zip(examples, encodings)):
            first = [-1] * len(example.text_a)
            for position, word in enumerate(encoding.word_ids):
                if word is not None and first[word] < 0:
                    first[word] = position
                    tag = example.label[word]
                    if tag in tag_ids:
                        labels[row, position] = tag_ids[tag]
                    else:  # not trained on (never scored by the loss): see the warning below
                        unknown[tag] += 1
            truncated += sum(1 for p in first if p < 0)
            starts.append(first)
        if truncated:
            log.warning("%d words lie beyond max_seq_length=%d: they are predicted O",
                        truncated, self.max_seq_length)
        if unknown:
            # The readers refuse a dev/test tag that the training file lacks; this is a tag that
            # the training examples used (--max-train-examples) lack.
            log.warning("%d words carry tags that the %d training tags (%s) lack: %s; the model "
                        "cannot predict them (more training examples would hold them)",
                        sum(unknown.values()), len(tag_ids), ", ".join(tag_ids),
                        ", ".join(f"{tag} x{count}" for tag, count in unknown.most_common()))
        return Features(*self._arrays(encodings), labels, starts)
