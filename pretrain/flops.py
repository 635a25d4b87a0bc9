"""Model FLOPs per training example (for model-FLOPs utilisation) and accelerator peaks."""

from __future__ import annotations

import logging
import os

import tensorflow as tf

from pretrain.config import EncoderConfig, PretrainConfig

log = logging.getLogger(__name__)

# Dense bf16/fp16 peak per *replica* (one GPU, one TPU core on v2/v3, one chip from v4 on),
# from the vendors' data sheets. fp32 runs on NVIDIA use TF32 tensor cores (half of these).
GPU_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0,
                   "V100": 125.0, "T4": 65.0}
TPU_PEAK_TFLOPS = {"v2": 22.5, "v3": 61.5, "v4": 275.0, "v5litepod": 197.0, "v5e": 197.0,
                   "v5p": 459.0, "v6e": 918.0}


def _encoder_forward_flops(c: EncoderConfig, length: int) -> float:
    h, i = c.hidden_size, c.intermediate_size
    per_token = c.num_hidden_layers * 2 * (4 * h * h + 2 * h * i)
    if c.embedding_size != h:
        per_token += 2 * c.embedding_size * h
    attention = c.num_hidden_layers * 2 * 2 * length * length * h  # scores and weighted values
    return per_token * length + attention


def training_flops_per_example(config: PretrainConfig) -> float:
    """Matmul FLOPs of one example's forward and backward pass (backward = 2x forward), generator
    included; embedding lookups excluded. ELECTRA-Base: ~613 MFLOP/token at 128, ~670 at 512."""
    length, n = config.max_seq_length, config.max_predictions_per_seq
    disc, gen = config.discriminator(), config.generator()
    forward = _encoder_forward_flops(disc, length) + _encoder_forward_flops(gen, length)
    forward += length * 2 * disc.hidden_size * disc.hidden_size + length * 2 * disc.hidden_size
    forward += n * 2 * (gen.hidden_size * disc.embedding_size + disc.embedding_size * disc.vocab_size)
    return 3.0 * forward


def peak_flops_per_replica(strategy: tf.distribute.Strategy, mixed_precision: str) -> float | None:
    """The accelerator's peak, or None where unknown (CPU): then MFU is not reported."""
    factor = 1.0 if mixed_precision in ("bf16", "fp16") else 0.5
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
        for key, tflops in GPU_PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12 * factor
        log.info("unknown GPU %r: pass --peak-tflops to report MFU", name)
        return None
    if isinstance(strategy, tf.distribute.TPUStrategy):
        kind = os.environ.get("TPU_ACCELERATOR_TYPE", "")
        for key, tflops in TPU_PEAK_TFLOPS.items():
            if kind.startswith(key):
                return tflops * 1e12
        log.info("unknown TPU type %r: pass --peak-tflops to report MFU", kind)
    return None
