"""Pre-tokenization for counting, the count cap, the learner's output contract, the quality report."""
from __future__ import annotations

import random
from collections import Counter

import pytest
from tokenizers import normalizers, pre_tokenizers

from tests.fixtures import genia_documents
from tests.vocab_data import pubmed_documents
from vocab.learn import WORD_BOUNDARY, alphabet_forms, count_threshold, learn_wordpiece
from vocab.pretokenize import WordSplitter, count_words
from vocab.report import overlap, split_quality
from vocab.tokenizer import Tokenizer
from vocab.vocabulary import SPECIAL_TOKENS, VocabError

EDGE = ["Hello, World! e.g. IL-2/IL-4 (p<0.05) 3'-UTR", "tab\there", "a\x00b", "naïve Ångström ΟΔΟΣ",
        "背景：创伤后", "İstanbul ß", "", "   ", "µl ½ ™"]


def reference_words(text: str, lower: bool, strip: bool) -> list[str]:
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip,
                                            lowercase=lower)
    return [w for w, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalizer.normalize_str(text))]


@pytest.mark.parametrize("lower, strip", [(True, True), (False, False), (True, False)])
def test_word_splitter_equals_reference(lower, strip):
    splitter = WordSplitter(lower, strip)
    documents = pubmed_documents() if lower and strip else pubmed_documents()[:300]
    texts = [line for doc in documents + genia_documents() for line in doc] + EDGE
    assert [splitter.words(t) for t in texts] == [reference_words(t, lower, strip) for t in texts]


@pytest.fixture(scope="module")
def sample_counts() -> Counter:
    return count_words((line for doc in pubmed_documents() for line in doc), WordSplitter(True, True))


def alphabet_of(counts) -> Counter:
    alphabet = Counter()
    for word, count in counts.items():
        for form in alphabet_forms(word):
            alphabet[form] += count
    return alphabet


def test_count_threshold_bounds_distinct_words():
    histogram = {1: 1000, 2: 300, 3: 100, 10: 5}
    assert count_threshold(histogram, min_count=1, max_words=10_000) == 1
    assert count_threshold(histogram, min_count=2, max_words=10_000) == 2
    assert count_threshold(histogram, min_count=1, max_words=405) == 2  # 405 words are seen twice or more
    assert count_threshold(histogram, min_count=1, max_words=404) == 3
    assert count_threshold(histogram, min_count=1, max_words=104) == 4  # only the 5 seen 10 times fit
    assert count_threshold(histogram, min_count=1, max_words=4) == 11  # none fit


def test_learned_vocab_contract(sample_counts):
    alphabet = alphabet_of(sample_counts)
    learned = learn_wordpiece(sample_counts.items(), alphabet, vocab_size=3000, num_unused=7,
                              max_alphabet=len(alphabet))
    tokens = learned.tokens
    assert len(tokens) == 3000 and len(set(tokens)) == 3000
    assert tokens[:5] == list(SPECIAL_TOKENS)
    assert tokens[5:12] == [f"[unused{i}]" for i in range(7)]
    assert set(alphabet) <= set(tokens)  # every character, in every position it occurs in
    continuations = [t for t in tokens if t.startswith("##") and len(t) > 3]
    starts = [t for t in tokens[12:] if not t.startswith("##") and len(t) > 1]
    assert len(continuations) > 200 and len(starts) > 1000
    assert learned.stats["filler_unused"] == 0 and learned.stats["learned_pieces"] == 3000 - 12 - len(alphabet)
    tokenizer = Tokenizer(tokens, True, True)
    assert tokenizer.unk_id not in [i for ids in tokenizer.encode_batch(
        [line for doc in pubmed_documents() for line in doc]) for i in ids]


def test_learner_is_deterministic_whatever_the_input_order(sample_counts):
    alphabet = alphabet_of(sample_counts)
    items = list(sample_counts.items())
    first = learn_wordpiece(items, alphabet, vocab_size=2500).tokens
    random.Random(7).shuffle(items)
    shuffled_alphabet = dict(random.Random(8).sample(sorted(alphabet.items()), len(alphabet)))
    assert learn_wordpiece(items, shuffled_alphabet, vocab_size=2500).tokens == first


def test_alphabet_cap_drops_rarest_and_reports_it(sample_counts):
    alphabet = alphabet_of(sample_counts)
    learned = learn_wordpiece(sample_counts.items(), alphabet, vocab_size=2000, max_alphabet=100)
    kept = [t for t in learned.tokens if len(t.removeprefix("##")) == 1]
    assert len(kept) == 100
    rarest_kept = min(alphabet[t] for t in kept)
    assert all(alphabet[form] <= rarest_kept for form in set(alphabet) - set(kept))
    assert learned.stats["alphabet_dropped"] == len(alphabet) - 100
    with pytest.raises(VocabError, match="cannot hold"):
        learn_wordpiece(sample_counts.items(), alphabet, vocab_size=50, max_alphabet=100)


def test_small_corpus_fills_with_unused_slots():
    counts = Counter({"protein": 50, "proteins": 20, "kinase": 30})
    learned = learn_wordpiece(counts.items(), alphabet_of(counts), vocab_size=200, num_unused=2)
    assert len(learned.tokens) == 200
    assert learned.stats["filler_unused"] > 100
    assert learned.tokens[-1] == f"[unused{learned.stats['filler_unused'] + 1}]"
    assert "protein" in learned.tokens and "kinase" in learned.tokens


def test_words_holding_sentencepiece_marker_are_not_misread():
    counts = Counter({"ab" + WORD_BOUNDARY + "cd": 100, "abcd": 10})
    tokens = learn_wordpiece(counts.items(), alphabet_of(counts), vocab_size=40, max_alphabet=20).tokens
    assert "cd" not in tokens  # the marker inside a word must not make "cd" a word start
    assert ("##" + WORD_BOUNDARY) in tokens  # the character itself stays in the alphabet


def test_split_quality_and_overlap(sample_counts):
    alphabet = alphabet_of(sample_counts)
    tokenizer = Tokenizer(learn_wordpiece(sample_counts.items(), alphabet, vocab_size=4000).tokens, True, True)
    texts = [line for doc in genia_documents()[:40] for line in doc]
    quality = split_quality(tokenizer, texts)
    assert quality["pieces"] == sum(len(ids) for ids in tokenizer.encode_batch(texts))
    assert quality["words"] == sum(len(WordSplitter(True, True).words(t)) for t in texts)
    assert 1.0 < quality["pieces_per_word"] < 2.0 and 0.5 < quality["whole_word_rate"] < 1.0
    assert overlap(["[PAD]", "[unused0]", "a", "##b", "c"], ["[PAD]", "a", "##b", "d", "e", "f"]) == {
        "shared": 2, "fraction_of_ours": round(2 / 3, 4), "fraction_of_other": 0.4}
