"""`python -m finetune predict`: a saved fine-tuned model (`--save-model DIR`) over new text.

- NER and PICO take raw text, one document (or sentence) per line. Each line is split into sentences with the
  project's splitter (`corpus.sentences.SentenceSplitter`), each sentence into words and word-pieces with the
  model's own tokenizer (BERT's pre-tokenizer: whitespace and punctuation; its character offsets map back to
  the line), and each word gets the tag of its first word-piece, as in training. A sentence longer than the
  model's sequence length is not cut: it is read in overlapping windows of word-pieces (each window overlaps
  the next by half), and each word takes its tag from the window where it lies most centrally (the most
  context on both sides). Output: one JSON line per input line with its sentences, words (text, offsets, tag)
  and entities (text, type, offsets into the line).
- Classification, relation extraction, similarity and QA take the task's own file (a TSV or PubMedQA JSON,
  read by `evaluation.readers` exactly as for scoring: labelled, so gold and prediction sit side by side).
  Output: one JSON line per row with its id, text, gold label, prediction and the model's scores; a row whose
  text is longer than the sequence length is cut as in training and marked `"truncated": true`, and the log
  counts them.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable, Iterator

import numpy as np
import tensorflow as tf

from evaluation.readers import READERS, decode, read_relation
from evaluation.tags import untyped_entity_type, with_type
from evaluation.tasks import PICO, DataError, Example
from finetune.features import Featurizer
from finetune.files import GFILE
from finetune.saving import LoadedModel
from pretrain.files import read_bytes, read_vocabulary, write_atomically
from vocab.fast_path import reference_tokenizer

log = logging.getLogger(__name__)


def windows(count: int, width: int) -> list[tuple[int, int]]:
    """[start, end) ranges over `count` word-pieces, `width` long, each overlapping the next by half (the
    last one ends at `count`); one range when they fit."""
    if count <= width:
        return [(0, count)]
    step = max(1, width // 2)
    starts = list(range(0, count - width, step)) + [count - width]
    return [(start, start + width) for start in starts]


def most_central(position: int, ranges: list[tuple[int, int]]) -> int:
    """The index of the range in which `position` has the most word-pieces on its shorter side."""
    best, margin = 0, -1
    for index, (start, end) in enumerate(ranges):
        if start <= position < end and min(position - start, end - 1 - position) > margin:
            best, margin = index, min(position - start, end - 1 - position)
    return best


def _logits(call, ids: np.ndarray, mask: np.ndarray, segments: np.ndarray, batch: int) -> np.ndarray:
    """`call`'s outputs (a tf.function of the model) for every row, in fixed-shape batches (the last one
    padded: one trace)."""
    outputs = []
    for start in range(0, len(ids), batch):
        arrays = [a[start:start + batch] for a in (ids, mask, segments)]
        real = len(arrays[0])
        arrays = [np.pad(a, [(0, batch - real), (0, 0)]) for a in arrays]
        outputs.append(call(*(tf.constant(a) for a in arrays)).numpy()[:real])
    return np.concatenate(outputs) if outputs else np.zeros([0])


class Tagger:
    """Word-level tags and entities for raw text with a token model (NER or PICO)."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 32, sentence_model: str | None = None):
        from corpus.sentences import SentenceSplitter  # spaCy: only where raw text is split

        self.loaded = loaded
        vocabulary = read_vocabulary(loaded.directory)
        self.tokenizer = reference_tokenizer(vocabulary.token_ids(), vocabulary.do_lower_case,
                                             vocabulary.strip_accents, vocabulary.tokenize_chinese_chars)
        self.cls, self.sep, self.pad = vocabulary.cls_id, vocabulary.sep_id, vocabulary.pad_id
        self.width = loaded.max_seq_length - 2
        self.batch_size = batch_size
        self.splitter = SentenceSplitter(sentence_model)
        self.call = tf.function(loaded.model.__call__)
        task = loaded.task
        self.pico = task.blurb_type == PICO
        self.tags = with_type(list(loaded.labels), untyped_entity_type(task)) if not self.pico \
            else list(loaded.labels)

    def tag(self, documents: list[str]) -> list[dict]:
        sentences = []  # (document, start, end, encoding, windows)
        for number, text in enumerate(documents):
            for start, end in self.splitter.split_spans(text):
                encoding = self.tokenizer.encode(text[start:end], add_special_tokens=False)
                sentences.append((number, start, end, encoding, windows(len(encoding.ids), self.width)))
        rows = sum(len(s[4]) for s in sentences)
        length = self.loaded.max_seq_length
        ids = np.full([rows, length], self.pad, np.int32)
        mask = np.zeros([rows, length], np.int32)
        row = 0
        for _, _, _, encoding, ranges in sentences:
            for start, end in ranges:
                pieces = [self.cls, *encoding.ids[start:end], self.sep]
                ids[row, :len(pieces)] = pieces
                mask[row, :len(pieces)] = 1
                row += 1
        predicted = (_logits(self.call, ids, mask, np.zeros_like(ids), self.batch_size).argmax(-1)
                     if rows else np.zeros([0, length], int))
        results = [{"line": number + 1, "sentences": [], "entities": []} for number in range(len(documents))]
        row = 0
        for number, start, end, encoding, ranges in sentences:
            words = self._words(encoding, ranges, predicted[row:row + len(ranges)], start, documents[number])
            row += len(ranges)
            results[number]["sentences"].append({"start": start, "end": end, "words": words,
                                                 "windows": len(ranges)})
            results[number]["entities"] += self._entities(words, documents[number],
                                                          len(results[number]["sentences"]) - 1)
        return results

    def _words(self, encoding, ranges: list[tuple[int, int]], predicted: np.ndarray, offset: int,
               text: str) -> list[dict]:
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for position, word in enumerate(encoding.word_ids):
            if word is not None:
                first.setdefault(word, position)
                last[word] = position
        words = []
        for word in sorted(first):
            position = first[word]
            window = most_central(position, ranges)
            start = encoding.offsets[position][0] + offset
            end = encoding.offsets[last[word]][1] + offset
            tag = self.tags[int(predicted[window, position - ranges[window][0] + 1])]
            words.append({"text": text[start:end], "start": start, "end": end, "tag": tag})
        return words

    def _entities(self, words: list[dict], text: str, sentence: int) -> list[dict]:
        """IOB spans (an I after O or after another type opens one, as conlleval reads them); PICO's IO tags
        have no B: a run of one tag is one span."""
        entities: list[dict] = []
        current = None
        for word in words:
            tag = word["tag"]
            prefix, _, kind = tag.partition("-")
            opens = tag != "O" and (prefix == "B" or current is None or current["type"] != kind)
            if tag == "O" or opens:
                if current is not None:
                    entities.append(current)
                current = None
            if tag == "O":
                continue
            if current is None:
                current = {"type": kind, "start": word["start"], "end": word["end"], "sentence": sentence}
            else:
                current["end"] = word["end"]
        if current is not None:
            entities.append(current)
        for entity in entities:
            entity["text"] = text[entity["start"]:entity["end"]]
        return entities


def tag_lines(loaded: LoadedModel, lines: Iterable[str], batch_size: int = 32,
              sentence_model: str | None = None, chunk: int = 64) -> Iterator[dict]:
    """`Tagger.tag` over an iterable of lines, `chunk` documents at a time (bounded memory)."""
    tagger = Tagger(loaded, batch_size, sentence_model)
    buffer: list[str] = []
    offset = 0
    for line in lines:
        buffer.append(line)
        if len(buffer) == chunk:
            for result in tagger.tag(buffer):
                yield {**result, "line": result["line"] + offset}
            offset += len(buffer)
            buffer = []
    if buffer:
        for result in tagger.tag(buffer):
            yield {**result, "line": result["line"] + offset}


def read_examples(loaded: LoadedModel, path: str) -> list[Example]:
    """The rows of a classification, relation, similarity or QA file in the task's own format."""
    task = loaded.task
    if task.reader == "relation":
        examples = read_relation(path, task.labels, GFILE)
    else:
        examples = READERS[task.reader](path, files=GFILE)
    if not examples:
        raise DataError(f"{path}: holds no example")
    if task.head == "sequence":
        for example in examples:
            if example.label not in loaded.labels:
                raise DataError(f"{path}: {example.guid} has label {example.label!r}, which {task.name} does "
                                f"not have ({', '.join(loaded.labels)}); rows without a gold label can carry "
                                f"any of these as a placeholder")
    return examples


def classify(loaded: LoadedModel, examples: list[Example], batch_size: int = 32) -> list[dict]:
    task = loaded.task
    featurizer = Featurizer(loaded.directory, task, loaded.max_seq_length)
    features = featurizer.features(examples, labels=loaded.labels)
    outputs = _logits(tf.function(loaded.model.__call__), features.input_ids, features.input_mask,
                      features.segment_ids, batch_size)
    truncated = featurizer.truncated
    if any(truncated):
        log.warning("%d of %d rows are longer than the model's %d word-pieces: cut as in training "
                    "(marked \"truncated\": true)", sum(truncated), len(examples), loaded.max_seq_length)
    results = []
    for example, output, cut in zip(examples, outputs, truncated):
        line: dict = {"id": example.guid, "text": example.text_a}
        if example.text_b is not None:
            line["text_b"] = example.text_b
        gold = list(example.label) if isinstance(example.label, tuple) else example.label
        if task.head == "regression":
            predicted, scores = float(output[0]), None
        elif task.head == "multilabel":
            probabilities = 1 / (1 + np.exp(-output.astype(np.float64)))
            predicted = [int(p > 0.5) for p in probabilities]
            scores = {label: round(float(p), 6) for label, p in zip(loaded.labels, probabilities)}
        else:
            exp = np.exp(output.astype(np.float64) - output.max())
            probabilities = exp / exp.sum()
            predicted = loaded.labels[int(output.argmax())]
            scores = {label: round(float(p), 6) for label, p in zip(loaded.labels, probabilities)}
        line.update(gold=gold, predicted=predicted)
        if scores is not None:
            line["scores"] = scores
        line["truncated"] = cut
        results.append(line)
    return results


def predict(loaded: LoadedModel, input_path: str, output_path: str, batch_size: int = 32,
            sentence_model: str | None = None) -> dict:
    """Writes `output_path` (JSON lines); returns counts for the log."""
    if loaded.task.head == "token":
        text = decode(read_bytes(input_path), input_path)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        results = list(tag_lines(loaded, (line.rstrip("\r") for line in lines), batch_size, sentence_model))
        counts = {"documents": len(results),
                  "sentences": sum(len(r["sentences"]) for r in results),
                  "words": sum(len(s["words"]) for r in results for s in r["sentences"]),
                  "entities": sum(len(r["entities"]) for r in results),
                  "windowed_sentences": sum(s["windows"] > 1 for r in results for s in r["sentences"])}
    else:
        results = classify(loaded, read_examples(loaded, input_path), batch_size)
        counts = {"rows": len(results), "truncated": sum(r["truncated"] for r in results)}
    write_atomically(output_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results))
    return counts
