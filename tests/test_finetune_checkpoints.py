"""Fine-tuning from a Hugging Face directory: a tiny ELECTRA pretrained here for real, exported with
`python -m pretrain export`, gives the same fine-tuning inputs and outputs as its TF checkpoint;
transformers' PyTorch models check the HF path from the outside (ELECTRA and BERT layouts)."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf
import torch
import transformers

from evaluation.layouts import read_split
from evaluation.tasks import TASKS
from finetune.features import Featurizer
from finetune.hf_checkpoint import CheckpointError
from finetune.model import FineTuningModel, load_encoder, vocabulary_directory
from pretrain import cli as pretrain_cli
from pretrain.errors import PretrainError
from tests.fixtures import DATA, genia_documents
from tests.pretrain_data import build_examples, write_shards, write_vocabulary

pytestmark = pytest.mark.slow  # pretrains and exports a tiny model, loads it in TF, PyTorch and transformers

BLURB = str(DATA / "blurb")
LENGTH = 64
UNUSED = [f"[unused{i}]" for i in range(4)]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> dict[str, str]:
    """A 2-layer ELECTRA pretrained for 10 steps on GENIA, then exported."""
    root = tmp_path_factory.mktemp("checkpoints")
    documents = genia_documents()
    vocab = write_vocabulary(str(root / "vocab"), documents)
    with open(f"{vocab}/vocab.txt", "a", encoding="utf-8") as f:  # slots for entity markers
        f.write("".join(token + "\n" for token in UNUSED))
    shards = write_shards(str(root / "shards"), build_examples(documents, vocab, LENGTH, seed=1),
                          vocab, LENGTH, num_shards=1)
    run, export = str(root / "run"), str(root / "export")
    assert pretrain_cli.main(["train", "--data", shards, "--vocab", vocab, "--output", run,
                              "--model-size", "tiny", "--max-seq-length", str(LENGTH),
                              "--train-steps", "10", "--steps-per-loop", "10",
                              "--log-every", "10"]) == 0
    assert pretrain_cli.main(["export", "--checkpoint", run, "--output", export]) == 0
    return {"run": run, "hf": f"{export}/discriminator"}


@pytest.fixture(scope="module")
def examples() -> dict[str, list]:
    """Real fixture text: NER sentences, DDI relations (entity markers), BIOSSES pairs."""
    return {name: read_split(TASKS[name], BLURB, "dev")[:24]
            for name in ("BC5CDR-chem", "DDI", "BIOSSES")}


def _features(vocab_dir: str, name: str, examples: list):
    task = TASKS[name]
    featurizer = Featurizer(vocab_dir, task, LENGTH)
    if task.head == "token":
        tags = sorted({tag for e in examples for tag in e.label})
        return featurizer.features(examples, {tag: i for i, tag in enumerate(tags)})
    return featurizer.features(examples, labels=task.labels)


def _torch_inputs(features) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.tensor(features.input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(features.input_mask, dtype=torch.long),
            "token_type_ids": torch.tensor(features.segment_ids, dtype=torch.long)}


def _hidden(encoder, features) -> np.ndarray:
    return encoder.sequence_output(features.input_ids, features.input_mask,
                                   features.segment_ids).numpy()


def test_run_and_export_give_the_same_inputs(pretrained, examples):
    run_vocab, hf_vocab = (vocabulary_directory(pretrained[k]) for k in ("run", "hf"))
    assert run_vocab == f"{pretrained['run']}/vocab" and hf_vocab == pretrained["hf"]
    for name, batch in examples.items():
        from_run, from_hf = _features(run_vocab, name, batch), _features(hf_vocab, name, batch)
        for field in ("input_ids", "input_mask", "segment_ids", "labels"):
            np.testing.assert_array_equal(getattr(from_run, field), getattr(from_hf, field))
        assert from_run.word_starts == from_hf.word_starts
    # transformers' own tokenizer, from the export's tokenizer_config.json, agrees on pairs.
    tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained["hf"])
    pairs = examples["BIOSSES"]
    expected = tokenizer([e.text_a for e in pairs], [e.text_b for e in pairs], truncation=True,
                         padding="max_length", max_length=LENGTH)
    ours = _features(hf_vocab, "BIOSSES", pairs)
    np.testing.assert_array_equal(ours.input_ids, expected["input_ids"])
    np.testing.assert_array_equal(ours.segment_ids, expected["token_type_ids"])


@pytest.mark.parametrize("name, head, outputs", [("BC5CDR-chem", "token", 3),
                                                 ("DDI", "sequence", 5)])
def test_run_and_export_give_the_same_outputs(pretrained, examples, name, head, outputs):
    features = _features(vocabulary_directory(pretrained["run"]), name, examples[name])
    inputs = (features.input_ids, features.input_mask, features.segment_ids)
    models = [FineTuningModel(load_encoder(pretrained[kind]), head, outputs, seed=5)
              for kind in ("run", "hf")]
    from_run, from_hf = models
    assert [n for n, _ in from_run.named_variables()] == [n for n, _ in from_hf.named_variables()]
    for (_, a), (_, b) in zip(from_run.named_variables(), from_hf.named_variables()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the export is lossless
    np.testing.assert_allclose(from_run(*inputs).numpy(), from_hf(*inputs).numpy(), atol=1e-5)
    # Training mode too: the same dropout rates and seeds drop the same units.
    seed = tf.constant([3, 1])
    np.testing.assert_allclose(from_run(*inputs, dropout_seed=seed).numpy(),
                               from_hf(*inputs, dropout_seed=seed).numpy(), atol=1e-5)


def test_transformers_electra_agrees_with_the_loaded_export(pretrained, examples):
    features = _features(pretrained["hf"], "BC5CDR-chem", examples["BC5CDR-chem"])
    real = features.input_mask.astype(bool)
    encoder = load_encoder(pretrained["hf"])
    with torch.no_grad():
        hidden = transformers.ElectraModel.from_pretrained(pretrained["hf"]).eval()(
            **_torch_inputs(features)).last_hidden_state.numpy()
        logits = transformers.ElectraForPreTraining.from_pretrained(pretrained["hf"]).eval()(
            **_torch_inputs(features)).logits.numpy()
    np.testing.assert_allclose(_hidden(encoder, features)[real], hidden[real], atol=1e-4, rtol=0)
    # The replaced-token head came along too.
    ours = encoder(features.input_ids, features.input_mask, features.segment_ids).numpy()
    np.testing.assert_allclose(ours[real], logits[real], atol=1e-4, rtol=0)


def test_random_init_from_a_model_directory(pretrained):
    trained = load_encoder(pretrained["hf"])
    fresh, again = load_encoder(pretrained["hf"], 7), load_encoder(pretrained["hf"], 7)
    assert ([v.shape for v in fresh.trainable_variables]
            == [v.shape for v in trained.trainable_variables])
    word = lambda e: e.embeddings.word_embeddings.numpy()  # noqa: E731
    np.testing.assert_array_equal(word(fresh), word(again))
    assert not np.allclose(word(fresh), word(trained))
    assert not np.allclose(word(fresh), word(load_encoder(pretrained["hf"], 8)))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> str:
    """A cased BERT as transformers writes it (BertForMaskedLM: `bert.` prefix, MLM head, no
    replaced-token head; tokenizer_config.json with strip_accents null) plus the vocab.txt that
    hub repositories carry (transformers 5 itself writes only tokenizer.json)."""
    directory = tmp_path_factory.mktemp("bert")
    vocab = write_vocabulary(str(directory / "cased"), genia_documents(), lowercase=False)
    size = len(Path(vocab, "vocab.txt").read_text(encoding="utf-8").splitlines())
    config = transformers.BertConfig(vocab_size=size, hidden_size=48, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=96,
                                     max_position_embeddings=LENGTH)
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(directory)
    transformers.BertTokenizer(vocab=f"{vocab}/vocab.txt", do_lower_case=False).save_pretrained(
        directory)
    shutil.copy(f"{vocab}/vocab.txt", directory / "vocab.txt")
    return str(directory)


def test_a_bert_directory_loads_with_transformers_outputs(bert_dir, examples, caplog):
    settings = json.loads(Path(bert_dir, "tokenizer_config.json").read_text())
    assert settings["do_lower_case"] is False and settings["strip_accents"] is None
    features = _features(vocabulary_directory(bert_dir), "BIOSSES", examples["BIOSSES"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    pairs = examples["BIOSSES"]
    expected = tokenizer([e.text_a for e in pairs], [e.text_b for e in pairs], truncation=True,
                         padding="max_length", max_length=LENGTH)
    np.testing.assert_array_equal(features.input_ids, expected["input_ids"])  # cased
    assert (features.input_ids == 1).mean() < 0.05  # few [UNK]: the casing matches the vocabulary
    with caplog.at_level(logging.INFO, logger="finetune.hf_checkpoint"):
        encoder = load_encoder(bert_dir)
    assert "no replaced-token head" in caplog.text and "cls.predictions" in caplog.text
    assert encoder.encoder.embeddings_project is None  # BERT: embedding width = hidden width
    with torch.no_grad():
        hidden = transformers.BertModel.from_pretrained(bert_dir).eval()(
            **_torch_inputs(features)).last_hidden_state.numpy()
    real = features.input_mask.astype(bool)
    np.testing.assert_allclose(_hidden(encoder, features)[real], hidden[real], atol=1e-4, rtol=0)
    logits = FineTuningModel(encoder, "regression", 1)(
        features.input_ids, features.input_mask, features.segment_ids)
    assert logits.shape == (len(pairs), 1)


def _copy(source: str, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _weights(directory: Path) -> dict[str, np.ndarray]:
    return safetensors.numpy.load_file(str(directory / "model.safetensors"))


def _save_weights(directory: Path, tensors: dict[str, np.ndarray]) -> None:
    safetensors.numpy.save_file(tensors, str(directory / "model.safetensors"))


def test_bare_model_in_bfloat16_and_old_layer_norm_names(pretrained, tmp_path):
    # ElectraModel.save_pretrained: no `electra.` prefix; bfloat16 as published models may be.
    bare = tmp_path / "bare"
    model = transformers.ElectraModel.from_pretrained(pretrained["hf"]).to(torch.bfloat16)
    model.save_pretrained(bare)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(f"{pretrained['hf']}/{name}", bare / name)
    state = model.state_dict()
    encoder = load_encoder(str(bare))
    as_numpy = lambda name: state[name].float().numpy()  # noqa: E731
    np.testing.assert_array_equal(encoder.embeddings.word_embeddings.numpy(),
                                  as_numpy("embeddings.word_embeddings.weight"))
    np.testing.assert_array_equal(encoder.encoder.layers[1].query.kernel.numpy(),
                                  as_numpy("encoder.layer.1.attention.self.query.weight").T)
    # Old BERT checkpoints name LayerNorm's parameters gamma/beta.
    old = _copy(pretrained["hf"], tmp_path / "old")
    _save_weights(old, {name.replace("LayerNorm.weight", "LayerNorm.gamma")
                        .replace("LayerNorm.bias", "LayerNorm.beta"): value
                        for name, value in _weights(old).items()})
    assert any(name.endswith("LayerNorm.gamma") for name in _weights(old))
    renamed, original = load_encoder(str(old)), load_encoder(pretrained["hf"])
    for a, b in zip(renamed.trainable_variables, original.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("field, value, message", [
    ("model_type", "roberta", "model_type 'roberta' is not supported"),
    ("hidden_act", "gelu_new", "hidden_act='gelu_new' is not supported"),
    ("position_embedding_type", "relative_key", "position_embedding_type='relative_key'"),
    ("layer_norm_eps", 1e-5, "layer_norm_eps=1e-05 is not supported"),
    ("vocab_size", 3000, r"vocab.txt has \d+ tokens but .*vocab_size=3000"),
])
def test_unsupported_configs_are_named(pretrained, tmp_path, field, value, message):
    directory = _copy(pretrained["hf"], tmp_path / "hf")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(PretrainError, match=message):
        load_encoder(str(directory))
    with pytest.raises(PretrainError, match=message):  # random init reads the same config
        load_encoder(str(directory), 1)


def test_missing_or_misshapen_tensors_are_named(pretrained, tmp_path):
    directory = _copy(pretrained["hf"], tmp_path / "hf")
    tensors = _weights(directory)
    del tensors["electra.encoder.layer.1.output.dense.bias"]
    positions = json.loads((directory / "config.json").read_text())["max_position_embeddings"]
    tensors["electra.embeddings.position_embeddings.weight"] = np.zeros((16, 64), np.float32)
    _save_weights(directory, tensors)
    with pytest.raises(CheckpointError) as error:
        load_encoder(str(directory))
    assert "missing electra.encoder.layer.1.output.dense.bias" in str(error.value)
    assert ("electra.embeddings.position_embeddings.weight [16, 64] (config.json implies "
            f"[{positions}, 64])") in str(error.value)


def test_missing_files_are_named(pretrained, tmp_path):
    no_vocab = _copy(pretrained["hf"], tmp_path / "no_vocab")
    (no_vocab / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no_vocab has no vocab.txt"):
        load_encoder(str(no_vocab))
    tf_only = _copy(pretrained["hf"], tmp_path / "tf_only")
    (tf_only / "model.safetensors").rename(tf_only / "tf_model.h5")
    with pytest.raises(FileNotFoundError,
                       match="model.safetensors does not exist, nor pytorch_model.bin .*tf_model.h5"):
        load_encoder(str(tf_only))


def test_pytorch_model_bin(pretrained, tmp_path):
    """What Google's ELECTRA repositories on the hub hold instead of model.safetensors."""
    torch_only = _copy(pretrained["hf"], tmp_path / "torch_only")
    (torch_only / "model.safetensors").unlink()
    model = transformers.ElectraForPreTraining.from_pretrained(pretrained["hf"])
    torch.save(model.state_dict(), torch_only / "pytorch_model.bin")
    for a, b in zip(load_encoder(str(torch_only)).trainable_variables,
                    load_encoder(pretrained["hf"]).trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    (torch_only / "pytorch_model.bin").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="pytorch_model.bin is not a PyTorch state dict"):
        load_encoder(str(torch_only))


def test_a_model_directory_is_read_through_gfile(pretrained, examples):
    """On TensorFlow's ram:// filesystem, so no code path bypasses tf.io.gfile (gs:// alike)."""
    remote = f"ram://hf-{uuid.uuid4().hex[:8]}/discriminator"
    tf.io.gfile.makedirs(remote)
    for name in tf.io.gfile.listdir(pretrained["hf"]):
        tf.io.gfile.copy(f"{pretrained['hf']}/{name}", f"{remote}/{name}")
    assert vocabulary_directory(remote + "/") == remote
    features = _features(vocabulary_directory(remote), "DDI", examples["DDI"])
    np.testing.assert_array_equal(
        features.input_ids, _features(pretrained["hf"], "DDI", examples["DDI"]).input_ids)
    np.testing.assert_array_equal(_hidden(load_encoder(remote), features),
                                  _hidden(load_encoder(pretrained["hf"]), features))
