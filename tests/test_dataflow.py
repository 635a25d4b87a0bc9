"""Running on Dataflow, offline: the config file, the chain launcher, and each job's Dataflow graph (dry run)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from dataflow import run as chain
from dataflow.config import ConfigError, load_config, parse_config
from tests.fixtures import BERT_VOCAB, REPO, SAMPLES

VALID = {"gcp": {"project": "my-project-id", "region": "us-central1", "bucket": "gs://my-bucket/run"}}


def config_with(**gcp) -> dict:
    return {"gcp": {**VALID["gcp"], **gcp}}


def test_example_config_loads():
    config = load_config(str(REPO / "dataflow" / "example.toml"))
    assert config.bucket == "gs://my-bucket/bioelectra" and config.region == "us-central1"
    assert config.workers_for("corpus").machine_type == "n2-highmem-4"
    assert config.workers_for("documents").machine_type == "n2-standard-4"
    assert config.workers_for("download").max_num_workers == 8


@pytest.mark.parametrize("data, message", [
    (config_with(bucket="my-bucket"), "gcp.bucket: 'my-bucket' is not a Cloud Storage URL"),
    (config_with(bucket="s3://my-bucket"), "is not a Cloud Storage URL"),
    (config_with(bucket="gs://My_Bucket"), "is not a Cloud Storage URL"),
    ({"gcp": {"project": "my-project-id", "bucket": "gs://b-1"}}, "gcp.region: missing"),
    (config_with(region="central"), "gcp.region: 'central' is not a region"),
    ({"gcp": VALID["gcp"], "workers": {"machine_type": "n9-superfast-4"}},
     "workers.machine_type: unknown machine type 'n9-superfast-4'"),
    ({"gcp": VALID["gcp"], "stages": {"corpus": {"machine_type": "n2-standard"}}},
     "stages.corpus.machine_type: unknown machine type"),
    ({"gcp": VALID["gcp"], "workers": {"max_num_workers": 0}}, "workers.max_num_workers: must be a positive"),
    ({"gcp": VALID["gcp"], "stages": {"train": {}}}, "stages.train: unknown stage"),
    ({"gcp": VALID["gcp"], "stages": {"download": {"sources": ["pubmed-all"]}}}, "unknown ['pubmed-all']"),
    (config_with(service_account="robot"), "gcp.service_account: 'robot' is not a service account"),
    ({}, "missing [gcp] table"),
])
def test_config_errors_name_the_key_and_value(data, message):
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert message in str(error.value)


def test_bad_toml_and_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[gcp\nproject = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))
    bad.write_text('[gcp]\nproject = "my-project-id"\nregion = "us-central1"\nbucket = "bucket"\n')
    with pytest.raises(SystemExit) as exit_info:
        chain.main(["--config", str(bad), "--show"])
    assert exit_info.value.code == 2
    assert "gcp.bucket" in capsys.readouterr().err


def test_stage_jobs_carry_dataflow_flags_and_chain_paths():
    config = parse_config({**VALID, "stages": {"tfrecords": {"max_seq_length": [128, 512]},
                                              "documents": {"num_shards": 100}}})
    documents, = chain.stage_jobs(config, "documents")
    assert documents.args[:6] == ["--pubmed", "gs://my-bucket/run/raw/pubmed/baseline/*.xml.gz",
                                  "--pubmed", "gs://my-bucket/run/raw/pubmed/updatefiles/*.xml.gz",
                                  "--pmc", "gs://my-bucket/run/raw/pmc/**/*.xml"]
    assert "--num-shards" in documents.args and "100" in documents.args
    assert "--runner=DataflowRunner" in documents.args and "--region=us-central1" in documents.args
    assert any(arg.startswith("--setup_file=") and arg.endswith("setup.py") for arg in documents.args)
    lengths = [job.args[job.args.index("--max-seq-length") + 1] for job in chain.stage_jobs(config, "tfrecords")]
    assert lengths == ["128", "512"]
    image = parse_config(config_with(sdk_container_image="us-docker.pkg.dev/p/r/beam:1"))
    corpus, = chain.stage_jobs(image, "corpus")
    assert "--sdk_container_image=us-docker.pkg.dev/p/r/beam:1" in corpus.args
    assert not any(arg.startswith("--setup_file") for arg in corpus.args)


def test_chain_resumes_at_the_first_unfinished_stage():
    config = parse_config(VALID)
    finished = {"download", "documents"}
    ran = chain.run_chain(config, "download", "tfrecords", execute=lambda job: None,
                          done=lambda job: job.stage in finished)
    assert [job.stage for job in ran] == ["corpus", "vocab", "tfrecords", "tfrecords"]
    ran = chain.run_chain(config, "download", "corpus", force=("documents",), execute=lambda job: None,
                          done=lambda job: job.stage in finished)
    assert [job.stage for job in ran] == ["documents", "corpus"]


def test_one_dockerfile_serves_the_worker_and_the_launcher():
    """Each base image brings its own ENTRYPOINT (one set here would break the other role), the package's build
    finds every file its metadata reads, and the launcher's FLEX_TEMPLATE_* paths name files the image copies."""
    lines = [line.split("#")[0].strip() for line in (REPO / "dataflow" / "Dockerfile").read_text().splitlines()]
    instructions = [line.split(None, 1) for line in lines if line]
    assert "ENTRYPOINT" not in {keyword for keyword, _ in instructions}
    assert [rest for keyword, rest in instructions if keyword == "ARG"][0].startswith(
        "BASE_IMAGE=apache/beam_python3.11_sdk:")
    assert ("FROM", "${BASE_IMAGE}") in {(keyword, rest) for keyword, rest in instructions}
    workdir, = [rest for keyword, rest in instructions if keyword == "WORKDIR"]
    copied = {}  # path in the image -> path in the repository
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, target = rest.split()
            for source in sources:
                inside = f"{workdir}/{source}" if target in ("./", ".") else f"{workdir}/{target}"
                copied[inside] = REPO / source
    for name in ("pyproject.toml", "setup.py", "README.md", "requirements.txt", "requirements-test.txt"):
        assert f"{workdir}/{name}" in copied, f"`pip install .` in the image reads {name}"
    launcher = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ENV")
    assert set(launcher) == {"FLEX_TEMPLATE_PYTHON_PY_FILE", "FLEX_TEMPLATE_PYTHON_SETUP_FILE"}
    for path in launcher.values():
        top = next(inside for inside in copied if path == inside or path.startswith(inside + "/"))
        assert (copied[top] / path[len(top):].lstrip("/")).is_file(), path


def test_a_download_with_failed_files_is_not_finished(gcs_prefix):
    config = parse_config(config_with(bucket=gcs_prefix))
    job = chain.stage_jobs(config, "download")[0]
    with FileSystems.create(job.done_marker) as handle:
        handle.write(json.dumps({"failed": 2}).encode())
    assert not chain.is_done(job)
    with FileSystems.create(job.done_marker) as handle:
        handle.write(json.dumps({"failed": 0}).encode())
    assert chain.is_done(job)


# --- the Dataflow job graph of each job, built offline with --dry_run -----------------------------------------

# Transforms that gather a whole collection in one place. The vocabulary learner is the one documented
# exception, and it runs on the launcher over word counts, not in the graph.
SINGLE_WORKER = ("ToList", "AsList", "AsIter", "AsSingleton", "AsDict")


def global_combines(names: list[str]) -> set[str]:
    """Every CombineGlobally of a graph (Beam expands each into a KeyWithVoid step and a per-key combine)."""
    return {name[: -len("/KeyWithVoid")] for name in names if name.endswith("/KeyWithVoid")}


def dry_run(job_module, args: list[str], bucket: str, tmp_path: Path) -> tuple[dict, list[str]]:
    job_file = tmp_path / "job.json"
    job_module.run([*args, "--runner=DataflowRunner", "--project=my-project-id", "--region=us-central1",
                    f"--temp_location={bucket}/tmp", f"--setup_file={REPO / 'setup.py'}",
                    "--dry_run=True", f"--dataflow_job_file={job_file}"])
    job = json.loads(job_file.read_text())
    pipeline = json.loads(Path(f"{job_file}.pipeline.json").read_text())
    names = sorted(t["uniqueName"] for t in pipeline["components"]["transforms"].values())
    return job, names


def staged_packages(job: dict) -> list[str]:
    return [package["name"] for pool in job["environment"]["workerPools"] for package in pool.get("packages", [])]


@pytest.mark.slow
def test_documents_job_graph(gcs_prefix, tmp_path):
    from pipelines import documents

    job, names = dry_run(documents, ["--pubmed", str(SAMPLES / "pubmed" / "*" / "*.xml.gz"),
                                     "--pmc", str(SAMPLES / "pmc-oa-opendata" / "*" / "*.xml"),
                                     "--output", f"{gcs_prefix}/docs"], gcs_prefix, tmp_path)
    for step in ("ReadDocuments/SpreadPubMed", "ReadDocuments/ParsePubMed", "ReadDocuments/SpreadPMC",
                 "ReadDocuments/ParsePMC", "ReadDocuments/LatestPerId/GroupByKey", "ReadDocuments/Resolve",
                 "WriteDocuments", "WriteDeadLetters"):
        assert step in names
    assert not [name for name in names if any(word in name for word in SINGLE_WORKER)]
    assert not global_combines(names)
    assert job["environment"]["sdkPipelineOptions"]["options"]["setup_file"].endswith("setup.py")
    assert "workflow.tar.gz" in staged_packages(job)  # the project itself, built from setup.py
    assert not FileSystems.match([f"{gcs_prefix}/docs-*"])[0].metadata_list  # nothing ran


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    """A documents shard, a text shard and a vocabulary directory, just enough for the jobs to build."""
    from corpus.documents import Document
    from corpus.pubmed import iter_pubmed
    from pipelines.common import write_vocabulary

    root = tmp_path_factory.mktemp("inputs")
    documents = [r for r in iter_pubmed(str(SAMPLES / "pubmed" / "baseline" / "pubmed20n1015.xml.gz"))
                 if isinstance(r, Document)][:20]
    (root / "docs-00000-of-00001.jsonl").write_text("".join(d.to_json() + "\n" for d in documents))
    (root / "part-00000-of-00001.txt").write_text(
        "".join(f"{d.title}\n{d.abstract[0]['text'] if d.abstract else d.title}\n\n" for d in documents))
    tokens = BERT_VOCAB.read_text().splitlines()
    write_vocabulary(str(root / "vocab"), tokens, do_lower_case=True, strip_accents=True)
    return root


@pytest.mark.slow
def test_corpus_job_graph(gcs_prefix, tmp_path, small_inputs):
    from pipelines import corpus

    job, names = dry_run(corpus, ["--input", str(small_inputs / "docs-*.jsonl"), "--output", f"{gcs_prefix}/c",
                                  "--exclude-benchmark", str(REPO / "tests" / "data" / "blurb")],
                         gcs_prefix, tmp_path)
    for step in ("BuildCorpus", "Read", "BuildCorpus/Decontaminate/Judge", "BuildCorpus/WriteContamination"):
        assert any(name.startswith(step) for name in names), step
    for step in ("JoinSuperseded", "ExactDuplicates", "NearDuplicates", "GroupLines"):
        assert any(f"BuildCorpus/Deduplicate/{step}" in name for name in names), step
    for step in ("GroupShards", "WriteShard"):  # the one shuffle of the documents, where they meet their verdicts
        assert any(f"BuildCorpus/Write/{step}" in name for name in names), step
    assert "workflow.tar.gz" in staged_packages(job)
    assert not [name for name in names if any(word in name for word in SINGLE_WORKER)]
    # Only statistics (counts, histograms, report summaries: a few thousand numbers) are combined globally.
    assert global_combines(names) == {"BuildCorpus/Deduplicate/TotalBytes", "BuildCorpus/MergeAggregates",
                                      "BuildCorpus/Write/Summaries/Summaries"}


@pytest.mark.slow
def test_tfrecords_job_graph(gcs_prefix, tmp_path, small_inputs):
    from pipelines import tfrecords

    job, names = dry_run(tfrecords, ["--input", str(small_inputs / "part-*.txt"), "--vocab",
                                     str(small_inputs / "vocab"), "--output", f"{gcs_prefix}/tf"],
                         gcs_prefix, tmp_path)
    assert any(name.startswith("WritePretrainingData") for name in names)
    assert "workflow.tar.gz" in staged_packages(job)
    assert not [name for name in names if any(word in name for word in SINGLE_WORKER)]
    assert global_combines(names) == {"WritePretrainingData/SumCounts"}  # the counts of pretrain_data.json


@pytest.mark.slow
def test_download_job_graph(gcs_prefix, tmp_path):
    from pipelines import download
    from sources.localmirror import MirrorServer

    with MirrorServer(SAMPLES) as mirror:
        job, names = dry_run(download, ["--source", "pmc-oa", "--base-url", mirror.url + "pmc-oa-opendata/",
                                        "--dest", f"{gcs_prefix}/raw"], gcs_prefix, tmp_path)
    # The file list is read from the plan the driver wrote, then spread over the workers before fetching.
    for step in ("ReadPlan", "Download/Spread", "Download/Fetch", "WriteDeadLetters"):
        assert step in names
    assert not [name for name in names if any(word in name for word in SINGLE_WORKER)]
    assert "workflow.tar.gz" in staged_packages(job)
    assert not FileSystems.match([f"{gcs_prefix}/raw/PMC*"])[0].metadata_list  # nothing was fetched
