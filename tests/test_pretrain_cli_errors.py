"""`python -m pretrain` refuses what it used to accept silently or end in a traceback: each case
is one line and exit status 2, before anything is built."""

from __future__ import annotations

import logging

import pytest

from pretrain import cli

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s"]


@pytest.fixture
def vocab(tmp_path) -> str:
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab/vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    (tmp_path / "vocab/tokenizer_config.json").write_text(
        '{"do_lower_case": true, "strip_accents": true}')
    return str(tmp_path / "vocab")


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pretrain"]


@pytest.mark.parametrize("override, message", [
    ("num_hidden_layers=1.7e0", "--set num_hidden_layers: cannot read '1.7e0' as int"),
    ("learning_rate=nan", "--set learning_rate: cannot read 'nan' as float"),
    ("train_steps=1e999", "--set train_steps: cannot read '1e999' as int"),
])
def test_a_set_value_that_does_not_fit_its_type(tmp_path, vocab, caplog, override, message):
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", str(tmp_path / "none-*"), "--vocab", vocab,
                           "--output", str(tmp_path / "run"), "--set", override])
    assert status == 2 and _errors(caplog) == [message]


def test_data_that_names_a_directory(tmp_path, vocab, caplog):
    (tmp_path / "tfrecords/128").mkdir(parents=True)
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", str(tmp_path / "tfrecords/128"), "--vocab", vocab,
                           "--output", str(tmp_path / "run"), "--model-size", "tiny"])
    assert status == 2 and _errors(caplog) == [
        f"{tmp_path}/tfrecords/128 is a directory: give its shards, e.g. "
        f"'{tmp_path}/tfrecords/128/pretrain_data.tfrecord-*'"]


def test_a_count_of_zero_is_refused_by_the_parser(tmp_path, vocab, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["train", "--data", "x", "--vocab", vocab, "--output", "y", "--log-every", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m pretrain train: error: argument --log-every: must be at least 1, got 0")
