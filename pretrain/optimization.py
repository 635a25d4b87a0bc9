"""ELECTRA's optimiser: Adam with decoupled weight decay (no bias correction, as in BERT/ELECTRA, or
with it, as torch's AdamW: `bias_correction`), no decay on LayerNorm and bias, polynomial decay after a
linear warm-up, and fp16 loss scaling."""

from __future__ import annotations

import re

import tensorflow as tf

from pretrain.config import PretrainConfig

NO_DECAY = re.compile(r"LayerNorm|layer_norm|bias")


def warmup_then_decay(step: tf.Tensor, peak: float, total_steps: int, warmup_steps: int,
                      power: float = 1.0) -> tf.Tensor:
    """ELECTRA's schedule (pretraining and fine-tuning): polynomial decay from `peak` to 0 at
    `total_steps`, times min(1, step / warmup_steps)."""
    step = tf.cast(step, tf.float32)
    total = float(max(total_steps, 1))
    decayed = peak * (1.0 - tf.minimum(step, total) / total) ** power
    if warmup_steps > 0:
        decayed *= tf.minimum(1.0, step / float(warmup_steps))
    return decayed


def learning_rate(step: tf.Tensor, config: PretrainConfig) -> tf.Tensor:
    return warmup_then_decay(step, config.learning_rate, config.train_steps, config.warmup_steps,
                             config.lr_decay_power)


class AdamWeightDecay(tf.Module):
    """Slots m and v per variable; the update runs once per device copy (strategy.extended.update)
    after gradients were all-reduced, so replicas stay identical without further communication.
    `lr_scales` multiplies each variable's learning rate (fine-tuning's layer-wise decay).

    Without `bias_correction` (the original's update) the first steps move by m / sqrt(v) with m and v
    still near their zero start: (1 - beta1^t) / sqrt(1 - beta2^t) times the bias-corrected step for a
    steady gradient, 4.5x at t = 50, 3.2x at 100, 1.3x at 1000. Behind the published sizes' 10,000 warm-up
    steps that is invisible; with the 50 of `tiny` it multiplies the learning rate by 3-4 just as the
    warm-up ends (benchmarks/parity.py: the tiny discriminator then collapses to the base rate).
    `bias_correction` divides m by 1 - beta1^t and v by 1 - beta2^t (t: the updates applied so far,
    counted in a variable of its own), as Adam's paper and torch.optim.AdamW do."""

    def __init__(self, named_variables: list[tuple[str, tf.Variable]],
                 weight_decay_rate: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-6, lr_scales: list[float] | None = None,
                 bias_correction: bool = False):
        super().__init__(name="adam_weight_decay")
        self.variables_ = [v for _, v in named_variables]
        self.decay = [weight_decay_rate > 0 and not NO_DECAY.search(n)
                      for n, _ in named_variables]
        self.lr_scales = list(lr_scales) if lr_scales is not None else [1.0] * len(self.variables_)
        if len(self.lr_scales) != len(self.variables_):
            raise ValueError(f"{len(self.lr_scales)} learning-rate scales for "
                             f"{len(self.variables_)} variables")
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"{_slot(n)}/adam_m")
                  for n, v in named_variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"{_slot(n)}/adam_v")
                  for n, v in named_variables]
        self.beta1, self.beta2 = beta1, beta2
        self.epsilon, self.weight_decay_rate = epsilon, weight_decay_rate
        # Only with bias correction: checkpoints of the original update keep exactly their variables.
        self.updates_applied = (tf.Variable(0.0, trainable=False, name="updates_applied",
                                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                                if bias_correction else None)

    @classmethod
    def for_pretraining(cls, named_variables: list[tuple[str, tf.Variable]],
                        config: PretrainConfig) -> "AdamWeightDecay":
        return cls(named_variables, config.weight_decay_rate, config.adam_beta1,
                   config.adam_beta2, config.adam_epsilon,
                   bias_correction=getattr(config, "adam_bias_correction", False))

    def apply(self, grads: list[tf.Tensor], lr: tf.Tensor, apply_update: tf.Tensor,
              extra_updates: list | None = None) -> None:
        """Call in replica context with all-reduced gradients. Where `apply_update` is False
        (non-finite fp16 gradients) every variable keeps its value. `extra_updates` are
        (variable, fn(variable, apply_update)) pairs run in the same way (step, loss scale)."""
        def merge_fn(strategy, grads, lr, apply_update):
            # The functions stay in this closure: merge_call would regroup them per replica.
            for var, grad, m, v, decay, scale in zip(self.variables_, grads, self.m, self.v,
                                                     self.decay, self.lr_scales):
                strategy.extended.update(var, self._update_one,
                                         args=(grad, m, v, lr, apply_update),
                                         kwargs={"decay": decay, "scale": scale}, group=False)
            if self.updates_applied is not None:  # after every variable read it
                strategy.extended.update(
                    self.updates_applied,
                    lambda count, apply: count.assign_add(tf.where(apply, 1.0, 0.0)),
                    args=(apply_update,), group=False)
            for var, fn in extra_updates or []:
                strategy.extended.update(var, fn, args=(apply_update,), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(
            merge_fn, tf.distribute.get_strategy(), grads, lr, apply_update)

    def _update_one(self, var, grad, m, v, lr, apply_update, decay: bool, scale: float):
        next_m = self.beta1 * m + (1.0 - self.beta1) * grad
        next_v = self.beta2 * v + (1.0 - self.beta2) * tf.square(grad)
        if self.updates_applied is None:
            update = next_m / (tf.sqrt(next_v) + self.epsilon)
        else:
            t = self.updates_applied + 1.0  # this update's number
            update = (next_m / (1.0 - self.beta1 ** t)) / (
                tf.sqrt(next_v / (1.0 - self.beta2 ** t)) + self.epsilon)
        if decay:
            update += self.weight_decay_rate * var
        next_var = var - lr * scale * update
        m.assign(tf.where(apply_update, next_m, m))
        v.assign(tf.where(apply_update, next_v, v))
        return var.assign(tf.where(apply_update, next_var, var))


def _slot(name: str) -> str:
    return name.replace("/", "_")


class DynamicLossScale(tf.Module):
    """fp16 loss scaling: halve on overflow (and skip the step), double after `period` good steps."""

    def __init__(self, initial: float = 2.0 ** 15, period: int = 2000):
        super().__init__(name="loss_scale")
        self.scale = tf.Variable(initial, trainable=False, dtype=tf.float32, name="scale",
                                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64, name="good_steps",
                                      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.period = period

    def updates(self) -> list:
        """(variable, fn(variable, finite)) pairs for AdamWeightDecay.apply's extra_updates."""
        def update_scale(scale, finite):
            grow = self.good_steps + 1 >= self.period
            return scale.assign(tf.where(finite, tf.where(grow, scale * 2.0, scale),
                                         tf.maximum(scale / 2.0, 1.0)))

        def update_count(count, finite):
            grow = count + 1 >= self.period
            return count.assign(tf.where(finite & ~grow, count + 1, tf.zeros_like(count)))

        # The scale's update reads good_steps, so it must run first.
        return [(self.scale, update_scale), (self.good_steps, update_count)]
