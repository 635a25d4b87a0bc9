"""`python -m finetune run|blurb|blue|predict|compare`."""

from __future__ import annotations

import argparse
import logging
import sys

import tensorflow as tf

from evaluation.layouts import find
from evaluation.tasks import ALL_TASKS, TASKS, DataError, Task, get_task
from finetune import anchors, blue, scoring
from finetune.files import GFILE
from finetune.training import Options, markdown_table, run_task
from pretrain.cli import StrictParser, positive_float, positive_int
from pretrain.errors import USER_ERRORS, NonFiniteError, exit_status
from pretrain.files import write_atomically, write_json
from pretrain.training import make_strategy

log = logging.getLogger("finetune")


DEFAULTS = Options()  # the one place of the fine-tuning defaults the flags show


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="the data directory BLURB's data-generation scripts write (BC5CDR-chem/"
                             "train.tsv, ..., pubmedqa/pqal_fold0/...), as it is; or the older "
                             "task-type folders (ner/BC5CDR-chem-IOB/, re/DDI/, ...); the clinical tasks' "
                             "folders beside them (mednli/, MedSTS/, clefe/, i2b2-2010/); local or gs://")
    parser.add_argument("--checkpoint", required=True,
                        help="a `python -m pretrain train` output directory or checkpoint "
                             "prefix, or a Hugging Face ELECTRA/BERT model directory "
                             "(config.json, model.safetensors, vocab.txt)")
    parser.add_argument("--output", required=True, help="directory for the JSON results")
    parser.add_argument("--trials", type=positive_int, default=1, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=positive_float, help="default: the task's (docs/finetune.md)")
    parser.add_argument("--learning-rate", type=positive_float, help="peak; default: the task's")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--max-seq-length", type=positive_int)
    parser.add_argument("--layerwise-decay", type=positive_float, default=DEFAULTS.layerwise_decay,
                        help="learning-rate factor per layer below the head (default: %(default)s)")
    parser.add_argument("--max-train-examples", type=positive_int,
                        help="use only the first N training examples (quick runs)")
    parser.add_argument("--max-eval-examples", type=positive_int,
                        help="score only the first N evaluation examples")
    parser.add_argument("--eval-split", choices=("dev", "test"), default=DEFAULTS.eval_split,
                        help="the split to score (default: %(default)s; test where the data directory "
                             "has the test files)")
    parser.add_argument("--random-init", action="store_true",
                        help="the same architecture from random initialisation (the baseline)")
    parser.add_argument("--tpu", help="a Cloud TPU name, or `local` on a TPU VM (TPUStrategy); "
                                      "several GPUs are used with MirroredStrategy")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                        help="compile the step with XLA (default on GPU/TPU)")
    parser.add_argument("--train-fractions", type=fractions,
                        help="a learning curve: run the trials on each fraction of the training examples, "
                             "e.g. 0.01,0.1,1 (nested subsets, the same for every run); scores per fraction "
                             "in TASK.json, the table and the plot")


def fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fractions such as 0.01,0.1,1, got {text!r}") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"fractions must lie in (0, 1], got {text!r}")
    return tuple(sorted(set(values)))


def _parser() -> argparse.ArgumentParser:
    parser = StrictParser(
        prog="python -m finetune",
        description="Fine-tune a pretrained ELECTRA discriminator on BLURB tasks, and on BLUE's clinical "
                    "tasks and MedNLI where a user has their data, and score them with each benchmark's "
                    "metrics (the dev split, or --eval-split test).",
        epilog="Exit status: 0 done; 2 wrong flags, data or paths; 3 a trial's loss went NaN or "
               "infinite (blurb, blue: after running the other tasks and recording it in "
               "blurb.json/md, blue.json/md).")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="one task",
        description="Fine-tune on one task: OUTPUT/TASK.json (every trial's score) and "
                    "OUTPUT/TASK.predictions.jsonl (the best trial's prediction for each evaluation example).")
    run.add_argument("--task", required=True, choices=sorted(ALL_TASKS),
                     help="a BLURB task or a clinical one (MedNLI, MEDIQA-NLI, MedSTS, ShARe-CLEFE, i2b2-2010)")
    _common(run)
    run.add_argument("--save-model", metavar="DIR",
                     help="keep the best trial's model (by the scored split's metric) in DIR: a Hugging Face "
                          "model directory (transformers' AutoModelFor{Token,Sequence}Classification, the "
                          "tokenizer, a model card) and its TF checkpoint (DIR/tf/), which `predict` reads")
    blurb = commands.add_parser(
        "blurb", help="every task with data, then the table",
        description="Fine-tune on every BLURB task whose training file is present under --data; "
                    "writes TASK.json per task, blurb.json and blurb.md (our scores beside the "
                    "published test figures of PubMedBERT, BioELECTRA and ELECTRAMed), blurb.png and "
                    "blurb.html (the table and the plot).")
    _common(blurb)
    blurb.add_argument("--save-models", metavar="DIR",
                       help="keep each task's best model in DIR/TASK (as run --save-model)")
    blue_command = commands.add_parser(
        "blue", help="every BLUE task with data, then the table",
        description="Fine-tune on every BLUE task (Peng et al. 2019) whose training file is present under "
                    "--data: the clinical ones in their own formats (MedNLI's JSON lines from PhysioNet in "
                    "mednli/, BLUE's MedSTS/, clefe/ and i2b2-2010/ files), the public ones from BLURB's "
                    "files. Writes TASK.json per task, blue.json and blue.md (our scores beside the "
                    "published test figures of BlueBERT and BioELECTRA, the tasks skipped and where their "
                    "data comes from).")
    _common(blue_command)
    blue_command.add_argument("--save-models", metavar="DIR",
                              help="keep each task's best model in DIR/TASK (as run --save-model)")
    predict = commands.add_parser(
        "predict", help="a saved model over new text",
        description="Run a model saved with run --save-model over new inputs. NER and PICO: raw text, one "
                    "document or sentence per line (sentences, words with character offsets and tags, "
                    "entities; long sentences in overlapping windows). Other tasks: a file in the task's "
                    "own format (TSV, or PubMedQA's JSON). Writes JSON lines.")
    predict.add_argument("--model", required=True, help="a directory written by --save-model")
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", required=True, help="JSON lines, one per input line or row")
    predict.add_argument("--batch-size", type=positive_int, default=32)
    predict.add_argument("--sentence-model",
                         help="a spaCy pipeline for sentence splitting (default: the project's rules)")
    compare = commands.add_parser(
        "compare", help="scores and gains of several result directories",
        description="Compare result directories of run or blurb (e.g. a --random-init baseline first, then "
                    "the pretrained model, or several checkpoints): the scores per task, the gain of each "
                    "over the first, per fraction too where they have learning curves, BLURB scores over the "
                    "shared tasks. Writes compare.json, compare.md, compare.png (and compare_gains.png, "
                    "compare_curves.png) and compare.html to --output.")
    compare.add_argument("directories", nargs="+", metavar="DIR",
                         help="result directories; the first is the baseline")
    compare.add_argument("--names", help="comma-separated names for the directories (default: their names)")
    compare.add_argument("--output", required=True)
    return parser


def _options(args: argparse.Namespace) -> Options:
    return Options(epochs=args.epochs, learning_rate=args.learning_rate,
                   batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                   layerwise_decay=args.layerwise_decay,
                   max_train_examples=args.max_train_examples,
                   max_eval_examples=args.max_eval_examples, random_init=args.random_init,
                   xla=args.xla, eval_split=args.eval_split, train_fractions=args.train_fractions)


def _predict(args: argparse.Namespace) -> int:
    from finetune import predict, saving

    loaded = saving.load(args.model)
    counts = predict.predict(loaded, args.input, args.output, args.batch_size, args.sentence_model)
    log.info("%s (%s): %s -> %s", args.model, loaded.task.name,
             ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in counts.items()), args.output)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from finetune import report

    names = args.names.split(",") if args.names else None
    text, _ = report.compare(args.directories, args.output, names)
    print(text, end="")
    log.info("wrote %s/compare.{json,md,png,html}", args.output)
    return 0


def run_tasks(tasks: list[Task], args: argparse.Namespace, options: Options,
              strategy) -> tuple[list[dict], dict[str, str]]:
    """Each task's trials (TASK.json, TASK.predictions.jsonl, with --save-models its model): the results,
    and the tasks whose training diverged with their messages."""
    results, failed = [], {}
    for task in tasks:
        try:
            result = run_task(
                task, args.data, args.checkpoint, options, args.trials, args.seed, strategy,
                save_model=f"{args.save_models.rstrip('/')}/{task.name}" if args.save_models else None,
                predictions_path=f"{args.output}/{task.name}.predictions.jsonl")
        except NonFiniteError as error:
            # One diverged task does not cost the others: recorded, and the exit status says so.
            log.error("%s", error)
            failed[task.name] = str(error)
            continue
        write_json(f"{args.output}/{task.name}.json", result)
        results.append(result)
    return results, failed


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.command == "predict":
            return _predict(args)
        if args.command == "compare":
            return _compare(args)
    except (DataError, *USER_ERRORS) as error:
        log.error("%s", error)
        return exit_status(error)
    tf.io.gfile.makedirs(args.output)
    options = _options(args)
    strategy = make_strategy(args.tpu)
    try:
        if args.command == "run":
            result = run_task(get_task(args.task), args.data, args.checkpoint, options,
                              args.trials, args.seed, strategy, save_model=args.save_model,
                              predictions_path=f"{args.output}/{args.task}.predictions.jsonl")
            write_json(f"{args.output}/{args.task}.json", result)
            task = get_task(args.task)  # the clinical tasks beside BLUE's anchors, the others beside BLURB's
            print(markdown_table([result], None) if task.benchmark == "BLURB"
                  else blue.table([result], [], {}, args.eval_split), end="")
            return 0
        if args.command == "blue":
            present = [get_task(name) for name in blue.present(args.data, GFILE)]
            results, failed = run_tasks(present, args, options, strategy)
            return blue.write(args.output, args.data, args.eval_split, results, failed, GFILE)
        missing = [task.name for task in TASKS.values() if find(task, args.data, GFILE) is None]
        results, failed = run_tasks([t for t in TASKS.values() if t.name not in missing], args, options,
                                    strategy)
        if missing:
            log.warning("no training data under %s for: %s", args.data, ", ".join(missing))
        if not results and not failed:
            raise FileNotFoundError(
                f"no BLURB task has training data under {args.data}: --data takes the directory "
                "BLURB's data-generation scripts write (BC5CDR-chem/train.tsv, ..., "
                "pubmedqa/pqal_fold0/train_set.json) or the task-type folders (ner/, re/, ...)")
        blurb = scoring.blurb_score(
            {r["task"]: r["mean"] for r in results},
            {r["task"]: r["blurb_type"] for r in results}) if results else None
        table = markdown_table(results, blurb)
        if failed:
            table += (f"\nFailed (training diverged, no score; left out of the BLURB score): "
                      f"{', '.join(failed)}.\n")
            table += "".join(f"- {message}\n" for message in failed.values())
        if missing:
            table += f"\nNot run (no training data): {', '.join(missing)}.\n"
        names = [r["task"] for r in results]
        write_json(f"{args.output}/blurb.json",
                   {"blurb_score": blurb, "split": args.eval_split, "tasks": names,
                    "missing": missing, "failed": failed,
                    "published": anchors.as_json(names)})
        write_atomically(f"{args.output}/blurb.md", table)
        from finetune import report  # matplotlib: only where a plot is drawn

        report.write_blurb_report(args.output, results, table)
        print(table, end="")
        if failed:
            log.error("%d of %d tasks diverged and have no score: %s (see %s/blurb.md)", len(failed),
                      len(failed) + len(results), ", ".join(failed), args.output)
            return NonFiniteError.exit_status
        return 0
    except (DataError, *USER_ERRORS) as error:
        log.error("%s", error)
        return exit_status(error)


if __name__ == "__main__":
    sys.exit(main())
