"""Run the whole data chain on Google Cloud Dataflow from one config file.

    python -m dataflow.run --config my-run.toml                 # download -> documents -> corpus -> vocab -> tfrecords
    python -m dataflow.run --config my-run.toml --show          # print each stage's command, run nothing
    python -m dataflow.run --config my-run.toml --from documents --to corpus
    python -m dataflow.run --config my-run.toml --force vocab   # run a stage again although it finished

Each stage waits for the previous one. A stage whose outputs are complete (its summary or stats file is
there) is skipped, so after a failure or an interruption the same command resumes at the first unfinished
stage. Every output lives under the config's bucket:

    raw/pubmed/baseline, raw/pubmed/updatefiles, raw/pmc, raw/pmc-bulk   download
    documents/docs-*.jsonl.gz                                           documents
    corpus/text/part-*.txt, corpus/report.html                          corpus
    vocab/vocab.txt                                                     vocab (counting on Dataflow, learning here)
    tfrecords/<max_seq_length>/pretrain_data.tfrecord-*                 tfrecords, once per sequence length
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from dataflow.config import STAGES, ChainConfig, ConfigError, load_config

LOG = logging.getLogger("dataflow.run")
REPO = Path(__file__).resolve().parent.parent
RAW_DIRS = {"pubmed-baseline": "raw/pubmed/baseline", "pubmed-updates": "raw/pubmed/updatefiles",
            "pmc-oa": "raw/pmc", "pmc-bulk": "raw/pmc-bulk"}
LAUNCHER_ONLY = {"sources", "max_seq_length"}  # stage keys the launcher reads itself


@dataclass(frozen=True)
class Job:
    """One Beam job of a stage: which module runs it, its arguments, and the file that says it finished."""

    stage: str
    module: str
    args: list
    done_marker: str

    def command(self) -> str:
        return shlex.join(["python", "-m", f"pipelines.{self.module}", *self.args])


def beam_args(config: ChainConfig, stage: str, name: str) -> list[str]:
    """The Dataflow flags of one job: project, region, workers, and how the code reaches the workers."""
    workers = config.workers_for(stage)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    args = [
        "--runner=DataflowRunner", f"--project={config.project}", f"--region={config.region}",
        f"--temp_location={config.temp_location}", f"--job_name=bioelectra-{name}-{stamp}",
        f"--machine_type={workers.machine_type}", f"--max_num_workers={workers.max_num_workers}",
        f"--disk_size_gb={workers.disk_size_gb}",
    ]
    if workers.number_of_worker_harness_threads:
        args.append(f"--number_of_worker_harness_threads={workers.number_of_worker_harness_threads}")
    if config.service_account:
        args.append(f"--service_account_email={config.service_account}")
    if config.sdk_container_image:
        args += [f"--sdk_container_image={config.sdk_container_image}", "--sdk_location=container"]
    else:
        args.append(f"--setup_file={REPO / 'setup.py'}")
    return args


def _flags(options: dict) -> list[str]:
    flags = []
    for key, value in options.items():
        if key in LAUNCHER_ONLY:
            continue
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                flags.append(flag)
            elif item is not False and item is not None:
                flags += [flag, str(item)]
    return flags


def stage_jobs(config: ChainConfig, stage: str) -> list[Job]:
    """The jobs of one stage, with their arguments (job flags from the config, then Dataflow's)."""
    options = config.stage_options.get(stage, {})
    path = config.path
    if stage == "download":
        sources = options.get("sources", ["pubmed-baseline", "pubmed-updates", "pmc-oa"])
        return [Job(stage, "download",
                    ["--source", source, "--dest", path(RAW_DIRS[source]), *_flags(options),
                     *beam_args(config, stage, f"download-{source}")],
                    path(RAW_DIRS[source], "_download_summary.json"))
                for source in sources]
    if stage == "documents":
        sources = config.stage_options.get("download", {}).get("sources", list(RAW_DIRS)[:3])
        inputs = []
        if "pubmed-baseline" in sources:
            inputs += ["--pubmed", path(RAW_DIRS["pubmed-baseline"], "*.xml.gz")]
        if "pubmed-updates" in sources:
            inputs += ["--pubmed", path(RAW_DIRS["pubmed-updates"], "*.xml.gz")]
        if "pmc-oa" in sources:
            inputs += ["--pmc", path(RAW_DIRS["pmc-oa"], "**", "*.xml")]
        if "pmc-bulk" in sources:
            inputs += ["--pmc", path(RAW_DIRS["pmc-bulk"], "**", "*.tar.gz")]
        return [Job(stage, "documents", [*inputs, "--output", path("documents", "docs"), *_flags(options),
                                         *beam_args(config, stage, "documents")],
                    path("documents", "docs-stats.json"))]
    if stage == "corpus":
        return [Job(stage, "corpus", ["--input", path("documents", "docs-*-of-*.jsonl.gz"),
                                      "--output", path("corpus"), *_flags(options),
                                      *beam_args(config, stage, "corpus")],
                    path("corpus", "stats.json"))]
    if stage == "vocab":
        return [Job(stage, "vocab", ["--input", path("corpus", "text", "part-*.txt"), "--output", path("vocab"),
                                     *_flags(options), *beam_args(config, stage, "vocab")],
                    path("vocab", "vocab.txt"))]
    if stage == "tfrecords":
        lengths = options.get("max_seq_length", [128, 512])
        return [Job(stage, "tfrecords",
                    ["--input", path("corpus", "text", "part-*.txt"), "--vocab", path("vocab"),
                     "--output", path("tfrecords", str(length)), "--max-seq-length", str(length),
                     *_flags(options), *beam_args(config, stage, f"tfrecords-{length}")],
                    path("tfrecords", str(length), "pretrain_data.json"))
                for length in (lengths if isinstance(lengths, list) else [lengths])]
    raise ValueError(f"unknown stage {stage!r}")


def is_done(job: Job) -> bool:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(job.done_marker):
        return False
    if job.module == "download":  # a download with failed files is not finished
        with FileSystems.open(job.done_marker) as handle:
            return json.loads(handle.read()).get("failed", 1) == 0
    return True


def check_flags(jobs: list[Job]) -> None:
    """Parse every job's flags with the job's own strict parser before anything runs, so that a typo in the
    config file fails in seconds, not after hours of earlier stages (exit status 2, naming the stage)."""
    import importlib

    for job in jobs:
        module = importlib.import_module(f"pipelines.{job.module}")
        try:
            module.parse_args(list(job.args))
        except SystemExit as error:
            if error.code:
                raise SystemExit(f"dataflow.run: the {job.stage} stage's flags are not valid (see the line above; "
                                 f"they come from the config's [{job.stage}] table); nothing was run") from None
            raise


def run_job(job: Job) -> None:
    import importlib

    module = importlib.import_module(f"pipelines.{job.module}")
    status = module.run(list(job.args))
    if isinstance(status, int) and status != 0:
        raise SystemExit(f"dataflow.run: stage {job.stage} failed (exit {status}): {job.command()}")


def run_chain(config: ChainConfig, first: str, last: str, force: tuple[str, ...] = (),
              execute: Callable[[Job], None] = run_job, done: Callable[[Job], bool] = is_done) -> list[Job]:
    """Run the stages from `first` to `last` in order, skipping finished jobs; returns the jobs that ran."""
    stages = STAGES[STAGES.index(first): STAGES.index(last) + 1]
    check_flags([job for stage in stages for job in stage_jobs(config, stage)])
    ran = []
    for stage in stages:
        for job in stage_jobs(config, stage):
            if stage not in force and done(job):
                LOG.info("%s: finished before (%s), skipped", stage, job.done_marker)
                continue
            LOG.info("%s: %s", stage, job.command())
            execute(job)
            ran.append(job)
    return ran


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dataflow.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the run's TOML file (see dataflow/example.toml)")
    parser.add_argument("--from", dest="first", choices=STAGES, default=STAGES[0], help="first stage to run")
    parser.add_argument("--to", dest="last", choices=STAGES, default=STAGES[-1], help="last stage to run")
    parser.add_argument("--force", action="append", choices=STAGES, default=[],
                        help="run this stage although its outputs are complete (repeatable)")
    parser.add_argument("--show", action="store_true", help="print the command of every stage and stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
    except (ConfigError, OSError) as error:
        parser.exit(2, f"dataflow.run: {error}\n")
    if STAGES.index(args.first) > STAGES.index(args.last):
        parser.error(f"--from {args.first} comes after --to {args.last}")
    if args.show:
        jobs = [job for stage in STAGES[STAGES.index(args.first): STAGES.index(args.last) + 1]
                for job in stage_jobs(config, stage)]
        for job in jobs:
            print(f"# {job.stage} (done when {job.done_marker} exists)\n{job.command()}\n")
        check_flags(jobs)
        return
    run_chain(config, args.first, args.last, tuple(args.force))


if __name__ == "__main__":
    main(sys.argv[1:])
