"""Model cards: the `README.md` of every Hugging Face directory the project writes (the pretraining export's
`discriminator/` and `generator/`, fine-tuned models), with the metadata block the Hugging Face hub reads (YAML
front matter: language, license, tags, datasets, base_model, pipeline_tag, model-index with the scores) and, in
words, what the model was trained on and the scores it has.

What the card says comes from what the run directories record: a pretraining run's `pretrain_config.json`
(size, steps, batch, sequence length, optimiser), `data_files.json` and each data directory's
`pretrain_data.json` (documents, examples, tokens), its `vocab/` (size, casing, checksum) and, when given, the
corpus job's `stats.json` (documents, sentences, text). A figure nobody recorded is written "unknown", never
guessed. Reading goes through `tf.io.gfile` (local, gs://, ram://); rendering is plain Python.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from typing import Any, Sequence

import tensorflow as tf

from pretrain import config as config_lib
from pretrain.files import read_bytes, read_vocabulary, write_atomically

UNKNOWN = "unknown"
CARD_FILE = "README.md"
LICENSE_NOTE = (
    "The licence of the weights is not set by the pipeline (`license: other` above): the corpus' article "
    "licences (PubMed abstracts; the PMC Open Access subsets the corpus job kept, `corpus/licences.py`) and, "
    "for a fine-tuned model, the benchmark data's own terms decide. Set it before publishing the model.")


@dataclasses.dataclass(frozen=True)
class Score:
    """One evaluation result, as the hub's model-index holds it. `value` is in percent."""

    task_type: str  # the hub's task id: token-classification, text-classification, ...
    task_name: str  # in words: "named entity recognition"
    dataset: str  # "BC5CDR-chem"
    split: str  # dev or test
    metric_type: str  # f1, accuracy, pearsonr
    metric_name: str  # "entity-level F1 (seqeval)"
    value: float
    dataset_type: str = ""


# -- YAML (the subset a model card needs; strings are JSON strings, which YAML reads as double-quoted) --------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for nested dicts, lists and scalars."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 2))
            elif isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(item, dict) else '[]'}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                nested = to_yaml(item, indent + 2).split("\n")
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines)


def _hub_id(name: str | None) -> str | None:
    """`owner/name` as the hub names models; local paths and gs:// URLs are not hub ids."""
    if not name or tf.io.gfile.exists(name):
        return None
    return name if re.fullmatch(r"[\w.-]+/[\w.-]+", name) else None


def metadata(*, pipeline_tag: str | None, tags: Sequence[str], datasets: Sequence[str],
             base_model: str | None = None, model_name: str = "", scores: Sequence[Score] = (),
             license: str = "other") -> dict:
    """The front matter's fields; `base_model` only where it is a hub id, `model-index` only with scores."""
    meta: dict[str, Any] = {"language": ["en"], "license": license}
    if license == "other":
        meta["license_name"] = UNKNOWN
    meta["library_name"] = "transformers"
    meta["tags"] = ["biomedical", "electra", "bioelectra-pipeline", *tags]
    if datasets:
        meta["datasets"] = list(datasets)
    hub = _hub_id(base_model)
    if hub:
        meta["base_model"] = hub
    if pipeline_tag:
        meta["pipeline_tag"] = pipeline_tag
    if scores:
        meta["model-index"] = [{"name": model_name or "model", "results": [
            {"task": {"type": s.task_type, "name": s.task_name},
             "dataset": {"name": s.dataset, "type": s.dataset_type or s.dataset, "split": s.split},
             "metrics": [{"type": s.metric_type, "name": s.metric_name, "value": round(s.value, 2),
                          "verified": False}]}
            for s in scores]}]
    return meta


def render(meta: dict, title: str, sections: Sequence[tuple[str, str]]) -> str:
    """The README.md: `---` front matter `---`, the title, then each (heading, markdown) section."""
    body = [f"# {title}", ""]
    for heading, text in sections:
        body += [f"## {heading}", "", text.rstrip(), ""]
    return f"---\n{to_yaml(meta)}\n---\n\n" + "\n".join(body)


def write(directory: str, text: str) -> None:
    write_atomically(f"{directory.rstrip('/')}/{CARD_FILE}", text)


# -- What a pretraining run records ------------------------------------------------------------------------------


def _json(path: str) -> dict | None:
    try:
        value = json.loads(read_bytes(path))
    except (FileNotFoundError, ValueError, tf.errors.OpError):
        return None
    return value if isinstance(value, dict) else None


def pretraining_facts(run_dir: str, step: int | None = None, corpus_stats: str | None = None) -> dict:
    """What a `python -m pretrain train` directory records about the model and its data (None: unknown).
    `step`: the checkpoint's step; `corpus_stats`: the corpus job's stats.json, where the caller knows it."""
    run_dir = run_dir.rstrip("/")
    facts: dict[str, Any] = {"run": run_dir, "step": step}
    config = _json(f"{run_dir}/{config_lib.CONFIG_FILENAME}")
    if config:
        facts["config"] = {key: config.get(key) for key in (
            "model_size", "hidden_size", "num_hidden_layers", "embedding_size", "num_attention_heads",
            "intermediate_size", "vocab_size", "max_seq_length", "batch_size", "train_steps",
            "learning_rate", "warmup_steps", "mask_prob", "generator_hidden_fraction", "disc_weight",
            "accumulation_steps", "do_lower_case", "strip_accents", "vocab_sha256")}
    files = (_json(f"{run_dir}/data_files.json") or {}).get("files") or []
    data = []
    for directory in sorted({posixpath.dirname(f) for f in files}):
        metadata_file = _json(f"{directory}/pretrain_data.json") or {}
        data.append({"directory": directory,
                     "shards_read": sum(posixpath.dirname(f) == directory for f in files),
                     **{key: metadata_file.get(key) for key in (
                         "num_shards", "num_documents", "num_examples", "num_tokens",
                         "num_truncated_tokens", "max_seq_length")}})
    facts["data"] = data
    try:
        vocabulary = read_vocabulary(f"{run_dir}/vocab")
        facts["vocabulary"] = {"size": vocabulary.size, "sha256": vocabulary.sha256,
                               "do_lower_case": vocabulary.do_lower_case,
                               "strip_accents": vocabulary.strip_accents}
    except (ValueError, FileNotFoundError, tf.errors.OpError):
        facts["vocabulary"] = None
    stats = _json(corpus_stats) if corpus_stats else None
    if stats:
        written = stats.get("written", {})
        facts["corpus"] = {"path": corpus_stats, "documents": written.get("documents"),
                           "sentences": written.get("sentences"),
                           "text_bytes": written.get("text_bytes"),
                           "median_sentence_words": stats.get("median_sentence_words"),
                           "languages": stats.get("languages")}
    else:
        facts["corpus"] = None
    return facts


def _figure(value: Any, unit: str = "") -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value}{unit}"


def training_section(facts: dict | None) -> str:
    """Markdown bullets: corpus, pretraining data, vocabulary, model and schedule; "unknown" where nothing
    recorded it."""
    if not facts:
        return "- pretraining: unknown (the encoder came from a directory that does not record it)\n"
    config = facts.get("config") or {}
    corpus = facts.get("corpus")
    vocabulary = facts.get("vocabulary")
    lines = []
    if corpus:
        text_mb = corpus["text_bytes"] / 1e6 if corpus.get("text_bytes") is not None else None
        lines.append(f"- corpus (`{corpus['path']}`): {_figure(corpus.get('documents'))} documents, "
                     f"{_figure(corpus.get('sentences'))} sentences, {_figure(text_mb and round(text_mb, 2))} MB "
                     f"of text; median sentence {_figure(corpus.get('median_sentence_words'))} words")
    else:
        lines.append("- corpus: unknown (no corpus stats.json was given; PubMed abstracts and PMC Open Access "
                     "articles through the project's corpus job)")
    if facts.get("data"):
        for data in facts["data"]:
            lines.append(
                f"- pretraining data `{data['directory']}`: {_figure(data.get('num_examples'))} examples of "
                f"{_figure(data.get('max_seq_length'))} tokens from {_figure(data.get('num_documents'))} "
                f"documents, {_figure(data.get('num_tokens'))} tokens "
                f"({_figure(data.get('num_truncated_tokens'))} truncated), in "
                f"{_figure(data.get('num_shards'))} shards of which the run read {data['shards_read']}")
    else:
        lines.append("- pretraining data: unknown")
    if vocabulary:
        lines.append(f"- vocabulary: {vocabulary['size']:,} WordPiece tokens, "
                     f"{'uncased' if vocabulary['do_lower_case'] else 'cased'}, accents "
                     f"{'stripped' if vocabulary['strip_accents'] else 'kept'} "
                     f"(sha256 {vocabulary['sha256'][:16]}...)")
    else:
        lines.append("- vocabulary: unknown")
    lines.append(f"- model: ELECTRA {_figure(config.get('model_size'))}, {_figure(config.get('num_hidden_layers'))} "
                 f"layers, hidden {_figure(config.get('hidden_size'))}, embeddings "
                 f"{_figure(config.get('embedding_size'))}, generator at "
                 f"{_figure(config.get('generator_hidden_fraction'))} of the width")
    steps = facts.get("step")
    lines.append(f"- pretraining: {_figure(steps)} steps (of {_figure(config.get('train_steps'))} planned), batch "
                 f"{_figure(config.get('batch_size'))} x {_figure(config.get('max_seq_length'))} tokens, peak "
                 f"learning rate {_figure(config.get('learning_rate'))}, warm-up "
                 f"{_figure(config.get('warmup_steps'))} steps, masking {_figure(config.get('mask_prob'))}, "
                 f"discriminator weight {_figure(config.get('disc_weight'))}")
    lines.append(f"- run directory: `{facts.get('run', UNKNOWN)}`")
    return "\n".join(lines) + "\n"


_PRETRAINING_USE = {
    "discriminator": ("ElectraForPreTraining", "feature-extraction",
                      "The discriminator: the encoder to fine-tune (`python -m finetune run --checkpoint "
                      "THIS_DIRECTORY`, or `transformers.AutoModel`), with its replaced-token detection head."),
    "generator": ("ElectraForMaskedLM", "fill-mask",
                  "The generator: a small masked language model (`transformers.pipeline(\"fill-mask\", "
                  "model=THIS_DIRECTORY)`); the discriminator beside it is the model to fine-tune."),
}


def pretraining_card(kind: str, facts: dict, scores: Sequence[Score] = ()) -> str:
    """The README.md of a pretraining export's `discriminator/` or `generator/`."""
    architecture, pipeline_tag, use = _PRETRAINING_USE[kind]
    config = facts.get("config") or {}
    name = f"bioelectra-pipeline {config.get('model_size') or ''} {kind}".replace("  ", " ")
    meta = metadata(pipeline_tag=pipeline_tag, tags=["pretraining", kind], datasets=["pubmed", "pmc"],
                    model_name=name, scores=scores)
    score_text = ("\n".join(f"- {s.dataset} ({s.split}): {s.metric_name} {s.value:.2f}" for s in scores)
                  if scores else
                  "None recorded with the export. Fine-tune and score it on BLURB with `python -m finetune "
                  "blurb --checkpoint THIS_DIRECTORY ...` (docs/finetune.md).")
    return render(meta, name, [
        ("Model", f"{use}\n\n`{architecture}` in PyTorch (transformers), exported from the run's TensorFlow "
                  "checkpoint by `python -m pretrain export`; the logits equal the TensorFlow model's within 1e-4 "
                  "(tests/test_pretrain_export.py)."),
        ("Training", training_section(facts)),
        ("Scores", score_text),
        ("Licence", LICENSE_NOTE),
    ])
