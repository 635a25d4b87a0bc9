"""The replaced-token-detection objective: dynamic masking, generator sampling, losses, metrics.

Everything runs inside the training graph with stateless randomness keyed by (seed, step,
replica), so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from pretrain.config import PretrainConfig
from pretrain.model import DropoutSeeds, ElectraModel

AUC_BINS = 200  # histogram resolution for the streaming discriminator AUC

# Purposes folded into the step seed, so each random draw is independent of the others.
_MASK_POSITIONS, _MASK_OR_KEEP, _GUMBEL, _DROPOUT = 1, 2, 3, 4


@dataclasses.dataclass
class MaskedInputs:
    input_ids: tf.Tensor  # [B, L] with ~85% of the chosen positions set to [MASK]
    positions: tf.Tensor  # [B, N] chosen positions (0 in unused slots)
    targets: tf.Tensor  # [B, N] original ids at those positions (0 in unused slots)
    weights: tf.Tensor  # [B, N] float32, 1 for used slots


def mask_inputs(input_ids: tf.Tensor, input_mask: tf.Tensor, config: PretrainConfig,
                seed: tf.Tensor) -> MaskedInputs:
    """Chooses round(num_tokens * mask_prob) positions (at least 1, at most N) per sequence among
    real tokens other than [CLS]/[SEP]/[MASK], without replacement; replaces
    `mask_token_fraction` of them with [MASK] and keeps the rest (no random tokens).

    The original drew positions with replacement (duplicates were silently merged, so slightly
    fewer than mask_prob were masked); a random top-k draws distinct positions with the same
    uniform distribution.
    """
    batch, length = input_ids.shape
    n = config.max_predictions_per_seq
    candidates = tf.cast(input_mask, tf.bool)
    for special in (config.cls_id, config.sep_id, config.mask_id, config.pad_id):
        candidates &= tf.not_equal(input_ids, special)
    num_tokens = tf.cast(tf.reduce_sum(input_mask, axis=-1), tf.float32)
    num_to_predict = tf.clip_by_value(
        tf.cast(tf.round(num_tokens * config.mask_prob), tf.int32), 1, n)

    scores = tf.random.stateless_uniform(
        [batch, length], tf.random.experimental.stateless_fold_in(seed, _MASK_POSITIONS))
    scores = tf.where(candidates, scores, -1.0)
    top_scores, positions = tf.math.top_k(scores, k=n, sorted=True)
    used = (tf.range(n)[tf.newaxis, :] < num_to_predict[:, tf.newaxis]) & (top_scores >= 0.0)
    positions = tf.where(used, positions, 0)
    weights = tf.cast(used, tf.float32)
    targets = tf.where(used, tf.gather(input_ids, positions, batch_dims=1), 0)

    to_mask = used & (tf.random.stateless_uniform(
        [batch, n], tf.random.experimental.stateless_fold_in(seed, _MASK_OR_KEEP))
        < config.mask_token_fraction)
    mask_here = _scatter_any(positions, to_mask, length)
    masked_ids = tf.where(mask_here, tf.cast(config.mask_id, input_ids.dtype), input_ids)
    return MaskedInputs(tf.stop_gradient(masked_ids), positions, targets, weights)


def _scatter_any(positions: tf.Tensor, flags: tf.Tensor, length: int) -> tf.Tensor:
    """[B, L] bool: True where some slot n has flags[b, n] and positions[b, n] == l."""
    hits = tf.one_hot(positions, length, dtype=tf.int32) * tf.cast(flags, tf.int32)[..., None]
    return tf.reduce_max(hits, axis=1) > 0


def _scatter_values(positions: tf.Tensor, flags: tf.Tensor, values: tf.Tensor,
                    length: int) -> tf.Tensor:
    """[B, L] int: values[b, n] at positions[b, n] for flagged slots (positions are distinct)."""
    hits = tf.one_hot(positions, length, dtype=tf.int32) * tf.cast(flags, tf.int32)[..., None]
    return tf.reduce_sum(hits * values[..., None], axis=1)


def sample_tokens(logits: tf.Tensor, seed: tf.Tensor, temperature: float) -> tf.Tensor:
    """Gumbel-max sample from softmax(logits / T), [B, N, V] -> [B, N]; no gradient. T = 0: the most
    likely token, without noise."""
    if temperature == 0:
        return tf.stop_gradient(tf.argmax(logits, axis=-1, output_type=tf.int32))
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed)
    gumbel = -tf.math.log(-tf.math.log(uniform + 1e-9) + 1e-9)
    return tf.stop_gradient(
        tf.argmax(logits / temperature + gumbel, axis=-1, output_type=tf.int32))


def replace_tokens(input_ids: tf.Tensor, masked: MaskedInputs,
                   sampled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Puts the generator's samples at every chosen position; label = replaced and different."""
    length = input_ids.shape[1]
    used = masked.weights > 0
    at_chosen = _scatter_any(masked.positions, used, length)
    sampled_at = _scatter_values(masked.positions, used, sampled, length)
    fake_ids = tf.where(at_chosen, sampled_at, input_ids)
    labels = at_chosen & tf.not_equal(fake_ids, input_ids)
    return fake_ids, labels


@dataclasses.dataclass
class Normalizers:
    """What the losses of a batch are divided by: its masked positions and its real tokens. With gradient
    accumulation they are the whole batch's, so that the micro-batches' losses add up to the batch's."""

    gen_count: tf.Tensor
    disc_count: tf.Tensor

    @classmethod
    def of(cls, masked: MaskedInputs, input_mask: tf.Tensor) -> "Normalizers":
        return cls(tf.reduce_sum(masked.weights), tf.reduce_sum(tf.cast(input_mask, tf.float32)))


def electra_loss(model: ElectraModel, batch: dict[str, tf.Tensor], config: PretrainConfig,
                 seed: tf.Tensor, training: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """gen_weight * generator MLM loss + disc_weight * discriminator loss, and metric sums."""
    masked = mask_inputs(batch["input_ids"], batch["input_mask"], config, seed)
    return micro_batch_loss(model, batch, masked, Normalizers.of(masked, batch["input_mask"]), config,
                            seed, training)


def micro_batch_loss(model: ElectraModel, batch: dict[str, tf.Tensor], masked: MaskedInputs,
                     normalizers: Normalizers, config: PretrainConfig, seed: tf.Tensor,
                     training: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The loss of (a slice of) a batch already masked, divided by the whole batch's `normalizers`; `seed`
    draws the generator's samples and the dropout. Metric sums are the slice's own."""
    input_ids, input_mask, segment_ids = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
    fold = tf.random.experimental.stateless_fold_in
    seeds = DropoutSeeds(fold(seed, _DROPOUT)) if training else None

    gen_logits = model.generator_logits(masked.input_ids, input_mask, segment_ids,
                                        masked.positions, seeds)
    log_probs = tf.nn.log_softmax(gen_logits)
    target_log_probs = tf.gather(log_probs, masked.targets, batch_dims=2)
    gen_loss_sum = -tf.reduce_sum(target_log_probs * masked.weights)
    gen_count = tf.reduce_sum(masked.weights)
    gen_loss = gen_loss_sum / (normalizers.gen_count + 1e-6)

    sampled = sample_tokens(gen_logits, fold(seed, _GUMBEL), config.temperature)
    fake_ids, labels = replace_tokens(input_ids, masked, sampled)
    disc_logits = model.discriminator_logits(fake_ids, input_mask, segment_ids, seeds)
    token_weights = tf.cast(input_mask, tf.float32)
    labels_f = tf.cast(labels, tf.float32)
    disc_losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels_f, logits=disc_logits)
    disc_loss_sum = tf.reduce_sum(disc_losses * token_weights)
    disc_count = tf.reduce_sum(token_weights)
    disc_loss = disc_loss_sum / (normalizers.disc_count + 1e-6)

    total = config.gen_weight * gen_loss + config.disc_weight * disc_loss
    stats = _metric_sums(masked, log_probs, sampled, gen_loss_sum, gen_count, disc_logits,
                         labels_f, token_weights, disc_loss_sum, disc_count)
    return total, stats


def _metric_sums(masked, log_probs, sampled, gen_loss_sum, gen_count, disc_logits, labels,
                 weights, disc_loss_sum, disc_count) -> dict[str, tf.Tensor]:
    """Additive statistics: summed over replicas and steps, then turned into metrics on the host."""
    preds = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
    disc_preds = tf.cast(disc_logits > 0, tf.float32)
    probs = tf.sigmoid(disc_logits)
    bins = tf.clip_by_value(tf.cast(probs * AUC_BINS, tf.int32), 0, AUC_BINS - 1)
    return {
        "gen_loss_sum": gen_loss_sum,
        "gen_count": gen_count,
        "gen_correct": tf.reduce_sum(tf.cast(preds == masked.targets, tf.float32) * masked.weights),
        "sampled_correct": tf.reduce_sum(
            tf.cast(sampled == masked.targets, tf.float32) * masked.weights),
        "disc_loss_sum": disc_loss_sum,
        "disc_count": disc_count,
        "disc_correct": tf.reduce_sum(tf.cast(disc_preds == labels, tf.float32) * weights),
        "disc_true_positive": tf.reduce_sum(disc_preds * labels * weights),
        "disc_predicted_positive": tf.reduce_sum(disc_preds * weights),
        "disc_positive": tf.reduce_sum(labels * weights),
        # unsorted_segment_sum, unlike bincount, compiles with XLA (static number of bins).
        "auc_positive": tf.math.unsorted_segment_sum(labels * weights, bins, AUC_BINS),
        "auc_negative": tf.math.unsorted_segment_sum((1.0 - labels) * weights, bins, AUC_BINS),
    }


def summarize(sums: dict) -> dict[str, float]:
    """Metric sums (numpy) -> generator/discriminator metrics, as the original reported them."""
    def ratio(a: float, b: float) -> float:
        return float(a) / float(b) if b else 0.0

    pos, neg = sums["auc_positive"], sums["auc_negative"]
    # P(score of a replaced token > score of an original one), ties counted half.
    neg_below = 0.0
    wins = 0.0
    for p, q in zip(pos, neg):
        wins += p * (neg_below + 0.5 * q)
        neg_below += q
    return {
        "generator_loss": ratio(sums["gen_loss_sum"], sums["gen_count"]),
        "generator_accuracy": ratio(sums["gen_correct"], sums["gen_count"]),
        "generator_sampled_accuracy": ratio(sums["sampled_correct"], sums["gen_count"]),
        "discriminator_loss": ratio(sums["disc_loss_sum"], sums["disc_count"]),
        "discriminator_accuracy": ratio(sums["disc_correct"], sums["disc_count"]),
        "discriminator_precision": ratio(sums["disc_true_positive"],
                                         sums["disc_predicted_positive"]),
        "discriminator_recall": ratio(sums["disc_true_positive"], sums["disc_positive"]),
        "discriminator_auc": ratio(wins, float(pos.sum()) * float(neg.sum())),
        "replaced_fraction": ratio(sums["disc_positive"], sums["disc_count"]),
    }
