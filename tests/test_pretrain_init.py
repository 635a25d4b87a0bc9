"""Continued pretraining from a public (transformers) ELECTRA checkpoint: `train --init-checkpoint HF_DIR
[--init-generator HF_DIR]`. Small ElectraForPreTraining / ElectraForMaskedLM models with random weights are
written here with transformers' own `save_pretrained`, with the vocabulary of real GENIA shards; the run must
start from exactly their weights (checked against transformers' forward pass), refuse what does not fit in
one line, and train on. The older --init-checkpoint forms (run directory, prefix, TF1) are checked too."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from pretrain import checkpoints, cli, huggingface
from pretrain import config as config_lib
from pretrain.data import evaluation_dataset
from pretrain.files import read_vocabulary
from pretrain.model import ElectraModel
from tests.pretrain_data import make_dataset

LENGTH = 64
POSITIONS = 128  # the checkpoint's max_position_embeddings (not the trainer's default 512)
# Shaped like the `tiny` size: 2 x 64 discriminator with 1 head, a 2 x 32 generator, embeddings 64.
DISCRIMINATOR = dict(embedding_size=64, hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
                     intermediate_size=256)
GENERATOR = dict(embedding_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=1,
                 intermediate_size=128)


def _perturb(model: torch.nn.Module, seed: int) -> None:
    """transformers initialises LayerNorm to 1/0 and biases to 0: random values everywhere instead, so
    that a tensor loaded into the wrong place (or not at all) shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


def _electra_config(vocab_size: int, **sizes) -> transformers.ElectraConfig:
    return transformers.ElectraConfig(vocab_size=vocab_size, max_position_embeddings=POSITIONS,
                                      hidden_act="gelu", **sizes)


def _save(model: torch.nn.Module, directory: Path, vocab: str) -> str:
    model.save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(f"{vocab}/{name}", directory / name)
    return str(directory)


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> dict:
    """GENIA shards and vocabulary, and a discriminator/generator pair sharing their embeddings as a
    released ELECTRA pair does, plus a generator whose embeddings are its own."""
    root = tmp_path_factory.mktemp("init")
    paths = make_dataset(str(root / "data"), max_seq_length=LENGTH)
    size = read_vocabulary(paths["vocab"]).size
    torch.manual_seed(0)
    discriminator = transformers.ElectraForPreTraining(_electra_config(size, **DISCRIMINATOR))
    _perturb(discriminator, 1)
    generator = transformers.ElectraForMaskedLM(_electra_config(size, **GENERATOR))
    _perturb(generator, 2)
    other = transformers.ElectraForMaskedLM(_electra_config(size, **GENERATOR))
    _perturb(other, 3)
    other_dir = _save(other, root / "other-generator", paths["vocab"])
    generator.electra.embeddings.load_state_dict(discriminator.electra.embeddings.state_dict())
    paths.update(root=str(root), discriminator=_save(discriminator, root / "discriminator", paths["vocab"]),
                 generator=_save(generator, root / "generator", paths["vocab"]), other_generator=other_dir)
    paths["models"] = {"discriminator": discriminator.eval(), "generator": generator.eval()}
    return paths


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pretrain" and r.levelno >= logging.ERROR]


def _train(hub: dict, output: str, *extra: str) -> int:
    return cli.main(["train", "--data", hub["train"], "--vocab", hub["vocab"], "--output", output,
                     "--max-seq-length", str(LENGTH), "--steps-per-loop", "1", *extra])


def _model_for(hub: dict, generator: str | None = None) -> ElectraModel:
    """The trainer's model with the sizes `train` takes from the checkpoint, fresh random weights."""
    vocab = read_vocabulary(hub["vocab"])
    size, overrides = huggingface.sizes_from_checkpoint(hub["discriminator"], generator, None, {})
    return ElectraModel(config_lib.for_size(size, {**overrides, "vocab_size": vocab.size}))


def _batch(hub: dict) -> dict[str, np.ndarray]:
    batch = next(iter(evaluation_dataset(tf.io.gfile.glob(hub["eval"]), 8, LENGTH)))
    return {k: v.numpy() for k, v in batch.items()}


def _torch_logits(model: torch.nn.Module, batch: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return model(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                     attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                     token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long)).logits.numpy()


def _assert_same_logits(model: ElectraModel, hub: dict, generator: bool) -> None:
    batch = _batch(hub)
    real = batch["input_mask"].astype(bool)
    assert (~real).any(), "the batch should hold padding too"
    ours = model.discriminator_logits(batch["input_ids"], batch["input_mask"], batch["segment_ids"]).numpy()
    theirs = _torch_logits(hub["models"]["discriminator"], batch)
    np.testing.assert_allclose(ours[real], theirs[real], atol=1e-5, rtol=0)
    if generator:
        ours = model.generator_logits(batch["input_ids"], batch["input_mask"], batch["segment_ids"]).numpy()
        theirs = _torch_logits(hub["models"]["generator"], batch)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours[real], theirs[real], atol=1e-5, rtol=0)


def test_sizes_come_from_config_json(hub, caplog):
    with caplog.at_level(logging.INFO, logger="pretrain.huggingface"):
        size, overrides = huggingface.sizes_from_checkpoint(hub["discriminator"], hub["generator"], None,
                                                            {"learning_rate": 1e-4})
    assert size == "tiny" and "the architecture of ELECTRA-tiny" in caplog.text
    assert overrides == {"learning_rate": 1e-4, "vocab_size": read_vocabulary(hub["vocab"]).size,
                         "hidden_size": 64, "num_hidden_layers": 2, "embedding_size": 64,
                         "num_attention_heads": 1, "intermediate_size": 256,
                         "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
                         "generator_hidden_fraction": 0.5, "generator_layers_fraction": 1.0}
    # An agreeing --model-size and --set are accepted.
    assert huggingface.sizes_from_checkpoint(hub["discriminator"], None, "tiny", {"hidden_size": 64})[0] == "tiny"


def test_weights_are_the_checkpoints(hub):
    model = _model_for(hub, hub["generator"])
    checkpoints.init_weights(model, hub["discriminator"], hub["generator"])
    _assert_same_logits(model, hub, generator=True)
    torch_model = hub["models"]["discriminator"]
    np.testing.assert_array_equal(
        model.discriminator.layers[1].intermediate.kernel.numpy(),
        torch_model.electra.encoder.layer[1].intermediate.dense.weight.detach().numpy().T)
    np.testing.assert_array_equal(
        model.generator_predictions.output_bias.numpy(),
        hub["models"]["generator"].generator_lm_head.bias.detach().numpy())


def test_without_a_generator_it_starts_random(hub, caplog):
    model = _model_for(hub)
    before = model.generator.layers[0].query.kernel.numpy()
    with caplog.at_level(logging.INFO, logger="pretrain.huggingface"):
        checkpoints.init_weights(model, hub["discriminator"])
    assert "the generator starts from random weights" in caplog.text
    np.testing.assert_array_equal(model.generator.layers[0].query.kernel.numpy(), before)
    _assert_same_logits(model, hub, generator=False)


def test_a_generator_with_other_embeddings_is_reported(hub, caplog):
    model = _model_for(hub, hub["other_generator"])
    with caplog.at_level(logging.WARNING, logger="pretrain.huggingface"):
        checkpoints.init_weights(model, hub["discriminator"], hub["other_generator"])
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"{hub['other_generator']}/model.safetensors: the generator's embeddings differ "
                              "from the discriminator's (max |difference| ")
    assert "the discriminator's is used" in warning
    _assert_same_logits(model, hub, generator=False)  # the shared embeddings are the discriminator's


def test_pytorch_model_bin_as_the_hub_ships_it(hub, tmp_path):
    """Google's ELECTRA repositories hold pytorch_model.bin (no model.safetensors)."""
    directory = tmp_path / "bin"
    shutil.copytree(hub["discriminator"], directory)
    (directory / "model.safetensors").unlink()
    torch.save(hub["models"]["discriminator"].state_dict(), directory / "pytorch_model.bin")
    model = _model_for(hub)
    checkpoints.init_weights(model, str(directory))
    _assert_same_logits(model, hub, generator=False)


def _refused(caplog, hub, tmp_path, *extra) -> str:
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = _train(hub, str(tmp_path / "run"), *extra)
    errors = _errors(caplog)
    assert status == 2 and len(errors) == 1, errors
    assert not (tmp_path / "run").exists()  # refused before anything was built or written
    return errors[0]


def test_a_model_size_that_disagrees(hub, tmp_path, caplog):
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", hub["discriminator"], "--model-size", "small")
    assert message == (
        f"--model-size small has hidden_size=256, num_hidden_layers=12, embedding_size=128, "
        f"num_attention_heads=4, intermediate_size=1024 but --init-checkpoint {hub['discriminator']}/config.json "
        f"has hidden_size=64, num_hidden_layers=2, embedding_size=64, num_attention_heads=1, "
        f"intermediate_size=256: the sizes come from the checkpoint (leave out --model-size, which then only "
        f"picks the training hyperparameters of the published size with that shape)")


def test_a_set_that_disagrees(hub, tmp_path, caplog):
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", hub["discriminator"],
                       "--set", "hidden_size=128")
    assert message == (f"--set hidden_size=128 disagrees with --init-checkpoint {hub['discriminator']}/"
                       f"config.json, which has hidden_size=64: the sizes come from the checkpoint")
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", hub["discriminator"],
                       "--init-generator", hub["generator"], "--set", "generator_hidden_fraction=0.25")
    assert message.startswith("--set generator_hidden_fraction=0.25 gives a generator with generator "
                              "hidden_size=16 but --init-checkpoint ")
    assert message.endswith(f"/config.json has generator hidden_size=32: the sizes come from the checkpoint")


def test_another_vocabulary_is_refused(hub, tmp_path, caplog):
    vocab = read_vocabulary(hub["vocab"])
    extra = ["[unused0]", "[unused1]", "[unused2]"]
    bigger = tmp_path / "bigger"
    torch.manual_seed(0)
    transformers.ElectraForPreTraining(_electra_config(vocab.size + len(extra), **DISCRIMINATOR)
                                       ).save_pretrained(bigger)
    (bigger / "vocab.txt").write_text("".join(t + "\n" for t in (*vocab.tokens, *extra)), encoding="utf-8")
    shutil.copy(f"{hub['vocab']}/tokenizer_config.json", bigger / "tokenizer_config.json")
    own = read_vocabulary(str(bigger))
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", str(bigger))
    assert message == (
        f"--init-checkpoint {bigger} has a {vocab.size + 3}-token vocabulary but --vocab {hub['vocab']} has "
        f"{vocab.size} tokens (vocab.txt sha256 {own.sha256[:12]} and {vocab.sha256[:12]}): its embeddings are "
        f"indexed by its own vocabulary, so the data must be tokenized with it (--vocab {bigger}, and shards "
        f"built with that vocabulary)")
    # --vocab the checkpoint's own: then the shards, built with the other vocabulary, are refused.
    with caplog.at_level(logging.ERROR, logger="pretrain"):
        status = cli.main(["train", "--data", hub["train"], "--vocab", str(bigger), "--output",
                           str(tmp_path / "run2"), "--init-checkpoint", str(bigger)])
    assert status == 2 and "vocab" in _errors(caplog)[-1]


def test_generator_refusals(hub, tmp_path, caplog):
    message = _refused(caplog, hub, tmp_path, "--init-generator", hub["generator"])
    assert message == ("--init-generator needs a Hugging Face discriminator directory (config.json) as "
                       "--init-checkpoint, not none")
    wide = tmp_path / "wide-generator"
    size = read_vocabulary(hub["vocab"]).size
    _save(transformers.ElectraForMaskedLM(_electra_config(size, **{**GENERATOR, "embedding_size": 32})),
          wide, hub["vocab"])
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", hub["discriminator"],
                       "--init-generator", str(wide))
    assert message == (f"--init-generator {wide}/config.json cannot share the discriminator's embeddings: "
                       "embedding_size 32 (discriminator: 64)")
    heads = tmp_path / "two-heads"
    _save(transformers.ElectraForMaskedLM(_electra_config(size, **{**GENERATOR, "num_attention_heads": 2})),
          heads, hub["vocab"])
    message = _refused(caplog, hub, tmp_path, "--init-checkpoint", hub["discriminator"],
                       "--init-generator", str(heads))
    assert message == (f"--init-generator {heads}/config.json has hidden_size=32, num_hidden_layers=2, "
                       "num_attention_heads=2, intermediate_size=128; this trainer's generator of that width "
                       "has hidden_size=32, num_hidden_layers=2, num_attention_heads=1, intermediate_size=128 "
                       "(max(1, hidden/64) heads, a 4 x hidden feed-forward)")


@pytest.mark.slow
def test_a_continued_run_starts_from_the_checkpoint_and_trains(hub, tmp_path):
    run = str(tmp_path / "continued")
    # A zero learning rate: the first step leaves the weights as they were loaded.
    assert _train(hub, run, "--init-checkpoint", hub["discriminator"], "--init-generator", hub["generator"],
                  "--train-steps", "1", "--set", "learning_rate=0") == 0
    config, model, _ = checkpoints.load_model(run)
    assert config.model_size == "tiny" and config.max_position_embeddings == POSITIONS
    _assert_same_logits(model, hub, generator=True)
    start = {name: variable.numpy() for name, variable in model.tf1_variables()}

    # Then it trains: the same command, a few more steps at a real learning rate.
    assert _train(hub, run, "--init-checkpoint", hub["discriminator"], "--init-generator", hub["generator"],
                  "--train-steps", "4", "--set", "learning_rate=1e-3") == 0
    _, trained, _ = checkpoints.load_model(run)
    assert checkpoints.step_of(checkpoints.resolve(run)) == 4
    changed = [name for name, variable in trained.tf1_variables()
               if not np.array_equal(variable.numpy(), start[name])]
    # Every weight moved, generator and discriminator alike, but perhaps the key biases: softmax ignores what
    # they add (the same q.b for every key of a query), so their gradient is zero but for rounding.
    key_biases = {f"{encoder}/encoder/layer_{i}/attention/self/key/bias" for encoder in ("electra", "generator")
                  for i in range(2)}
    assert set(start) - set(changed) <= key_biases
    assert all(np.isfinite(variable.numpy()).all() for _, variable in trained.tf1_variables())

    # The other --init-checkpoint forms still start a run from exactly their weights: our run directory (its
    # latest checkpoint), a checkpoint prefix and an original ELECTRA TF1 checkpoint (our export's).
    assert cli.main(["export", "--checkpoint", run, "--output", str(tmp_path / "export")]) == 0
    for source in (run, f"{run}/ckpt-4", str(tmp_path / "export/tf1/model.ckpt")):
        fresh = ElectraModel(config)
        checkpoints.init_weights(fresh, source)
        for (name, a), (_, b) in zip(trained.tf1_variables(), fresh.tf1_variables()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{source}: {name}")
    again = str(tmp_path / "from-run")
    assert _train(hub, again, "--init-checkpoint", run, "--train-steps", "1", "--set", "learning_rate=0",
                  "--model-size", "tiny", "--set", f"max_position_embeddings={POSITIONS}") == 0
    _, restarted, _ = checkpoints.load_model(again)
    for (name, a), (_, b) in zip(trained.tf1_variables(), restarted.tf1_variables()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert json.loads(Path(again, "pretrain_config.json").read_text())["model_size"] == "tiny"
