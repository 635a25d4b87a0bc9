"""The vocabulary directory contract: `vocab.txt` + `tokenizer_config.json`, read through tf.io.gfile.

Deliberately independent of the project's `vocab/` package: pretraining depends only on these files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import tensorflow as tf

from pretrain.errors import PretrainError

log = logging.getLogger(__name__)

VOCAB_FILENAME = "vocab.txt"
TOKENIZER_CONFIG_FILENAME = "tokenizer_config.json"
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    directory: str
    size: int
    sha256: str
    do_lower_case: bool
    strip_accents: bool  # effective value: HF's null means "follow do_lower_case"
    token_ids: dict[str, int]  # the special tokens only
    tokenizer_config: dict

    @property
    def pad_id(self) -> int:
        return self.token_ids["[PAD]"]

    @property
    def cls_id(self) -> int:
        return self.token_ids["[CLS]"]

    @property
    def sep_id(self) -> int:
        return self.token_ids["[SEP]"]

    @property
    def mask_id(self) -> int:
        return self.token_ids["[MASK]"]


def load_vocabulary(directory: str) -> Vocabulary:
    """Reads and checks a vocabulary directory; raises ValueError naming what is wrong."""
    directory = directory.rstrip("/")
    vocab_path = f"{directory}/{VOCAB_FILENAME}"
    if not tf.io.gfile.exists(vocab_path):
        raise FileNotFoundError(f"{vocab_path} not found (--vocab must be a directory holding "
                                f"{VOCAB_FILENAME} and {TOKENIZER_CONFIG_FILENAME})")
    with tf.io.gfile.GFile(vocab_path, "rb") as f:
        raw = f.read()
    tokens = raw.decode("utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t.rstrip("\r") for t in tokens]
    ids = {}
    for index, token in enumerate(tokens):
        if token in REQUIRED_TOKENS and token not in ids:
            ids[token] = index
    missing = [t for t in REQUIRED_TOKENS if t not in ids]
    if missing:
        raise PretrainError(f"{vocab_path} lacks the special tokens {missing}")
    if ids["[PAD]"] != 0:
        raise PretrainError(f"{vocab_path}: [PAD] must be id 0 (the data pads with 0), "
                         f"found at id {ids['[PAD]']}")

    config_path = f"{directory}/{TOKENIZER_CONFIG_FILENAME}"
    if tf.io.gfile.exists(config_path):
        with tf.io.gfile.GFile(config_path) as f:
            tokenizer_config = json.load(f)
    else:
        log.warning("%s not found: assuming an uncased vocabulary (do_lower_case=true)", config_path)
        tokenizer_config = {"do_lower_case": True}
    do_lower_case = bool(tokenizer_config.get("do_lower_case", True))
    strip_accents = tokenizer_config.get("strip_accents")
    return Vocabulary(
        directory=directory, size=len(tokens), sha256=hashlib.sha256(raw).hexdigest(),
        do_lower_case=do_lower_case,
        strip_accents=do_lower_case if strip_accents is None else bool(strip_accents),
        token_ids=ids, tokenizer_config=tokenizer_config)
