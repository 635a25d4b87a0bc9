"""benchmarks/parity.py's machinery on both sides, for a few steps (the full comparison is docs/pretrain.md's):
the same batches and held-out scoring feed our trainer and the transformers reference, and the table and
figure come out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import parity
from tests.pretrain_data import make_dataset


def test_help():
    with pytest.raises(SystemExit) as stopped:
        parity.parse_args(["--help"])
    assert stopped.value.code == 0


@pytest.mark.slow
def test_a_few_steps_of_each_implementation(tmp_path, capsys):
    paths = make_dataset(str(tmp_path / "data"), max_seq_length=32)
    output = tmp_path / "parity"
    assert parity.main(["--data", paths["train"], "--heldout", paths["eval"], "--vocab", paths["vocab"],
                        "--steps", "2", "--eval-every", "1", "--seeds", "1", "--heldout-examples", "12",
                        "--set", "batch_size=4", "--output", str(output)]) == 0
    results = json.loads((output / "parity.json").read_text())
    assert [run["implementation"] for run in results["runs"]] == ["ours", "reference"]
    assert results["heldout_examples"] == 12 and results["config"]["max_seq_length"] == 32
    for run in results["runs"]:
        assert [p["step"] for p in run["points"]] == [0, 1, 2]
        for point in run["points"]:
            assert 0 <= point["generator_accuracy"] <= 1 and 0 <= point["discriminator_auc"] <= 1
            assert 0 < point["discriminator_loss"] < 5 and 0 < point["replaced_fraction"] < 1
        assert run["points"][2]["seconds"] > 0
    # One training step at a time: both moved away from their initial weights.
    for run in results["runs"]:
        assert run["points"][2]["discriminator_loss"] != run["points"][0]["discriminator_loss"]
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("| step | generator accuracy: ours (TF2) | generator accuracy: transformers")
    assert len([line for line in table.splitlines() if line.startswith("| 2 |")]) == 1
    assert (output / "parity.png").stat().st_size > 10_000
    # The figure and the table again, from the results alone.
    assert parity.main(["--plot-only", str(output / "parity.json")]) == 0


def test_held_out_masking_is_the_trainers_rule(tmp_path):
    paths = make_dataset(str(tmp_path / "data"), max_seq_length=32)
    args = parity.parse_args(["--data", paths["train"], "--heldout", paths["eval"], "--vocab", paths["vocab"]])
    config = parity.make_config(args)
    held = parity.heldout_set(paths["eval"], config, 20)
    tokens = held.input_mask.sum(1)
    expected = np.clip(np.round(tokens * config.mask_prob), 1, config.max_predictions_per_seq)
    np.testing.assert_array_equal(held.weights.sum(1), expected)
    chosen = np.take_along_axis(held.input_ids, held.positions, 1)[held.weights > 0]
    assert not np.isin(chosen, [config.cls_id, config.sep_id, config.pad_id]).any()
    changed = held.masked_ids != held.input_ids
    assert (held.masked_ids[changed] == config.mask_id).all()
    assert 0.6 < changed.sum() / held.weights.sum() < 1.0  # ~85% [MASK], the rest kept
