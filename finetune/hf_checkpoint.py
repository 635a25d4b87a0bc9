"""Hugging Face model directories (ELECTRA or BERT: config.json, model.safetensors or pytorch_model.bin,
vocab.txt, tokenizer_config.json) as the project's own discriminator, so that a `python -m pretrain export`
or a hub checkpoint fine-tunes through exactly the code a pretraining run does.

Reading the directory and the tensor names are `pretrain.huggingface`'s, the exporter's own mapping read
backwards (continued pretraining reads with it too).
"""

from __future__ import annotations

import logging

import tensorflow as tf

from pretrain.config import EncoderConfig
from pretrain.huggingface import (CONFIG, WEIGHTS, CheckpointError, assign, has_any,  # noqa: F401
                                  is_model_directory, model_prefix, read_encoder_config, read_tensors,
                                  weights_path)
from pretrain.model import Discriminator, DiscriminatorHead, Embeddings, Encoder, Initializer

log = logging.getLogger(__name__)


def read_config(directory: str) -> EncoderConfig:
    """config.json -> the encoder's hyperparameters; vocab.txt must match its vocab_size."""
    return read_encoder_config(directory)


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
    tensors = read_tensors(directory)
    path = weights_path(directory)
    prefix = model_prefix(tensors, path)
    wanted = [*model.embeddings.tf1_variables("electra/embeddings"),
              *model.encoder.tf1_variables("electra")]
    head = list(model.head.tf1_variables("discriminator_predictions"))
    has_head = has_any(head, tensors, prefix)
    if has_head:
        wanted += head
    used = assign(wanted, tensors, prefix, path)
    log.info("loaded %d tensors from %s%s; not used: %s", len(used), path,
             "" if has_head else " (no replaced-token head: it stays random; fine-tuning "
             "ignores it)", ", ".join(sorted(set(tensors) - used)) or "none")
    return model
