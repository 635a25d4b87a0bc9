"""The project tokenizer: reference BERT ids on real text, the fast path's known divergences, vocab dirs."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.fixtures import BERT_VOCAB, SCIVOCAB, genia_documents
from tests.vocab_data import pubmed_documents
from vocab import fast_path
from pipelines.common import read_vocabulary, write_atomically, write_vocabulary
from vocab.tokenizer import Tokenizer
from vocab.vocabulary import (CONFIG_FILE, FAST_TOKENIZER_FILE, VOCAB_FILE, VocabError, check_compatible,
                              parse_vocab)


@pytest.fixture(scope="module")
def scivocab() -> list[str]:
    return parse_vocab(SCIVOCAB.read_bytes())


@pytest.fixture(scope="module")
def uncased(scivocab) -> Tokenizer:
    return Tokenizer(scivocab, do_lower_case=True, strip_accents=True)


def real_texts() -> list[str]:
    """Whole documents and single lines (what the TFRecord job passes) from GENIA and the PubMed sample."""
    documents = genia_documents() + pubmed_documents()
    return ["\n".join(doc) for doc in documents] + [line for doc in documents for line in doc]


def reference_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    reference = fast_path.reference_tokenizer(
        {token: i for i, token in enumerate(tokenizer.tokens) if token}, tokenizer.do_lower_case,
        tokenizer.strip_accents)
    return [encoding.ids for encoding in reference.encode_batch(texts, add_special_tokens=False)]


@pytest.mark.slow
def test_uncased_ids_equal_reference_on_real_text(uncased):
    texts = real_texts()
    assert uncased.encode_batch(texts) == reference_ids(uncased, texts)
    # The PubMed sample holds the characters FastBertTokenizer alone gets wrong (µl, ℃, ½, ™, full-width
    # punctuation): they must have gone the reference way.
    assert uncased.chunks_via_reference > 0


def test_fast_tokenizer_alone_differs_where_ours_does_not(uncased):
    """The known divergence, reproduced: FastBertTokenizer by itself tokenizes these real documents
    differently from BERT (compatibility normalisation), our tokenizer does not."""
    texts = ["\n".join(doc) for doc in pubmed_documents()]
    ragged = uncased._fast.tokenize(texts)
    fast_only = ragged.to_list()
    expected = reference_ids(uncased, texts)
    differing = [i for i in range(len(texts)) if fast_only[i] != expected[i]]
    assert len(differing) >= 10
    assert all(any(ch in texts[i] for ch in "µ℃½™＞～：％ﬂⅡ") for i in differing)
    assert uncased.encode_batch([texts[i] for i in differing]) == [expected[i] for i in differing]


@pytest.mark.slow
@pytest.mark.parametrize("lower, strip", [(False, False), (True, False), (False, True)])
def test_other_settings_equal_reference(scivocab, lower, strip):
    tokenizer = Tokenizer(scivocab, do_lower_case=lower, strip_accents=strip)
    texts = [line for doc in pubmed_documents()[:150] + genia_documents()[:20] for line in doc] + EDGE_CASES
    assert tokenizer.encode_batch(texts) == reference_ids(tokenizer, texts)


EDGE_CASES = [
    "",
    "   ",
    "cells/µl and 30 µm at 37 ℃ (spin ½, PSⅡ, ﬂow, IonS5™XL)",  # compatibility characters
    "a\x00b a\x07b\tc\x1cd a\u200bb a\ufeffb \ue000x",  # control, format, zero-width, private use
    "ΟΔΟΣ ΟΔΟΣ. Σ",  # final sigma (Python lower() writes ς, BERT σ)
    "naïve café Ångström e\u0301 a\u0328\u0301b",  # precomposed and combining accents
    "x" * 100 + " " + "y" * 101,  # BERT's 100-character word limit, ASCII
    "é" * 60 + " " + "é" * 101,  # 120 bytes but 60 characters: a word for BERT, too long for FastBert's bytes
    "背景：创伤后应激障碍（PTSD）",  # CJK split into characters, full-width punctuation
    "İstanbul ǅ ß ﬁ",  # lower-casing that changes length
]


def test_edge_cases_equal_reference(uncased):
    assert uncased.encode_batch(EDGE_CASES) == reference_ids(uncased, EDGE_CASES)
    long_word = uncased.encode("é" * 60)
    assert long_word != [uncased.unk_id]  # BERT tokenizes it; FastBertTokenizer alone would say [UNK]


def test_bert_vocab_equal_reference():
    tokenizer = Tokenizer(parse_vocab(BERT_VOCAB.read_bytes()), True, True)
    texts = [line for doc in pubmed_documents() for line in doc] + EDGE_CASES
    assert tokenizer.encode_batch(texts) == reference_ids(tokenizer, texts)
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id) == (
        0, 100, 101, 102, 103)


def test_encode_and_decode(uncased):
    ids = uncased.encode("Interleukin-2 gene expression")
    assert uncased.decode_ids(ids) == ["interleukin", "-", "2", "gene", "expression"]
    assert uncased.encode_batch([]) == []


def test_vocab_dir_round_trip(tmp_path, scivocab):
    write_vocabulary(str(tmp_path), scivocab[:1000], do_lower_case=True, strip_accents=True)
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(str(tmp_path)))
    data = (tmp_path / VOCAB_FILE).read_bytes()
    assert tokenizer.vocab_sha256 == hashlib.sha256(data).hexdigest()
    assert tokenizer.vocab_size == len(data.decode().splitlines())
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert config == {"do_lower_case": True, "strip_accents": True, "tokenize_chinese_chars": True,
                      "tokenizer_class": "ElectraTokenizer", "model_max_length": 512,
                      "vocab_size": tokenizer.vocab_size}
    # no temp files left
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CONFIG_FILE, FAST_TOKENIZER_FILE, VOCAB_FILE])
    assert (tmp_path / VOCAB_FILE).stat().st_mode & 0o777 == 0o644


def test_vocab_dir_loads_in_transformers_with_same_ids(tmp_path, scivocab, uncased):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tokens = [t for t in scivocab if t]  # our writer refuses scivocab's blank line
    write_vocabulary(str(tmp_path), tokens, do_lower_case=True, strip_accents=True)
    ours = Tokenizer.from_vocabulary(read_vocabulary(str(tmp_path)))
    hf = AutoTokenizer.from_pretrained(str(tmp_path))  # reads tokenizer.json
    assert isinstance(hf, PreTrainedTokenizerFast)
    assert hf.vocab_size == len(tokens)
    texts = [line for doc in genia_documents()[:30] for line in doc] + EDGE_CASES[2:]
    assert ours.encode_batch(texts) == [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    # The same ids as from vocab.txt and tokenizer_config.json alone (what AutoTokenizer read before).
    (tmp_path / FAST_TOKENIZER_FILE).unlink()
    before = AutoTokenizer.from_pretrained(str(tmp_path))
    assert [before(t)["input_ids"] for t in texts] == [hf(t)["input_ids"] for t in texts]


def test_missing_config_is_a_clear_error(tmp_path, scivocab):
    (tmp_path / VOCAB_FILE).write_text("\n".join(scivocab) + "\n", encoding="utf-8")
    with pytest.raises(VocabError, match="do_lower_case, strip_accents"):
        Tokenizer.from_vocabulary(read_vocabulary(str(tmp_path)))


def test_config_that_disagrees_with_vocab_is_an_error(tmp_path):
    write_vocabulary(str(tmp_path), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"], True, True)
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    config["vocab_size"] = 7
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(VocabError, match="vocab_size=7 but vocab.txt has 6 tokens"):
        Tokenizer.from_vocabulary(read_vocabulary(str(tmp_path)))


def test_bad_vocabularies_are_refused(tmp_path):
    with pytest.raises(VocabError, match=r"\[PAD\] must have id 0"):
        Tokenizer(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"], True, True)
    with pytest.raises(VocabError, match=r"missing"):
        Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], True, True)
    with pytest.raises(VocabError, match="appears twice"):
        write_vocabulary(str(tmp_path), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"], True, True)
    assert not any(tmp_path.iterdir())


def test_check_compatible_names_both_settings(uncased):
    uncased.check_compatible({"do_lower_case": True, "strip_accents": True, "max_seq_length": 128})
    with pytest.raises(VocabError, match="do_lower_case: expected False, vocabulary has True"):
        uncased.check_compatible({"do_lower_case": False})
    with pytest.raises(VocabError, match="vocab_sha256"):
        check_compatible(uncased.settings(), {**uncased.settings(), "vocab_sha256": "0" * 64})


def test_vocab_dir_on_gcs(gcs_prefix, scivocab):
    tokens = [t for t in scivocab if t][:2000]
    write_vocabulary(gcs_prefix + "/vocab", tokens, do_lower_case=False, strip_accents=False)
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(gcs_prefix + "/vocab"))
    assert (tokenizer.vocab_size, tokenizer.do_lower_case, tokenizer.strip_accents) == (2000, False, False)
    assert tokenizer.vocab_sha256 == hashlib.sha256("".join(t + "\n" for t in tokens).encode()).hexdigest()
    with pytest.raises(VocabError, match="missing/vocab.txt not found"):
        read_vocabulary(gcs_prefix + "/missing")
    # vocab.txt without its tokenizer_config.json: the settings are unknown
    write_atomically(gcs_prefix + "/no_config/vocab.txt", "".join(t + "\n" for t in tokens).encode())
    with pytest.raises(VocabError, match="no tokenizer_config.json"):
        read_vocabulary(gcs_prefix + "/no_config")
