"""The ELECTRA objective's parts on real GENIA examples: masking, sampling, replacement, optimiser,
hyperparameters and FLOPs. No training here (see test_pretrain_train.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from pretrain import config as config_lib
from pretrain import flops, objective
from pretrain.model import ElectraModel
from pretrain.optimization import NO_DECAY, AdamWeightDecay, DynamicLossScale, learning_rate
from pretrain.files import read_vocabulary
from tests.fixtures import genia_documents
from tests.pretrain_data import build_examples, write_vocabulary

LENGTH = 64


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory):
    vocab_dir = write_vocabulary(str(tmp_path_factory.mktemp("vocab")), genia_documents())
    vocab = read_vocabulary(vocab_dir)
    examples = build_examples(genia_documents(), vocab_dir, LENGTH, seed=3)[:400]
    batch = {k: tf.constant([e[k] for e in examples], tf.int32) for k in examples[0]}
    config = config_lib.for_size("tiny", dict(
        vocab_size=vocab.size, max_seq_length=LENGTH, cls_id=vocab.cls_id, sep_id=vocab.sep_id,
        mask_id=vocab.mask_id, pad_id=vocab.pad_id))
    return config, batch


def test_max_predictions_follow_the_original_formula():
    assert config_lib.for_size("small").max_predictions_per_seq == 19  # int(0.155 * 128)
    assert config_lib.for_size("base").max_predictions_per_seq == 79  # int(0.155 * 512)
    assert config_lib.for_size("large").max_predictions_per_seq == 130  # int(0.255 * 512)


def test_masking_statistics_on_real_examples(real_batch):
    config, batch = real_batch
    ids, input_mask = batch["input_ids"].numpy(), batch["input_mask"].numpy()
    masked = objective.mask_inputs(batch["input_ids"], batch["input_mask"], config,
                                   tf.constant([7, 11], tf.int64))
    out, positions = masked.input_ids.numpy(), masked.positions.numpy()
    targets, used = masked.targets.numpy(), masked.weights.numpy() > 0
    n = config.max_predictions_per_seq

    special = {config.cls_id, config.sep_id, config.pad_id, config.mask_id}
    chosen_total = mask_total = kept_total = 0
    for row in range(ids.shape[0]):
        real = int(input_mask[row].sum())
        candidates = [i for i in range(LENGTH) if input_mask[row, i] and ids[row, i] not in special]
        expected = min(max(1, int(np.round(real * config.mask_prob))), n, len(candidates))
        chosen = positions[row][used[row]]
        assert len(chosen) == expected
        assert len(set(chosen.tolist())) == expected, "positions must be distinct"
        assert set(chosen.tolist()) <= set(candidates), "never [CLS]/[SEP]/[PAD]"
        np.testing.assert_array_equal(targets[row][used[row]], ids[row, chosen])
        changed = np.flatnonzero(out[row] != ids[row])
        assert set(changed.tolist()) <= set(chosen.tolist())
        # A chosen position is either [MASK] or its original token: never a random one.
        assert all(out[row, p] in (config.mask_id, ids[row, p]) for p in chosen)
        chosen_total += expected
        mask_total += int((out[row, chosen] == config.mask_id).sum())
        kept_total += int((out[row, chosen] == ids[row, chosen]).sum())

    real_tokens = int(input_mask.sum())
    assert abs(chosen_total / real_tokens - config.mask_prob) < 0.01
    # 85% [MASK] / 15% unchanged: binomial over ~2,500 positions, sd ~0.007.
    assert abs(mask_total / chosen_total - 0.85) < 0.03
    assert mask_total + kept_total == chosen_total


def test_masking_is_a_function_of_the_seed(real_batch):
    config, batch = real_batch
    draw = lambda seed: objective.mask_inputs(  # noqa: E731
        batch["input_ids"], batch["input_mask"], config, tf.constant(seed, tf.int64))
    a, b, c = draw([1, 2]), draw([1, 2]), draw([1, 3])
    np.testing.assert_array_equal(a.input_ids.numpy(), b.input_ids.numpy())
    assert (a.positions.numpy() != c.positions.numpy()).any()


def test_replacement_labels_are_replaced_and_different():
    ids = tf.constant([[2, 10, 11, 12, 3, 0]], tf.int32)
    masked = objective.MaskedInputs(
        input_ids=tf.constant([[2, 4, 11, 4, 3, 0]]), positions=tf.constant([[1, 2, 3, 0]]),
        targets=tf.constant([[10, 11, 12, 0]]), weights=tf.constant([[1.0, 1.0, 1.0, 0.0]]))
    sampled = tf.constant([[10, 20, 21, 99]])  # slot 0 samples the original; slot 3 is unused
    fake, labels = objective.replace_tokens(ids, masked, sampled)
    np.testing.assert_array_equal(fake.numpy(), [[2, 10, 20, 21, 3, 0]])
    np.testing.assert_array_equal(labels.numpy(), [[False, False, True, True, False, False]])


def test_gumbel_max_samples_follow_the_softmax():
    logits = tf.tile(tf.constant([[[2.0, 1.0, 0.0, -1.0]]]), [1, 4000, 1])
    samples = objective.sample_tokens(logits, tf.constant([5, 6], tf.int64), 1.0).numpy()
    counts = np.bincount(samples.ravel(), minlength=4)
    expected = tf.nn.softmax(logits)[0, 0].numpy()
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.025)


def test_auc_from_histograms():
    sums = {k: 1.0 for k in ("gen_loss_sum", "gen_count", "gen_correct", "sampled_correct",
                             "disc_loss_sum", "disc_count", "disc_correct", "disc_true_positive",
                             "disc_predicted_positive", "disc_positive")}
    perfect = np.zeros(objective.AUC_BINS)
    sums["auc_positive"] = perfect.copy()
    sums["auc_positive"][150] = 10
    sums["auc_negative"] = perfect.copy()
    sums["auc_negative"][20] = 30
    assert objective.summarize(sums)["discriminator_auc"] == 1.0
    sums["auc_negative"] = sums["auc_positive"] * 3
    assert objective.summarize(sums)["discriminator_auc"] == 0.5


def test_learning_rate_warmup_then_linear_decay():
    config = config_lib.for_size("small", dict(learning_rate=1e-3, warmup_steps=100,
                                               train_steps=1000))
    lr = lambda step: float(learning_rate(tf.constant(step), config))  # noqa: E731
    assert lr(0) == 0.0
    assert lr(50) == pytest.approx(1e-3 * (1 - 50 / 1000) * 0.5)
    assert lr(100) == pytest.approx(1e-3 * 0.9)
    assert lr(550) == pytest.approx(1e-3 * 0.45)
    assert lr(1000) == 0.0


def test_adam_weight_decay_matches_the_original_update():
    config = config_lib.for_size("small", dict(weight_decay_rate=0.01))
    assert not config.adam_bias_correction  # the published sizes keep the original's update
    kernel = tf.Variable([[0.5, -1.0]])
    bias = tf.Variable([0.25, 0.0])
    gamma = tf.Variable([1.0, 1.0])
    names = [("electra/x/dense/kernel", kernel), ("electra/x/dense/bias", bias),
             ("electra/x/LayerNorm/gamma", gamma)]
    optimizer = AdamWeightDecay.for_pretraining(names, config)
    assert optimizer.decay == [True, False, False]
    assert NO_DECAY.search("electra/embeddings/LayerNorm/beta")
    assert not NO_DECAY.search("electra/embeddings/word_embeddings")
    grads = [tf.constant([[0.1, 0.2]]), tf.constant([0.3, -0.4]), tf.constant([0.5, 0.0])]
    optimizer.apply(grads, tf.constant(0.01), tf.constant(True))

    def reference(param, grad, decay):  # google-research/electra model/optimization.py
        m, v = 0.1 * grad, 0.001 * grad ** 2
        update = m / (np.sqrt(v) + 1e-6) + (0.01 * param if decay else 0)
        return param - 0.01 * update

    np.testing.assert_allclose(kernel.numpy(), reference(np.array([[0.5, -1.0]]),
                                                         grads[0].numpy(), True), rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), reference(np.array([0.25, 0.0]),
                                                       grads[1].numpy(), False), rtol=1e-6)
    # A step flagged non-finite (fp16 overflow) changes nothing.
    before = kernel.numpy().copy()
    optimizer.apply(grads, tf.constant(0.01), tf.constant(False))
    np.testing.assert_array_equal(kernel.numpy(), before)


def test_bias_corrected_adam_is_torchs_adamw():
    """`adam_bias_correction` (tiny's default): the update of torch.optim.AdamW, step after step, with a
    skipped (non-finite) step not counted."""
    import torch

    config = config_lib.for_size("tiny")
    assert config.adam_bias_correction
    start = {"electra/x/dense/kernel": np.array([[0.5, -1.0], [0.25, 2.0]], np.float32),
             "electra/x/dense/bias": np.array([0.25, -0.5], np.float32)}
    ours = [(name, tf.Variable(value)) for name, value in start.items()]
    optimizer = AdamWeightDecay.for_pretraining(ours, config)
    theirs = [torch.nn.Parameter(torch.tensor(value)) for value in start.values()]
    reference = torch.optim.AdamW([{"params": theirs[:1], "weight_decay": 0.01},
                                   {"params": theirs[1:], "weight_decay": 0.0}],
                                  lr=0.01, betas=(0.9, 0.999), eps=1e-6)
    rng = np.random.default_rng(0)
    for step in range(6):
        grads = [rng.normal(size=value.shape).astype(np.float32) for value in start.values()]
        optimizer.apply([tf.constant(g) for g in grads], tf.constant(0.01), tf.constant(step != 2))
        if step != 2:  # the skipped step moves neither
            for parameter, grad in zip(theirs, grads):
                parameter.grad = torch.tensor(grad)
            reference.step()
        for (name, variable), parameter in zip(ours, theirs):
            np.testing.assert_allclose(variable.numpy(), parameter.detach().numpy(), rtol=1e-5, atol=1e-7,
                                       err_msg=f"{name} after step {step}")
    assert float(optimizer.updates_applied) == 5


# Discriminator parameters as the ELECTRA paper prints them (Clark et al., ICLR 2020: ELECTRA-Small 14M,
# ELECTRA-Base 110M, ELECTRA-Large 335M), with the precision of the printed figure.
PUBLISHED_PARAMETERS = {"small": (14e6, 0.5e6), "base": (110e6, 5e6), "large": (335e6, 0.5e6)}


@pytest.mark.parametrize("size", ["small", pytest.param("base", marks=pytest.mark.slow),
                                  pytest.param("large", marks=pytest.mark.slow)])
def test_published_sizes_build_models_of_the_published_parameter_count(size):
    """Counted on the built model, so that a wrong width, depth, FFN, embedding or vocabulary size in the
    table (or in the model) shows; any one layer fewer or more is outside the precision."""
    published, precision = PUBLISHED_PARAMETERS[size]
    with tf.Graph().as_default():  # the variables are declared, not allocated
        model = ElectraModel(config_lib.for_size(size))
        count = sum(int(np.prod(v.shape)) for v in model.discriminator_only().trainable_variables)
    assert abs(count - published) <= precision, count


def test_published_generators():
    """The generator is derived from the discriminator: the paper's width fraction, 64-wide heads, FFN 4x."""
    small, base, large = (config_lib.for_size(s) for s in ("small", "base", "large"))
    assert dataclasses.astuple(small.generator())[1:5] == (64, 12, 1, 256)
    assert dataclasses.astuple(base.generator())[1:5] == (256, 12, 4, 1024)
    assert base.discriminator().num_attention_heads == 12
    assert large.generator().hidden_size == 256


def test_overrides_are_typed_and_checked():
    overrides = config_lib.parse_overrides(
        ["generator_hidden_fraction=0.33", "num_hidden_layers=3", "do_lower_case=false"])
    assert overrides == {"generator_hidden_fraction": 0.33, "num_hidden_layers": 3,
                         "do_lower_case": False}
    quarter = config_lib.for_size("base", {"generator_hidden_fraction": 0.25}).generator()
    assert (quarter.hidden_size, quarter.num_attention_heads) == (192, 3)
    with pytest.raises(ValueError, match="hidden size 253 is not a multiple of 3"):
        config_lib.for_size("base", overrides).generator()
    with pytest.raises(ValueError, match="unknown hyperparameter 'hiden_size'"):
        config_lib.parse_overrides(["hiden_size=3"])
    with pytest.raises(ValueError, match="cannot read 'x' as int"):
        config_lib.parse_overrides(["num_hidden_layers=x"])


def test_model_flops_match_the_published_electra_base_cost():
    base = config_lib.for_size("base")
    for length, published in ((128, 613e6), (512, 670e6)):
        config = dataclasses.replace(base, max_seq_length=length)
        per_token = flops.training_flops_per_example(config) / length
        assert per_token == pytest.approx(published, rel=0.02)


def test_fp16_loss_scale_skips_overflow_and_grows_back():
    config = config_lib.for_size("tiny")
    weight = tf.Variable([1.0])
    optimizer = AdamWeightDecay.for_pretraining([("electra/x/dense/kernel", weight)], config)
    scale = DynamicLossScale(initial=8.0, period=2)
    step = lambda finite: optimizer.apply(  # noqa: E731
        [tf.constant([0.5])], tf.constant(0.1), tf.constant(finite), scale.updates())
    step(False)
    assert (float(scale.scale), float(weight[0])) == (4.0, 1.0)  # halved, update skipped
    step(True)
    assert float(scale.scale) == 4.0 and float(weight[0]) < 1.0
    step(True)
    assert float(scale.scale) == 8.0  # doubled after `period` finite steps
    assert int(scale.good_steps) == 0
