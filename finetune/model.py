"""The pretrained discriminator with a task head, and ELECTRA's fine-tuning optimiser:
AdamW (no decay on LayerNorm/bias), layer-wise learning-rate decay, warm-up then linear decay."""

from __future__ import annotations

import dataclasses
import re

import tensorflow as tf

import pretrain
from finetune import hf_checkpoint
from pretrain import checkpoints, model_card
from pretrain import config as config_lib
from pretrain.model import DropoutSeeds, ElectraModel, dropout
from pretrain.optimization import AdamWeightDecay

TASK_SCOPE = "task_specific"


def run_directory(checkpoint: str) -> str:
    """A training output directory or one checkpoint prefix -> the run directory (config, vocab)."""
    return checkpoints.run_directory(checkpoints.resolve(checkpoint))


def vocabulary_directory(checkpoint: str) -> str:
    """Where vocab.txt and tokenizer_config.json lie: a pretraining run's `vocab/`, or the
    Hugging Face model directory itself."""
    if hf_checkpoint.is_model_directory(checkpoint):
        return checkpoint.rstrip("/")
    return f"{run_directory(checkpoint)}/vocab"


def encoder_config(checkpoint: str) -> config_lib.EncoderConfig:
    """The encoder's hyperparameters: a Hugging Face directory's config.json or a run's discriminator."""
    if hf_checkpoint.is_model_directory(checkpoint):
        return hf_checkpoint.read_config(checkpoint.rstrip("/"))
    return config_lib.load(run_directory(checkpoint)).discriminator()


def pretraining_facts(checkpoint: str) -> dict | None:
    """What a pretraining run records about the encoder (for model cards); None for a Hugging Face
    directory, whose own card says it."""
    if hf_checkpoint.is_model_directory(checkpoint):
        return None
    prefix = checkpoints.resolve(checkpoint)
    try:
        step = checkpoints.step_of(prefix)
    except (tf.errors.OpError, ValueError):  # an original ELECTRA (TF1) checkpoint records no step of ours
        step = None
    return model_card.pretraining_facts(checkpoints.run_directory(prefix), step)


def load_encoder(checkpoint: str, random_init_seed: int | None = None):
    """The discriminator with its trained weights, or (`random_init_seed` given) the same
    architecture freshly initialised: the baseline that shows what pretraining adds.
    `checkpoint`: a pretraining run (output directory or checkpoint prefix) or a Hugging Face
    ELECTRA/BERT model directory (`python -m pretrain export`'s discriminator/, a hub download)."""
    if hf_checkpoint.is_model_directory(checkpoint):
        return hf_checkpoint.load_discriminator(checkpoint, random_init_seed)
    if random_init_seed is None:
        return pretrain.load_discriminator(checkpoint)
    config = dataclasses.replace(config_lib.load(run_directory(checkpoint)), seed=random_init_seed)
    return ElectraModel(config).discriminator_only()


def _named_encoder_variables(encoder) -> list[tuple[str, tf.Variable]]:
    """Encoder weights under their original ELECTRA names; the replaced-token head is left out."""
    return [*encoder.embeddings.tf1_variables("electra/embeddings"),
            *encoder.encoder.tf1_variables("electra")]


class FineTuningModel(tf.Module):
    """Encoder -> dropout -> one dense layer. `token` heads read every position (the loss uses
    each word's first word-piece), the others the first ([CLS]) position, as ELECTRA does."""

    def __init__(self, encoder, head: str, num_outputs: int, dropout_rate: float = 0.1,
                 seed: int = 0, initializer_range: float = 0.02):
        super().__init__(name="finetuning")
        self.encoder = encoder
        self.head = head
        self.dropout_rate = dropout_rate
        hidden = encoder.encoder.layers[0].query.kernel.shape[1]
        self.kernel = tf.Variable(tf.random.stateless_truncated_normal(
            [hidden, num_outputs], seed=[seed, 1], stddev=initializer_range), name="kernel")
        self.bias = tf.Variable(tf.zeros([num_outputs]), name="bias")
        self.num_layers = len(encoder.encoder.layers)

    def named_variables(self) -> list[tuple[str, tf.Variable]]:
        return [*_named_encoder_variables(self.encoder),
                (f"{TASK_SCOPE}/dense/kernel", self.kernel),
                (f"{TASK_SCOPE}/dense/bias", self.bias)]

    def __call__(self, input_ids, input_mask, segment_ids, dropout_seed=None) -> tf.Tensor:
        """Logits: [B, L, K] for token heads, [B, K] otherwise (float32). `dropout_seed` (a
        [2] int tensor) switches dropout on, in the encoder and on its output."""
        seeds = DropoutSeeds(dropout_seed) if dropout_seed is not None else None
        hidden = tf.cast(self.encoder.sequence_output(input_ids, input_mask, segment_ids, seeds),
                         tf.float32)
        if self.head != "token":
            hidden = hidden[:, 0]
        hidden = dropout(hidden, self.dropout_rate, seeds)
        return tf.tensordot(hidden, self.kernel, 1) + self.bias


def layer_depth(name: str, num_layers: int) -> int:
    """ELECTRA's depths: embeddings 0, layer i at i + 1, the task head at num_layers + 2."""
    if name.startswith(TASK_SCOPE):
        return num_layers + 2
    match = re.search(r"/layer_(\d+)/", name)
    return int(match.group(1)) + 1 if match else 0


class LayerwiseAdamW(AdamWeightDecay):
    """The pretraining optimiser (Adam with decoupled weight decay, no bias correction, no decay
    on LayerNorm/bias; strategy-aware) with each variable's learning rate scaled by
    decay ** (num_layers + 2 - depth)."""

    def __init__(self, named_variables: list[tuple[str, tf.Variable]], num_layers: int,
                 layerwise_decay: float = 0.8, weight_decay: float = 0.01):
        scales = [layerwise_decay ** (num_layers + 2 - layer_depth(n, num_layers))
                  for n, _ in named_variables]
        super().__init__(named_variables, weight_decay, lr_scales=scales)
