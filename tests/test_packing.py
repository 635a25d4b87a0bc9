"""pretraining_data.packing against a faithful re-implementation of ELECTRA's example builder, on real GENIA abstracts."""
from __future__ import annotations

import random

import pytest

from pretraining_data.packing import DocumentPacker, SegmentPair, draw_target_length, layout, pack_document
from tests.fixtures import BERT_VOCAB, genia_documents
from tests.reference_electra import ExampleBuilder, FullTokenizer

CLS, SEP = 101, 102  # in bert_base_uncased_vocab.txt


@pytest.fixture(scope="module")
def tokenizer() -> FullTokenizer:
    return FullTokenizer(str(BERT_VOCAB))


@pytest.fixture(scope="module")
def documents() -> tuple[tuple[str, ...], ...]:
    """148 real abstracts, one sentence per line; the title (line 1) is kept as the first sentence."""
    return genia_documents()


@pytest.fixture(scope="module")
def token_documents(documents, tokenizer) -> list[list[list[int]]]:
    return [[tokenizer.convert_tokens_to_ids(tokenizer.tokenize(s)) for s in doc] for doc in documents]


def original_examples(documents, tokenizer, max_length: int, seed: int) -> list[list[tuple]]:
    """The original builder over all documents with one generator, its examples grouped by document.

    Its first target is drawn as after a previous example (the original starts at max_length without a
    draw), so that its stream of random draws is the one `pack_document` makes with a shared generator.
    """
    rng = random.Random(seed)
    builder = ExampleBuilder(tokenizer, max_length, rng)
    if rng.random() < 0.05:
        builder.target_length = rng.randint(5, max_length)
    grouped = []
    for doc in documents:
        examples = [builder.add_line(line) for line in [*doc, ""]]
        grouped.append([e for e in examples if e])
    return grouped


def tile(sentences: list[list[int]], pairs: list[SegmentPair], max_length: int) -> list[int]:
    """Check that the examples cover the document in order and return where each starts.

    Each example is a run of whole sentences; A is a prefix of it, B starts at the first sentence not in A;
    only the documented truncation (A to max_length - 2, B to what is left) removes tokens.
    """
    flat = [t for s in sentences for t in s]
    starts = [0]
    for s in sentences:
        starts.append(starts[-1] + len(s))
    position, positions = 0, []
    for pair in pairs:
        positions.append(position)
        end = position + pair.num_tokens + pair.num_truncated
        assert end in starts, "an example ends inside a sentence"
        assert pair.first == flat[position: position + len(pair.first)]
        a_truncated = len(pair.first) == max_length - 2
        if pair.second:
            b_start = next(s for s in starts if s >= position + len(pair.first) and s < end)
            assert b_start == position + len(pair.first) or a_truncated
            assert pair.second == flat[b_start: b_start + len(pair.second)]
            b_truncated = end - b_start - len(pair.second)
            assert b_truncated == 0 or len(pair.first) + len(pair.second) == max_length - 3
        elif pair.num_truncated:  # A was cut, or left no room for B (which needs a token and a [SEP])
            assert len(pair.first) >= max_length - 3
        position = end
    assert position == len(flat), "tokens of the document were lost"
    return positions


@pytest.mark.parametrize("max_length", [128, 512, 32, 5])
def test_same_examples_as_the_original_builder(token_documents, documents, tokenizer, max_length):
    """Identical examples from the same random stream, except where the original breaks sentence order."""
    total = reordered = 0
    for seed in range(2):
        expected = original_examples(documents, tokenizer, max_length, seed)
        rng = random.Random(seed)
        for sentences, original in zip(token_documents, expected):
            ours = list(pack_document(sentences, max_length, rng))
            assert len(ours) == len(original)
            positions = tile(sentences, ours, max_length)
            flat = [t for s in sentences for t in s]
            for pair, (first, second), position in zip(ours, original, positions):
                total += 1
                if (pair.first, pair.second) != (first, second):
                    # The original put a later sentence back into A: its A is not a run of the document.
                    reordered += 1
                    assert first != flat[position: position + len(first)]
    assert total > 300
    assert reordered <= 0.2 * total


@pytest.mark.slow
@pytest.mark.parametrize("max_length", [128, 512])
def test_segment_statistics_match_the_original(token_documents, documents, tokenizer, max_length):
    ours, original = [], []
    for seed in range(4):
        rng = random.Random(100 + seed)
        ours += [p for doc in token_documents for p in pack_document(doc, max_length, rng)]
        original += [e for doc in original_examples(documents, tokenizer, max_length, seed) for e in doc]
    single = sum(not p.second for p in ours) / len(ours)
    single_original = sum(not second for _, second in original) / len(original)
    # At least the drawn 10%, plus the examples made of one sentence (a document's short last piece).
    assert 0.1 <= single <= 0.45
    assert abs(single - single_original) < 0.05
    full = sum(p.num_tokens == max_length - 3 + (not p.second) for p in ours) / len(ours)
    full_original = sum(len(a) + len(b) == max_length - 3 + (not b) for a, b in original) / len(original)
    assert abs(full - full_original) < 0.05
    mean = sum(p.num_tokens for p in ours) / len(ours)
    mean_original = sum(len(a) + len(b) for a, b in original) / len(original)
    assert abs(mean - mean_original) < 0.05 * mean_original


def test_short_targets_are_drawn_five_percent_of_the_time():
    rng = random.Random(7)
    draws = [draw_target_length(rng, 128) for _ in range(40000)]
    short = [d for d in draws if d != 128]
    assert 0.044 < len(short) / len(draws) < 0.056
    assert min(short) == 5 and max(short) == 127
    assert abs(sum(short) / len(short) - 66) < 3  # uniform over [5, 128]


def test_short_targets_in_packed_output(token_documents):
    pairs = [p for seed in range(5) for doc in token_documents for p in pack_document(doc, 128, random.Random(seed))]
    short = [p for p in pairs if p.target_length < 128]
    assert 0.035 < len(short) / len(pairs) < 0.065
    # An example is emitted once its sentences reach the target, or at the document's end with fewer tokens,
    # where at most the 2 tokens that [CLS] and [SEP]s displace can be cut.
    assert all(p.num_tokens + p.num_truncated >= p.target_length or p.num_truncated <= 2 for p in pairs)


def test_document_fed_sentence_by_sentence_gives_the_same_examples(token_documents):
    sentences = token_documents[0]
    packer = DocumentPacker(128, random.Random(5))
    fed = [packer.add(s) for s in sentences] + [packer.finish()]
    assert [p for p in fed if p] == list(pack_document(sentences, 128, random.Random(5)))


def test_empty_document_yields_nothing_and_draws_nothing():
    rng = random.Random(1)
    state = rng.getstate()
    assert list(pack_document([], 128, rng)) == []
    assert list(pack_document([[], []], 128, rng)) == []
    assert rng.getstate() == state


def test_overlong_sentence_is_truncated_and_counted():
    sentence = list(range(1000, 1300))
    pairs = list(pack_document([sentence, [7, 8]], 128, random.Random(0)))
    first = pairs[0]
    assert first.first == sentence[:126] and first.second == []
    assert first.num_truncated == 300 - 126
    assert [(p.first, p.second, p.num_truncated) for p in pairs[1:]] == [([7, 8], [], 0)]


def test_layout():
    ids, mask, segments = layout(SegmentPair([5, 6, 7], [8, 9], 0, 10), 10, CLS, SEP)
    assert ids == [CLS, 5, 6, 7, SEP, 8, 9, SEP, 0, 0]
    assert mask == [1] * 8 + [0] * 2
    assert segments == [0] * 5 + [1] * 3 + [0] * 2
    ids, mask, segments = layout(SegmentPair([5, 6, 7, 8, 9, 10, 11, 12], [], 0, 10), 10, CLS, SEP)
    assert ids == [CLS, 5, 6, 7, 8, 9, 10, 11, 12, SEP] and mask == [1] * 10 and segments == [0] * 10


def test_max_seq_length_below_five_is_refused():
    with pytest.raises(ValueError, match="at least 5"):
        list(pack_document([[1, 2, 3]], 4, random.Random(0)))
