"""TensorBoard scalars without the tensorboard package (TF 2.21 no longer installs it):
the same event records `tf.summary.scalar` writes, through TF's own summary writer."""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def write_scalars(writer, step: int, values: dict[str, float]) -> None:
    """Writes each value as a TensorBoard scalar named by its key at `step`."""
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.write(name, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
    writer.flush()


def summary_name(key: str) -> str:
    """generator_loss -> generator/loss: TensorBoard groups by the part before the slash."""
    for prefix in ("generator", "discriminator"):
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1:]}"
    return key
