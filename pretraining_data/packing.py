"""ELECTRA's pretraining-example builder, over token ids: sentences of one document in, segment pairs out.

The semantics are those of google-research/electra `build_pretraining_dataset.py` after its 2020-03-16 fix
(docs/tfrecords.md says where and why this one differs):

- sentences of one document are accumulated until their length reaches a target length, then an example is
  emitted; the rest of the document forms a last, shorter example; an example never spans documents;
- the target is `max_seq_length`, except with probability 0.05 a random length in [5, max_seq_length];
- with probability 0.1 an example has a single segment; otherwise sentences fill segment A up to about half of
  `target - 3` (a sentence that would cross that line goes to A with probability 0.5 while B is empty), and
  the rest fill segment B, in order (the original could put a later, shorter sentence back into A; here an
  example is always a contiguous run of the document);
- A is truncated to `max_seq_length - 2` tokens and B to `max_seq_length - len(A) - 3`.

Every random decision draws from the `random.Random` passed in, in the original's order, so a caller that
seeds one generator per document gets output that does not depend on how documents are distributed, and a
generator shared across documents makes the original's draws, so both build the same examples (but for the
sentence-order fix above).
"""
from __future__ import annotations

import random
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence

SINGLE_SEGMENT_PROBABILITY = 0.1
SHORT_TARGET_PROBABILITY = 0.05
MIN_TARGET_LENGTH = 5
NUM_SPECIAL_TOKENS = 3  # [CLS] A [SEP] B [SEP]


class SegmentPair(NamedTuple):  # a tuple: built once per example, it is on the hot path
    """One example before layout: its two segments (no special tokens) and what truncation cut off."""

    first: list[int]
    second: list[int]
    num_truncated: int  # tokens of the example's sentences that did not fit
    target_length: int  # the length its sentences were accumulated to

    @property
    def num_tokens(self) -> int:
        return len(self.first) + len(self.second)


def draw_target_length(rng: random.Random, max_seq_length: int) -> int:
    """The length the next example is accumulated to: usually `max_seq_length`, sometimes shorter."""
    if rng.random() < SHORT_TARGET_PROBABILITY:
        return rng.randint(MIN_TARGET_LENGTH, max_seq_length)
    return max_seq_length


class DocumentPacker:
    """Packs one document fed sentence by sentence, so that a document never has to be held whole.

    The target length of an example is drawn when its first token arrives. The original draws it right
    after the previous example instead (even after a document's last one, for the next document); both
    orders give the same stream of draws, and here a document without tokens draws nothing.
    """

    def __init__(self, max_seq_length: int, rng: random.Random):
        if max_seq_length < MIN_TARGET_LENGTH:
            raise ValueError(f"max_seq_length must be at least {MIN_TARGET_LENGTH}, got {max_seq_length}")
        self._max_seq_length = max_seq_length
        self._rng = rng
        self._pending: list[Sequence[int]] = []
        self._length = 0
        self._target_length = 0  # 0: not drawn yet

    def add(self, sentence: Sequence[int]) -> Optional[SegmentPair]:
        """Add the document's next sentence; returns an example when the target length is reached."""
        self._pending.append(sentence)
        if not sentence:
            return None
        self._length += len(sentence)
        if not self._target_length:
            self._target_length = draw_target_length(self._rng, self._max_seq_length)
        if self._length >= self._target_length:
            return self._emit()
        return None

    def finish(self) -> Optional[SegmentPair]:
        """The document ended: its last, shorter example, if any tokens are left."""
        return self._emit() if self._length else None

    def _emit(self) -> SegmentPair:
        pair = _split(self._pending, self._length, self._target_length, self._max_seq_length, self._rng)
        self._pending, self._length, self._target_length = [], 0, 0
        return pair


def pack_document(
    sentences: Iterable[Sequence[int]], max_seq_length: int, rng: random.Random
) -> Iterator[SegmentPair]:
    """The examples of one document, in document order; `sentences` are its sentences' token ids."""
    packer = DocumentPacker(max_seq_length, rng)
    for sentence in sentences:
        pair = packer.add(sentence)
        if pair is not None:
            yield pair
    last = packer.finish()
    if last is not None:
        yield last


def _split(
    sentences: list[Sequence[int]], length: int, target_length: int, max_seq_length: int, rng: random.Random
) -> SegmentPair:
    first: list[int] = []
    second: list[int] = []
    if rng.random() < SINGLE_SEGMENT_PROBABILITY:
        for sentence in sentences:
            first.extend(sentence)
    else:
        first_target = (target_length - NUM_SPECIAL_TOKENS) // 2
        for sentence in sentences:
            # The first sentence always opens A; later ones join A while they keep it under its target or, when
            # one would cross the target, with probability 0.5 (the fixed behaviour, so B is really filled).
            # Once a sentence went to B, all later ones do: the original would let a later, shorter sentence
            # jump back into A (electra issue #20), and an example would no longer be a run of the document.
            if not second and (
                not first
                or len(first) + len(sentence) < first_target
                or (len(first) < first_target and rng.random() < 0.5)
            ):
                first.extend(sentence)
            else:
                second.extend(sentence)
    first = first[: max_seq_length - 2]
    second = second[: max(0, max_seq_length - len(first) - NUM_SPECIAL_TOKENS)]
    return SegmentPair(first, second, length - len(first) - len(second), target_length)


def layout(
    pair: SegmentPair, max_seq_length: int, cls_id: int, sep_id: int, pad_id: int = 0
) -> tuple[list[int], list[int], list[int]]:
    """`(input_ids, input_mask, segment_ids)`, each `max_seq_length` long: `[CLS] A [SEP] B [SEP]` then pads."""
    input_ids = [cls_id, *pair.first, sep_id]
    segment_ids = [0] * len(input_ids)
    if pair.second:
        input_ids += [*pair.second, sep_id]
        segment_ids += [1] * (len(pair.second) + 1)
    padding = max_seq_length - len(input_ids)
    input_mask = [1] * len(input_ids) + [0] * padding
    return input_ids + [pad_id] * padding, input_mask, segment_ids + [0] * padding
