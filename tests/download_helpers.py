"""Mirror trees built from the real bundled sample, for the download tests.

Only names and layout are made up here (NCBI's naming and directory structure); every byte of data served is
from samples/mirror: the real PubMed files (copied under several NCBI-style names), the real PMC articles, and
bulk tarballs packed from those articles with a filelist.csv in NCBI's documented columns.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from tests.fixtures import SAMPLES
BASELINE_SAMPLE = SAMPLES / "pubmed" / "baseline" / "pubmed20n1015.xml.gz"
UPDATE_SAMPLE = SAMPLES / "pubmed" / "updatefiles" / "pubmed20n1016.xml.gz"
PMC_SAMPLE = SAMPLES / "pmc-oa-opendata"
FILELIST_COLUMNS = ["Article File", "Article Citation", "AccessionID", "LastUpdated (YYYY-MM-DD HH:MM:SS)",
                    "PMID", "License", "Retracted"]


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build_pubmed_dir(directory: Path, count: int, sample: Path = BASELINE_SAMPLE, first: int = 1) -> list[str]:
    """`count` copies of a real PubMed file named pubmed20n0001.xml.gz, ... (no sidecars: the server makes them)."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"pubmed20n{number:04d}.xml.gz" for number in range(first, first + count)]
    for name in names:
        shutil.copyfile(sample, directory / name)
    (directory / "README.txt").write_text("Files in this directory are the PubMed baseline (test copy).\n")
    return names


def build_pmc_bucket(directory: Path, metadata_edits: Optional[dict[str, dict]] = None) -> Path:
    """A copy of the sample bucket; `metadata_edits` changes fields of some articles' JSON (e.g. a retraction)."""
    shutil.copytree(PMC_SAMPLE, directory)
    for folder, edits in (metadata_edits or {}).items():
        path = directory / folder / f"{folder}.json"
        meta = json.loads(path.read_text())
        meta.update(edits)
        path.write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def sample_articles() -> dict[str, dict]:
    """pmcid folder -> its JSON metadata, for every article of the sample bucket."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(PMC_SAMPLE.glob("*/*.json"))}


def _pack(archive: Path, folders: list[str]) -> None:
    """A bulk package: members PMC00Nxxxxxx/PMC<id>.xml, plus its .filelist.csv and .filelist.txt."""
    rows = []
    with tarfile.open(archive, "w:gz") as tar:
        for folder in folders:
            meta = json.loads((PMC_SAMPLE / folder / f"{folder}.json").read_text())
            number = int(meta["pmcid"][3:])
            member = f"PMC{number // 1_000_000:03d}xxxxxx/{meta['pmcid']}.xml"
            tar.add(PMC_SAMPLE / folder / f"{folder}.xml", arcname=member)
            rows.append([member, meta.get("source_file", ""), meta["pmcid"], "2024-06-18 10:00:00",
                         meta.get("pmid") or "", meta.get("license_code") or "NO-CC CODE",
                         "yes" if meta.get("is_retracted") else "no"])
    stem = archive.name[: -len(".tar.gz")]
    with open(archive.parent / f"{stem}.filelist.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FILELIST_COLUMNS)
        writer.writerows(rows)
    text = io.StringIO()
    csv.writer(text, delimiter="\t", lineterminator="\n").writerows([FILELIST_COLUMNS] + rows)
    (archive.parent / f"{stem}.filelist.txt").write_text(text.getvalue())


def build_bulk_tree(root: Path) -> dict[str, list[str]]:
    """`root`/oa_{comm,noncomm,other}/xml/ with the sample articles packed by licence group.

    oa_comm holds a baseline package with an .md5 sidecar on disk and an incremental one without; the other
    groups one package each, without sidecar. Returns group -> archive paths relative to `root`.
    """
    from sources.layouts import licence_group

    groups: dict[str, list[str]] = {"comm": [], "noncomm": [], "other": []}
    for folder, meta in sample_articles().items():
        groups[licence_group(meta.get("license_code"))].append(folder)
    archives: dict[str, list[str]] = {}
    for group, folders in groups.items():
        directory = root / f"oa_{group}" / "xml"
        directory.mkdir(parents=True)
        if group == "comm":
            split = len(folders) // 2
            names = ["oa_comm_xml.PMC00Xxxxxxx.baseline.2024-06-18.tar.gz", "oa_comm_xml.incr.2024-06-19.tar.gz"]
            _pack(directory / names[0], folders[:split])
            _pack(directory / names[1], folders[split:])
            (directory / f"{names[0]}.md5").write_text(f"MD5({names[0]})= {md5_file(directory / names[0])}\n")
        else:
            names = [f"oa_{group}_xml.PMC00Xxxxxxx.baseline.2024-06-18.tar.gz"]
            _pack(directory / names[0], folders)
        archives[group] = [f"oa_{group}/xml/{name}" for name in names]
    return archives


def read_json(path: str) -> dict:
    with FileSystems.open(path) as handle:
        return json.loads(handle.read())


def read_errors(dest: str) -> list[dict]:
    with FileSystems.open(FileSystems.join(dest, "errors", "download-00000-of-00001.jsonl")) as handle:
        return [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]


def summary(dest: str) -> dict:
    return read_json(FileSystems.join(dest, "_download_summary.json"))
