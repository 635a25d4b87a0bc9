"""`evaluate`: generator and discriminator metrics of a checkpoint on held-out shards."""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from pretrain import checkpoints, data, objective
from pretrain.errors import PretrainError
from pretrain.files import write_json
from pretrain.summaries import summary_name, write_scalars
from pretrain.files import read_vocabulary

log = logging.getLogger(__name__)


def evaluate(checkpoint: str, data_glob: str, batch_size: int | None = None,
             max_steps: int | None = None, seed: int = 0, xla: bool = False,
             output_json: str | None = None, verify_data: bool = False) -> dict[str, float]:
    """Runs the pretraining objective without dropout over the data once (or `max_steps`
    batches); masking and sampling use `seed`, so repeated evaluations agree. A damaged shard is
    a DataMismatchError naming it (`verify_data` checks every shard before evaluating)."""
    config, model, prefix = checkpoints.load_model(checkpoint)
    run_dir = checkpoints.run_directory(prefix)
    files = data.resolve_files(data_glob)
    data.check_data(files, read_vocabulary(f"{run_dir}/vocab"), config.max_seq_length)
    if verify_data:
        data.verify_shards(files)
    batch_size = batch_size or config.batch_size
    dataset = data.evaluation_dataset(files, batch_size, config.max_seq_length)

    @tf.function(jit_compile=xla)
    def eval_step(batch, index):
        step_seed = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, 1], tf.int64), index)
        _, stats = objective.electra_loss(model, batch, config, step_seed, training=False)
        stats["examples"] = tf.reduce_sum(tf.reduce_max(batch["input_mask"], axis=1))
        return stats

    sums: dict[str, np.ndarray] = {}
    batches = 0
    try:
        for index, batch in enumerate(dataset):
            if max_steps is not None and index >= max_steps:
                break
            for key, value in eval_step(batch, tf.constant(index, tf.int64)).items():
                sums[key] = sums.get(key, 0) + value.numpy()
            batches += 1
    except tf.errors.DataLossError as error:  # a damaged shard: TF names only a byte offset
        raise data.explain_data_loss(error, files) from None
    if not batches:
        raise PretrainError(f"no example in {data_glob}")
    metrics = objective.summarize(sums)
    metrics["examples"] = int(sums["examples"])
    metrics["loss"] = (config.gen_weight * metrics["generator_loss"]
                       + config.disc_weight * metrics["discriminator_loss"])
    step = checkpoints.step_of(prefix)
    metrics["step"] = step
    writer = tf.summary.create_file_writer(f"{run_dir}/eval")
    write_scalars(writer, step, {summary_name(k): v for k, v in metrics.items()
                                 if k not in ("step", "examples")})
    writer.close()
    log.info("evaluated %s on %d examples: %s", prefix, metrics["examples"],
             ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    if output_json:
        write_json(output_json, metrics)
    return metrics
