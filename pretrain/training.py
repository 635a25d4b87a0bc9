"""The training loop: strategy, one XLA-compiled step, several steps per host call, exact resume."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import posixpath
import signal
import threading
import time

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from pretrain import checkpoints, data, flops, objective
from pretrain import config as config_lib
from pretrain.config import PretrainConfig
from pretrain.errors import NonFiniteError, PretrainError
from pretrain.files import copy_atomically, write_atomically, write_json
from pretrain.model import ElectraModel
from pretrain.optimization import AdamWeightDecay, DynamicLossScale, learning_rate
from pretrain.summaries import summary_name, write_scalars
from vocab.vocabulary import Vocabulary

log = logging.getLogger(__name__)

COMPUTE_DTYPES = {"none": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}

# The key of `Trainer.train_loop`'s result that holds the divergence guard (not a metric): float64
# [first step with a non-finite loss or gradient norm (0: none), its loss, its gradient norm,
# 1 if its loss was non-finite else 0].
DIVERGENCE = "divergence"
_MICRO_BATCH = 1000  # folded into the step seed (plus k) for micro-batch k > 0


@dataclasses.dataclass
class RunOptions:
    """How to run (not what to learn: that is PretrainConfig)."""

    data: str
    output: str
    tpu: str | None = None
    mixed_precision: str = "none"
    steps_per_loop: int = 100
    log_every: int = 100
    save_every: int = 1000
    keep_checkpoints: int = 5
    xla: bool | None = None  # None: on for accelerators, off on CPU
    init_checkpoint: str | None = None
    init_generator: str | None = None  # a transformers generator directory, with a transformers init_checkpoint
    shuffle_buffer: int = 1000
    peak_tflops: float | None = None
    # Each host reads its own shards (tf.distribute input contexts): on by itself when several hosts feed
    # the replicas (a TPU pod slice, a multi-worker cluster); True forces it on one host.
    per_host_input: bool | None = None


def make_strategy(tpu: str | None) -> tf.distribute.Strategy:
    """TPUStrategy for --tpu (a name, or `local` on a TPU VM), MirroredStrategy over several GPUs,
    the default strategy otherwise."""
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        if tpu != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def default_xla(strategy: tf.distribute.Strategy) -> bool:
    return bool(tf.config.list_logical_devices("GPU")) or isinstance(
        strategy, tf.distribute.TPUStrategy)


def nonfinite_gradients(grad_norm: tf.Tensor, grads_finite: tf.Tensor,
                        loss_scale: tf.Tensor | None) -> tf.Tensor:
    """The divergence guard's verdict on a step's gradients (a non-finite loss is fatal on its own):
    True for a non-finite global norm, except an fp16 overflow that the dynamic loss scale absorbs
    (the step is skipped and the scale halved) while the scale can still go down. At its minimum, 1,
    the gradients are non-finite unscaled: that is divergence, not a scale too high."""
    bad = ~tf.math.is_finite(grad_norm)
    if loss_scale is not None:
        bad &= grads_finite | (loss_scale <= 1.0)
    return bad


class Trainer:
    """Model, optimiser and step counter under a strategy, and the compiled training loop."""

    def __init__(self, config: PretrainConfig, strategy: tf.distribute.Strategy,
                 mixed_precision: str = "none", xla: bool = False, per_replica_input: bool = False):
        """`per_replica_input`: the iterator is a distributed one (several hosts, each feeding its own
        replicas their own batches); otherwise one host iterator gives the global batch and each
        replica takes its slice."""
        self.config = config
        self.per_replica_input = per_replica_input
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        if config.batch_size % (self.replicas * config.accumulation_steps):
            raise PretrainError(f"--batch-size {config.batch_size} is not divisible by the {self.replicas} "
                                f"replica(s) x {config.accumulation_steps} accumulation step(s)")
        with strategy.scope():
            self.model = ElectraModel(config, COMPUTE_DTYPES[mixed_precision])
            named = self.model.tf1_variables()
            self.variables = [v for _, v in named]
            self.optimizer = AdamWeightDecay.for_pretraining(named, config)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.loss_scale = DynamicLossScale() if mixed_precision == "fp16" else None
        # What a checkpoint holds, by name, for the finiteness check before each save.
        self._checked = [*named, *((f"{n}/adam_m", m) for (n, _), m in zip(named, self.optimizer.m)),
                         *((f"{n}/adam_v", v) for (n, _), v in zip(named, self.optimizer.v))]
        if self.loss_scale is not None:
            self._checked.append(("loss_scale", self.loss_scale.scale))
        self._base_seed = tf.constant([config.seed, 0], tf.int64)
        single_device = self.replicas == 1 and not isinstance(strategy, tf.distribute.TPUStrategy)
        if single_device:
            # One XLA cluster for the whole step, optimiser included.
            self._step_fn = tf.function(self._replica_step, jit_compile=xla)
            self._gradients = self._forward_backward
        else:
            # merge_call cannot be compiled: compile forward and backward (TPUs compile it all).
            self._step_fn = self._replica_step
            self._gradients = tf.function(self._forward_backward, jit_compile=xla)
        self.train_loop = tf.function(self._train_loop)

    def current_step(self) -> int:
        return int(self.step.read_value())

    def checkpoint(self, **extra) -> tf.train.Checkpoint:
        objects = dict(model=self.model, optimizer=self.optimizer, step=self.step, **extra)
        if self.loss_scale is not None:
            objects["loss_scale"] = self.loss_scale
        return tf.train.Checkpoint(**objects)

    def _forward_backward(self, batch, seed):
        """This replica's loss, statistics and gradients for its batch: in one pass, or, with
        accumulation_steps K > 1, in K micro-batches whose gradients are summed. The masking and the
        loss normalisers are the whole replica batch's, so the K micro-batches give the same loss and
        gradients as one pass (only the generator's samples and the dropout draw otherwise)."""
        steps = self.config.accumulation_steps
        if steps == 1:
            return self._micro_gradients(batch, None, None, seed)
        masked = objective.mask_inputs(batch["input_ids"], batch["input_mask"], self.config, seed)
        normalizers = objective.Normalizers.of(masked, batch["input_mask"])

        def micro(k):
            def part(t):
                return tf.gather(tf.reshape(t, [steps, -1, *t.shape[1:]]), k)
            # Micro-batch 0 draws what one pass would; the others their own samples and dropout.
            micro_seed = tf.cast(tf.random.experimental.stateless_fold_in(seed, _MICRO_BATCH + k), seed.dtype)
            micro_seed = tf.where(k > 0, micro_seed, seed)
            micro_masked = objective.MaskedInputs(*(part(t) for t in (
                masked.input_ids, masked.positions, masked.targets, masked.weights)))
            return self._micro_gradients({n: part(t) for n, t in batch.items()}, micro_masked,
                                         normalizers, micro_seed)

        loss, stats, grads = micro(tf.constant(0))
        for k in tf.range(1, steps):
            micro_loss, micro_stats, micro_grads = micro(k)
            loss += micro_loss
            stats = {n: stats[n] + micro_stats[n] for n in stats}
            grads = [a + b for a, b in zip(grads, micro_grads)]
        return loss, stats, grads

    def _micro_gradients(self, batch, masked, normalizers, seed):
        scale = self.loss_scale.scale if self.loss_scale is not None else None
        with tf.GradientTape() as tape:
            if masked is None:
                loss, stats = objective.electra_loss(self.model, batch, self.config, seed, training=True)
            else:
                loss, stats = objective.micro_batch_loss(self.model, batch, masked, normalizers,
                                                         self.config, seed, training=True)
            # Replica losses are summed by the all-reduce: divide so the sum is the global mean.
            scaled = loss / self.replicas
            if scale is not None:
                scaled *= scale
        grads = tape.gradient(scaled, self.variables)
        return loss, stats, [tf.convert_to_tensor(g) for g in grads]

    def _replica_step(self, batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group
        if self.replicas > 1 and not self.per_replica_input:
            # Every replica sees the global batch (one host iterator, checkpointed) and takes its
            # own slice, so the data order does not depend on the number of devices.
            batch = {k: tf.gather(tf.reshape(t, [self.replicas, -1, t.shape[-1]]), replica)
                     for k, t in batch.items()}
        step = self.step.read_value()
        fold = tf.random.experimental.stateless_fold_in
        seed = fold(fold(self._base_seed, step), tf.cast(replica, tf.int64))
        loss, stats, grads = self._gradients(batch, seed)
        if self.replicas > 1:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        finite = tf.constant(True)
        if self.loss_scale is not None:
            scale = self.loss_scale.scale.read_value()  # the scale this step's loss was scaled by
            grads = [g / scale for g in grads]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        grads, grad_norm = tf.clip_by_global_norm(grads, self.config.clip_norm)
        bad_grads = nonfinite_gradients(grad_norm, finite,
                                        scale if self.loss_scale is not None else None)
        lr = learning_rate(step, self.config)
        extra = [(self.step, lambda s, _: s.assign_add(1))]
        if self.loss_scale is not None:
            extra += self.loss_scale.updates()
        self.optimizer.apply(grads, lr, finite, extra)
        stats = dict(stats)
        # Replicated values are divided so that the cross-replica sum gives them back once.
        stats["loss_sum"] = loss / self.replicas
        stats["grad_norm_sum"] = tf.where(finite, grad_norm, 0.0) / self.replicas
        stats["skipped_steps"] = tf.cast(~finite, tf.float32) / self.replicas
        stats["guard/nonfinite_loss"] = tf.cast(~tf.math.is_finite(loss), tf.float32) / self.replicas
        stats["guard/nonfinite_grads"] = tf.cast(bad_grads, tf.float32) / self.replicas
        stats["guard/grad_norm"] = grad_norm / self.replicas  # the same on every replica
        return stats

    def _train_loop(self, iterator, num_steps: tf.Tensor) -> dict[str, tf.Tensor]:
        """`num_steps` steps; returns the summed statistics and, under DIVERGENCE, the first step
        whose loss or gradient norm was non-finite. The guard is a few scalar selects per step in
        this graph: the host reads it once per call, with the statistics."""
        first = self.step.read_value() + 1  # the number of this call's first step

        def one_step(number, divergence):
            per_replica = self.strategy.run(self._step_fn, args=(next(iterator),))
            stats = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            bad_loss = stats.pop("guard/nonfinite_loss") > 0
            bad_grads = stats.pop("guard/nonfinite_grads") > 0
            grad_norm = stats.pop("guard/grad_norm")
            this = tf.stack([tf.cast(number, tf.float64), tf.cast(stats["loss_sum"], tf.float64),
                             tf.cast(grad_norm, tf.float64), tf.cast(bad_loss, tf.float64)])
            first_bad = (divergence[0] == 0) & (bad_loss | bad_grads)
            return stats, tf.where(first_bad, this, divergence)

        # The first step outside the loop, so the loop variables have a structure.
        totals, divergence = one_step(first, tf.zeros([4], tf.float64))
        for i in tf.range(num_steps - 1):
            stats, divergence = one_step(first + 1 + tf.cast(i, tf.int64), divergence)
            totals = {k: totals[k] + stats[k] for k in stats}
        return {**totals, DIVERGENCE: divergence}

    def nonfinite_variables(self) -> list[str]:
        """The names of the checkpointed variables (weights, optimizer slots, loss scale) holding a NaN
        or an infinity; one reduction per variable on the device and one transfer."""
        finite = self._finite_flags().numpy()
        return [name for (name, _), ok in zip(self._checked, finite) if not ok]

    @tf.function
    def _finite_flags(self) -> tf.Tensor:
        return tf.stack([tf.reduce_all(tf.math.is_finite(v)) for _, v in self._checked])


class MetricsLog:
    """Interval accumulation of step statistics -> console line + TensorBoard scalars."""

    def __init__(self, writer, config: PretrainConfig, flops_per_step: float,
                 peak_flops: float | None):
        self.writer = writer
        self.config = config
        self.flops_per_step = flops_per_step
        self.peak_flops = peak_flops
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.steps = 0
        self.timed_steps = 0
        self.timed_seconds = 0.0

    def add(self, totals: dict[str, tf.Tensor], steps: int, seconds: float | None) -> None:
        for key, value in totals.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.numpy()
        self.steps += steps
        if seconds is not None:  # the call that compiled the step is not timed
            self.timed_steps += steps
            self.timed_seconds += seconds

    def flush(self, step: int) -> dict[str, float]:
        metrics = objective.summarize(self.sums)
        metrics["loss"] = float(self.sums["loss_sum"]) / self.steps
        metrics["grad_norm"] = float(self.sums["grad_norm_sum"]) / max(
            self.steps - float(self.sums["skipped_steps"]), 1)
        metrics["skipped_steps"] = float(self.sums["skipped_steps"])
        metrics["learning_rate"] = float(learning_rate(step, self.config))
        if self.timed_steps:
            steps_per_second = self.timed_steps / self.timed_seconds
            metrics["examples_per_second"] = steps_per_second * self.config.batch_size
            if self.peak_flops:
                metrics["mfu"] = steps_per_second * self.flops_per_step / self.peak_flops
        write_scalars(self.writer, step, {summary_name(k): v for k, v in metrics.items()})
        line = (f"step {step}/{self.config.train_steps} | loss {metrics['loss']:.4f} | "
                f"gen loss {metrics['generator_loss']:.4f} acc {metrics['generator_accuracy']:.3f} | "
                f"disc loss {metrics['discriminator_loss']:.4f} "
                f"acc {metrics['discriminator_accuracy']:.3f} "
                f"(all-original {1 - metrics['replaced_fraction']:.3f}) "
                f"P {metrics['discriminator_precision']:.3f} R {metrics['discriminator_recall']:.3f} "
                f"AUC {metrics['discriminator_auc']:.3f} | lr {metrics['learning_rate']:.2e}")
        if "examples_per_second" in metrics:
            line += f" | {metrics['examples_per_second']:.1f} ex/s"
        if "mfu" in metrics:
            line += f" | MFU {100 * metrics['mfu']:.1f}%"
        if metrics["skipped_steps"]:
            line += f" | {metrics['skipped_steps']:.0f} fp16 overflow steps skipped"
        log.info(line)
        self.reset()
        return metrics


# What may change when a run is resumed: the total, and the schedule, so that a diverged run can go on
# from its last good checkpoint with a lower learning rate or a longer warm-up.
RESUMABLE_CHANGES = ("train_steps", "learning_rate", "warmup_steps", "accumulation_steps")


def _check_resumable(saved: PretrainConfig, wanted: PretrainConfig, output: str) -> None:
    """Only --train-steps and the learning-rate schedule may change between runs into one output
    directory."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    differ = [f"{k}: {a[k]!r} there, {b[k]!r} now" for k in a
              if k not in RESUMABLE_CHANGES and a[k] != b[k]]
    if differ:
        raise PretrainError(f"{output} holds a run with other settings ({'; '.join(differ)}); "
                         "use a new --output or the same settings")
    for key in ("learning_rate", "warmup_steps"):
        if a[key] != b[key]:
            log.warning("%s: %s was %r, now %r", output, key, a[key], b[key])


DATA_FILES_FILENAME = "data_files.json"


def _record_data_files(output: str, files: list[str], shuffle_buffer: int) -> bool:
    """Writes which shards (and shuffle buffer) this run reads; True if the same as last time."""
    path = f"{output}/{DATA_FILES_FILENAME}"
    current = {"files": files, "shuffle_buffer": shuffle_buffer}
    previous = None
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            previous = json.load(f)
    write_json(path, current)
    return previous is None or previous == current


def _copy_vocabulary(vocab: Vocabulary, output: str) -> None:
    """The run directory carries its vocabulary, so evaluate and export need nothing else."""
    target = f"{output}/vocab"
    tf.io.gfile.makedirs(target)
    for name in ("vocab.txt", "tokenizer_config.json"):
        source = f"{vocab.directory}/{name}"
        if tf.io.gfile.exists(source):
            copy_atomically(source, f"{target}/{name}")


def train(config: PretrainConfig, vocab: Vocabulary, options: RunOptions) -> dict[str, float]:
    """Trains until `config.train_steps` (the total), resuming from `options.output` if it holds
    a checkpoint. Returns the last logged metrics."""
    output = options.output.rstrip("/")
    files = data.resolve_files(options.data)
    config = dataclasses.replace(config, max_seq_length=data.check_data(
        files, vocab, config.max_seq_length or None))
    config.validate()
    if tf.io.gfile.exists(f"{output}/{config_lib.CONFIG_FILENAME}"):
        _check_resumable(config_lib.load(output), config, output)
    config_lib.save(config, output)
    _copy_vocabulary(vocab, output)
    examples = data.count_examples(files)
    log.info("%d shards%s; batch %d x %d tokens", len(files),
             f", {examples} examples ({examples / config.batch_size:.0f} steps per epoch)"
             if examples else "", config.batch_size, config.max_seq_length)

    strategy = make_strategy(options.tpu)
    xla = default_xla(strategy) if options.xla is None else options.xla
    hosts = data.input_pipelines(strategy)
    per_host = hosts > 1 if options.per_host_input is None else options.per_host_input
    trainer = Trainer(config, strategy, options.mixed_precision, xla, per_replica_input=per_host)
    log.info("%s with %d replica(s) on %d host(s), compute %s, XLA %s%s", type(strategy).__name__,
             trainer.replicas, hosts, options.mixed_precision, "on" if xla else "off",
             f", {config.accumulation_steps} micro-batches of {config.batch_size // trainer.replicas // config.accumulation_steps} per replica per step" if config.accumulation_steps > 1 else "")
    latest = tf.train.latest_checkpoint(output)
    seed = config.seed
    same_data = _record_data_files(output, files, options.shuffle_buffer)
    if latest and (not same_data or per_host):
        # A saved iterator only makes sense for the files it was reading: keep everything else. With
        # per-host input there is none (TensorFlow cannot checkpoint a distributed iterator).
        trainer.checkpoint().restore(latest).expect_partial().assert_existing_objects_matched()
        seed = config.seed + trainer.current_step()
        if per_host:
            log.info("resumed from %s at step %d; per-host input is read afresh (seed %d)", latest,
                     trainer.current_step(), seed)
        else:
            log.warning("the data files or the shuffle buffer changed since %s: resuming the weights, "
                        "optimizer and step %d, with the data read afresh (seed %d)", latest,
                        trainer.current_step(), seed)
    if per_host:
        dataset = strategy.distribute_datasets_from_function(
            lambda context: data.host_training_dataset(files, config.batch_size, config.max_seq_length, seed,
                                                       context, options.shuffle_buffer))
    else:
        dataset = data.training_dataset(files, config.batch_size, config.max_seq_length, seed,
                                        options.shuffle_buffer)
    iterator = iter(dataset)
    checkpoint = trainer.checkpoint() if per_host else trainer.checkpoint(data=iterator)
    manager = tf.train.CheckpointManager(checkpoint, output, max_to_keep=options.keep_checkpoints,
                                         step_counter=trainer.step, checkpoint_name="ckpt")
    if latest and same_data and not per_host:
        checkpoint.restore(latest).assert_existing_objects_matched()
        log.info("resumed from %s at step %d", latest, trainer.current_step())
    elif not latest and options.init_checkpoint:
        checkpoints.init_weights(trainer.model, options.init_checkpoint, options.init_generator)

    flops_per_step = flops.training_flops_per_example(config) * config.batch_size
    peak = (options.peak_tflops * 1e12 if options.peak_tflops
            else flops.peak_flops_per_replica(strategy, options.mixed_precision))
    writer = tf.summary.create_file_writer(f"{output}/train")
    metrics_log = MetricsLog(writer, config, flops_per_step,
                             peak * trainer.replicas if peak else None)
    step = trainer.current_step()
    if step >= config.train_steps:
        log.info("already at step %d of %d: nothing to do", step, config.train_steps)
        return {}
    last_metrics: dict[str, float] = {}
    compiled = False
    with _sigterm_flag() as stop, contextlib.closing(writer):
        while step < config.train_steps:
            boundary = min(config.train_steps, _next_multiple(step, options.log_every),
                           _next_multiple(step, options.save_every))
            steps = min(options.steps_per_loop, boundary - step)
            start = time.perf_counter()
            totals = trainer.train_loop(iterator, tf.constant(steps))
            divergence = totals.pop(DIVERGENCE).numpy()  # waits for the loop to finish
            step = trainer.current_step()
            if divergence[0]:
                # Before any save below (periodic, final, SIGTERM): nothing after the last good
                # checkpoint is written.
                raise NonFiniteError(_diverged(divergence, trainer, options, manager))
            metrics_log.add(totals, steps, time.perf_counter() - start if compiled else None)
            compiled = True
            if step % options.log_every == 0 or step == config.train_steps:
                last_metrics = metrics_log.flush(step)
            if step % options.save_every == 0 or step == config.train_steps or stop:
                _save(trainer, manager, step, options)
            if stop:
                log.warning("SIGTERM: stopped at step %d of %d; the same command resumes",
                            step, config.train_steps)
                break
    return last_metrics


FIX = "lower --set learning_rate=... (or raise --set warmup_steps=...) and re-run the same command"


def _recovery(manager: tf.train.CheckpointManager, options: RunOptions) -> str:
    """Where a re-run goes on from, and how to make it not diverge again."""
    latest = manager.latest_checkpoint
    if latest:
        return (f"the last good checkpoint is {latest} (step {checkpoints.step_of(latest)}) and "
                f"nothing later was saved — {FIX} to resume from it")
    start = (f"--init-checkpoint {options.init_checkpoint}" if options.init_checkpoint
             else "step 0")
    return f"no checkpoint was saved — {FIX}: it starts again from {start}"


def _diverged(divergence: np.ndarray, trainer: Trainer, options: RunOptions,
              manager: tf.train.CheckpointManager) -> str:
    """The one-line error for a divergence at step N. A checkpoint of step N - 1 holds the very
    weights whose loss (or gradients) at step N was non-finite: resuming from it would diverge again
    whatever the learning rate (same weights, same next batch, same random draws). Then the one
    before it is the last good checkpoint, and the run directory's `checkpoint` index is rolled back
    to it so that the same command resumes from there; its files are left where they are."""
    step, loss, grad_norm, bad_loss = divergence
    step = int(step)
    if bad_loss:
        what = f"loss is {float(loss)}"
    else:
        what = f"gradient norm is {float(grad_norm)} (loss {float(loss):.4g})"
        if trainer.loss_scale is not None and float(trainer.loss_scale.scale) <= 1.0:
            what += ", an fp16 overflow with the loss scale already at its minimum of 1,"
    config = trainer.config
    rate = float(learning_rate(step - 1, config))
    message = (f"training diverged: {what} at step {step} (learning rate {rate:.1e}, peak "
               f"{config.learning_rate:.1e}); ")
    saved = [(prefix, checkpoints.step_of(prefix)) for prefix in manager.checkpoints]
    good = [prefix for prefix, saved_step in saved if saved_step < step - 1]
    poisoned = [prefix for prefix, saved_step in saved if saved_step >= step - 1]
    if not poisoned:
        return message + _recovery(manager, options)
    if not good:
        return message + (f"the only checkpoint left, {poisoned[-1]}, holds the weights that gave it, "
                          f"so resuming from it diverges again: start afresh with a new --output "
                          f"and a lower --set learning_rate=...")
    _roll_back_index(options.output.rstrip("/"), good)
    return message + (f"the last good checkpoint is {good[-1]} (step "
                      f"{checkpoints.step_of(good[-1])}): {poisoned[-1]} holds the weights that "
                      f"gave it and was taken out of the checkpoint index — {FIX} to resume "
                      f"from {good[-1]}")


def _roll_back_index(output: str, keep: list[str]) -> None:
    """Rewrites RUN/checkpoint (tf.train.CheckpointManager's index) to list only `keep`, the last of
    them as the latest; timestamps and relative paths as the manager wrote them."""
    path = f"{output}/checkpoint"
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    state = type(tf.train.get_checkpoint_state(output))()
    text_format.Parse(text, state)
    names = {posixpath.basename(prefix) for prefix in keep}
    pairs = [(p, t) for p, t in itertools.zip_longest(
        state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps)
        if posixpath.basename(p) in names]
    del state.all_model_checkpoint_paths[:]
    del state.all_model_checkpoint_timestamps[:]
    state.all_model_checkpoint_paths.extend(p for p, _ in pairs)
    if all(t is not None for _, t in pairs):
        state.all_model_checkpoint_timestamps.extend(t for _, t in pairs)
    state.model_checkpoint_path = pairs[-1][0]
    write_atomically(path, text_format.MessageToString(state))


def _save(trainer: Trainer, manager: tf.train.CheckpointManager, step: int,
          options: RunOptions) -> None:
    """Every checkpoint goes through here: one with a NaN or an infinity is never written."""
    bad = trainer.nonfinite_variables()
    if bad:
        raise NonFiniteError(
            f"refusing to save step {step}: {len(bad)} variable(s) hold NaN or infinite values "
            f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); {_recovery(manager, options)}")
    log.info("saved %s", manager.save(checkpoint_number=step))


@contextlib.contextmanager
def _sigterm_flag():
    """A list that becomes non-empty when SIGTERM arrives (a preemption notice, `kill`): the loop
    then checkpoints the step it reached and returns, instead of losing the steps since the last
    save. Python runs the handler between host calls, never inside a training step."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, _: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every
