"""Fine-tune one task: trials with different seeds, each scored on the dev split with BLURB's
metric; results as JSON per task and a markdown table."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import time

import numpy as np
import tensorflow as tf

from finetune import anchors, scoring
from finetune.features import IGNORE, Featurizer, Features
from finetune.model import (FineTuningModel, LayerwiseAdamW, learning_rate, load_encoder,
                            run_directory)
from finetune.tasks import Example, Task, read_split

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


def resolved(task: Task, options: Options) -> dict:
    return {"epochs": options.epochs or task.epochs,
            "learning_rate": options.learning_rate or task.learning_rate,
            "batch_size": options.batch_size or task.batch_size,
            "max_seq_length": options.max_seq_length or task.max_seq_length,
            "layerwise_decay": options.layerwise_decay, "warmup_fraction": options.warmup_fraction,
            "weight_decay": options.weight_decay, "dropout": options.dropout,
            "random_init": options.random_init}


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


def train_and_score(task: Task, train: list[Example], dev: list[Example], checkpoint: str,
                    options: Options, seed: int) -> dict:
    """One trial: a fresh encoder (pretrained, or random with --random-init), fine-tuned on
    `train`, scored on `dev`. Returns the score, the dev predictions' metric and timings."""
    settings = resolved(task, options)
    tf.random.set_seed(seed)
    vocab_dir = f"{run_directory(checkpoint)}/vocab"
    featurizer = Featurizer(vocab_dir, task, settings["max_seq_length"])
    labels = _label_space(task, train)
    tag_ids = {tag: i for i, tag in enumerate(labels)}
    train_features = featurizer.features(train, tag_ids, labels)
    dev_features = featurizer.features(dev, tag_ids, labels)
    outputs = 1 if task.head == "regression" else len(labels)
    encoder = load_encoder(checkpoint, seed if options.random_init else None)
    model = FineTuningModel(encoder, task.head, outputs, settings["dropout"], seed)
    named = model.named_variables()
    optimizer = LayerwiseAdamW(named, model.num_layers, settings["layerwise_decay"],
                               settings["weight_decay"])
    variables = [v for _, v in named]
    batch = settings["batch_size"]
    steps_per_epoch = math.ceil(len(train) / batch)
    total = max(1, int(round(settings["epochs"] * steps_per_epoch)))
    warmup = int(settings["warmup_fraction"] * total)

    @tf.function
    def step_fn(step, ids, mask, segments, targets):
        dropout_seed = tf.stack([tf.constant(seed, tf.int32), tf.cast(step, tf.int32)])
        with tf.GradientTape() as tape:
            loss = _loss(task.head, model(ids, mask, segments, dropout_seed), targets)
        # Dense gradients: the embedding tables' IndexedSlices would need sparse Adam updates.
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        grads, _ = tf.clip_by_global_norm(grads, 1.0)
        optimizer.apply(grads, learning_rate(step, settings["learning_rate"], total, warmup))
        return loss

    dataset = (tf.data.Dataset.from_tensor_slices((
        train_features.input_ids, train_features.input_mask, train_features.segment_ids,
        train_features.labels))
        .shuffle(len(train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch).repeat())
    started = time.perf_counter()
    losses = []
    for step, (ids, mask, segments, targets) in enumerate(dataset.take(total), start=1):
        losses.append(float(step_fn(tf.constant(step, tf.int64), ids, mask, segments, targets)))
    train_seconds = time.perf_counter() - started

    predict = tf.function(lambda i, m, s: model(i, m, s))
    outputs_dev = np.concatenate([
        predict(dev_features.input_ids[i:i + 64], dev_features.input_mask[i:i + 64],
                dev_features.segment_ids[i:i + 64]).numpy()
        for i in range(0, len(dev), 64)])
    predicted = _decode(task, outputs_dev, dev_features, labels)
    value = scoring.score(task, [e.label for e in dev], predicted, [e.guid for e in dev])
    log.info("%s seed %d: %.4f after %d steps (%.1f s; loss %.3f -> %.3f)", task.name, seed,
             value, total, train_seconds, losses[0], statistics.fmean(losses[-10:]))
    return {"seed": seed, "score": value, "steps": total, "train_seconds": train_seconds,
            "first_loss": losses[0], "last_loss": statistics.fmean(losses[-10:])}


def run_task(task: Task, data_dir: str, checkpoint: str, options: Options, trials: int = 1,
             seed: int = 0) -> dict:
    """`trials` fine-tuning runs with seeds seed, seed+1, ...: mean and (sample) std."""
    train = read_split(task, data_dir, "train")[:options.max_train_examples]
    dev = read_split(task, data_dir, "dev")[:options.max_eval_examples]
    runs = [train_and_score(task, train, dev, checkpoint, options, seed + k)
            for k in range(trials)]
    scores = [r["score"] for r in runs]
    return {"task": task.name, "blurb_type": task.blurb_type, "metric": scoring.metric_name(task),
            "checkpoint": checkpoint, "train_examples": len(train), "dev_examples": len(dev),
            "settings": resolved(task, options), "mean": statistics.fmean(scores),
            "std": statistics.stdev(scores) if trials > 1 else 0.0,
            "scores": scores, "trials": runs}


def write_json(path: str, value: dict) -> None:
    """Temp name, then rename."""
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(value, indent=2) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def markdown_table(results: list[dict], blurb: float | None) -> str:
    """Our dev scores beside the published test figures of `anchors.MODELS`, with the sources."""
    published = " | ".join(f"{model} (published, test)" for model in anchors.MODELS)
    lines = [f"| task | type | metric | dev score (mean ± std) | trials | train / dev examples | "
             f"{published} |", "|---|---|---|---|---|---|" + "---|" * len(anchors.MODELS)]
    for r in results:
        figures = anchors.published(r["task"])
        cells = " | ".join(_anchor_cell(figures.get(model)) for model in anchors.MODELS)
        lines.append(f"| {r['task']} | {r['blurb_type']} | {r['metric']} | "
                     f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f} | {len(r['scores'])} | "
                     f"{r['train_examples']} / {r['dev_examples']} | {cells} |")
    if blurb is not None:
        lines.append(f"| **BLURB score** (macro over the task types above) | | | "
                     f"**{100 * blurb:.2f}** | | |" + " |" * len(anchors.MODELS))
    lines += ["", "Our scores are on the **dev** split (mean ± sample std over the trials). The "
              "published figures are on the **test** split, from base-size models fine-tuned with "
              "their papers' own recipes: they show where a model stands, they are not a "
              "like-for-like comparison. — no published figure found; † the paper's own copy of "
              "the data or metric, not BLURB's."]
    for anchor in anchors.other_setups([r["task"] for r in results]):
        lines.append(f"Also published ({anchor.model}, test): {anchor.score:.2f} on {anchor.task}; "
                     f"{anchor.note}.")
    lines += ["", "Sources (each figure's page is named beside it in finetune/anchors.py):"]
    lines += [f"- {model}: {anchors.CITATIONS[model]}" for model in anchors.MODELS]
    return "\n".join(lines) + "\n"


def _anchor_cell(anchor: anchors.Anchor | None) -> str:
    if anchor is None:
        return "—"
    return f"{anchor.score:.2f}" + ("" if anchor.same_data else " †")
