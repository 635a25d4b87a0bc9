"""Finding and reading checkpoints: our own object-based ones and the original TF1 name-based ones."""

from __future__ import annotations

import logging
import posixpath

import tensorflow as tf

from pretrain import config as config_lib
from pretrain import huggingface
from pretrain.errors import PretrainError
from pretrain.model import ElectraModel

log = logging.getLogger(__name__)

TF1_MARKER = "electra/embeddings/word_embeddings"


def resolve(path: str) -> str:
    """A training output directory (its latest checkpoint) or one checkpoint's prefix -> prefix."""
    path = path.rstrip("/")
    if tf.io.gfile.exists(path + ".index"):
        return path
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        raise FileNotFoundError(f"{path} holds no checkpoint")
    raise FileNotFoundError(f"{path} is neither a directory with checkpoints nor a checkpoint "
                            f"prefix (no {path}.index)")


def run_directory(prefix: str) -> str:
    return posixpath.dirname(prefix)


def reader(prefix: str):
    """A checkpoint reader for exactly this prefix. (tf.train.load_checkpoint first asks whether
    the path is a directory, which ram:// answers yes for any prefix of a file name.)"""
    return tf.compat.v1.train.NewCheckpointReader(prefix)


def is_tf1_checkpoint(prefix: str) -> bool:
    return reader(prefix).has_tensor(TF1_MARKER)


def step_of(prefix: str) -> int:
    """The training step saved in one of our checkpoints."""
    return int(reader(prefix).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def load_model(path: str, compute_dtype: tf.DType = tf.float32
               ) -> tuple[config_lib.PretrainConfig, ElectraModel, str]:
    """Rebuilds the model of a training run and restores its weights (no optimizer state)."""
    prefix = resolve(path)
    config = config_lib.load(run_directory(prefix))
    model = ElectraModel(config, compute_dtype)
    restore_weights(model, prefix)
    return config, model, prefix


def init_weights(model: ElectraModel, init_checkpoint: str, init_generator: str | None = None) -> None:
    """`train --init-checkpoint`: a transformers discriminator directory (config.json; with
    `init_generator`, its generator's), one of our run directories or checkpoint prefixes, or an original
    ELECTRA TF1 checkpoint."""
    if huggingface.is_model_directory(init_checkpoint):
        huggingface.load_pretraining_weights(model, init_checkpoint, init_generator)
        return
    if init_generator is not None:
        raise PretrainError(f"--init-generator needs a Hugging Face discriminator directory as --init-checkpoint "
                            f"(config.json), not {init_checkpoint}: our checkpoints and TF1 ones hold the "
                            "generator already")
    restore_weights(model, resolve(init_checkpoint))


def restore_weights(model: ElectraModel, prefix: str) -> None:
    """Loads model weights from one of our checkpoints or from an original ELECTRA (TF1) one."""
    if is_tf1_checkpoint(prefix):
        _restore_tf1(model, prefix)
        return
    status = tf.train.Checkpoint(model=model).read(prefix)
    status.expect_partial().assert_existing_objects_matched()
    log.info("restored model weights from %s", prefix)


def _restore_tf1(model: ElectraModel, prefix: str) -> None:
    checkpoint = reader(prefix)
    shapes = checkpoint.get_variable_to_shape_map()
    missing = []
    for name, variable in model.tf1_variables():
        if name not in shapes:
            missing.append(name)
            continue
        if list(shapes[name]) != variable.shape.as_list():
            raise PretrainError(f"{prefix}: {name} has shape {shapes[name]} but this model needs "
                             f"{variable.shape.as_list()} (check --model-size and --set)")
        variable.assign(checkpoint.get_tensor(name))
    if missing:
        raise PretrainError(f"{prefix} lacks {len(missing)} variables of this model, e.g. {missing[:3]}")
    log.info("restored model weights from the TF1 checkpoint %s", prefix)
