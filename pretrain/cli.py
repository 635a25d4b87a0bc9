"""`python -m pretrain train|evaluate|export`."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import sys

import tensorflow as tf

from pretrain import config as config_lib
from pretrain import data, huggingface, training
from pretrain.errors import USER_ERRORS, PretrainError, exit_status

log = logging.getLogger("pretrain")


class StrictParser(argparse.ArgumentParser):
    """argparse without abbreviations (`--learning` is not `--learning-rate`), and an unknown flag names the
    closest valid one, as the Beam jobs do; exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            name = unknown[0].split("=", 1)[0]
            close = difflib.get_close_matches(name, self._all_flags(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close and name.startswith("--") else " (see --help)"
            self.error(f"unrecognized argument {unknown[0]}{hint}")
        return parsed

    def _all_flags(self) -> list[str]:
        flags = []
        for action in self._actions:
            flags += [flag for flag in action.option_strings if flag.startswith("--")]
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for sub in action.choices.values():
                    flags += [flag for a in sub._actions for flag in a.option_strings  # noqa: SLF001
                              if flag.startswith("--")]
        return flags


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (0 or less would mean nothing, or a silent default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = StrictParser(
        prog="python -m pretrain",
        description="ELECTRA pretraining in TensorFlow 2 (TPU, GPU, CPU) over TFRecord shards.",
        epilog="Exit status: 0 done; 2 wrong flags, data or paths; 3 training diverged (a NaN or "
               "infinite loss or gradient norm: nothing later is saved, lower --set learning_rate=... "
               "and re-run to resume from the last good checkpoint) or a checkpoint holds NaN/Inf.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = training.RunOptions(data="", output="")  # the defaults of how to run

    train = commands.add_parser(
        "train", help="train (or resume) a generator + discriminator",
        description="Train ELECTRA. Re-running the same command resumes from --output and stops "
                    "at the same --train-steps total; a larger total continues the run.")
    train.add_argument("--data", required=True,
                       help="glob(s) of pretrain_data.tfrecord-* shards, comma-separated; "
                            "local or gs://")
    train.add_argument("--vocab", required=True,
                       help="directory with vocab.txt and tokenizer_config.json")
    train.add_argument("--output", required=True, help="run directory (checkpoints, logs)")
    train.add_argument("--model-size", choices=sorted(config_lib.MODEL_SIZES),
                       help="published ELECTRA hyperparameters; tiny is a 2-layer demo model (default: small; "
                            "with a Hugging Face --init-checkpoint the sizes are its config.json's and this "
                            "defaults to the published size of that shape)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override any hyperparameter, e.g. generator_hidden_fraction=0.33 "
                            "(repeatable)")
    train.add_argument("--train-steps", type=positive_int, help="total steps (default: the size's)")
    train.add_argument("--batch-size", type=positive_int,
                       help="global batch size: examples per optimiser step (default: the size's)")
    train.add_argument("--accumulation-steps", type=positive_int,
                       help="micro-batches per optimiser step: the gradients of --batch-size / (replicas x "
                            "K) examples at a time are summed, so a batch of 1024-4096 fits a few chips "
                            "(default 1)")
    train.add_argument("--max-seq-length", type=positive_int,
                       help="must match the data (default: read from pretrain_data.json)")
    train.add_argument("--seed", type=int, help="seed for initialisation, masking and data order")
    train.add_argument("--tpu", help="Cloud TPU name, or `local` on a TPU VM")
    train.add_argument("--per-host-input", action=argparse.BooleanOptionalAction, default=None,
                       help="each host reads its own shards and feeds its own replicas (default: on when "
                            "several hosts feed the replicas, as on a TPU pod slice)")
    train.add_argument("--mixed-precision", default=run.mixed_precision, choices=sorted(training.COMPUTE_DTYPES),
                       help="bf16 on TPU/Ampere+, fp16 with loss scaling on older GPUs")
    train.add_argument("--steps-per-loop", type=positive_int, default=run.steps_per_loop,
                       help="training steps per host call (default: %(default)s)")
    train.add_argument("--log-every", type=positive_int, default=run.log_every,
                       help="steps between metric lines (default: %(default)s)")
    train.add_argument("--save-every", type=positive_int, default=run.save_every,
                       help="steps between checkpoints (default: %(default)s)")
    train.add_argument("--keep-checkpoints", type=positive_int, default=run.keep_checkpoints,
                       help="checkpoints kept (default: %(default)s)")
    xla = train.add_mutually_exclusive_group()
    xla.add_argument("--xla", dest="xla", action="store_true", default=None,
                     help="compile the step with XLA (default on GPU/TPU)")
    xla.add_argument("--no-xla", dest="xla", action="store_false")
    train.add_argument("--init-checkpoint",
                       help="start from these weights: our run directory or checkpoint prefix, an original "
                            "ELECTRA TF1 checkpoint, or a Hugging Face ELECTRA discriminator directory "
                            "(config.json, model.safetensors or pytorch_model.bin, vocab.txt), e.g. "
                            "google/electra-base-discriminator downloaded")
    train.add_argument("--init-generator",
                       help="with a Hugging Face --init-checkpoint: its generator's directory (e.g. "
                            "google/electra-base-generator); without it the generator starts from random weights")
    train.add_argument("--shuffle-buffer", type=positive_int, default=run.shuffle_buffer,
                       help="examples in the shuffle buffer (saved in each checkpoint; default: %(default)s)")
    train.add_argument("--peak-tflops", type=positive_float,
                       help="accelerator peak per replica, for MFU where it is not detected")
    train.add_argument("--verify-data", action="store_true",
                       help="check every record of every shard (framing, checksums) before training: one "
                            "read of the data; without it a damaged shard stops the run when reached")

    evaluate = commands.add_parser("evaluate", help="generator/discriminator metrics on shards")
    evaluate.add_argument("--checkpoint", required=True,
                          help="training output directory (latest checkpoint) or a prefix")
    evaluate.add_argument("--data", required=True, help="glob(s) of held-out shards")
    evaluate.add_argument("--batch-size", type=positive_int)
    evaluate.add_argument("--max-steps", type=positive_int, help="stop after this many batches")
    evaluate.add_argument("--seed", type=int, default=0, help="masking/sampling seed")
    evaluate.add_argument("--xla", action="store_true")
    evaluate.add_argument("--output-json", help="also write the metrics here")
    evaluate.add_argument("--verify-data", action="store_true",
                          help="check every record of every shard (framing, checksums) first")

    export = commands.add_parser(
        "export", help="Hugging Face discriminator/generator and a TF1-name checkpoint")
    export.add_argument("--checkpoint", required=True,
                        help="training output directory (latest checkpoint) or a prefix")
    export.add_argument("--output", required=True)
    export.add_argument("--corpus-stats", help="the corpus job's stats.json, for the model cards (README.md): "
                                               "documents, sentences and text the model was trained on")
    return parser


def _train(args: argparse.Namespace) -> None:
    from pretrain.files import read_vocabulary

    overrides = config_lib.parse_overrides(args.set)
    for flag, key in (("train_steps", "train_steps"), ("batch_size", "batch_size"),
                      ("max_seq_length", "max_seq_length"), ("seed", "seed"),
                      ("accumulation_steps", "accumulation_steps")):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.max_seq_length is None and "max_seq_length" not in overrides:
        overrides["max_seq_length"] = 0  # take it from the data
    vocab = read_vocabulary(args.vocab)
    overrides.update(vocab_size=vocab.size, vocab_sha256=vocab.sha256,
                     do_lower_case=vocab.do_lower_case,
                     strip_accents=vocab.strip_accents, pad_id=vocab.pad_id, cls_id=vocab.cls_id,
                     sep_id=vocab.sep_id, mask_id=vocab.mask_id)
    size = args.model_size or "small"
    if args.init_checkpoint and huggingface.is_model_directory(args.init_checkpoint):
        # Continued pretraining from a transformers checkpoint: its config.json fixes the sizes.
        huggingface.check_vocabulary(args.init_checkpoint, vocab)
        size, overrides = huggingface.sizes_from_checkpoint(args.init_checkpoint, args.init_generator,
                                                            args.model_size, overrides)
    elif args.init_generator:
        raise PretrainError(f"--init-generator needs a Hugging Face discriminator directory (config.json) as "
                            f"--init-checkpoint, not {args.init_checkpoint or 'none'}")
    config = config_lib.for_size(size, overrides)
    options = training.RunOptions(
        data=args.data, output=args.output, tpu=args.tpu, mixed_precision=args.mixed_precision,
        steps_per_loop=args.steps_per_loop, log_every=args.log_every, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, xla=args.xla,
        init_checkpoint=args.init_checkpoint, init_generator=args.init_generator,
        shuffle_buffer=args.shuffle_buffer,
        peak_tflops=args.peak_tflops, per_host_input=args.per_host_input)
    files = data.resolve_files(args.data)
    if args.verify_data:
        data.verify_shards(files)
    try:
        training.train(config, vocab, options)
    except tf.errors.DataLossError as error:  # a damaged shard: TF names only a byte offset
        raise data.explain_data_loss(error, files) from None


def _evaluate(args: argparse.Namespace) -> None:
    from pretrain.evaluation import evaluate

    metrics = evaluate(args.checkpoint, args.data, args.batch_size, args.max_steps, args.seed,
                       args.xla, args.output_json, args.verify_data)
    print(json.dumps(metrics, sort_keys=True))


def _export(args: argparse.Namespace) -> None:
    from pretrain.export import export

    for kind, path in export(args.checkpoint, args.output, args.corpus_stats).items():
        print(f"{kind}: {path}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)  # per-save checkpoint chatter
    try:
        {"train": _train, "evaluate": _evaluate, "export": _export}[args.command](args)
    except USER_ERRORS as e:
        log.error("%s", e)
        return exit_status(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
