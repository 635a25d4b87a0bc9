"""ELECTRA pretraining in TensorFlow 2 over the project's TFRecord shards.

Reads only the pretraining-data contract (`pretraining_data`) and a vocabulary directory (`vocab.vocabulary`),
both through `tf.io.gfile`; see `python -m pretrain --help`.
"""

from __future__ import annotations


def load_discriminator(checkpoint: str, mixed_precision: str = "none"):
    """The discriminator of a training run (output directory or checkpoint prefix), as a callable
    `tf.Module`: `model(input_ids, input_mask, segment_ids)` -> per-token logits [B, L];
    `model.sequence_output(...)` -> [B, L, H]; `model.trainable_variables` for fine-tuning."""
    from pretrain import checkpoints
    from pretrain.training import COMPUTE_DTYPES

    _, model, _ = checkpoints.load_model(checkpoint, COMPUTE_DTYPES[mixed_precision])
    return model.discriminator_only()


__all__ = ["load_discriminator"]
