"""Fine-tuned models as outputs: one directory that is at once a Hugging Face model (transformers'
`AutoModelForTokenClassification` / `AutoModelForSequenceClassification` load it, labels in `config.json`, the
tokenizer files beside it, a model card) and a TensorFlow checkpoint of the project's own model (`tf/`), which
`python -m finetune predict` reads:

    DIR/config.json model.safetensors          ElectraForTokenClassification or ElectraForSequenceClassification
    DIR/vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json
    DIR/README.md                               the model card (metadata block, training, scores)
    DIR/finetune.json                           task, labels, sequence length, entity markers, trial, scores
    DIR/tf/model.ckpt.*  tf/checkpoint          the fine-tuned weights under the original ELECTRA names
                                                (electra/..., task_specific/dense/{kernel,bias})

The project's head is ELECTRA's own: dropout then one dense layer, on every position (token tasks) or on
`[CLS]` (the others). transformers' `ElectraForTokenClassification` computes exactly that (`classifier`).
`ElectraForSequenceClassification`'s head has one more layer, `dense` -> GELU -> `out_proj`; it is written so
that it computes the same function: `dense` is the identity plus a constant shift `c` on every unit, large
enough that every input of the GELU is above 6, where GELU(z) == z exactly in float32 (the encoder's last
LayerNorm bounds its outputs: |gamma_j| * sqrt(H - 1) + |beta_j|), and `out_proj` takes the head's weights with
its bias lowered by `c` times their column sums. The logits equal the TensorFlow model's within float32
rounding of the shift (tests/test_finetune_models.py); the head stays trainable in PyTorch like any other.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math

import numpy as np
import tensorflow as tf
from safetensors.numpy import save as safetensors_bytes

from evaluation.tags import untyped_entity_type, with_type
from evaluation.tasks import Task, get_task
from finetune import hf_checkpoint, scoring
from finetune.model import TASK_SCOPE, FineTuningModel
from pretrain import checkpoints, model_card
from pretrain.config import EncoderConfig, PretrainConfig
from pretrain.errors import PretrainError
from pretrain.export import SPECIAL_TOKENS
from pretrain.huggingface import hf_config, hf_name
from pretrain.files import copy_atomically, read_bytes, read_vocabulary, write_atomically, write_json
from vocab.vocabulary import fast_tokenizer_json

log = logging.getLogger(__name__)

INFO_FILE = "finetune.json"
TF_DIRECTORY = "tf"
TF_CHECKPOINT = "model.ckpt"
HEAD_KERNEL, HEAD_BIAS = f"{TASK_SCOPE}/dense/kernel", f"{TASK_SCOPE}/dense/bias"
# GELU(z) == z exactly in float32 from z ~ 5.35 on (erf rounds to 1); the shift keeps every input above this.
GELU_IDENTITY_FROM = 6.0

ARCHITECTURES = {"token": "ElectraForTokenClassification"}
SEQUENCE_ARCHITECTURE = "ElectraForSequenceClassification"
PROBLEM_TYPES = {"sequence": "single_label_classification", "regression": "regression",
                 "multilabel": "multi_label_classification"}
# The hub's task ids and the model-index metric types.
HUB_TASKS = {"token": "token-classification"}
METRIC_TYPES = {"Pearson": "pearsonr", "accuracy": "accuracy"}


class SavedModelError(PretrainError):
    """A directory that is not a model `--save-model` wrote (the message names what is missing)."""


def architecture(head: str) -> str:
    return ARCHITECTURES.get(head, SEQUENCE_ARCHITECTURE)


def hf_labels(task: Task, labels: tuple[str, ...]) -> list[str]:
    """The labels as `config.json`'s id2label names them: untyped NER tags (`B`, `I`: BLURB's files) with
    the task's entity type (`B-Chemical`), so transformers' token-classification pipeline groups entities
    by type; BIOSSES' one output is `similarity`; HoC's are its hallmark indices as in BLURB's files."""
    if task.head == "token":
        return with_type(list(labels), untyped_entity_type(task))
    if task.head == "regression":
        return ["similarity"]
    return list(labels)


def gelu_shift(named: dict[str, np.ndarray], num_layers: int) -> float:
    """The power of two that keeps `last hidden state + shift` above GELU_IDENTITY_FROM for every input: the
    encoder's last LayerNorm gives |y_j| <= |gamma_j| * sqrt(H - 1) + |beta_j|."""
    scope = f"electra/encoder/layer_{num_layers - 1}/output/LayerNorm"
    gamma, beta = named[f"{scope}/gamma"].astype(np.float64), named[f"{scope}/beta"].astype(np.float64)
    bound = float(np.max(np.abs(gamma) * math.sqrt(len(gamma) - 1) + np.abs(beta)))
    return float(2.0 ** math.ceil(math.log2(bound + GELU_IDENTITY_FROM)))


def hf_tensors(named: dict[str, np.ndarray], head: str, num_layers: int) -> dict[str, np.ndarray]:
    """transformers' tensors for the encoder (the exporter's names, `electra.`) and the task head."""
    tensors = {}
    for name, value in named.items():
        if name.startswith(TASK_SCOPE):
            continue
        target, transpose = hf_name(name)
        tensors[target] = np.ascontiguousarray(value.T if transpose else value, np.float32)
    kernel, bias = named[HEAD_KERNEL].astype(np.float64), named[HEAD_BIAS].astype(np.float64)
    if head == "token":
        tensors["classifier.weight"] = np.ascontiguousarray(kernel.T, np.float32)
        tensors["classifier.bias"] = bias.astype(np.float32)
        return tensors
    hidden = kernel.shape[0]
    shift = gelu_shift(named, num_layers)
    tensors["classifier.dense.weight"] = np.eye(hidden, dtype=np.float32)
    tensors["classifier.dense.bias"] = np.full(hidden, shift, np.float32)
    tensors["classifier.out_proj.weight"] = np.ascontiguousarray(kernel.T, np.float32)
    tensors["classifier.out_proj.bias"] = (bias - shift * kernel.sum(axis=0)).astype(np.float32)
    return tensors


def snapshot(model: FineTuningModel) -> dict[str, np.ndarray]:
    """The model's weights under their original names, as NumPy (a copy: training may go on)."""
    return {name: np.array(variable.numpy()) for name, variable in model.named_variables()}


@dataclasses.dataclass
class ModelRecord:
    """What the saved directory says about how the model was made and how well it does."""

    task: Task
    labels: tuple[str, ...]
    max_seq_length: int
    entity_markers: dict[str, str]
    checkpoint: str  # the encoder it was fine-tuned from
    settings: dict
    trial: dict  # the saved trial: seed, score, steps
    result: dict  # the task's summary: mean, std, scores, split, metric, examples


def save(directory: str, weights: dict[str, np.ndarray], encoder: EncoderConfig, vocab_dir: str,
         record: ModelRecord, pretraining: dict | None = None) -> None:
    """Writes `directory` (see the module docstring). `pretraining`: `model_card.pretraining_facts` of the
    encoder's run, where it came from one."""
    directory = directory.rstrip("/")
    task = record.task
    tf.io.gfile.makedirs(f"{directory}/{TF_DIRECTORY}")
    _save_tf(f"{directory}/{TF_DIRECTORY}", weights)
    vocabulary = read_vocabulary(vocab_dir)
    tensors = hf_tensors(weights, task.head, encoder.num_hidden_layers)
    write_atomically(f"{directory}/model.safetensors",
                     safetensors_bytes(tensors, metadata={"format": "pt"}))
    labels = hf_labels(task, record.labels)
    config = hf_config(encoder, PretrainConfig(pad_id=vocabulary.pad_id), architecture(task.head))
    config.update(
        id2label={str(i): label for i, label in enumerate(labels)},
        label2id={label: i for i, label in enumerate(labels)}, finetuning_task=task.name,
        entity_markers=record.entity_markers)
    if task.head in PROBLEM_TYPES:
        config["problem_type"] = PROBLEM_TYPES[task.head]
    write_json(f"{directory}/{hf_checkpoint.CONFIG}", config)
    copy_atomically(f"{vocab_dir}/vocab.txt", f"{directory}/vocab.txt")
    slots = list(record.entity_markers.values())
    write_atomically(f"{directory}/tokenizer.json", fast_tokenizer_json(
        vocabulary.tokens, vocabulary.do_lower_case, vocabulary.strip_accents,
        vocabulary.tokenize_chinese_chars, special_tokens=slots))
    tokenizer_config = dict(vocabulary.config)
    tokenizer_config.update(
        tokenizer_class="ElectraTokenizer", model_max_length=encoder.max_position_embeddings,
        do_lower_case=vocabulary.do_lower_case, strip_accents=vocabulary.strip_accents,
        tokenize_chinese_chars=vocabulary.tokenize_chinese_chars, **SPECIAL_TOKENS)
    if slots:
        tokenizer_config["additional_special_tokens"] = slots
    write_json(f"{directory}/tokenizer_config.json", tokenizer_config)
    write_json(f"{directory}/special_tokens_map.json",
               {**SPECIAL_TOKENS, **({"additional_special_tokens": slots} if slots else {})})
    write_json(f"{directory}/{INFO_FILE}", {
        "task": task.name, "head": task.head, "labels": list(record.labels), "hf_labels": labels,
        "max_seq_length": record.max_seq_length, "entity_markers": record.entity_markers,
        "checkpoint": record.checkpoint, "settings": record.settings, "trial": record.trial,
        "result": record.result, "encoder": dataclasses.asdict(encoder),
        "tf_checkpoint": f"{TF_DIRECTORY}/{TF_CHECKPOINT}", "architecture": architecture(task.head)})
    model_card.write(directory, card(record, labels, pretraining))
    log.info("saved %s's fine-tuned model (seed %d, %s %.4f) to %s: transformers %s and %s/%s", task.name,
             record.trial["seed"], record.result.get("split", "dev"), record.trial["score"], directory,
             architecture(task.head), TF_DIRECTORY, TF_CHECKPOINT)


def _save_tf(directory: str, weights: dict[str, np.ndarray]) -> None:
    """A name-based checkpoint (tf.train.load_checkpoint reads it), written under a temporary prefix first."""
    names = list(weights)
    temp = f"{directory}/{TF_CHECKPOINT}-tmp"
    tf.raw_ops.SaveV2(prefix=temp, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(weights[n]) for n in names])
    for suffix in (".index", ".data-00000-of-00001"):
        tf.io.gfile.rename(temp + suffix, f"{directory}/{TF_CHECKPOINT}{suffix}", overwrite=True)
    write_atomically(f"{directory}/checkpoint", f'model_checkpoint_path: "{TF_CHECKPOINT}"\n'
                                                f'all_model_checkpoint_paths: "{TF_CHECKPOINT}"\n')


@dataclasses.dataclass
class LoadedModel:
    """A saved fine-tuned model, rebuilt in TensorFlow from its `tf/` checkpoint."""

    directory: str
    task: Task
    labels: tuple[str, ...]
    max_seq_length: int
    info: dict
    model: FineTuningModel


def is_saved_model(directory: str) -> bool:
    return tf.io.gfile.exists(f"{directory.rstrip('/')}/{INFO_FILE}")


def load(directory: str) -> LoadedModel:
    """The model `save` wrote, as the project's FineTuningModel (the exact weights of the TF checkpoint)."""
    directory = directory.rstrip("/")
    try:
        info = json.loads(read_bytes(f"{directory}/{INFO_FILE}"))
    except FileNotFoundError:
        raise SavedModelError(
            f"{directory}/{INFO_FILE} does not exist: --model takes a directory that `python -m finetune "
            "run --save-model DIR` (or blurb --save-models DIR) wrote") from None
    task = get_task(info["task"])
    encoder = EncoderConfig(**info["encoder"])
    prefix = f"{directory}/{info.get('tf_checkpoint', f'{TF_DIRECTORY}/{TF_CHECKPOINT}')}"
    reader = checkpoints.reader(prefix)
    num_outputs = reader.get_variable_to_shape_map()[HEAD_KERNEL][1]
    model = FineTuningModel(hf_checkpoint.build_discriminator(encoder, 0), task.head, num_outputs)
    for name, variable in model.named_variables():
        variable.assign(reader.get_tensor(name))
    return LoadedModel(directory, task, tuple(info["labels"]), info["max_seq_length"], info, model)


def _score(task: Task, result: dict, trial: dict) -> model_card.Score:
    metric = result.get("metric") or scoring.metric_name(task)
    return model_card.Score(
        task_type=HUB_TASKS.get(task.head, "text-classification"), task_name=task.blurb_type,
        dataset=task.name, split=result.get("split", "dev"), metric_type=METRIC_TYPES.get(metric, "f1"),
        metric_name=metric, value=100 * trial["score"])


def _usage(task: Task, record: ModelRecord) -> str:
    cls = ("AutoModelForTokenClassification" if task.head == "token"
           else "AutoModelForSequenceClassification")
    lines = ["```python", "import torch", f"from transformers import AutoTokenizer, {cls}", "",
             "tokenizer = AutoTokenizer.from_pretrained(DIR)",
             f"model = {cls}.from_pretrained(DIR).eval()"]
    if task.head == "token":
        lines += ['inputs = tokenizer("Selegiline-induced postural hypotension in Parkinson\'s disease.", '
                  'return_tensors="pt")',
                  "tags = [model.config.id2label[i] for i in model(**inputs).logits.argmax(-1)[0].tolist()]",
                  "```", "",
                  "A word's tag is its first word-piece's, as in training. `python -m finetune predict --model DIR "
                  "--input abstracts.txt --output tags.jsonl` tags raw text (one document per line: sentences, "
                  "words, character offsets, entities; long sentences in overlapping windows)."]
    else:
        pair = task.reader in ("biosses", "pubmedqa", "bioasq", "mednli", "medsts")
        call = ('tokenizer(first_text, second_text, truncation=True, return_tensors="pt")' if pair
                else 'tokenizer(text, truncation=True, return_tensors="pt")')
        scale = "-".join(f"{v:g}" for v in task.score_scale) if task.score_scale else "its"
        whose = task.name + ("'" if task.name[-1] in "sS" else "'s")
        output = {"regression": f"the similarity ({whose} {scale} scale)",
                  "multilabel": "one independent logit per hallmark (sigmoid > 0.5)"}.get(
            task.head, "softmax over `model.config.id2label`")
        lines += [f"logits = model(**{call}).logits  # {output}", "```"]
    if record.entity_markers:
        lines += ["", "Entity markers are vocabulary slots: replace them in the text before tokenizing "
                  "(`python -m finetune predict` does): "
                  + ", ".join(f"`{marker}` -> `{slot}`" for marker, slot in record.entity_markers.items())
                  + " (also `entity_markers` in config.json)."]
    return "\n".join(lines)


def card(record: ModelRecord, labels: list[str], pretraining: dict | None) -> str:
    task, result, trial = record.task, record.result, record.trial
    name = f"{task.name} ({task.blurb_type}), fine-tuned from {record.checkpoint}"
    meta = model_card.metadata(
        pipeline_tag=HUB_TASKS.get(task.head, "text-classification"),
        tags=[task.benchmark.split()[0].lower(), task.name, task.blurb_type.replace(" ", "-")],
        datasets=[task.name],
        base_model=record.checkpoint, model_name=f"{task.name} fine-tuned", scores=[_score(task, result, trial)])
    split = result.get("split", "dev")
    scores = [f"- this model (seed {trial['seed']}, the best of {len(result.get('scores', [trial]))} trials by "
              f"{split} score): {result.get('metric') or scoring.metric_name(task)} "
              f"{100 * trial['score']:.2f} on {result.get('eval_examples', model_card.UNKNOWN)} {split} examples"]
    if result.get("scores"):
        scores.append(f"- all trials: {100 * result['mean']:.2f} ± {100 * result['std']:.2f} (mean ± sample "
                      f"std over {len(result['scores'])} seeds)")
    settings = record.settings
    fine_tuning = "\n".join([
        f"- task: {task.name}, {task.benchmark}'s {task.blurb_type}; labels ({len(labels)}): "
        + ", ".join(f"`{label}`" for label in labels),
        f"- training examples: {result.get('train_examples', model_card.UNKNOWN)}; evaluation split: {split}",
        f"- recipe: ELECTRA's (layer-wise learning-rate decay {settings.get('layerwise_decay')}, warm-up "
        f"{settings.get('warmup_fraction')}, weight decay {settings.get('weight_decay')}, dropout "
        f"{settings.get('dropout')}); epochs {settings.get('epochs')}, peak learning rate "
        f"{settings.get('learning_rate')}, batch {settings.get('batch_size')}, max sequence length "
        f"{record.max_seq_length}; {trial.get('steps', model_card.UNKNOWN)} steps",
        f"- encoder: `{record.checkpoint}`" + (" (random initialisation: the baseline)"
                                               if settings.get("random_init") else ""),
    ])
    base = (model_card.training_section(pretraining) if pretraining else
            f"- the encoder came from the Hugging Face directory `{record.checkpoint}`: see its own model card "
            f"(README.md) for what it was pretrained on" if not settings.get("random_init") else
            "- none: the encoder was randomly initialised (`--random-init`)")
    return model_card.render(meta, name, [
        ("Model", f"`{architecture(task.head)}` (transformers) fine-tuned by `python -m finetune` on "
                  f"{task.name}; the same weights as a TensorFlow checkpoint in `tf/`. The logits of the "
                  "PyTorch model equal the TensorFlow model's within 1e-4 (tests/test_finetune_models.py).\n\n"
                  + _usage(task, record)),
        ("Fine-tuning", fine_tuning),
        ("Pretraining of the encoder", base),
        ("Scores", "\n".join(scores)),
        ("Licence", model_card.LICENSE_NOTE),
    ])
