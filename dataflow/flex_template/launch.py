"""Flex Template entry point: `--stage NAME --config gs://.../run.toml` runs that stage's jobs on Dataflow."""
import argparse
import logging
import tempfile

from apache_beam.io.filesystems import FileSystems

from dataflow.config import STAGES, load_config
from dataflow.run import run_job, stage_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--config", required=True, help="gs:// path of the run's TOML config")
    args, _ = parser.parse_known_args()  # the launcher adds its own Beam flags
    logging.basicConfig(level=logging.INFO)
    with FileSystems.open(args.config) as remote, tempfile.NamedTemporaryFile("wb", suffix=".toml") as local:
        local.write(remote.read())
        local.flush()
        config = load_config(local.name)
    for job in stage_jobs(config, args.stage):
        run_job(job)


if __name__ == "__main__":
    main()
