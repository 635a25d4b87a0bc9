"""benchmarks.accelerator runs end to end on the CPU with the tiny model, so the script a user with a GPU or
TPU runs cannot rot: the figures are there and consistent, the batch search doubles, the JSON is written."""
from __future__ import annotations

import json

import pytest

from benchmarks import accelerator

pytestmark = pytest.mark.slow


def test_tiny_on_cpu(tmp_path, capsys):
    out = tmp_path / "accelerator.json"
    assert accelerator.main(["--sizes", "tiny", "--lengths", "64", "--steps", "3", "--find-max-batch",
                             "--batch-size", "4", "--max-batch", "8", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "CPU"
    (result,) = report["results"]
    assert result["size"] == "tiny" and result["max_seq_length"] == 64 and result["finite_loss"]
    assert result["per_chip_batch"] == 8  # doubled once, then the cap stopped it
    assert result["examples_per_second"] == pytest.approx(result["per_chip_batch"] / result["step_seconds"])
    assert result["tokens_per_second"] == pytest.approx(64 * result["examples_per_second"])
    assert result["mfu"] is None and result["model_tflops_per_second"] > 0  # no known peak on a CPU
    assert result["input_pipeline_examples_per_second"] > 0 and result["peak_memory_bytes"] > 0
    printed = capsys.readouterr().out
    assert "| tiny | 64 |" in printed and "anchor: BERT-large" in printed
