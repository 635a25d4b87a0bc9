"""A vocabulary directory that cannot be used is one VocabError naming the file (and line), from
the one parser (vocab/vocabulary.py), whichever stage reads it; `python -m pretrain train` prints
it as one line with exit status 2."""

from __future__ import annotations

import logging

import pytest

from pretrain import cli
from pretrain.files import read_vocabulary
from vocab.vocabulary import VocabError

# The first entries of BERT's uncased vocab.txt (tests/data/vocab/bert_base_uncased_vocab.txt).
TOKENS = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"]
CONFIG = '{"do_lower_case": true, "strip_accents": true}\n'


def _directory(tmp_path, vocab: bytes):
    (tmp_path / "vocab.txt").write_bytes(vocab)
    (tmp_path / "tokenizer_config.json").write_text(CONFIG)
    return str(tmp_path)


def test_a_vocab_txt_that_is_not_utf8_names_the_line(tmp_path):
    lines = [t.encode() for t in TOKENS[:7]] + ["r\u00e9sum\u00e9".encode("latin-1")]
    directory = _directory(tmp_path, b"\n".join(lines) + b"\n")
    with pytest.raises(VocabError) as caught:
        read_vocabulary(directory)
    assert str(caught.value) == (f"{directory}/vocab.txt:8: not UTF-8 (byte 0xe9); a vocab.txt is "
                                 "UTF-8, one token per line")


def test_pretrain_train_refuses_a_vocabulary_without_cls_in_one_line(tmp_path, caplog):
    tokens = [t for t in TOKENS if t != "[CLS]"]
    directory = _directory(tmp_path, "".join(t + "\n" for t in tokens).encode())
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", str(tmp_path / "no-shards-*"), "--vocab", directory,
                           "--output", str(tmp_path / "run")])
    assert status == 2 and not (tmp_path / "run").exists()
    assert [r.getMessage() for r in caplog.records if r.name == "pretrain"] == [
        f"{directory}/vocab.txt: special tokens ['[CLS]'] are missing"]


def test_a_casing_setting_that_is_not_a_boolean(tmp_path):
    """Hugging Face directories may leave the settings out (uncased), but a string "false" must not
    be read as true."""
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in TOKENS))
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": "false"}')
    with pytest.raises(VocabError) as caught:
        read_vocabulary(str(tmp_path))
    assert str(caught.value) == (f"{tmp_path}/tokenizer_config.json must set do_lower_case to true "
                                 "or false, found 'false'")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false, "strip_accents": null}')
    assert read_vocabulary(str(tmp_path)).strip_accents is False
