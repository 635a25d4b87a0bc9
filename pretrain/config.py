"""Hyperparameters: published ELECTRA sizes, `--set key=value` overrides, JSON round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import tensorflow as tf

from pretrain.errors import PretrainError
from pretrain.files import write_atomically

# The published hyperparameters per size (ELECTRA paper, Table 6; google-research/electra
# configure_pretraining.py). `tiny` is ours: a 2-layer model for tests and demos.
MODEL_SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, embedding_size=64,
                 generator_hidden_fraction=0.5, learning_rate=1e-3, warmup_steps=50,
                 batch_size=16, max_seq_length=128, train_steps=300, adam_bias_correction=True),
    "small": dict(hidden_size=256, num_hidden_layers=12, embedding_size=128,
                  generator_hidden_fraction=0.25, learning_rate=5e-4, warmup_steps=10000,
                  batch_size=128, max_seq_length=128, train_steps=1_000_000),
    "base": dict(hidden_size=768, num_hidden_layers=12, embedding_size=768,
                 generator_hidden_fraction=1 / 3, learning_rate=2e-4, warmup_steps=10000,
                 batch_size=256, max_seq_length=512, train_steps=766_000),
    "large": dict(hidden_size=1024, num_hidden_layers=24, embedding_size=1024,
                  generator_hidden_fraction=0.25, learning_rate=2e-4, warmup_steps=10000,
                  batch_size=2048, max_seq_length=512, train_steps=1_750_000, mask_prob=0.25),
}


@dataclasses.dataclass
class EncoderConfig:
    """One transformer (generator or discriminator); field names follow BERT/HF configs."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    embedding_size: int
    max_position_embeddings: int
    type_vocab_size: int
    hidden_dropout_prob: float
    attention_probs_dropout_prob: float
    initializer_range: float


@dataclasses.dataclass
class PretrainConfig:
    """Everything that defines a run; saved as `pretrain_config.json` in the output directory."""

    model_size: str = "small"
    vocab_size: int = 30522
    hidden_size: int = 256
    num_hidden_layers: int = 12
    embedding_size: int = 128
    num_attention_heads: int = 0  # 0: hidden_size // 64
    intermediate_size: int = 0  # 0: 4 * hidden_size
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    # Generator: same depth (by fraction), width by fraction, heads max(1, h/64), FFN 4h.
    generator_hidden_fraction: float = 0.25
    generator_layers_fraction: float = 1.0
    # Objective.
    mask_prob: float = 0.15
    mask_token_fraction: float = 0.85  # of the chosen positions become [MASK]; the rest stay
    gen_weight: float = 1.0
    disc_weight: float = 50.0
    temperature: float = 1.0  # of the generator's samples; 0: its most likely token (no noise)
    # Optimisation.
    learning_rate: float = 5e-4
    lr_decay_power: float = 1.0
    warmup_steps: int = 10000
    weight_decay_rate: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    # Adam's bias correction (torch's AdamW has it; the original ELECTRA/BERT update has not): needed with a
    # warm-up of a few hundred steps or less (tiny's 50), immaterial behind the published sizes' 10,000.
    adam_bias_correction: bool = False
    clip_norm: float = 1.0
    # Run.
    batch_size: int = 128  # examples per optimiser step (all replicas, all accumulated micro-batches)
    # Micro-batches per optimiser step: each replica computes the gradients of batch_size / (replicas x
    # accumulation_steps) examples at a time and sums them, so a large batch fits in a few chips' memory. The
    # masking and the loss normalisers are those of the whole batch, so the update is the one batch_size gives.
    accumulation_steps: int = 1
    max_seq_length: int = 128
    train_steps: int = 1_000_000
    seed: int = 12345
    # Vocabulary facts the model depends on (filled from vocab.txt).
    vocab_sha256: str = ""
    do_lower_case: bool = True
    strip_accents: bool = True
    pad_id: int = 0
    cls_id: int = 101
    sep_id: int = 102
    mask_id: int = 103

    @property
    def max_predictions_per_seq(self) -> int:
        # The original's formula, kept exactly so that shapes match its checkpoints' runs.
        return int((self.mask_prob + 0.005) * self.max_seq_length)

    def discriminator(self) -> EncoderConfig:
        return self._encoder(self.hidden_size, self.num_hidden_layers,
                             self.num_attention_heads or max(1, self.hidden_size // 64),
                             self.intermediate_size or 4 * self.hidden_size)

    def generator(self) -> EncoderConfig:
        hidden = int(round(self.hidden_size * self.generator_hidden_fraction))
        layers = int(round(self.num_hidden_layers * self.generator_layers_fraction))
        return self._encoder(hidden, layers, max(1, hidden // 64), 4 * hidden)

    def _encoder(self, hidden: int, layers: int, heads: int, intermediate: int) -> EncoderConfig:
        if hidden % heads:
            raise PretrainError(f"hidden size {hidden} is not a multiple of {heads} attention heads")
        return EncoderConfig(
            vocab_size=self.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=intermediate,
            embedding_size=self.embedding_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size, hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            initializer_range=self.initializer_range)

    def validate(self) -> None:
        if self.max_seq_length > self.max_position_embeddings:
            raise PretrainError(f"max_seq_length {self.max_seq_length} exceeds "
                             f"max_position_embeddings {self.max_position_embeddings}")
        if not 0 < self.mask_prob < 1:
            raise PretrainError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.max_predictions_per_seq < 1:
            raise PretrainError("max_seq_length * mask_prob leaves no position to predict")
        if self.accumulation_steps < 1 or self.batch_size % self.accumulation_steps:
            raise PretrainError(f"batch_size {self.batch_size} is not a multiple of accumulation_steps "
                                f"{self.accumulation_steps}")
        if self.temperature < 0:
            raise PretrainError(f"temperature must be 0 or more, got {self.temperature}")
        self.discriminator()
        self.generator()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "PretrainConfig":
        return cls(**json.loads(text))


CONFIG_FILENAME = "pretrain_config.json"


def for_size(size: str, overrides: dict[str, Any] | None = None) -> PretrainConfig:
    """The published hyperparameters for `size`, then `overrides` on top."""
    if size not in MODEL_SIZES:
        raise PretrainError(f"unknown model size {size!r}; choose from {sorted(MODEL_SIZES)}")
    config = PretrainConfig(model_size=size, **MODEL_SIZES[size])
    return dataclasses.replace(config, **(overrides or {}))


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["key=value", ...]` -> typed dict; unknown keys and bad values are errors."""
    fields = {f.name: f for f in dataclasses.fields(PretrainConfig)}
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            raise PretrainError(f"--set expects key=value, got {pair!r}")
        if key not in fields:
            raise PretrainError(f"unknown hyperparameter {key!r}; known: {', '.join(sorted(fields))}")
        kind = fields[key].type
        try:
            if kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                result[key] = raw.lower() in ("true", "1")
            elif kind == "int":
                value = float(raw) if "e" in raw.lower() else int(raw)
                if value != int(value):
                    raise ValueError(raw)  # 1.5e3 is 1500, 1.7e0 is no integer
                result[key] = int(value)
            elif kind == "float":
                result[key] = float(raw)
                if not math.isfinite(result[key]):
                    raise ValueError(raw)
            else:
                result[key] = raw
        except (ValueError, OverflowError):
            raise PretrainError(f"--set {key}: cannot read {raw!r} as {kind}") from None
    return result


def save(config: PretrainConfig, directory: str) -> None:
    tf.io.gfile.makedirs(directory)
    path = f"{directory.rstrip('/')}/{CONFIG_FILENAME}"
    write_atomically(path, config.to_json())


def load(directory: str) -> PretrainConfig:
    path = f"{directory.rstrip('/')}/{CONFIG_FILENAME}"
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: is {directory} a `pretrain train` output?")
    with tf.io.gfile.GFile(path) as f:
        return PretrainConfig.from_json(f.read())
