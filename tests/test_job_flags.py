"""A mistyped flag is an error before anything runs, for every command; Beam's own options still pass."""
from __future__ import annotations

import importlib
import time

import pytest

from dataflow import run as chain
from dataflow.config import parse_config

# (job, its required flags, a mistyped flag with its value, the flag it should suggest)
TYPOS = [
    ("corpus", ["--input", "in/*.jsonl.gz", "--output", "out"], ["--near-duplicate-threshhold", "0.5"],
     "--near-duplicate-threshold"),
    ("documents", ["--pubmed", "in/*.xml.gz", "--output", "out/docs"], ["--num-shard", "3"], "--num-shards"),
    ("vocab", ["--input", "in/*.txt", "--output", "out"], ["--vocab_size", "8000"], "--vocab-size"),
    ("tfrecords", ["--input", "in/*.txt", "--vocab", "v", "--output", "out"], ["--max-seq-lenght", "512"],
     "--max-seq-length"),
    ("download", ["--source", "pubmed-baseline", "--dest", "out"], ["--max-concurency", "4"],
     "--max-concurrency"),
]
# Beam's own options of every kind: standard, Google Cloud, worker, setup, debug, direct runner, test.
BEAM_FLAGS = [
    "--runner=DataflowRunner", "--project", "my-project", "--region=us-central1", "--temp_location=gs://b/tmp",
    "--job_name=bioelectra-test", "--service_account_email=runner@my-project.iam.gserviceaccount.com",
    "--dataflow_service_options=enable_prime", "--experiments=use_runner_v2", "--experiments", "min_cpu_platform=x",
    "--machine_type=n2-standard-4", "--max_num_workers", "8", "--disk_size_gb=50",
    "--number_of_worker_harness_threads=4", "--sdk_container_image=us-docker.pkg.dev/p/r/beam:1",
    "--sdk_location=container", "--setup_file=./setup.py", "--save_main_session", "--dry_run=True",
    "--dataflow_job_file=job.json", "--direct_running_mode=multi_processing", "--direct_num_workers", "2",
]


def module(job: str):
    return importlib.import_module(f"pipelines.{job}")


@pytest.mark.parametrize("job, required, typo, suggestion", TYPOS, ids=[t[0] for t in TYPOS])
def test_a_mistyped_flag_fails_fast_naming_the_closest_flag(job, required, typo, suggestion, capsys):
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        module(job).run([*required, *typo])  # the inputs do not exist: only parsing can have failed
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()
    assert message == [f"python -m pipelines.{job}: error: unrecognized argument {typo[0]} "
                       f"(did you mean {suggestion}?)"]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("job, required", [(t[0], t[1]) for t in TYPOS], ids=[t[0] for t in TYPOS])
def test_beam_options_of_every_kind_still_pass(job, required):
    args = module(job).parse_args([*required, *BEAM_FLAGS])
    assert args.output if hasattr(args, "output") else args.dest


@pytest.mark.parametrize("argv, message", [
    (["--input", "in", "--output", "out", "--shard-size", "1"], "unrecognized argument --shard-size "
                                                                 "(did you mean --shard-size-mb?)"),
    (["--input", "in", "--output", "out", "stray"], "unexpected argument 'stray'"),
    (["--input", "in", "--output", "out", "--runnr=DataflowRunner"], "(did you mean --runner?)"),
])
def test_abbreviations_stray_values_and_beam_typos_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module("corpus").parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_chain_checks_every_stage_before_the_first_runs(capsys):
    config = parse_config({"gcp": {"project": "my-project-id", "region": "us-central1", "bucket": "gs://my-bucket/run"},
                           "stages": {"tfrecords": {"target_shard_mbb": 50}}})
    ran = []
    with pytest.raises(SystemExit, match=r"the tfrecords stage's flags are not valid .*\[tfrecords\]"):
        chain.run_chain(config, "download", "tfrecords", execute=ran.append, done=lambda job: False)
    assert ran == []  # not even the download started
    assert "unrecognized argument --target-shard-mbb (did you mean --target-shard-mb?)" in capsys.readouterr().err
    # The stage commands of a valid config, Dataflow flags and all, pass every job's parser.
    valid = parse_config({"gcp": {"project": "my-project-id", "region": "us-central1", "bucket": "gs://my-bucket/run"}})
    ran = chain.run_chain(valid, "download", "tfrecords", execute=ran.append, done=lambda job: False)
    assert [job.module for job in ran] == ["download"] * 3 + ["documents", "corpus", "vocab"] + ["tfrecords"] * 2


@pytest.mark.parametrize("argv, suggestion", [
    (["pretrain", "train", "--data", "d", "--vocab", "v", "--output", "o", "--save-evry", "10"], "--save-every"),
    (["pretrain", "evaluate", "--checkpoint", "c", "--data", "d", "--max-step", "3"], "--max-steps"),
    (["finetune", "run", "--task", "BC5CDR-chem", "--data", "d", "--checkpoint", "c", "--output", "o",
      "--epoch", "3"], "--epochs"),
])
def test_pretrain_and_finetune_are_strict_too(argv, suggestion, capsys):
    cli = importlib.import_module(f"{argv[0]}.cli")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv[1:])
    assert exit_info.value.code == 2
    assert f"(did you mean {suggestion}?)" in capsys.readouterr().err
