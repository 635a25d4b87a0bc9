"""Pretraining throughput on an accelerator: examples/s, tokens/s, step time, model-FLOPs utilisation, peak
device memory, the largest per-chip batch that fits, and whether the input pipeline keeps up.

For each model size and sequence length it builds the project's own trainer (`pretrain.training.Trainer`, the
compiled multi-step loop, bf16 and XLA on accelerators), feeds it from real TFRecord shards through the project's
own tf.data pipeline (synthetic token ids in the project's format), times `--steps` steps after the compilation,
and measures the same pipeline alone. The largest batch that fits is found by doubling the batch until the
device runs out of memory (`--find-max-batch`). Prints a table beside published anchors and writes JSON.

    python -m benchmarks.accelerator                       # GPU/TPU: small, base, large at 128 and 512, bf16
    python -m benchmarks.accelerator --sizes tiny --lengths 64 --steps 5   # CPU: about a minute

Anchors: NVIDIA's BERT-large on one A100-80GB (PyTorch, AMP): 580 seq/s at 128 and 210 at 512 (about 44% and
65% MFU by 6N + attention against 312 TFLOP/s); ELECTRA-Base on a TPU v3-8 at batch 256 x 512: about 7 minutes
per 1,000 steps (a user's report). MFU is reported against the chip's dense bf16 peak (`pretrain.flops`;
unknown devices print the FLOPs and no ratio; `--peak-tflops` sets it).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("benchmarks.accelerator")

# Per-chip batch to start from (the published global batches are 128 small, 256 base, 2048 large over 8-16
# chips); --find-max-batch doubles it until the device is full.
START_BATCH = {"tiny": 16, "small": 64, "base": 32, "large": 16}
ANCHORS = [
    ("BERT-large, A100-80GB, PyTorch AMP (NVIDIA)", 128, "580 seq/s, ~44% MFU"),
    ("BERT-large, A100-80GB, PyTorch AMP (NVIDIA)", 512, "210 seq/s, ~65% MFU"),
    ("ELECTRA-Base, TPU v3-8, batch 256 (a user's report)", 512, "~7 min per 1,000 steps (~610 seq/s)"),
]


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accelerator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated model sizes (default: small,base,large on "
                                                      "an accelerator, tiny on CPU)")
    parser.add_argument("--lengths", default="128,512", help="comma-separated sequence lengths")
    parser.add_argument("--mixed-precision", choices=("none", "bf16", "fp16"), default=None,
                        help="default bf16 on an accelerator, none on CPU")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                        help="default on for an accelerator, off on CPU")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement (default 20)")
    parser.add_argument("--batch-size", type=int, default=None, help="per-chip batch (default: by size)")
    parser.add_argument("--find-max-batch", action=argparse.BooleanOptionalAction, default=None,
                        help="double the batch until the device is full (default on an accelerator)")
    parser.add_argument("--max-batch", type=int, default=4096, help="stop doubling at this per-chip batch")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the chip's dense peak, if not known")
    parser.add_argument("--tpu", default=None, help="a Cloud TPU name, or `local` on a TPU VM")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--time-budget", type=float, default=420.0,
                        help="stop starting new measurements after this many seconds (default 420)")
    return parser.parse_args(argv)


def _write_shards(directory: Path, length: int, vocab_size: int, examples: int) -> str:
    """Synthetic pretraining data in the project's format: random ids, [CLS] A [SEP] B [SEP], full length."""
    import numpy as np

    from pretraining_data.contract import build_metadata, shard_name
    from pretraining_data.encoding import ExampleEncoder, frame_record
    from pretraining_data.packing import SegmentPair

    rng = np.random.default_rng(0)
    encoder = ExampleEncoder(length, vocab_size, cls_id=101, sep_id=102)
    half = (length - 3) // 2
    with open(directory / shard_name(0, 1), "wb") as handle:
        for _ in range(examples):
            ids = rng.integers(1000, vocab_size, size=length - 3).tolist()
            handle.write(frame_record(encoder.encode(SegmentPair(ids[:half], ids[half:], 0, length))))
    settings = {"vocab_size": vocab_size, "vocab_sha256": "", "do_lower_case": True, "strip_accents": True}
    counts = {"num_examples": examples, "num_tokens": examples * (length - 3), "num_input_tokens": 0,
              "num_truncated_tokens": 0, "num_documents": examples}
    (directory / "pretrain_data.json").write_text(json.dumps(build_metadata(length, settings, 0, 1, counts)))
    return str(directory / shard_name(0, 1))


def _device_memory_peak() -> int | None:
    import tensorflow as tf

    for kind in ("GPU", "TPU"):
        devices = tf.config.list_logical_devices(kind)
        if devices:
            try:
                return int(tf.config.experimental.get_memory_info(devices[0].name)["peak"])
            except (ValueError, KeyError):
                return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # CPU: the process's peak RSS


def _reset_memory_peak() -> None:
    import tensorflow as tf

    for device in tf.config.list_logical_devices("GPU"):
        try:
            tf.config.experimental.reset_memory_stats(device.name)
        except ValueError:
            pass


def measure(size: str, length: int, per_chip_batch: int, args, strategy, data_file: str) -> dict:
    """One configuration: compile, time `args.steps` steps, time the input pipeline alone."""
    import tensorflow as tf

    from pretrain import config as config_lib
    from pretrain import data, flops
    from pretrain.training import Trainer

    replicas = strategy.num_replicas_in_sync
    config = config_lib.for_size(size, {"max_seq_length": length, "batch_size": per_chip_batch * replicas,
                                        "max_position_embeddings": max(512, length)})
    config.validate()
    _reset_memory_peak()
    trainer = Trainer(config, strategy, args.mixed_precision, args.xla)
    dataset = data.training_dataset([data_file], config.batch_size, length, seed=1, shuffle_buffer=1000)
    iterator = iter(dataset)
    started = time.perf_counter()
    float(trainer.train_loop(iterator, tf.constant(2))["loss_sum"])  # compiles
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    loss = float(trainer.train_loop(iterator, tf.constant(args.steps))["loss_sum"])  # waits for the device
    seconds = time.perf_counter() - started
    step_seconds = seconds / args.steps
    examples_per_second = config.batch_size / step_seconds
    pipeline = iter(data.training_dataset([data_file], config.batch_size, length, seed=2, shuffle_buffer=1000))
    next(pipeline)
    started = time.perf_counter()
    for _ in range(args.steps):
        next(pipeline)
    pipeline_examples_per_second = config.batch_size * args.steps / (time.perf_counter() - started)
    flops_per_example = flops.training_flops_per_example(config)
    peak = (args.peak_tflops * 1e12 if args.peak_tflops
            else flops.peak_flops_per_replica(strategy, args.mixed_precision))
    model_tflops = examples_per_second * flops_per_example / 1e12
    return {
        "size": size, "max_seq_length": length, "per_chip_batch": per_chip_batch, "replicas": replicas,
        "mixed_precision": args.mixed_precision, "xla": args.xla, "steps": args.steps,
        "compile_seconds": round(compile_seconds, 2), "step_seconds": step_seconds,
        "examples_per_second": examples_per_second, "tokens_per_second": examples_per_second * length,
        "model_tflops_per_second": model_tflops,
        "mfu": (model_tflops * 1e12 / (peak * replicas)) if peak else None,
        "peak_memory_bytes": _device_memory_peak(),
        "input_pipeline_examples_per_second": pipeline_examples_per_second,
        "input_bound": pipeline_examples_per_second < 1.2 * examples_per_second,
        "finite_loss": loss == loss,
    }


def largest_batch(size: str, length: int, start: int, args, strategy, data_file: str) -> tuple[int, dict]:
    """Doubles the per-chip batch from `start` while a step runs; the last one that ran, and its figures."""
    import tensorflow as tf

    best, figures, batch = None, None, start
    while True:
        try:
            figures = measure(size, length, batch, args, strategy, data_file)
        except (tf.errors.ResourceExhaustedError, tf.errors.InternalError) as error:
            log.info("%s at %d, batch %d per chip does not fit: %s", size, length, batch,
                     str(error).splitlines()[0][:120])
            break
        best = (batch, figures)
        if (not args.find_max_batch or batch * 2 > args.max_batch
                or time.perf_counter() - args.started > args.time_budget):
            break
        batch *= 2
    if best is None:
        raise SystemExit(f"{size} at {length}: even a batch of {start} per chip does not fit")
    return best


def table(results: list[dict]) -> str:
    lines = ["| size | length | batch/chip | examples/s | tokens/s | step ms | MFU | peak memory | input pipeline "
             "(examples/s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        memory = f"{r['peak_memory_bytes'] / 2**30:.1f} GiB" if r["peak_memory_bytes"] else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else f"- ({r['model_tflops_per_second']:.2f} TFLOP/s)"
        pipeline = f"{r['input_pipeline_examples_per_second']:,.0f}" + (" (input-bound!)" if r["input_bound"] else "")
        lines.append(f"| {r['size']} | {r['max_seq_length']} | {r['per_chip_batch']}"
                     f"{' (max)' if r.get('largest') else ''} | {r['examples_per_second']:,.1f} | "
                     f"{r['tokens_per_second']:,.0f} | {1000 * r['step_seconds']:.1f} | {mfu} | {memory} | "
                     f"{pipeline} |")
    lines.append("")
    lines += [f"anchor: {name} at {length}: {figure}" for name, length, figure in ANCHORS]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    import tensorflow as tf

    from pretrain.training import default_xla, make_strategy

    args.started = time.perf_counter()
    strategy = make_strategy(args.tpu)
    accelerator = bool(tf.config.list_logical_devices("GPU")) or isinstance(strategy, tf.distribute.TPUStrategy)
    args.mixed_precision = args.mixed_precision or ("bf16" if accelerator else "none")
    args.xla = default_xla(strategy) if args.xla is None else args.xla
    args.find_max_batch = accelerator if args.find_max_batch is None else args.find_max_batch
    sizes = (args.sizes or ("small,base,large" if accelerator else "tiny")).split(",")
    lengths = [int(length) for length in args.lengths.split(",")]
    device = (tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get(
        "device_name", "GPU") if tf.config.list_physical_devices("GPU") else
        os.environ.get("TPU_ACCELERATOR_TYPE", "TPU") if accelerator else "CPU")
    log.info("device %s, %d replica(s), %s, XLA %s", device, strategy.num_replicas_in_sync,
             args.mixed_precision, "on" if args.xla else "off")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for length in lengths:
            directory = Path(scratch) / str(length)
            directory.mkdir()
            data_file = _write_shards(directory, length, 30522, examples=2048)
            for size in sizes:
                if time.perf_counter() - args.started > args.time_budget:
                    log.warning("time budget spent: %s at %d not measured", size, length)
                    continue
                start = args.batch_size or START_BATCH.get(size, 16)
                batch, figures = largest_batch(size, length, start, args, strategy, data_file)
                figures["largest"] = bool(args.find_max_batch)
                log.info("%s at %d: %.1f examples/s, batch %d per chip", size, length,
                         figures["examples_per_second"], batch)
                results.append(figures)
    report = {"device": device, "results": results, "anchors": ANCHORS}
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
