"""Learning parity: our trainer (TF2, `pretrain`) against a reference built from transformers' PyTorch ELECTRA.

Both train the same configuration (`--model-size`, `--set`) on the same TFRecords, batch for batch: for each
seed the batches come once from the trainer's own input pipeline (`pretrain.data.training_dataset`) and feed
both implementations. Everything else is each implementation's own, drawn from the seed: the initial
weights, the masking, the generator's samples, the dropout. The reference is `benchmarks.pretrain.
TransformersElectra`: ElectraForMaskedLM + ElectraForPreTraining with shared embeddings, the original masking
(mask_prob of the positions; 85% [MASK], 15% kept, none random), Gumbel sampling without gradient, loss =
MLM + 50 x discriminator, torch's AdamW (b1 .9, b2 .999, eps 1e-6, weight decay .01, none on LayerNorm and
biases), linear warm-up then linear decay, clipping to norm 1.

Every `--eval-every` steps both are scored by the same code on the same held-out examples: the same masked
positions and [MASK]/kept choices, the same uniform draw per position to sample the generator's replacement
(inverse CDF of its softmax, so that each model samples from its own distribution with common random
numbers), no dropout. Reported: the generator's accuracy (its argmax at the masked positions), the
discriminator's loss (sigmoid cross-entropy over real tokens) and AUC (exact, over real tokens), and the CPU
seconds spent training. The verdict per step and metric: the implementations agree when the difference of
their means over the seeds is no larger than the seed-to-seed spread (max - min) of one of them.

Example (the demo's shards, 3 seeds each, ~25 minutes on 2 cores):
    python -m benchmarks.parity --data 'out/demo/tfrecords/128/pretrain_data.tfrecord-0000[1-3]-of-*' \\
        --heldout 'out/demo/tfrecords/128/pretrain_data.tfrecord-00000-of-*' --vocab out/demo/vocab \\
        --model-size tiny --steps 600 --eval-every 100 --seeds 1,2,3 --output out/parity
`--implementations ours` alone (with other `--set` sizes and `--label`) measures how AUC grows with steps
and CPU time; `--plot-only out/parity/parity.json` redraws the figure and the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import pathlib
import sys
import time
from typing import Callable

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

log = logging.getLogger("benchmarks.parity")

METRICS = ("generator_accuracy", "discriminator_loss", "discriminator_auc")
NAMES = {"ours": "ours (TF2)", "reference": "transformers (PyTorch)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="glob(s) of training shards (pretrain_data.tfrecord-*)")
    parser.add_argument("--heldout", help="glob(s) of held-out shards")
    parser.add_argument("--vocab", help="the shards' vocabulary directory")
    parser.add_argument("--model-size", default="tiny", help="tiny, small, base or large (default tiny)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter overrides, as for `python -m pretrain train`")
    parser.add_argument("--steps", type=int, default=600,
                        help="training steps (default 600); the learning rate decays to 0 at the last unless "
                             "--set train_steps=N (N > --steps) sets a longer schedule")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between evaluations (default 100)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--heldout-examples", type=int, default=256,
                        help="held-out examples scored at each evaluation (default 256)")
    parser.add_argument("--implementations", default="ours,reference",
                        help="ours, reference or both (default)")
    parser.add_argument("--reference-optimizer", choices=("adamw", "original"), default="adamw",
                        help="adamw: torch.optim.AdamW (bias-corrected; default); original: Adam without bias "
                             "correction, as ours and google-research/electra")
    parser.add_argument("--reference-init", choices=("transformers", "original"), default="transformers",
                        help="transformers: its normal(0, 0.02) everywhere (default); original: truncated normal, "
                             "Glorot for the embedding projections and the replaced-token output layer, as ours")
    parser.add_argument("--label", default="", help="a name for this configuration in the table and figure")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads for both")
    parser.add_argument("--output", default="out/parity", help="parity.json and parity.png go here")
    parser.add_argument("--plot-only", metavar="JSON[,JSON...]",
                        help="redraw the figure and table from results files (several: into --output, each "
                             "file's reference variant a series of its own)")
    parser.add_argument("--x", choices=("step", "seconds", "tflops"), default="step",
                        help="the figure's x axis: training steps (default), CPU seconds of training or the "
                             "model's training TFLOPs (the same compute for models of different sizes)")
    args = parser.parse_args(argv)
    if not args.plot_only and not (args.data and args.heldout and args.vocab):
        parser.error("--data, --heldout and --vocab are required (unless --plot-only)")
    return args


# ---- configuration and data (the trainer's own code)

def make_config(args: argparse.Namespace):
    """The run's PretrainConfig, as `python -m pretrain train` builds it: size, --set, vocabulary, length."""
    from pretrain import config as config_lib
    from pretrain import data
    from pretrain.files import read_vocabulary

    vocab = read_vocabulary(args.vocab)
    overrides = config_lib.parse_overrides(args.set)
    overrides.update(vocab_size=vocab.size, vocab_sha256=vocab.sha256, do_lower_case=vocab.do_lower_case,
                     strip_accents=vocab.strip_accents, pad_id=vocab.pad_id, cls_id=vocab.cls_id,
                     sep_id=vocab.sep_id, mask_id=vocab.mask_id)
    overrides.setdefault("train_steps", args.steps)  # --set train_steps=N: the first --steps of N steps
    files = data.resolve_files(args.data)
    length = data.check_data(files, vocab, overrides.get("max_seq_length"))
    config = config_lib.for_size(args.model_size, {**overrides, "max_seq_length": length})
    data.check_data(data.resolve_files(args.heldout), vocab, length)
    config.validate()
    return config


def training_batches(pattern: str, config, seed: int, steps: int) -> dict[str, np.ndarray]:
    """The first `steps` batches the trainer's input pipeline gives for `seed`: {feature: [steps, B, L]}."""
    from pretrain import data

    dataset = data.training_dataset(data.resolve_files(pattern), config.batch_size, config.max_seq_length, seed)
    batches = [{k: v.numpy() for k, v in b.items()} for b in dataset.take(steps)]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


@dataclasses.dataclass
class HeldOut:
    """Held-out examples with their masking and sampling draws fixed once, for every model alike."""

    input_ids: np.ndarray  # [N, L]
    input_mask: np.ndarray
    segment_ids: np.ndarray
    masked_ids: np.ndarray  # input_ids with the [MASK]s
    positions: np.ndarray  # [N, P] chosen positions (0 in unused slots)
    weights: np.ndarray  # [N, P] 1.0 for used slots
    uniforms: np.ndarray  # [N, P] one U(0, 1) per slot: the generator's sample is its inverse-CDF value


def heldout_set(pattern: str, config, limit: int, seed: int = 0) -> HeldOut:
    """The first `limit` held-out examples, masked as the trainer masks (round(tokens x mask_prob) real
    tokens other than [CLS]/[SEP], at least 1, at most max_predictions_per_seq; mask_token_fraction of them
    [MASK], the rest kept) with a fixed numpy generator."""
    from pretrain import data

    rows = []
    for batch in data.evaluation_dataset(data.resolve_files(pattern), 64, config.max_seq_length):
        for i in range(batch["input_ids"].shape[0]):
            if batch["input_mask"][i].numpy().any() and len(rows) < limit:
                rows.append({k: v[i].numpy() for k, v in batch.items()})
    if not rows:
        raise SystemExit(f"no held-out example in {pattern}")
    ids = np.stack([r["input_ids"] for r in rows]).astype(np.int32)
    mask = np.stack([r["input_mask"] for r in rows]).astype(np.int32)
    segments = np.stack([r["segment_ids"] for r in rows]).astype(np.int32)
    rng = np.random.default_rng(seed)
    n = config.max_predictions_per_seq
    positions = np.zeros((len(rows), n), np.int32)
    weights = np.zeros((len(rows), n), np.float32)
    masked = ids.copy()
    for i in range(len(rows)):
        candidates = np.flatnonzero(mask[i].astype(bool) & ~np.isin(
            ids[i], [config.cls_id, config.sep_id, config.pad_id, config.mask_id]))
        count = min(int(np.clip(np.round(mask[i].sum() * config.mask_prob), 1, n)), len(candidates))
        chosen = rng.choice(candidates, size=count, replace=False)
        positions[i, :count] = chosen
        weights[i, :count] = 1.0
        to_mask = chosen[rng.random(count) < config.mask_token_fraction]
        masked[i, to_mask] = config.mask_id
    return HeldOut(ids, mask, segments, masked, positions, weights, rng.random((len(rows), n)))


def score(generator_logits: Callable, discriminator_logits: Callable, held: HeldOut,
          batch_size: int = 32) -> dict[str, float]:
    """The metrics of one model on the held-out set. `generator_logits(masked_ids, mask, segments, positions)`
    -> [b, P, V] and `discriminator_logits(ids, mask, segments)` -> [b, L], numpy float32, no dropout."""
    from sklearn.metrics import roc_auc_score

    correct = gen_loss = count = 0.0
    all_logits, all_labels = [], []
    for start in range(0, len(held.input_ids), batch_size):
        part = slice(start, start + batch_size)
        ids, mask, segments = held.input_ids[part], held.input_mask[part], held.segment_ids[part]
        positions, weights = held.positions[part], held.weights[part]
        targets = np.take_along_axis(ids, positions, axis=1)
        logits = generator_logits(held.masked_ids[part], mask, segments, positions).astype(np.float64)
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        correct += float(((log_probs.argmax(-1) == targets) * weights).sum())
        gen_loss -= float((np.take_along_axis(log_probs, targets[..., None], -1)[..., 0] * weights).sum())
        count += float(weights.sum())
        cdf = np.cumsum(np.exp(log_probs), axis=-1)
        sampled = np.minimum((cdf < held.uniforms[part][..., None] * cdf[..., -1:]).sum(-1), cdf.shape[-1] - 1)
        fake = ids.copy()
        rows, slots = np.nonzero(weights)
        fake[rows, positions[rows, slots]] = sampled[rows, slots]
        disc = discriminator_logits(fake, mask, segments)
        real = mask.astype(bool)
        all_logits.append(disc[real].astype(np.float64))
        all_labels.append((fake != ids)[real])
    logits, labels = np.concatenate(all_logits), np.concatenate(all_labels)
    losses = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    return {"generator_accuracy": correct / count, "generator_loss": gen_loss / count,
            "discriminator_loss": float(losses.mean()), "discriminator_auc": float(roc_auc_score(labels, logits)),
            "discriminator_accuracy": float(((logits > 0) == labels).mean()),
            "replaced_fraction": float(labels.mean())}


# ---- the two implementations behind one interface: train(batches), generator_logits, discriminator_logits

class Ours:
    """`pretrain.training.Trainer` on the default strategy (no XLA on CPU, as `train` runs it)."""

    def __init__(self, config, seed: int, threads: int):
        import tensorflow as tf

        from pretrain.training import Trainer

        self.tf = tf
        self.trainer = Trainer(dataclasses.replace(config, seed=seed), tf.distribute.get_strategy(), "none",
                               xla=False)
        model = self.trainer.model
        self._generator = tf.function(lambda i, m, s, p: model.generator_logits(i, m, s, p))
        self._discriminator = tf.function(lambda i, m, s: model.discriminator_logits(i, m, s))
        self._iterator = None

    def start(self, batches: dict[str, np.ndarray]) -> None:
        self._iterator = iter(self.tf.data.Dataset.from_tensor_slices(batches))

    def train(self, steps: int) -> None:
        self.trainer.train_loop(self._iterator, self.tf.constant(steps))["loss_sum"].numpy()

    def generator_logits(self, ids, mask, segments, positions) -> np.ndarray:
        return self._generator(ids, mask, segments, positions).numpy()

    def discriminator_logits(self, ids, mask, segments) -> np.ndarray:
        return self._discriminator(ids, mask, segments).numpy()


class Reference:
    """`benchmarks.pretrain.TransformersElectra`, fed the same batches."""

    def __init__(self, config, seed: int, threads: int, bias_correction: bool = True, original_init: bool = False):
        import torch

        from benchmarks.pretrain import TransformersElectra

        torch.set_num_threads(threads)
        self.torch = torch
        self.electra = TransformersElectra(config, seed, bias_correction, masked_only=True,
                                           original_init=original_init)
        self._batches: dict[str, np.ndarray] = {}
        self._next = 0

    def start(self, batches: dict[str, np.ndarray]) -> None:
        self._batches, self._next = batches, 0

    def train(self, steps: int) -> None:
        tensor = lambda name, i: self.torch.tensor(self._batches[name][i], dtype=self.torch.long)  # noqa: E731
        for i in range(self._next, self._next + steps):
            self.electra.step(tensor("input_ids", i), tensor("input_mask", i), tensor("segment_ids", i))
        self._next += steps

    def _inputs(self, ids, mask, segments) -> dict:
        long = self.torch.long
        return {"input_ids": self.torch.tensor(ids, dtype=long), "attention_mask": self.torch.tensor(mask, dtype=long),
                "token_type_ids": self.torch.tensor(segments, dtype=long)}

    def generator_logits(self, ids, mask, segments, positions) -> np.ndarray:
        self.electra.train(False)
        with self.torch.no_grad():
            logits = self.electra.generator(**self._inputs(ids, mask, segments)).logits.numpy()
        return np.take_along_axis(logits, positions[..., None].astype(np.int64), axis=1)

    def discriminator_logits(self, ids, mask, segments) -> np.ndarray:
        self.electra.train(False)
        with self.torch.no_grad():
            return self.electra.discriminator(**self._inputs(ids, mask, segments)).logits.numpy()


def set_threads(threads: int) -> None:
    """The same intra-op thread count for both frameworks (TensorFlow's only before it starts)."""
    import tensorflow as tf
    import torch

    torch.set_num_threads(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already running (a test): it keeps its own
        pass


def run_one(implementation: str, config, seed: int, batches: dict[str, np.ndarray], held: HeldOut,
            eval_every: int, threads: int, bias_correction: bool = True, original_init: bool = False) -> list[dict]:
    """Trains one implementation for all the batches, scoring it at step 0 and every `eval_every` steps;
    `seconds` is the process CPU time spent training (its own threads; evaluation excluded)."""
    model = (Ours(config, seed, threads) if implementation == "ours"
             else Reference(config, seed, threads, bias_correction, original_init))
    model.start(batches)
    points = [{"step": 0, "seconds": 0.0, "wall_seconds": 0.0, **score(model.generator_logits, model.discriminator_logits, held)}]
    steps, seconds, wall = len(batches["input_ids"]), 0.0, 0.0
    for step in range(eval_every, steps + 1, eval_every):
        start, start_wall = time.process_time(), time.perf_counter()
        model.train(eval_every)
        seconds += time.process_time() - start
        wall += time.perf_counter() - start_wall
        points.append({"step": step, "seconds": seconds, "wall_seconds": wall,
                       **score(model.generator_logits, model.discriminator_logits, held)})
        log.info("%s seed %d step %d (%.0f CPU s): %s", implementation, seed, step, seconds,
                 ", ".join(f"{k} {points[-1][k]:.4f}" for k in METRICS))
    return points


# ---- summary: the table and the figure

def series_name(run: dict, results: dict) -> str:
    """The name a run's curve and column go by: its label, its implementation and how the reference was set up."""
    if run["implementation"] == "ours":
        name = NAMES["ours"]
        if not results.get("config", {}).get("adam_bias_correction", True):
            name += ", Adam without bias correction"
    else:
        variants = [text for key, value, text in (
            ("reference_init", "original", "original init"),
            ("reference_optimizer", "original", "Adam without bias correction")) if results.get(key) == value]
        name = NAMES["reference"] + (f", {', '.join(variants)}" if variants else "")
    return f"{run['label']}: {name}" if run.get("label") else name


def load_results(paths: list[str]) -> dict:
    """One or more parity.json files as one result: the first file's config, every file's runs, each run named
    by its own file's settings (so a second file's reference variant gets a column of its own)."""
    from pretrain import flops
    from pretrain.config import PretrainConfig

    merged: dict = {}
    for path in paths:
        results = json.loads(pathlib.Path(path).read_text())
        config = PretrainConfig(**results["config"])
        per_step = flops.training_flops_per_example(config) * config.batch_size
        for run in results["runs"]:
            run["series"] = series_name(run, results)
            for point in run["points"]:  # the model's training FLOPs so far: compute, whatever the machine's load
                point["tflops"] = point["step"] * per_step / 1e12
        if not merged:
            merged = results
        else:
            architecture = ("num_hidden_layers", "hidden_size", "embedding_size", "generator_hidden_fraction")
            if any(merged["config"][k] != results["config"][k] for k in architecture):
                merged["sizes_differ"] = True
            merged["runs"] += results["runs"]
            merged["command"] = f"{merged.get('command', '')}; {results.get('command', '')}"
    return merged


def _series(results: dict) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in results["runs"]:
        groups.setdefault(run.get("series") or series_name(run, results), []).append(run)
    return groups


def _stats(runs: list[dict], step: int, metric: str) -> tuple | None:
    values = [p[metric] for run in runs for p in run["points"] if p["step"] == step]
    if len(values) < len(runs):
        return None
    values = np.array(values)
    return (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            float(values.min()), float(values.max()), len(values))


def summarize(results: dict) -> tuple[list[dict], str]:
    """Per step and metric: each series' mean, std and range over its seeds; with our runs and a reference, the
    verdict for each reference: agree when the difference of means is no larger than the seed-to-seed range
    (max - min) of one of the two."""
    groups = _series(results)
    ours = [name for name, runs in groups.items() if runs[0]["implementation"] == "ours"]
    references = [name for name, runs in groups.items() if runs[0]["implementation"] != "ours"]
    rows = []
    if len(ours) == 1 and references:
        for step in sorted({p["step"] for run in groups[ours[0]] for p in run["points"]}):
            row = {"step": step, "series": {}, "agree": {}}
            for name in (*ours, *references):
                row["series"][name] = {m: _stats(groups[name], step, m) for m in (*METRICS, "seconds")}
            for name in references:
                verdict = {}
                for metric in METRICS:
                    a, b = row["series"][ours[0]][metric], row["series"][name][metric]
                    if a is not None and b is not None:
                        verdict[metric] = abs(a[0] - b[0]) <= max(a[3] - a[2], b[3] - b[2])
                row["agree"][name] = verdict
            rows.append(row)
        return rows, _comparison_table(rows, ours[0], references)
    for name, runs in groups.items():
        for step in sorted({p["step"] for run in runs for p in run["points"]}):
            keys = (*METRICS, "seconds", *(("tflops",) if "tflops" in runs[0]["points"][0] else ()))
            rows.append({"step": step, "name": name, "stats": {m: _stats(runs, step, m) for m in keys}})
    return rows, _series_table(rows)


def _cell(value: tuple | None) -> str:
    if value is None:
        return "—"
    return f"{value[0]:.3f} ± {value[1]:.3f}" if value[4] > 1 else f"{value[0]:.3f}"


def _comparison_table(rows: list[dict], ours: str, references: list[str]) -> str:
    names = [ours, *references]
    header = ["step"] + [f"{label}: {name}" for label in ("generator accuracy", "discriminator loss",
                                                          "discriminator AUC") for name in names]
    header += [f"within the seed spread: {name}" for name in references]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row["step"])] + [_cell(row["series"][name][metric]) for metric in METRICS for name in names]
        for name in references:
            verdict = row["agree"][name]
            if not verdict:
                cells.append("—")
            else:
                disagree = [m.split("_")[-1] for m in METRICS if m in verdict and not verdict[m]]
                cells.append("yes" if not disagree else "no: " + ", ".join(disagree))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _series_table(rows: list[dict]) -> str:
    lines = ["| model | step | training TFLOPs | CPU s (training) | generator accuracy | discriminator loss | "
             "discriminator AUC |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        seconds, tflops = row["stats"]["seconds"], row["stats"].get("tflops")
        lines.append(f"| {row['name']} | {row['step']} | {'—' if tflops is None else f'{tflops[0]:.1f}'} | "
                     f"{seconds[0]:.0f} | " + " | ".join(_cell(row["stats"][m]) for m in METRICS) + " |")
    return "\n".join(lines)


def plot(results: dict, path: str, x: str = "step") -> None:
    """One panel per metric, against the training step (or `x="seconds"`: CPU seconds of training)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"generator_accuracy": "generator accuracy (held out)",
              "discriminator_loss": "discriminator loss (held out)",
              "discriminator_auc": "discriminator AUC (held out)"}
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    groups = _series(results)
    colours = dict(zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axis, metric in zip(axes, METRICS):
        for name, runs in groups.items():
            for run in runs:
                axis.plot([p[x] for p in run["points"]], [p[metric] for p in run["points"]], color=colours[name],
                          alpha=0.35, linewidth=1)
            length = min(len(run["points"]) for run in runs)
            mean = np.mean([[p[metric] for p in run["points"][:length]] for run in runs], axis=0)
            where = np.mean([[p[x] for p in run["points"][:length]] for run in runs], axis=0)
            axis.plot(where, mean, color=colours[name], linewidth=2.2,
                      label=f"{name}, mean of {len(runs)} seed{'s' if len(runs) > 1 else ''}")
        axis.set_title(titles[metric])
        axis.set_xlabel({"step": "training step", "seconds": "CPU seconds of training",
                         "tflops": "training TFLOPs (model FLOPs, generator included)"}[x])
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    config = results["config"]
    steps = max(p["step"] for run in results["runs"] for p in run["points"])
    schedule = f" of a {config['train_steps']}-step schedule" if config["train_steps"] != steps else ""
    model = ("" if results.get("sizes_differ") else
             f"ELECTRA-{config['model_size']} ({config['num_hidden_layers']} x {config['hidden_size']}), ")
    length = "" if results.get("sizes_differ") else f", {steps} steps{schedule}"
    figure.suptitle(f"{model}batch {config['batch_size']} x {config['max_seq_length']}{length}; held-out: "
                    f"{results.get('heldout_examples', '?')} examples; thin lines: single seeds", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)
    output = pathlib.Path(args.output)
    if args.plot_only:
        files = [path for path in args.plot_only.split(",") if path]
        results = load_results(files)
        output = pathlib.Path(args.output) if len(files) > 1 else pathlib.Path(files[0]).parent
    else:
        set_threads(args.threads)
        config = make_config(args)
        held = heldout_set(args.heldout, config, args.heldout_examples)
        implementations = [i.strip() for i in args.implementations.split(",") if i.strip()]
        results = {"config": dataclasses.asdict(config), "command": " ".join(sys.argv), "runs": [],
                   "reference_optimizer": args.reference_optimizer, "reference_init": args.reference_init,
                   "heldout_examples": len(held.input_ids)}
        for seed in [int(s) for s in args.seeds.split(",")]:
            batches = training_batches(args.data, config, seed, args.steps)
            for implementation in implementations:
                points = run_one(implementation, config, seed, batches, held, args.eval_every, args.threads,
                                 bias_correction=args.reference_optimizer == "adamw",
                                 original_init=args.reference_init == "original")
                results["runs"].append({"implementation": implementation, "seed": seed, "label": args.label,
                                        "points": points})
        output.mkdir(parents=True, exist_ok=True)
        (output / "parity.json").write_text(json.dumps(results, indent=1) + "\n")
    _, table = summarize(results)
    output.mkdir(parents=True, exist_ok=True)
    plot(results, str(output / "parity.png"), args.x)
    print(table)
    print(f"\n{output / 'parity.json'}, {output / 'parity.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
