"""Fine-tune one task: trials with different seeds, each scored with BLURB's metric on the evaluation
split (dev by default, test with `Options.eval_split`); results as JSON per task and a markdown table."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import time

import numpy as np
import tensorflow as tf

from evaluation.layouts import locate, read_split
from evaluation.tasks import Example, Task
from finetune import anchors, saving, scoring
from finetune.features import IGNORE, Featurizer, Features
from finetune.files import GFILE
from finetune.model import (FineTuningModel, LayerwiseAdamW, encoder_config, load_encoder,
                            pretraining_facts, vocabulary_directory)
from pretrain.errors import NonFiniteError
from pretrain.files import write_atomically
from pretrain.optimization import warmup_then_decay
from pretrain.training import default_xla

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Options:
    """How to fine-tune; None takes the task's default."""

    epochs: float | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    max_seq_length: int | None = None
    layerwise_decay: float = 0.8
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    random_init: bool = False
    xla: bool | None = None  # None: on for GPUs and TPUs, off on CPU
    eval_split: str = "dev"  # or "test", where the data directory has the test files
    # A learning curve: the trials run on each fraction of the training examples (nested seeded subsets).
    train_fractions: tuple[float, ...] | None = None


# Options recorded elsewhere in a task's results (train_examples, eval_examples, split, fractions) or not at
# all (xla).
_NOT_IN_SETTINGS = ("max_train_examples", "max_eval_examples", "xla", "eval_split", "train_fractions")
# The training subsets of a learning curve are the first N of one permutation drawn from this seed: nested
# (the 1% subset lies inside the 10% one) and the same for every run, pretrained or not, whatever --seed.
SUBSET_SEED = 20_200_731


def resolved(task: Task, options: Options) -> Options:
    """`options` with the task's defaults filled in where they are None (or 0)."""
    return dataclasses.replace(
        options, epochs=options.epochs or task.epochs,
        learning_rate=options.learning_rate or task.learning_rate,
        batch_size=options.batch_size or task.batch_size,
        max_seq_length=options.max_seq_length or task.max_seq_length)


def settings_record(settings: Options) -> dict:
    """The resolved hyperparameters as a task's results record them ("settings")."""
    return {name: value for name, value in dataclasses.asdict(settings).items()
            if name not in _NOT_IN_SETTINGS}


def _label_space(task: Task, train: list[Example]) -> tuple[str, ...]:
    """NER tags come from the training data (O first); other tasks have fixed labels."""
    if task.head == "token":
        tags = sorted({tag for e in train for tag in e.label} - {"O"})
        return ("O", *tags)
    return task.labels


def _loss(head: str, logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    if head == "regression":
        return tf.reduce_mean(tf.square(logits[:, 0] - labels))
    if head == "multilabel":
        return tf.reduce_mean(tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), -1))
    scored = tf.cast(labels != IGNORE, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(labels, 0), logits=logits)
    return tf.reduce_sum(losses * scored) / tf.maximum(tf.reduce_sum(scored), 1.0)


def _decode(task: Task, outputs: np.ndarray, features: Features,
            labels: tuple[str, ...]) -> list:
    if task.head == "token":
        predicted = outputs.argmax(-1)
        return [[labels[predicted[row, p]] if p >= 0 else "O" for p in starts]
                for row, starts in enumerate(features.word_starts)]
    if task.head == "regression":
        return outputs[:, 0].tolist()
    if task.head == "multilabel":
        return [tuple(int(v) for v in row) for row in (outputs > 0).astype(int)]
    return [labels[i] for i in outputs.argmax(-1)]


def _epoch_order(num_examples: int, batch: int, steps: int, seed: int) -> np.ndarray:
    """Example indices for `steps` batches: a fresh permutation per epoch, from `seed` alone
    (not TF's global seed), so a trial repeats exactly in any process."""
    rng = np.random.default_rng(seed)
    needed = steps * batch
    order = [rng.permutation(num_examples) for _ in range(-(-needed // num_examples))]
    return np.concatenate(order)[:needed].reshape(steps, batch)


def _replica_slice(tensors: tuple, replicas: int) -> tuple:
    """Every replica receives the global batch and keeps its own slice of it, so the examples a
    step sees do not depend on the number of devices."""
    if replicas == 1:
        return tensors
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    return tuple(tf.gather(tf.reshape(t, [replicas, -1, *t.shape[1:]]), replica)
                 for t in tensors)


class _Trial:
    """Model, optimiser and compiled steps of one trial under a distribution strategy."""

    def __init__(self, task: Task, checkpoint: str, settings: Options, num_outputs: int, seed: int,
                 total_steps: int, strategy: tf.distribute.Strategy, xla: bool):
        self.task, self.seed = task, seed
        self.replicas = strategy.num_replicas_in_sync
        with strategy.scope():
            encoder = load_encoder(checkpoint, seed if settings.random_init else None)
            self.model = FineTuningModel(encoder, task.head, num_outputs, settings.dropout,
                                         seed)
            named = self.model.named_variables()
            self.optimizer = LayerwiseAdamW(named, self.model.num_layers,
                                            settings.layerwise_decay,
                                            settings.weight_decay)
        self.variables = [v for _, v in named]
        self.peak, self.total = settings.learning_rate, total_steps
        self.warmup = int(settings.warmup_fraction * total_steps)
        single_device = self.replicas == 1 and not isinstance(strategy, tf.distribute.TPUStrategy)
        # merge_call (the optimiser under several replicas) cannot be compiled: then only the
        # forward and backward pass is (TPUs compile the whole step anyway).
        self._gradients = (self._forward_backward if single_device
                           else tf.function(self._forward_backward, jit_compile=xla))
        step_fn = tf.function(self._replica_step, jit_compile=xla) if single_device \
            else self._replica_step
        self.train_step = tf.function(lambda step, batch: strategy.reduce(
            tf.distribute.ReduceOp.SUM, strategy.run(step_fn, args=(step, batch)), axis=None))
        self.predict_step = tf.function(lambda batch: strategy.gather(
            strategy.run(self._replica_predict, args=(batch,)), axis=0))

    def _forward_backward(self, step, replica, ids, mask, segments, targets):
        dropout_seed = tf.stack([tf.constant(self.seed, tf.int32),
                                 tf.cast(step * self.replicas + replica, tf.int32)])
        with tf.GradientTape() as tape:
            loss = _loss(self.task.head, self.model(ids, mask, segments, dropout_seed), targets)
            scaled = loss / self.replicas  # the all-reduce sums the replicas' gradients
        # Dense gradients: the embedding tables' IndexedSlices would need sparse Adam updates.
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(scaled, self.variables)]
        return loss, grads

    def _replica_step(self, step, batch):
        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64)
        loss, grads = self._gradients(step, replica, *_replica_slice(batch, self.replicas))
        if self.replicas > 1:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads, grad_norm = tf.clip_by_global_norm(grads, 1.0)
        self.optimizer.apply(grads, self.learning_rate(step), tf.constant(True))
        # [loss, gradient norm]; the cross-replica sum gives the mean loss and the (shared) norm.
        return tf.stack([loss, grad_norm]) / self.replicas

    def learning_rate(self, step) -> tf.Tensor:
        return warmup_then_decay(step, self.peak, self.total, self.warmup)

    def _replica_predict(self, batch):
        return self.model(*_replica_slice(batch, self.replicas))

    def predict(self, features: Features, batch: int = 64) -> np.ndarray:
        """Outputs for every example; the last batch is padded (static shapes for TPUs)."""
        batch *= self.replicas
        count = len(features.input_ids)
        outputs = []
        for start in range(0, count, batch):
            arrays = [a[start:start + batch] for a in
                      (features.input_ids, features.input_mask, features.segment_ids)]
            real = len(arrays[0])
            arrays = [np.pad(a, [(0, batch - real), (0, 0)]) for a in arrays]
            outputs.append(self.predict_step(tuple(tf.constant(a) for a in arrays))
                           .numpy()[:real])
        return np.concatenate(outputs)


@dataclasses.dataclass
class TaskData:
    """A task's examples as model inputs, built once and shared by all its trials. `evaluation` is the
    split that is scored: dev, or test under `--eval-split test`."""

    labels: tuple[str, ...]
    train: Features
    evaluation: Features
    evaluation_examples: list[Example]
    entity_markers: dict[str, str] = dataclasses.field(default_factory=dict)  # marker -> [unusedN]


def featurize(task: Task, train: list[Example], evaluation: list[Example], checkpoint: str,
              max_seq_length: int) -> TaskData:
    featurizer = Featurizer(vocabulary_directory(checkpoint), task, max_seq_length)
    labels = _label_space(task, train)
    tag_ids = {tag: i for i, tag in enumerate(labels)}
    return TaskData(labels, featurizer.features(train, tag_ids, labels),
                    featurizer.features(evaluation, tag_ids, labels), evaluation,
                    dict(featurizer.markers))


def _subset(features: Features, rows: np.ndarray) -> Features:
    return Features(features.input_ids[rows], features.input_mask[rows], features.segment_ids[rows],
                    features.labels[rows],
                    None if features.word_starts is None else [features.word_starts[r] for r in rows])


def subset_size(fraction: float, count: int) -> int:
    """Training examples a fraction keeps: at least one, all of them at 1."""
    return max(1, min(count, math.ceil(fraction * count - 1e-9)))


def _trial(task: Task, data: TaskData, checkpoint: str, options: Options, seed: int,
           strategy: tf.distribute.Strategy | None = None) -> tuple[dict, list, "_Trial"]:
    """One trial: a fresh encoder (pretrained, or random with --random-init), fine-tuned on the training
    features, scored on the evaluation split. Returns the score and timings, the predictions on the evaluation
    split and the trained trial."""
    settings = resolved(task, options)
    strategy = strategy or tf.distribute.get_strategy()
    batch = settings.batch_size
    if batch % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch-size {batch} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    train = data.train
    num_train = len(train.input_ids)
    total = max(1, int(round(settings.epochs * math.ceil(num_train / batch))))
    xla = default_xla(strategy) if settings.xla is None else settings.xla
    trial = _Trial(task, checkpoint, settings, 1 if task.head == "regression" else len(data.labels),
                   seed, total, strategy, xla)
    arrays = (train.input_ids, train.input_mask, train.segment_ids, train.labels)
    steps_per_epoch = math.ceil(num_train / batch)
    started = time.perf_counter()
    outputs, checked = [], np.zeros([0, 2])
    for step, rows in enumerate(_epoch_order(num_train, batch, total, seed), start=1):
        batch_arrays = tuple(tf.constant(a[rows]) for a in arrays)
        # Kept as tensors ([loss, gradient norm]): a float() here would wait for the device at
        # every step. They are read, and checked, once per epoch.
        outputs.append(trial.train_step(tf.constant(step, tf.int64), batch_arrays))
        if step % steps_per_epoch == 0 or step == total:
            checked = np.concatenate([checked, tf.stack(outputs[len(checked):]).numpy()])
            _check_finite(checked, task, seed, trial)
    losses = checked[:, 0].tolist()
    train_seconds = time.perf_counter() - started

    predicted = _decode(task, trial.predict(data.evaluation), data.evaluation, data.labels)
    scored = data.evaluation_examples
    value = scoring.score(task, [e.label for e in scored], predicted, [e.guid for e in scored])
    log.info("%s seed %d: %.4f after %d steps (%.1f s; loss %.3f -> %.3f)", task.name, seed,
             value, total, train_seconds, losses[0], statistics.fmean(losses[-10:]))
    return ({"seed": seed, "score": value, "steps": total, "train_seconds": train_seconds,
             "first_loss": losses[0], "last_loss": statistics.fmean(losses[-10:])}, predicted, trial)


def _check_finite(outputs: np.ndarray, task: Task, seed: int, trial: _Trial) -> None:
    """Stops a trial whose loss or gradient norm went NaN or infinite (checked once per epoch)."""
    bad = np.flatnonzero(~np.isfinite(outputs).all(axis=1))
    if not len(bad):
        return
    step = int(bad[0]) + 1
    loss, grad_norm = outputs[bad[0]]
    what = (f"loss is {loss}" if not np.isfinite(loss)
            else f"gradient norm is {grad_norm} (loss {loss:.4g})")
    rate = float(trial.learning_rate(step))
    raise NonFiniteError(
        f"fine-tuning diverged: {task.name} seed {seed}: {what} at step {step} of {trial.total} "
        f"(learning rate {rate:.1e}, peak {trial.peak:.1e}); lower --learning-rate")


def run_task(task: Task, data_dir: str, checkpoint: str, options: Options, trials: int = 1,
             seed: int = 0, strategy: tf.distribute.Strategy | None = None, save_model: str | None = None,
             predictions_path: str | None = None) -> dict:
    """`trials` fine-tuning runs with seeds seed, seed+1, ...: mean and (sample) std. The task's files
    are found under `data_dir` in either layout (`evaluation.layouts`); the log names the one read.

    The best trial (by the evaluation split's score) is named in the result (`best_trial`); its predictions
    go to `predictions_path` (JSON lines: id, gold, predicted) and, with `save_model`, its model to that
    directory (`finetune.saving`: transformers and TF). With `options.train_fractions`, the trials run on each
    fraction of the training examples (a learning curve, under `fractions`); the top-level figures, the
    predictions and the saved model are those of the largest fraction."""
    located = locate(task, data_dir, GFILE)
    log.info("%s", located.describe())
    train = read_split(task, located, "train", GFILE)[:options.max_train_examples]
    evaluation = read_split(task, located, options.eval_split, GFILE)[:options.max_eval_examples]
    settings = resolved(task, options)
    data = featurize(task, train, evaluation, checkpoint, settings.max_seq_length)
    fractions = sorted(set(options.train_fractions or (1.0,)))
    order = np.random.default_rng(SUBSET_SEED).permutation(len(train))
    curve = []
    for position, fraction in enumerate(fractions):
        count = subset_size(fraction, len(train))
        subset = data if count == len(train) else dataclasses.replace(
            data, train=_subset(data.train, np.sort(order[:count])))
        if len(fractions) > 1:
            log.info("%s: %d of %d training examples (fraction %g)", task.name, count, len(train), fraction)
        runs, best = [], None
        last = position == len(fractions) - 1
        for k in range(trials):
            record, predicted, trial = _trial(task, subset, checkpoint, options, seed + k, strategy)
            runs.append(record)
            if best is None or record["score"] > best["record"]["score"]:
                best = {"record": record, "index": k, "predicted": predicted,
                        "weights": saving.snapshot(trial.model) if save_model and last else None}
            del trial
        scores = [r["score"] for r in runs]
        curve.append({"fraction": fraction, "train_examples": count, "mean": statistics.fmean(scores),
                      "std": statistics.stdev(scores) if trials > 1 else 0.0, "scores": scores,
                      "runs": runs, "best": best})
    top = curve[-1]
    best = top["best"]
    result = {"task": task.name, "blurb_type": task.blurb_type, "metric": scoring.metric_name(task),
              "checkpoint": checkpoint, "split": options.eval_split, "train_examples": top["train_examples"],
              "eval_examples": len(evaluation),
              "settings": settings_record(settings), "mean": top["mean"], "std": top["std"],
              "scores": top["scores"], "trials": top["runs"],
              "best_trial": {"seed": best["record"]["seed"], "score": best["record"]["score"],
                             "index": best["index"]}}
    if options.train_fractions:
        result["fractions"] = [{key: point[key] for key in
                                ("fraction", "train_examples", "mean", "std", "scores")} for point in curve]
    saved = []
    if predictions_path:
        write_atomically(predictions_path, prediction_lines(task, evaluation, best["predicted"]))
        result["predictions"] = predictions_path
        saved.append(f"its predictions in {predictions_path}")
    if save_model:
        summary = {key: value for key, value in result.items() if key not in ("trials", "fractions")}
        saving.save(save_model, best["weights"], encoder_config(checkpoint), vocabulary_directory(checkpoint),
                    saving.ModelRecord(task, data.labels, settings.max_seq_length, data.entity_markers,
                                       checkpoint, settings_record(settings),
                                       {**best["record"], "index": best["index"]}, summary),
                    None if options.random_init else pretraining_facts(checkpoint))
        result["saved_model"] = save_model
        saved.append(f"its model in {save_model}")
    log.info("%s: the best of %d trial(s) is seed %d (%s %.4f)%s", task.name, trials,
             best["record"]["seed"], options.eval_split, best["record"]["score"],
             ": " + ", ".join(saved) if saved else "")
    return result


def prediction_lines(task: Task, examples: list[Example], predicted: list) -> str:
    """One JSON line per evaluation example: its id, its text, the gold label and the prediction (and, to
    find the errors fast, `correct`, or for token tasks the number of words tagged wrong)."""
    lines = []
    for example, prediction in zip(examples, predicted):
        line: dict = {"id": example.guid}
        if task.head == "token":
            line["words"] = list(example.text_a)
        else:
            line["text"] = example.text_a
            if example.text_b is not None:
                line["text_b"] = example.text_b
        gold = list(example.label) if isinstance(example.label, (list, tuple)) else example.label
        prediction = list(prediction) if isinstance(prediction, (list, tuple)) else prediction
        line["gold"], line["predicted"] = gold, prediction
        if task.head == "token":
            line["wrong_words"] = sum(g != p for g, p in zip(gold, prediction))
        elif task.head != "regression":
            line["correct"] = gold == prediction
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
    return "".join(lines)


def markdown_table(results: list[dict], blurb: float | None) -> str:
    """Our scores beside the published test figures of `anchors.MODELS`, with the sources."""
    split = results[0]["split"] if results else "dev"
    published = " | ".join(f"{model} (published, test)" for model in anchors.MODELS)
    lines = [f"| task | type | metric | {split} score (mean ± std) | trials | "
             f"train / {split} examples | "
             f"{published} |", "|---|---|---|---|---|---|" + "---|" * len(anchors.MODELS)]
    for r in results:
        figures = anchors.published(r["task"])
        cells = " | ".join(_anchor_cell(figures.get(model)) for model in anchors.MODELS)
        lines.append(f"| {r['task']} | {r['blurb_type']} | {r['metric']} | "
                     f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f} | {len(r['scores'])} | "
                     f"{r['train_examples']} / {r['eval_examples']} | {cells} |")
    if blurb is not None:
        lines.append(f"| **BLURB score** (macro over the task types above) | | | "
                     f"**{100 * blurb:.2f}** | | |" + " |" * len(anchors.MODELS))
    lines += ["", f"Our scores are on the **{split}** split (mean ± sample std over the trials). "
              "The published figures are on the **test** split, from base-size models fine-tuned "
              "with their papers' own recipes: they show where a model stands, they are not a "
              "like-for-like comparison. — no published figure found; † the paper's own copy of "
              "the data or metric, not BLURB's."]
    for anchor in anchors.other_setups([r["task"] for r in results]):
        lines.append(f"Also published ({anchor.model}, test): {anchor.score:.2f} on {anchor.task}; "
                     f"{anchor.note}.")
    curves = curve_table(results)
    if curves:
        lines += ["", "Learning curve: the score per fraction of the training examples (the same nested subsets "
                  "for every run; mean ± std over the trials, n = training examples):", "", curves.rstrip("\n")]
    lines += ["", "Sources (each figure's page is named beside it in finetune/anchors.py):"]
    lines += [f"- {model}: {anchors.CITATIONS[model]}" for model in anchors.MODELS]
    return "\n".join(lines) + "\n"


def curve_table(results: list[dict]) -> str:
    """Learning curves as a table: one row per task, one column per fraction (score, examples)."""
    with_curves = [r for r in results if r.get("fractions")]
    if not with_curves:
        return ""
    fractions = sorted({p["fraction"] for r in with_curves for p in r["fractions"]})
    lines = ["| task | " + " | ".join(f"{f:g} of train" for f in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    for r in with_curves:
        points = {p["fraction"]: p for p in r["fractions"]}
        cells = [f"{100 * points[f]['mean']:.2f} ± {100 * points[f]['std']:.2f} (n={points[f]['train_examples']})"
                 if f in points else "—" for f in fractions]
        lines.append(f"| {r['task']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _anchor_cell(anchor: anchors.Anchor | None) -> str:
    if anchor is None:
        return "—"
    return f"{anchor.score:.2f}" + ("" if anchor.same_data else " †")
