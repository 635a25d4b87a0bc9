"""ELECTRA's networks as plain `tf.Module`s: shared embeddings, generator, discriminator, heads.

Variables are float32 masters; matmuls run in the model's compute dtype (bf16/fp16 for mixed
precision) while layer norms, softmaxes and every logit stay float32. Each module knows the name its
variables had in the original TF1 code (`tf1_variables`), which the exporters rely on.
"""

from __future__ import annotations

import math
from typing import Iterator

import tensorflow as tf

from pretrain.config import EncoderConfig, PretrainConfig

LAYER_NORM_EPSILON = 1e-12  # BERT's and the original ELECTRA's value (HF: layer_norm_eps)
ATTENTION_MASK_ADDER = -10000.0  # the original's; representable in fp16 and bf16


class Initializer:
    """Deterministic, seed-derived initial values, identical on every replica and host."""

    def __init__(self, seed: int, stddev: float):
        self._seed = seed
        self._stddev = stddev
        self._count = 0

    def _next_seed(self) -> tf.Tensor:
        self._count += 1
        return tf.constant([self._seed, self._count], tf.int64)

    def truncated_normal(self, shape: tuple[int, ...]) -> tf.Tensor:
        return tf.random.stateless_truncated_normal(shape, self._next_seed(), stddev=self._stddev)

    def glorot_uniform(self, shape: tuple[int, int]) -> tf.Tensor:
        # tf.layers.dense's default, which the original used for embeddings_project and dense_1.
        limit = math.sqrt(6.0 / (shape[0] + shape[1]))
        return tf.random.stateless_uniform(shape, self._next_seed(), -limit, limit)


class DropoutSeeds:
    """Hands out a distinct stateless seed for each dropout call of one traced step."""

    def __init__(self, seed: tf.Tensor | None):
        self._seed = seed
        self._count = 0

    def next(self) -> tf.Tensor:
        self._count += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._count)


def dropout(x: tf.Tensor, rate: float, seeds: DropoutSeeds | None) -> tf.Tensor:
    if seeds is None or rate == 0.0:
        return x
    return tf.nn.experimental.stateless_dropout(x, rate, seed=seeds.next())


class Dense(tf.Module):
    """x @ kernel + bias, with the kernel's initial value given ([in, out]) and a zero bias."""

    def __init__(self, kernel: tf.Tensor, name: str):
        super().__init__(name=name)
        self.kernel = tf.Variable(kernel, name="kernel")
        self.bias = tf.Variable(tf.zeros([kernel.shape[-1]]), name="bias")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(x, tf.cast(self.kernel, x.dtype)) + tf.cast(self.bias, x.dtype)

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield f"{scope}/kernel", self.kernel
        yield f"{scope}/bias", self.bias


class LayerNorm(tf.Module):
    def __init__(self, dim: int, name: str = "LayerNorm"):
        super().__init__(name=name)
        self.gamma = tf.Variable(tf.ones([dim]), name="gamma")
        self.beta = tf.Variable(tf.zeros([dim]), name="beta")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        x32 = tf.cast(x, tf.float32)  # statistics in fp32: bf16 variance loses too much
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        y = (x32 - mean) * tf.math.rsqrt(variance + LAYER_NORM_EPSILON) * self.gamma + self.beta
        return tf.cast(y, x.dtype)

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield f"{scope}/gamma", self.gamma
        yield f"{scope}/beta", self.beta


def batch_and_length(t: tf.Tensor) -> tuple:
    """Static dimensions where known (XLA, TPU), dynamic otherwise (callers with any shape)."""
    dynamic = tf.shape(t)
    return tuple(d if d is not None else dynamic[i] for i, d in enumerate(t.shape[:2]))


def gelu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.gelu(x, approximate=False)  # the exact (erf) form, as in the original


class Embeddings(tf.Module):
    """Word, position and token-type tables plus LayerNorm, shared by generator and discriminator."""

    def __init__(self, config: EncoderConfig, init: Initializer):
        super().__init__(name="embeddings")
        e = config.embedding_size
        self.word_embeddings = tf.Variable(init.truncated_normal((config.vocab_size, e)),
                                           name="word_embeddings")
        self.token_type_embeddings = tf.Variable(
            init.truncated_normal((config.type_vocab_size, e)), name="token_type_embeddings")
        self.position_embeddings = tf.Variable(
            init.truncated_normal((config.max_position_embeddings, e)), name="position_embeddings")
        self.layer_norm = LayerNorm(e)
        self.dropout_rate = config.hidden_dropout_prob

    def __call__(self, input_ids: tf.Tensor, segment_ids: tf.Tensor,
                 seeds: DropoutSeeds | None) -> tf.Tensor:
        length = batch_and_length(input_ids)[1]
        x = (tf.gather(self.word_embeddings, input_ids)
             + tf.gather(self.token_type_embeddings, segment_ids)
             + self.position_embeddings[:length])
        return dropout(self.layer_norm(x), self.dropout_rate, seeds)

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield f"{scope}/word_embeddings", self.word_embeddings
        yield f"{scope}/token_type_embeddings", self.token_type_embeddings
        yield f"{scope}/position_embeddings", self.position_embeddings
        yield from self.layer_norm.tf1_variables(f"{scope}/LayerNorm")


class TransformerLayer(tf.Module):
    """Post-LayerNorm BERT block: self-attention, then the GELU feed-forward."""

    def __init__(self, config: EncoderConfig, init: Initializer, index: int):
        super().__init__(name=f"layer_{index}")
        h, i = config.hidden_size, config.intermediate_size
        self.heads = config.num_attention_heads
        self.head_size = h // self.heads
        self.query = Dense(init.truncated_normal((h, h)), "query")
        self.key = Dense(init.truncated_normal((h, h)), "key")
        self.value = Dense(init.truncated_normal((h, h)), "value")
        self.attention_output = Dense(init.truncated_normal((h, h)), "dense")
        self.attention_layer_norm = LayerNorm(h)
        self.intermediate = Dense(init.truncated_normal((h, i)), "dense")
        self.output = Dense(init.truncated_normal((i, h)), "dense")
        self.output_layer_norm = LayerNorm(h)
        self.hidden_dropout = config.hidden_dropout_prob
        self.attention_dropout = config.attention_probs_dropout_prob

    def __call__(self, x: tf.Tensor, attention_adder: tf.Tensor, batch: int, length: int,
                 seeds: DropoutSeeds | None) -> tf.Tensor:
        # x: [batch * length, hidden], kept 2-D so every dense layer is one plain matmul.
        def split_heads(t: tf.Tensor) -> tf.Tensor:
            return tf.reshape(t, [batch, length, self.heads, self.head_size])

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        scores = tf.einsum("bqnd,bknd->bnqk", q, k) * (1.0 / math.sqrt(self.head_size))
        scores = tf.cast(scores, tf.float32) + attention_adder
        probs = tf.cast(tf.nn.softmax(scores), x.dtype)
        probs = dropout(probs, self.attention_dropout, seeds)
        context = tf.reshape(tf.einsum("bnqk,bknd->bqnd", probs, v), [batch * length, -1])
        attended = dropout(self.attention_output(context), self.hidden_dropout, seeds)
        attended = self.attention_layer_norm(attended + x)
        hidden = gelu(self.intermediate(attended))
        out = dropout(self.output(hidden), self.hidden_dropout, seeds)
        return self.output_layer_norm(out + attended)

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield from self.query.tf1_variables(f"{scope}/attention/self/query")
        yield from self.key.tf1_variables(f"{scope}/attention/self/key")
        yield from self.value.tf1_variables(f"{scope}/attention/self/value")
        yield from self.attention_output.tf1_variables(f"{scope}/attention/output/dense")
        yield from self.attention_layer_norm.tf1_variables(f"{scope}/attention/output/LayerNorm")
        yield from self.intermediate.tf1_variables(f"{scope}/intermediate/dense")
        yield from self.output.tf1_variables(f"{scope}/output/dense")
        yield from self.output_layer_norm.tf1_variables(f"{scope}/output/LayerNorm")


class Encoder(tf.Module):
    """The transformer stack over (shared) embeddings, with its own projection if widths differ."""

    def __init__(self, config: EncoderConfig, init: Initializer, name: str):
        super().__init__(name=name)
        e, h = config.embedding_size, config.hidden_size
        self.embeddings_project = (
            Dense(init.glorot_uniform((e, h)), "embeddings_project") if e != h else None)
        self.layers = [TransformerLayer(config, init, i) for i in range(config.num_hidden_layers)]

    def __call__(self, embedded: tf.Tensor, input_mask: tf.Tensor, compute_dtype: tf.DType,
                 seeds: DropoutSeeds | None) -> tf.Tensor:
        """embedded: [B, L, E] float32 -> sequence output [B * L, H] in compute_dtype."""
        batch, length = batch_and_length(embedded)
        x = tf.reshape(tf.cast(embedded, compute_dtype), [batch * length, -1])
        if self.embeddings_project is not None:
            x = self.embeddings_project(x)
        # Padding keys get a large negative score; queries at padding are computed but unused.
        adder = (1.0 - tf.cast(input_mask, tf.float32)) * ATTENTION_MASK_ADDER
        adder = adder[:, tf.newaxis, tf.newaxis, :]
        for layer in self.layers:
            x = layer(x, adder, batch, length, seeds)
        return x

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        if self.embeddings_project is not None:
            yield from self.embeddings_project.tf1_variables(f"{scope}/embeddings_project")
        for i, layer in enumerate(self.layers):
            yield from layer.tf1_variables(f"{scope}/encoder/layer_{i}")


class GeneratorHead(tf.Module):
    """dense -> GELU -> LayerNorm -> tied output embeddings + bias (generator_predictions)."""

    def __init__(self, hidden: int, embedding: int, vocab: int, init: Initializer):
        super().__init__(name="generator_predictions")
        self.dense = Dense(init.truncated_normal((hidden, embedding)), "dense")
        self.layer_norm = LayerNorm(embedding)
        self.output_bias = tf.Variable(tf.zeros([vocab]), name="output_bias")

    def __call__(self, hidden: tf.Tensor, word_embeddings: tf.Variable) -> tf.Tensor:
        x = self.layer_norm(gelu(self.dense(hidden)))
        logits = tf.matmul(x, tf.cast(word_embeddings, x.dtype), transpose_b=True)
        return tf.cast(logits, tf.float32) + self.output_bias

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield from self.dense.tf1_variables(f"{scope}/dense")
        yield from self.layer_norm.tf1_variables(f"{scope}/LayerNorm")
        yield f"{scope}/output_bias", self.output_bias


class DiscriminatorHead(tf.Module):
    """dense -> GELU -> dense_1 to one logit per token (discriminator_predictions)."""

    def __init__(self, hidden: int, init: Initializer):
        super().__init__(name="discriminator_predictions")
        self.dense = Dense(init.truncated_normal((hidden, hidden)), "dense")
        self.dense_1 = Dense(init.glorot_uniform((hidden, 1)), "dense_1")

    def __call__(self, hidden: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.dense_1(gelu(self.dense(hidden))), tf.float32)[:, 0]

    def tf1_variables(self, scope: str) -> Iterator[tuple[str, tf.Variable]]:
        yield from self.dense.tf1_variables(f"{scope}/dense")
        yield from self.dense_1.tf1_variables(f"{scope}/dense_1")


def encode(embeddings: Embeddings, encoder: Encoder, input_ids: tf.Tensor, input_mask: tf.Tensor,
           segment_ids: tf.Tensor, compute_dtype: tf.DType,
           seeds: DropoutSeeds | None) -> tf.Tensor:
    """Token ids -> the encoder's last layer, [B, L, H] in the compute dtype."""
    batch, length = batch_and_length(input_ids)
    hidden = encoder(embeddings(input_ids, segment_ids, seeds), input_mask, compute_dtype, seeds)
    return tf.reshape(hidden, [batch, length, -1])


class ElectraModel(tf.Module):
    """Generator and discriminator over one set of embeddings."""

    def __init__(self, config: PretrainConfig, compute_dtype: tf.DType = tf.float32):
        super().__init__(name="electra_pretraining")
        self.compute_dtype = compute_dtype
        disc, gen = config.discriminator(), config.generator()
        init = Initializer(config.seed, config.initializer_range)
        self.embeddings = Embeddings(disc, init)
        self.generator = Encoder(gen, init, "generator")
        self.discriminator = Encoder(disc, init, "electra")
        self.generator_predictions = GeneratorHead(gen.hidden_size, disc.embedding_size,
                                                   disc.vocab_size, init)
        self.discriminator_predictions = DiscriminatorHead(disc.hidden_size, init)

    def generator_logits(self, input_ids: tf.Tensor, input_mask: tf.Tensor,
                         segment_ids: tf.Tensor, positions: tf.Tensor | None = None,
                         seeds: DropoutSeeds | None = None) -> tf.Tensor:
        """MLM logits [B, N, V] at `positions` [B, N] (every position when None), float32."""
        hidden = encode(self.embeddings, self.generator, input_ids, input_mask, segment_ids,
                        self.compute_dtype, seeds)
        if positions is not None:
            hidden = tf.gather(hidden, positions, batch_dims=1)
        batch, width = batch_and_length(hidden)
        logits = self.generator_predictions(tf.reshape(hidden, [batch * width, -1]),
                                            self.embeddings.word_embeddings)
        return tf.reshape(logits, [batch, width, -1])

    def discriminator_logits(self, input_ids: tf.Tensor, input_mask: tf.Tensor,
                             segment_ids: tf.Tensor, seeds: DropoutSeeds | None = None) -> tf.Tensor:
        """Replaced-token logits [B, L], float32."""
        return self.discriminator_only()(input_ids, input_mask, segment_ids, seeds)

    def discriminator_only(self) -> "Discriminator":
        return Discriminator(self.embeddings, self.discriminator, self.discriminator_predictions,
                             self.compute_dtype)

    def tf1_variables(self) -> list[tuple[str, tf.Variable]]:
        """(original ELECTRA checkpoint name, variable), in a stable order."""
        return [*self.embeddings.tf1_variables("electra/embeddings"),
                *self.discriminator.tf1_variables("electra"),
                *self.generator.tf1_variables("generator"),
                *self.generator_predictions.tf1_variables("generator_predictions"),
                *self.discriminator_predictions.tf1_variables("discriminator_predictions")]


class Discriminator(tf.Module):
    """The discriminator alone (embeddings, encoder, head): what fine-tuning starts from.

    `model(input_ids, input_mask, segment_ids)` gives per-token replaced-token logits [B, L];
    `model.sequence_output(...)` the last hidden layer [B, L, H] for task heads.
    `trainable_variables` holds only these weights (no generator).
    """

    def __init__(self, embeddings: Embeddings, encoder: Encoder, head: DiscriminatorHead,
                 compute_dtype: tf.DType = tf.float32):
        super().__init__(name="discriminator")
        self.embeddings = embeddings
        self.encoder = encoder
        self.head = head
        self.compute_dtype = compute_dtype

    def sequence_output(self, input_ids, input_mask=None, segment_ids=None,
                        seeds: DropoutSeeds | None = None) -> tf.Tensor:
        input_ids = tf.convert_to_tensor(input_ids, tf.int32)
        input_mask = (tf.ones_like(input_ids) if input_mask is None
                      else tf.convert_to_tensor(input_mask, tf.int32))
        segment_ids = (tf.zeros_like(input_ids) if segment_ids is None
                       else tf.convert_to_tensor(segment_ids, tf.int32))
        return encode(self.embeddings, self.encoder, input_ids, input_mask, segment_ids,
                      self.compute_dtype, seeds)

    def __call__(self, input_ids, input_mask=None, segment_ids=None,
                 seeds: DropoutSeeds | None = None) -> tf.Tensor:
        hidden = self.sequence_output(input_ids, input_mask, segment_ids, seeds)
        batch, length = batch_and_length(hidden)
        return tf.reshape(self.head(tf.reshape(hidden, [batch * length, -1])), [batch, length])
