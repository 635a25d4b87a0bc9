"""train -> evaluate -> export entirely on TensorFlow's ram:// filesystem (so no code path
bypasses tf.io.gfile, and gs:// works the same way), then the export checked from the outside:
transformers' PyTorch ELECTRA gives the TF model's logits, and the TF1 checkpoint has exactly the
original ELECTRA variable names and shapes."""

from __future__ import annotations

import dataclasses
import json
import uuid

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from pretrain import checkpoints, cli, load_discriminator, model_card
from pretrain import config as config_lib
from pretrain.data import evaluation_dataset
from pretrain.files import read_vocabulary
from pretrain.model import ElectraModel
from tests.pretrain_data import make_dataset

LENGTH = 32
TINY = ["--model-size", "tiny"]  # 2 layers, 64 wide, generator 32 wide, batch 16


@pytest.fixture(scope="module")
def ram_run() -> dict[str, str]:
    root = f"ram://pretrain-{uuid.uuid4().hex[:8]}"
    paths = make_dataset(root, max_seq_length=LENGTH)
    paths.update(run=f"{root}/run", export=f"{root}/export", metrics=f"{root}/metrics.json")
    assert cli.main(["train", "--data", paths["train"], "--vocab", paths["vocab"],
                     "--output", paths["run"], *TINY, "--train-steps", "20",
                     "--steps-per-loop", "10", "--log-every", "10", "--save-every", "10"]) == 0
    assert cli.main(["evaluate", "--checkpoint", paths["run"], "--data", paths["eval"],
                     "--output-json", paths["metrics"]]) == 0
    assert cli.main(["export", "--checkpoint", paths["run"], "--output", paths["export"]]) == 0
    return paths


def _copy_out(source: str, target) -> str:
    target.mkdir()
    for name in tf.io.gfile.listdir(source):
        tf.io.gfile.copy(f"{source}/{name}", str(target / name))
    return str(target)


def _held_out_batch(ram_run) -> dict[str, np.ndarray]:
    files = tf.io.gfile.glob(ram_run["eval"])
    batch = next(iter(evaluation_dataset(files, 8, LENGTH)))
    return {k: v.numpy() for k, v in batch.items()}


@pytest.mark.slow
def test_every_file_went_through_gfile(ram_run):
    run, export = ram_run["run"], ram_run["export"]
    assert tf.train.latest_checkpoint(run) == f"{run}/ckpt-20"
    for path in (f"{run}/pretrain_config.json", f"{run}/vocab/vocab.txt",
                 f"{run}/vocab/tokenizer_config.json", f"{export}/tf1/model.ckpt.index",
                 f"{export}/discriminator/model.safetensors", f"{export}/generator/config.json"):
        assert tf.io.gfile.exists(path), path
    assert tf.io.gfile.glob(f"{run}/train/events.out.tfevents.*")
    assert tf.io.gfile.glob(f"{run}/eval/events.out.tfevents.*")
    with tf.io.gfile.GFile(ram_run["metrics"]) as f:
        metrics = json.load(f)
    assert metrics["step"] == 20 and metrics["examples"] > 50
    assert 0 < metrics["generator_loss"] < 9 and 0 < metrics["discriminator_loss"] < 2


@pytest.mark.slow
def test_transformers_loads_the_export_with_the_same_logits(ram_run, tmp_path):
    config, model, _ = checkpoints.load_model(ram_run["run"])
    batch = _held_out_batch(ram_run)
    real = batch["input_mask"].astype(bool)
    assert (~real).any(), "the batch should hold padding too"
    as_torch = {"input_ids": torch.tensor(batch["input_ids"], dtype=torch.long),
                "attention_mask": torch.tensor(batch["input_mask"], dtype=torch.long),
                "token_type_ids": torch.tensor(batch["segment_ids"], dtype=torch.long)}
    tf_logits = {
        "discriminator": model.discriminator_logits(
            batch["input_ids"], batch["input_mask"], batch["segment_ids"]).numpy(),
        "generator": model.generator_logits(
            batch["input_ids"], batch["input_mask"], batch["segment_ids"]).numpy()}
    classes = {"discriminator": transformers.ElectraForPreTraining,
               "generator": transformers.ElectraForMaskedLM}
    for kind, cls in classes.items():
        directory = _copy_out(f"{ram_run['export']}/{kind}", tmp_path / kind)
        hf_model, info = cls.from_pretrained(directory, output_loading_info=True)
        assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]), info
        with torch.no_grad():
            hf_logits = hf_model.eval()(**as_torch).logits.numpy()
        assert hf_logits.shape == tf_logits[kind].shape
        np.testing.assert_allclose(hf_logits[real], tf_logits[kind][real], atol=1e-4, rtol=0)
    generator_config = json.loads((tmp_path / "generator" / "config.json").read_text())
    assert generator_config["hidden_size"] == 32 and generator_config["embedding_size"] == 64

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "discriminator"))
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    ids = tokenizer("IL-2 Gene Expression")["input_ids"]
    assert ids[0] == config.cls_id and ids[-1] == config.sep_id
    assert tokenizer.convert_ids_to_tokens(ids)[1:4] == ["il", "-", "2"]
    # tokenizer.json is the run's own tokenizer: the ids of the vocabulary's reference tokenizer.
    from tokenizers import Tokenizer
    from vocab.fast_path import reference_tokenizer
    vocabulary = read_vocabulary(f"{ram_run['run']}/vocab")
    reference = reference_tokenizer(vocabulary.token_ids(), True, True)
    fast = Tokenizer.from_file(str(tmp_path / "discriminator" / "tokenizer.json"))
    texts = ["IL-2 gene expression and NF-kappa B activation in Jurkat T cells.",
             "Ca2+ influx (5.53 nM) via CD28 — naïve CD4+ cells"]
    assert ([e.ids for e in fast.encode_batch(texts)] == [e.ids for e in reference.encode_batch(texts)]
            == [tokenizer(t)["input_ids"] for t in texts])


def _front_matter(text: str) -> tuple[dict, str]:
    import yaml

    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


@pytest.mark.slow
def test_model_cards_say_what_the_run_recorded(ram_run):
    config = config_lib.load(ram_run["run"])
    for kind, pipeline in (("discriminator", "feature-extraction"), ("generator", "fill-mask")):
        with tf.io.gfile.GFile(f"{ram_run['export']}/{kind}/README.md") as f:
            meta, body = _front_matter(f.read())
        assert meta["language"] == ["en"] and meta["license"] == "other"
        assert meta["pipeline_tag"] == pipeline and meta["library_name"] == "transformers"
        assert {"biomedical", "electra", kind} <= set(meta["tags"])
        assert "model-index" not in meta and "base_model" not in meta  # no scores, trained from scratch
        assert f"- pretraining: 20 steps (of 20 planned), batch {config.batch_size} x {LENGTH} tokens" in body
        assert f"- vocabulary: {config.vocab_size:,} WordPiece tokens, uncased, accents stripped" in body
        data = ram_run["train"].rsplit("/", 1)[0]
        assert f"- pretraining data `{data}`: " in body and "in 4 shards of which the run read 4" in body
        assert "- corpus: unknown (no corpus stats.json was given" in body  # not guessed


def test_model_card_metadata_and_corpus_stats(tmp_path):
    import yaml

    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"written": {"documents": 1030, "sentences": 12579, "text_bytes": 2_500_000},
                                 "median_sentence_words": 22}))
    facts = model_card.pretraining_facts(str(tmp_path / "no-run"), 1500, str(stats))
    text = model_card.training_section(facts)
    assert f"- corpus (`{stats}`): 1,030 documents, 12,579 sentences, 2.5 MB of text; median sentence 22" in text
    assert "- model: ELECTRA unknown, unknown layers" in text and "- vocabulary: unknown" in text
    score = model_card.Score("token-classification", "named entity recognition", "BC5CDR-chem", "dev", "f1",
                             "entity-level F1 (seqeval)", 24.6123)
    meta = model_card.metadata(pipeline_tag="token-classification", tags=["ner"], datasets=["BC5CDR-chem"],
                               base_model="someone/bioelectra-base", model_name="m", scores=[score])
    card = model_card.render(meta, "m", [("Scores", "- 24.61")])
    parsed, body = _front_matter(card)
    assert parsed == {**meta, "model-index": [{"name": "m", "results": [{
        "task": {"type": "token-classification", "name": "named entity recognition"},
        "dataset": {"name": "BC5CDR-chem", "type": "BC5CDR-chem", "split": "dev"},
        "metrics": [{"type": "f1", "name": "entity-level F1 (seqeval)", "value": 24.61, "verified": False}]}]}]}
    assert parsed["base_model"] == "someone/bioelectra-base"
    assert body.startswith("\n# m\n\n## Scores\n\n- 24.61\n")
    # A local path is not a hub id: it stays out of base_model.
    assert "base_model" not in model_card.metadata(pipeline_tag=None, tags=[], datasets=[],
                                                   base_model=str(tmp_path))
    assert yaml.safe_load(model_card.to_yaml({"a": 'quote " and: colon', "b": [], "c": [{"d": 1}]})) == {
        "a": 'quote " and: colon', "b": [], "c": [{"d": 1}]}


def original_variables(config: config_lib.PretrainConfig) -> dict[str, list[int]]:
    """Names and shapes of an original ELECTRA checkpoint (google-research/electra
    model/modeling.py and run_pretraining.py scopes), written out independently of pretrain."""
    disc, gen = config.discriminator(), config.generator()
    e, v = config.embedding_size, config.vocab_size
    names = {"global_step": [],
             "electra/embeddings/word_embeddings": [v, e],
             "electra/embeddings/position_embeddings": [config.max_position_embeddings, e],
             "electra/embeddings/token_type_embeddings": [config.type_vocab_size, e],
             "electra/embeddings/LayerNorm/gamma": [e], "electra/embeddings/LayerNorm/beta": [e]}

    def dense(scope, n_in, n_out):
        names[f"{scope}/kernel"], names[f"{scope}/bias"] = [n_in, n_out], [n_out]

    def layer_norm(scope, n):
        names[f"{scope}/gamma"], names[f"{scope}/beta"] = [n], [n]

    for scope, c in (("electra", disc), ("generator", gen)):
        h, i = c.hidden_size, c.intermediate_size
        if e != h:
            dense(f"{scope}/embeddings_project", e, h)
        for n in range(c.num_hidden_layers):
            layer = f"{scope}/encoder/layer_{n}"
            for part in ("query", "key", "value"):
                dense(f"{layer}/attention/self/{part}", h, h)
            dense(f"{layer}/attention/output/dense", h, h)
            layer_norm(f"{layer}/attention/output/LayerNorm", h)
            dense(f"{layer}/intermediate/dense", h, i)
            dense(f"{layer}/output/dense", i, h)
            layer_norm(f"{layer}/output/LayerNorm", h)
    dense("generator_predictions/dense", gen.hidden_size, e)
    layer_norm("generator_predictions/LayerNorm", e)
    names["generator_predictions/output_bias"] = [v]
    dense("discriminator_predictions/dense", disc.hidden_size, disc.hidden_size)
    dense("discriminator_predictions/dense_1", disc.hidden_size, 1)
    return names


@pytest.mark.slow
def test_tf1_checkpoint_has_exactly_the_original_names_and_shapes(ram_run):
    config = config_lib.load(ram_run["run"])
    reader = checkpoints.reader(f"{ram_run['export']}/tf1/model.ckpt")
    assert reader.get_variable_to_shape_map() == original_variables(config)
    assert reader.get_tensor("global_step") == 20


def test_tf1_names_for_published_electra_small():
    small = config_lib.for_size("small")
    model = ElectraModel(small)
    ours = {name: variable.shape.as_list() for name, variable in model.tf1_variables()}
    expected = original_variables(small)
    del expected["global_step"]
    assert ours == expected
    # The released ELECTRA-Small checkpoint's distinctive shapes.
    assert ours["electra/embeddings_project/kernel"] == [128, 256]
    assert ours["generator/embeddings_project/kernel"] == [128, 64]
    assert ours["generator_predictions/dense/kernel"] == [64, 128]


@pytest.mark.slow
def test_load_discriminator_and_init_from_the_tf1_export(ram_run):
    config, model, _ = checkpoints.load_model(ram_run["run"])
    batch = _held_out_batch(ram_run)
    discriminator = load_discriminator(ram_run["run"])
    logits = discriminator(batch["input_ids"], batch["input_mask"], batch["segment_ids"])
    np.testing.assert_allclose(logits.numpy(), model.discriminator_logits(
        batch["input_ids"], batch["input_mask"], batch["segment_ids"]).numpy(), atol=1e-6)
    hidden = discriminator.sequence_output(batch["input_ids"], batch["input_mask"])
    assert hidden.shape == (8, LENGTH, config.hidden_size)
    # Only the discriminator's weights (embeddings included): fine-tuning never sees the generator.
    assert len(discriminator.trainable_variables) == sum(
        not n.startswith("generator") for n, _ in model.tf1_variables())

    # --init-checkpoint from the TF1 export: with a zero learning rate, one step keeps the weights.
    fresh = f"{ram_run['run']}-continued"
    assert cli.main(["train", "--data", ram_run["train"], "--vocab", ram_run["vocab"],
                     "--output", fresh, *TINY, "--train-steps", "1", "--set", "learning_rate=0",
                     "--init-checkpoint", f"{ram_run['export']}/tf1/model.ckpt"]) == 0
    _, continued, _ = checkpoints.load_model(fresh)
    for (name, a), (_, b) in zip(model.tf1_variables(), continued.tf1_variables()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    other = dataclasses.replace(config, hidden_size=128, embedding_size=128)
    with pytest.raises(ValueError, match="has shape .* but this model needs"):
        checkpoints.restore_weights(ElectraModel(other), f"{ram_run['export']}/tf1/model.ckpt")
