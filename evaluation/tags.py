"""The tag schemes of the token tasks, checked as a file is read.

NER: a tag is `O`, or `B`/`I` either typed (`B-Chemical`, as in cambridgeltl/MTL-Bioinformatics-2016's
files) or untyped (`B`, as BLURB's data-generation scripts write them); a file is all one or the other.
PICO (EBM-NLP as BLURB ships it): IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`).
"""

from __future__ import annotations

import re
from typing import Sequence

from evaluation.tasks import PICO_TAGS, TASKS, Task, did_you_mean

_IOB_TAG = re.compile(r"(?P<prefix>[BI])(?:-(?P<type>\S+))?")


class TagCheck:
    """The tags of one NER file, checked as they are read (`check(tag, line)` returns what is wrong,
    or None).

    Typed tags must name one of the task's entity types. Outside the training file, a tag must also
    occur in the training file (`train_tags`): the model's tag set is the training data's, as in
    BLURB, so another tag could never be predicted.
    """

    def __init__(self, task: Task | None, train_tags: frozenset[str] | None = None,
                 train_path: str = ""):
        self.task = task
        self.types = task.entity_types if task is not None else ()
        self.train_tags = train_tags
        self.train_path = train_path
        self.first: tuple[int, str] | None = None  # (line, tag) of the first B/I tag
        self.typed: bool | None = None

    def valid(self) -> list[str]:
        typed = [f"{prefix}-{kind}" for kind in self.types for prefix in "BI"]
        if self.typed is None:
            return ["O", *typed, "B", "I"]
        return ["O", *typed] if self.typed else ["O", "B", "I"]

    def check(self, tag: str, number: int) -> str | None:
        if tag == "O":
            return self._in_train(tag)
        match = _IOB_TAG.fullmatch(tag)
        if match is None:
            return (f"malformed tag {tag!r}: IOB tags are O, B-<type>, I-<type>, or untyped B, "
                    f"I{did_you_mean(tag, self.valid())}")
        typed = match.group("type") is not None
        if self.typed is None:
            self.typed, self.first = typed, (number, tag)
        elif typed != self.typed:
            line, first = self.first
            return (f"tag {tag!r} is {'typed' if typed else 'untyped'} but line {line} has "
                    f"{first!r}: a file's tags are all typed (B-Chemical) or all untyped (B)")
        if typed and self.types and match.group("type") not in self.types:
            return (f"tag {tag!r} is not a {self.task.name} tag (its entity "
                    f"type{'s are' if len(self.types) > 1 else ' is'} {', '.join(self.types)})"
                    f"{did_you_mean(tag, self.valid())}")
        return self._in_train(tag)

    def _in_train(self, tag: str) -> str | None:
        if self.train_tags is None or tag in self.train_tags:
            return None
        return (f"tag {tag!r} never occurs in {self.train_path}, so the model cannot learn it"
                f"{did_you_mean(tag, sorted(self.train_tags))}")


class PicoCheck(TagCheck):
    """EBM-NLP as BLURB ships it: IO tags only (`I-PAR`, `I-INT`, `I-OUT`, `O`)."""

    def __init__(self, train_tags: frozenset[str] | None = None, train_path: str = ""):
        super().__init__(TASKS["EBM-PICO"], train_tags, train_path)

    def check(self, tag: str, number: int) -> str | None:
        if tag not in PICO_TAGS:
            return (f"tag {tag!r} is not an EBM-PICO tag: BLURB's PICO files are IO-tagged "
                    f"({', '.join(PICO_TAGS)}; no B- tags, which its scorer would not count)"
                    f"{did_you_mean(tag, PICO_TAGS)}")
        return self._in_train(tag)


def with_type(tags: Sequence[str], entity_type: str) -> list[str]:
    """Untyped IOB tags given `entity_type` (`B` -> `B-Chemical`, `I` -> `I-Chemical`); `O` and typed
    tags as they are. Entity-level scoring reads spans as `B-X`/`I-X` (seqeval, conlleval), so an
    untyped file scored this way gives exactly the F1 of the same tags typed."""
    return [f"{tag}-{entity_type}" if tag in ("B", "I") else tag for tag in tags]


def untyped_entity_type(task: Task) -> str:
    """The type an untyped NER file's entities have: the task's one entity type (`Chemical`); for
    JNLPBA, whose five types BLURB's files drop, `entity` (its untyped F1 scores spans, not types)."""
    return task.entity_types[0] if len(task.entity_types) == 1 else "entity"
