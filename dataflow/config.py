"""The one config file of a full run on Google Cloud: where things go, and what runs them.

A TOML file (see `dataflow/example.toml`) is read into `ChainConfig`; every mistake a user can make before
spending money (a bucket that is not a bucket URL, an unknown machine type, no region) is a `ConfigError`
naming the key and the value.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Optional

STAGES = ("download", "documents", "corpus", "vocab", "tfrecords")
DOWNLOAD_SOURCES = ("pubmed-baseline", "pubmed-updates", "pmc-oa", "pmc-bulk")

# A bucket name: 3-63 characters of lower-case letters, digits, '-', '_' and '.', starting and ending with a
# letter or digit (Cloud Storage's naming rules, dotted names aside).
_BUCKET = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[^\s]*)?")
# Compute Engine machine types Dataflow runs on: family-kind-vCPUs, or a custom type. All these patterns are
# used with fullmatch: "$" would accept a final newline.
_MACHINE = re.compile(
    r"(?:(?:n1|n2|n2d|n4|c2|c2d|c3|c3d|c4|c4a|c4d|e2|t2a|t2d|m1|m2|m3|a2|a3|g2)"
    r"-(?:standard|highmem|highcpu|megamem|ultramem|highgpu|megagpu|ultragpu)-\d{1,3}"
    r"|(?:n1-|n2-|n2d-|e2-)?custom-\d{1,3}-\d{3,7}(?:-ext)?|e2-(?:micro|small|medium))"
)
_REGION = re.compile(r"[a-z]+-[a-z]+\d+")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the value."""


@dataclass(frozen=True)
class Workers:
    machine_type: str = "n2-standard-4"
    max_num_workers: int = 20
    disk_size_gb: int = 50
    number_of_worker_harness_threads: Optional[int] = None


@dataclass(frozen=True)
class ChainConfig:
    project: str
    region: str
    bucket: str  # gs://bucket[/prefix]: every output of the chain goes below it
    workers: Workers
    service_account: Optional[str] = None
    sdk_container_image: Optional[str] = None  # else the package is shipped with --setup_file
    stage_workers: dict = field(default_factory=dict)  # stage -> Workers overriding `workers`
    stage_options: dict = field(default_factory=dict)  # stage -> {flag: value} passed to the job

    @property
    def temp_location(self) -> str:
        return f"{self.bucket}/tmp"

    def path(self, *parts: str) -> str:
        return "/".join([self.bucket, *parts])

    def workers_for(self, stage: str) -> Workers:
        return self.stage_workers.get(stage, self.workers)


def _workers(table: dict, where: str, base: Optional[Workers] = None) -> Workers:
    known = {"machine_type", "max_num_workers", "disk_size_gb", "number_of_worker_harness_threads"}
    values = {k: v for k, v in table.items() if k in known}
    workers = Workers(**{**(base.__dict__ if base else {}), **values})
    if not _MACHINE.fullmatch(workers.machine_type):
        raise ConfigError(f"{where}.machine_type: unknown machine type {workers.machine_type!r} "
                          "(expected e.g. n2-standard-4, n2-highmem-8, c3-standard-8, e2-custom-4-16384)")
    for name in ("max_num_workers", "disk_size_gb"):
        value = getattr(workers, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}.{name}: must be a positive integer, got {value!r}")
    return workers


def parse_config(data: dict[str, Any]) -> ChainConfig:
    gcp = data.get("gcp")
    if not isinstance(gcp, dict):
        raise ConfigError("missing [gcp] table (project, region, bucket)")
    for key in ("project", "region", "bucket"):
        if not gcp.get(key):
            raise ConfigError(f"gcp.{key}: missing")
    bucket = str(gcp["bucket"]).rstrip("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"gcp.bucket: {gcp['bucket']!r} is not a Cloud Storage URL like gs://my-bucket/prefix")
    if not _REGION.fullmatch(gcp["region"]):
        raise ConfigError(f"gcp.region: {gcp['region']!r} is not a region like us-central1")
    if not _PROJECT.fullmatch(gcp["project"]):
        raise ConfigError(f"gcp.project: {gcp['project']!r} is not a project ID (6-30 lower-case letters, "
                          "digits and hyphens)")
    account = gcp.get("service_account")
    if account and not _SERVICE_ACCOUNT.fullmatch(account):
        raise ConfigError(f"gcp.service_account: {account!r} is not a service account e-mail")
    workers = _workers(data.get("workers", {}), "workers")

    stage_workers, stage_options = {}, {}
    for stage, table in data.get("stages", {}).items():
        if stage not in STAGES:
            raise ConfigError(f"stages.{stage}: unknown stage (known: {', '.join(STAGES)})")
        stage_workers[stage] = _workers(table, f"stages.{stage}", workers)
        stage_options[stage] = {k: v for k, v in table.items() if k not in Workers.__dataclass_fields__}
    sources = stage_options.get("download", {}).get("sources", ["pubmed-baseline", "pubmed-updates", "pmc-oa"])
    unknown = [s for s in sources if s not in DOWNLOAD_SOURCES]
    if unknown:
        raise ConfigError(f"stages.download.sources: unknown {unknown} (known: {', '.join(DOWNLOAD_SOURCES)})")
    return ChainConfig(project=gcp["project"], region=gcp["region"], bucket=bucket, workers=workers,
                       service_account=account, sdk_container_image=gcp.get("sdk_container_image") or None,
                       stage_workers=stage_workers, stage_options=stage_options)


def load_config(path: str) -> ChainConfig:
    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return parse_config(data)
