"""`export`: Hugging Face directories for the discriminator and the generator, and a TF1-style
name-based checkpoint with the original ELECTRA variable names."""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf
from safetensors.numpy import save as safetensors_bytes

from pretrain import checkpoints, model_card
from pretrain.config import EncoderConfig, PretrainConfig
from pretrain.errors import NonFiniteError
from pretrain.files import copy_atomically, read_vocabulary, write_atomically, write_json
# The name map and config.json live in pretrain.huggingface, which also reads them back (init, fine-tuning).
from pretrain.huggingface import hf_config, hf_name
from pretrain.model import ElectraModel
from vocab.vocabulary import fast_tokenizer_json

log = logging.getLogger(__name__)

SPECIAL_TOKENS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                  "cls_token": "[CLS]", "mask_token": "[MASK]"}


def _tokenizer_files(directory: str, config: PretrainConfig, vocab_dir: str) -> None:
    copy_atomically(f"{vocab_dir}/vocab.txt", f"{directory}/vocab.txt")
    vocabulary = read_vocabulary(vocab_dir)
    write_atomically(f"{directory}/tokenizer.json", fast_tokenizer_json(
        vocabulary.tokens, config.do_lower_case, config.strip_accents, vocabulary.tokenize_chinese_chars))
    tokenizer_config = dict(vocabulary.config)
    tokenizer_config.update(
        do_lower_case=config.do_lower_case, strip_accents=config.strip_accents,
        tokenizer_class="ElectraTokenizer", model_max_length=config.max_position_embeddings,
        tokenize_chinese_chars=tokenizer_config.get("tokenize_chinese_chars", True),
        **SPECIAL_TOKENS)
    write_json(f"{directory}/tokenizer_config.json", tokenizer_config)
    write_json(f"{directory}/special_tokens_map.json", SPECIAL_TOKENS)


def _export_hf(directory: str, tensors: dict[str, np.ndarray], encoder: EncoderConfig,
               config: PretrainConfig, architecture: str, vocab_dir: str) -> None:
    tf.io.gfile.makedirs(directory)
    write_atomically(f"{directory}/model.safetensors", safetensors_bytes(tensors, metadata={"format": "pt"}))
    write_json(f"{directory}/config.json", hf_config(encoder, config, architecture))
    _tokenizer_files(directory, config, vocab_dir)
    log.info("wrote %s (%s, %d tensors)", directory, architecture, len(tensors))


def _export_tf1(directory: str, named: list[tuple[str, np.ndarray]], step: int,
                config: PretrainConfig, vocab_dir: str) -> None:
    tf.io.gfile.makedirs(directory)
    names = [n for n, _ in named] + ["global_step"]
    tensors = [tf.constant(v) for _, v in named] + [tf.constant(step, tf.int64)]
    temp = f"{directory}/model.ckpt-tmp"
    tf.raw_ops.SaveV2(prefix=temp, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)
    for suffix in (".index", ".data-00000-of-00001"):
        tf.io.gfile.rename(temp + suffix, f"{directory}/model.ckpt{suffix}", overwrite=True)
    write_atomically(f"{directory}/checkpoint", 'model_checkpoint_path: "model.ckpt"\n'
           'all_model_checkpoint_paths: "model.ckpt"\n')
    copy_atomically(f"{vocab_dir}/vocab.txt", f"{directory}/vocab.txt")
    disc, gen = config.discriminator(), config.generator()
    # For HF's converter (--config_file) and the original run_finetuning.py (--hparams).
    write_json(f"{directory}/discriminator_config.json",
                hf_config(disc, config, "ElectraForPreTraining"))
    write_json(f"{directory}/generator_config.json", hf_config(gen, config, "ElectraForMaskedLM"))
    write_json(f"{directory}/finetuning_hparams.json", {
        "vocab_size": config.vocab_size, "do_lower_case": config.do_lower_case,
        "embedding_size": config.embedding_size, "max_seq_length": config.max_seq_length,
        "model_hparam_overrides": {
            "hidden_size": disc.hidden_size, "num_hidden_layers": disc.num_hidden_layers,
            "num_attention_heads": disc.num_attention_heads,
            "intermediate_size": disc.intermediate_size}})
    log.info("wrote %s/model.ckpt (%d variables)", directory, len(names))


def _check_finite(named: list[tuple[str, np.ndarray]], prefix: str) -> None:
    """A NaN or an infinity in any tensor (a diverged run's checkpoint) refuses the whole export."""
    for name, value in named:
        bad = ~np.isfinite(value)
        if bad.any():
            kinds = "/".join(sorted({"nan" if np.isnan(v) else str(v) for v in value[bad][:1000]}))
            raise NonFiniteError(
                f"{prefix}: {name} holds {int(bad.sum())} non-finite value(s) ({kinds}) of "
                f"{value.size}; nothing exported (export an earlier checkpoint of the run, "
                f"--checkpoint {checkpoints.run_directory(prefix)}/ckpt-N)")


def export(checkpoint: str, output: str, corpus_stats: str | None = None) -> dict[str, str]:
    """Writes OUTPUT/discriminator, OUTPUT/generator (transformers, each with its model card) and
    OUTPUT/tf1. `corpus_stats`: the corpus job's stats.json, named in the model cards."""
    config, model, prefix = checkpoints.load_model(checkpoint)
    return export_model(model, config, prefix, output, corpus_stats)


def export_model(model: ElectraModel, config: PretrainConfig, prefix: str,
                 output: str, corpus_stats: str | None = None) -> dict[str, str]:
    output = output.rstrip("/")
    vocab_dir = f"{checkpoints.run_directory(prefix)}/vocab"
    named = [(name, variable.numpy()) for name, variable in model.tf1_variables()]
    _check_finite(named, prefix)  # before anything is written: no partial export
    discriminator, generator = {}, {}
    for name, value in named:
        target, transpose = hf_name(name)
        value = np.ascontiguousarray(value.T if transpose else value)
        if name.startswith(("electra/", "discriminator_predictions/")):
            discriminator[target] = value
        if name.startswith(("electra/embeddings/", "generator/", "generator_predictions/")):
            generator[target] = value
    paths = {"discriminator": f"{output}/discriminator", "generator": f"{output}/generator",
             "tf1": f"{output}/tf1"}
    _export_hf(paths["discriminator"], discriminator, config.discriminator(), config,
               "ElectraForPreTraining", vocab_dir)
    _export_hf(paths["generator"], generator, config.generator(), config, "ElectraForMaskedLM",
               vocab_dir)
    step = checkpoints.step_of(prefix)
    _export_tf1(paths["tf1"], named, step, config, vocab_dir)
    facts = model_card.pretraining_facts(checkpoints.run_directory(prefix), step, corpus_stats)
    for kind in ("discriminator", "generator"):
        model_card.write(paths[kind], model_card.pretraining_card(kind, facts))
    return paths
