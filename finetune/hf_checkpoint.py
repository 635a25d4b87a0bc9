"""Hugging Face model directories (ELECTRA or BERT: config.json, model.safetensors, vocab.txt,
tokenizer_config.json) as the project's own discriminator, so that a `python -m pretrain export`
or a hub checkpoint fine-tunes through exactly the code a pretraining run does.

Tensor names come from `pretrain.export.hf_name`, the exporter's own mapping, read backwards.
"""

from __future__ import annotations

import json
import logging
import re
from typing import NamedTuple

import numpy as np
import safetensors
import tensorflow as tf

from pretrain.config import EncoderConfig
from pretrain.errors import PretrainError
from pretrain.export import encoder_config_from_hf, hf_name
from pretrain.model import Discriminator, DiscriminatorHead, Embeddings, Encoder, Initializer
from pretrain.files import read_vocabulary

log = logging.getLogger(__name__)

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
EXPORT_PREFIX = "electra."  # what hf_name puts before the encoder's tensors


class CheckpointError(PretrainError):
    """A model directory whose contents this encoder cannot take (the message names what)."""


def is_model_directory(path: str) -> bool:
    """A Hugging Face model directory (it has config.json) rather than a pretraining run."""
    return tf.io.gfile.exists(f"{path.rstrip('/')}/{CONFIG}")


def read_config(directory: str) -> EncoderConfig:
    """config.json -> the encoder's hyperparameters; vocab.txt must match its vocab_size."""
    path = f"{directory}/{CONFIG}"
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column "
                              f"{error.colno})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not valid JSON: not UTF-8") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object (a transformers config), got "
                              f"{type(values).__name__}")
    config = encoder_config_from_hf(values, path)
    if not tf.io.gfile.exists(f"{directory}/vocab.txt"):
        raise FileNotFoundError(f"{directory} has no vocab.txt: fine-tuning needs the model's "
                                "WordPiece vocabulary (a tokenizer.json alone is not read)")
    size = read_vocabulary(directory).size
    if size != config.vocab_size:
        raise CheckpointError(f"{directory}/vocab.txt has {size} tokens but {path} says "
                              f"vocab_size={config.vocab_size}: they belong to different models")
    return config


class _Zeros(Initializer):
    """Placeholder values for weights about to be overwritten: drawing BERT-base's 110M random
    numbers first would take longer than reading the file."""

    def __init__(self):
        super().__init__(seed=0, stddev=0.0)

    def truncated_normal(self, shape: tuple[int, ...]) -> tf.Tensor:
        return tf.zeros(shape)

    def glorot_uniform(self, shape: tuple[int, int]) -> tf.Tensor:
        return tf.zeros(shape)


def build_discriminator(config: EncoderConfig, seed: int, encoder_init: Initializer | None = None
                        ) -> Discriminator:
    """The architecture `config` describes, with fresh seed-derived weights (`encoder_init`
    replaces them for the embeddings and the transformer)."""
    init = Initializer(seed, config.initializer_range)
    encoder_init = encoder_init or init
    return Discriminator(Embeddings(config, encoder_init), Encoder(config, encoder_init, "electra"),
                         DiscriminatorHead(config.hidden_size, init))


def load_discriminator(directory: str, random_init_seed: int | None = None) -> Discriminator:
    """The directory's encoder with its weights, or (`random_init_seed` given) the same
    architecture freshly initialised. The replaced-token head is loaded when the file has one
    (ElectraForPreTraining); otherwise it stays random, which fine-tuning never reads."""
    directory = directory.rstrip("/")
    config = read_config(directory)
    if random_init_seed is not None:
        return build_discriminator(config, random_init_seed)
    model = build_discriminator(config, 0, encoder_init=_Zeros())
    _assign(model, _read_tensors(directory), directory)
    return model


class _Tensor(NamedTuple):
    dtype: str
    shape: list[int]
    data: bytes


def _read_tensors(directory: str) -> dict[str, _Tensor]:
    """model.safetensors' tensors by name, still raw (converted only when used); LayerNorm's old
    gamma/beta names become weight/bias as transformers renames them on load."""
    path = f"{directory}/{WEIGHTS}"
    if not tf.io.gfile.exists(path):
        others = [name for name in ("pytorch_model.bin", "model.safetensors.index.json",
                                    "tf_model.h5") if tf.io.gfile.exists(f"{directory}/{name}")]
        hint = (f" (it has {', '.join(others)}: transformers' save_pretrained(DIR, "
                "max_shard_size='100GB') writes the single model.safetensors read here)"
                if others else "")
        raise FileNotFoundError(f"{path} does not exist{hint}")
    with tf.io.gfile.GFile(path, "rb") as f:
        entries = safetensors.deserialize(f.read())
    return {_OLD_LAYER_NORM.sub(lambda m: _NEW_LAYER_NORM[m.group(1)], name):
            _Tensor(entry["dtype"], list(entry["shape"]), entry["data"])
            for name, entry in entries}


_OLD_LAYER_NORM = re.compile(r"(?<=LayerNorm\.)(gamma|beta)$")
_NEW_LAYER_NORM = {"gamma": "weight", "beta": "bias"}
_FLOATS = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def _float32(tensor: _Tensor, name: str) -> np.ndarray:
    if tensor.dtype == "BF16":  # numpy has no bfloat16: its bits are a float32's upper half
        values = (np.frombuffer(tensor.data, np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif tensor.dtype in _FLOATS:
        values = np.frombuffer(tensor.data, _FLOATS[tensor.dtype]).astype(np.float32, copy=False)
    else:
        raise CheckpointError(f"{name} has dtype {tensor.dtype}; weights must be floating point")
    return values.reshape(tensor.shape)


def _prefix(tensors: dict[str, _Tensor], path: str) -> str:
    """`electra.`/`bert.` for the task models (ElectraForPreTraining, BertForMaskedLM, ...),
    nothing for the bare ElectraModel/BertModel."""
    prefixes = [p for p in {name.split(".", 1)[0] + "." for name in tensors} | {""}
                if f"{p}embeddings.word_embeddings.weight" in tensors]
    if len(prefixes) != 1:
        found = ", ".join(f"{p}embeddings.word_embeddings.weight" for p in sorted(prefixes))
        raise CheckpointError(f"{path} needs exactly one word embedding table "
                              f"(embeddings.word_embeddings.weight), found: {found or 'none'}")
    return prefixes[0]


def _assign(model: Discriminator, tensors: dict[str, _Tensor], directory: str) -> None:
    path = f"{directory}/{WEIGHTS}"
    prefix = _prefix(tensors, path)

    def source(tf1_name: str) -> tuple[str, bool]:
        name, transpose = hf_name(tf1_name)
        if name.startswith(EXPORT_PREFIX):
            name = prefix + name[len(EXPORT_PREFIX):]
        return name, transpose

    wanted = [*model.embeddings.tf1_variables("electra/embeddings"),
              *model.encoder.tf1_variables("electra")]
    head = list(model.head.tf1_variables("discriminator_predictions"))
    has_head = any(source(name)[0] in tensors for name, _ in head)
    if has_head:
        wanted += head
    missing, mismatched, used = [], [], set()
    for tf1_name, variable in wanted:
        name, transpose = source(tf1_name)
        used.add(name)
        expected = variable.shape.as_list()[::-1] if transpose else variable.shape.as_list()
        if name not in tensors:
            missing.append(name)
        elif tensors[name].shape != expected:
            mismatched.append(f"{name} {tensors[name].shape} (config.json implies {expected})")
        else:
            value = _float32(tensors[name], name)
            variable.assign(value.T if transpose else value)
    if missing or mismatched:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected shape: {'; '.join(mismatched)}"] if mismatched else [])
        raise CheckpointError(f"{path} does not fit its config.json: {'; '.join(problems)}")
    log.info("loaded %d tensors from %s%s; not used: %s", len(used), path,
             "" if has_head else " (no replaced-token head: it stays random; fine-tuning "
             "ignores it)", ", ".join(sorted(set(tensors) - used)) or "none")
