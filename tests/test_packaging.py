"""The package's metadata declares exactly the pins of requirements.txt (and requirements-test.txt as its `test`
extra). Dataflow workers install the project from the sdist that `--setup_file` builds, so the metadata is
checked as a worker sees it: built from that sdist, not from the checkout."""
from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import build
import build.util
import pytest
from packaging.requirements import Requirement

from tests.fixtures import REPO
# What the build does not need (the packages, pyproject.toml, setup.py, README.md and the requirements are copied).
NOT_NEEDED = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "dist", "out", "tests", "samples",
                                    "benchmarks", "docs", "scripts", "notes")


def pins(path: Path) -> list[str]:
    """The requirement lines of a requirements file, normalised (comments and blank lines dropped)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [str(Requirement(line)) for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def unpacked_sdist(tmp_path_factory) -> Path:
    """The project's sdist, as `--setup_file` builds it for Dataflow, unpacked (no build isolation: offline)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_NEEDED)
    archive = build.ProjectBuilder(source).build("sdist", work / "dist")
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    unpacked, = (work / "unpacked").iterdir()
    return unpacked


@pytest.fixture(scope="module")
def sdist_metadata(unpacked_sdist):
    """Core metadata of the wheel a worker builds from the project's sdist."""
    return build.util.project_wheel_metadata(unpacked_sdist, isolated=False)


def test_a_worker_installs_the_data_files_of_the_packages(unpacked_sdist, tmp_path):
    """The wheel a worker builds from the sdist holds the corpus job's compression dictionary."""
    wheel = build.ProjectBuilder(unpacked_sdist).build("wheel", tmp_path / "wheel")
    with zipfile.ZipFile(wheel) as files:
        assert files.read("corpus/corpus_documents.zdict") == (REPO / "corpus" / "corpus_documents.zdict").read_bytes()


def split(requires: list[str]) -> tuple[list[str], list[str]]:
    """Requires-Dist entries: (runtime, the `test` extra's without its marker); any other extra is an error."""
    runtime, test = [], []
    for entry in requires:
        requirement = Requirement(entry)
        if requirement.marker is None:
            runtime.append(str(requirement))
        else:
            assert str(requirement.marker) == 'extra == "test"', entry
            requirement.marker = None
            test.append(str(requirement))
    return runtime, test


def test_requirement_files_hold_exact_pins():
    for name in ("requirements.txt", "requirements-test.txt"):
        for pin in pins(REPO / name):
            specifiers = list(Requirement(pin).specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{name}: {pin} is not pinned"


def test_sdist_metadata_declares_the_requirement_files(sdist_metadata):
    runtime, test = split(sdist_metadata.get_all("Requires-Dist"))
    assert runtime == pins(REPO / "requirements.txt")
    assert test == pins(REPO / "requirements-test.txt")
    assert sdist_metadata.get_all("Provides-Extra") == ["test"]
