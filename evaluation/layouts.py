"""Where a task's files are in a data directory, and reading one split of a task.

Two layouts are read, detected per task:

- BLURB's own (`BLURB`), as its data-generation scripts (`preprocessor.py`, `preprocess_BLURB_data.sh`) write
  their `data/` directory: `<name>/{train,dev,test}.tsv` for `BC5CDR-chem`, `BC5CDR-disease`, `NCBI-disease`,
  `BC2GM`, `JNLPBA`, `ebmnlp`, `chemprot`, `DDI`, `GAD`, `HoC`, `BIOSSES`, `BioASQ`, and PubMedQA's own split
  (`pubmedqa/pqal_fold0/{train_set,dev_set}.json`, `pubmedqa/test_set.json`);
- the task-type folders this project read first (`TASK_TYPES`): `ner/<name>-IOB/{train,devel,test}.tsv` (as in
  cambridgeltl/MTL-Bioinformatics-2016, typed tags), `ner/JNLPBA/`, `ner/ebmnlp/`, `re/{chemprot,DDI,GAD}/`,
  `classification/HoC/`, `similarity/BIOSSES/`, `qa/BioASQ/` (`{train,dev,test}.tsv`) and
  `qa/PubMedQA/{train,dev,test}.json`.

A task is read from the first layout (BLURB's, then the task-type folders) that has its training file.

The clinical tasks (`evaluation.tasks.CLINICAL_TASKS`) have their own places under the same data directory:

- MedNLI as PhysioNet distributes it (`PHYSIONET`): `mednli/mli_{train,dev,test}_v1.jsonl`, or the folder the
  PhysioNet zip unpacks to (`mednli-a-natural-language-inference-dataset-for-the-clinical-domain-1.0.0/`);
- MEDIQA-NLI (`MEDIQA`): MedNLI's train and dev files, and the BioNLP 2019 MEDIQA test
  `mednli_bionlp_shared_task.jsonl` with `mednli_bionlp_shared_task_ground_truth.csv` beside them;
- BLUE's preprocessed files (`BLUE_DATA`): `MedSTS/{train,dev,test}.tsv`, `i2b2-2010/{train,dev,test}.tsv`,
  `clefe/{Training,Development,Test}.tsv` (the names bluebert's CLEFE reader opens; `Train/Dev/Test.tsv` and
  `train/dev/test.tsv` are read too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Mapping

from evaluation.files import LOCAL, Files
from evaluation.readers import READERS, UnreadableError, decode, parse_tokens, read_bytes, read_relation
from evaluation.tasks import ALL_TASKS, DataError, Example, Task, did_you_mean

log = logging.getLogger(__name__)

BLURB = "BLURB's data-generation layout"
TASK_TYPES = "task-type folders"
PHYSIONET = "MedNLI as PhysioNet distributes it"
MEDIQA = "MedNLI with the BioNLP 2019 MEDIQA test"
BLUE_DATA = "BLUE's preprocessed files"


@dataclasses.dataclass(frozen=True)
class Place:
    """Where one task's files are in one layout: `folder` under the data directory, and each split's
    file in it."""

    layout: str
    folder: str
    files: Mapping[str, str]


_TSV = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
_MTL = {"train": "train.tsv", "dev": "devel.tsv", "test": "test.tsv"}
# PubMedQA's split_dataset.py: 10 folds of the 500 cross-validation questions (BLURB uses fold 0) and
# the 500 test questions; BLURB's preprocess_BLURB_data.sh copies its data/ to data/pubmedqa/.
_PQAL = {"train": "pqal_fold0/train_set.json", "dev": "pqal_fold0/dev_set.json",
         "test": "test_set.json"}
_JSON = {"train": "train.json", "dev": "dev.json", "test": "test.json"}


def _places(blurb: str, task_types: str, task_type_files: Mapping[str, str] = _TSV,
            blurb_files: Mapping[str, str] = _TSV) -> tuple[Place, ...]:
    return Place(BLURB, blurb, blurb_files), Place(TASK_TYPES, task_types, task_type_files)


PLACES: dict[str, tuple[Place, ...]] = {
    "BC5CDR-chem": _places("BC5CDR-chem", "ner/BC5CDR-chem-IOB", _MTL),
    "BC5CDR-disease": _places("BC5CDR-disease", "ner/BC5CDR-disease-IOB", _MTL),
    "NCBI-disease": _places("NCBI-disease", "ner/NCBI-disease-IOB", _MTL),
    "BC2GM": _places("BC2GM", "ner/BC2GM-IOB", _MTL),
    # BLURB's JNLPBA folder also keeps the typed devel.tsv its script converts into dev.tsv.
    "JNLPBA": _places("JNLPBA", "ner/JNLPBA", _MTL),
    "ChemProt": _places("chemprot", "re/chemprot"),
    "DDI": _places("DDI", "re/DDI"),
    "GAD": _places("GAD", "re/GAD"),
    "BIOSSES": _places("BIOSSES", "similarity/BIOSSES"),
    "HoC": _places("HoC", "classification/HoC"),
    "EBM-PICO": _places("ebmnlp", "ner/ebmnlp"),
    "PubMedQA": _places("pubmedqa", "qa/PubMedQA", _JSON, _PQAL),
    "BioASQ": _places("BioASQ", "qa/BioASQ"),
}

_MEDNLI = {"train": "mli_train_v1.jsonl", "dev": "mli_dev_v1.jsonl", "test": "mli_test_v1.jsonl"}
_MEDIQA = {**_MEDNLI, "test": "mednli_bionlp_shared_task.jsonl"}
# The folder PhysioNet's zip of MedNLI 1.0.0 unpacks to.
MEDNLI_ZIP_FOLDER = "mednli-a-natural-language-inference-dataset-for-the-clinical-domain-1.0.0"
_CLEFE_NAMES = ({"train": "Training.tsv", "dev": "Development.tsv", "test": "Test.tsv"},
                {"train": "Train.tsv", "dev": "Dev.tsv", "test": "Test.tsv"}, _TSV)

PLACES.update({
    "MedNLI": (Place(PHYSIONET, "mednli", _MEDNLI), Place(PHYSIONET, MEDNLI_ZIP_FOLDER, _MEDNLI)),
    "MEDIQA-NLI": (Place(MEDIQA, "mednli", _MEDIQA), Place(MEDIQA, MEDNLI_ZIP_FOLDER, _MEDIQA)),
    "MedSTS": (Place(BLUE_DATA, "MedSTS", _TSV),),
    "ShARe-CLEFE": tuple(Place(BLUE_DATA, "clefe", names) for names in _CLEFE_NAMES),
    "i2b2-2010": (Place(BLUE_DATA, "i2b2-2010", _TSV),),
})
assert set(PLACES) == set(ALL_TASKS)


@dataclasses.dataclass(frozen=True)
class Located:
    """A task's files in one data directory: its `place` (layout, folder, split files)."""

    task: Task
    data_dir: str
    place: Place

    @property
    def directory(self) -> str:
        return f"{self.data_dir.rstrip('/')}/{self.place.folder}"

    def path(self, split: str) -> str:
        return f"{self.directory}/{self.place.files[split]}"

    def describe(self) -> str:
        """`BC5CDR-chem: DIR/BC5CDR-chem (BLURB's data-generation layout: train.tsv, dev.tsv, test.tsv)`."""
        return (f"{self.task.name}: {self.directory} ({self.place.layout}: "
                f"{', '.join(self.place.files.values())})")


def _path(data_dir: str, place: Place, split: str) -> str:
    return f"{data_dir.rstrip('/')}/{place.folder}/{place.files[split]}"


def find(task: Task, data_dir: str, files: Files = LOCAL, split: str = "train") -> Located | None:
    """Where `task`'s `split` file is under `data_dir`: the first layout that has it (BLURB's first),
    or None."""
    found = [place for place in PLACES[task.name] if files.exists(_path(data_dir, place, split))]
    if not found:
        return None
    if len(found) > 1:
        log.warning("%s: %s has %s's %s in %s; reading %s (%s)", task.name, data_dir, task.name, split,
                    "both layouts" if len(found) == 2 and found[0].layout != found[1].layout
                    else "several places", _path(data_dir, found[0], split), found[0].layout)
    return Located(task, data_dir, found[0])


def _with_source(task: Task, message: str) -> str:
    return f"{message}; {task.source}" if task.source else message


def locate(task: Task, data_dir: str, files: Files = LOCAL, split: str = "train") -> Located:
    """Where `task`'s files are under `data_dir`: the layout that has its training file or, without
    one, its `split` file. FileNotFoundError names the file in every layout."""
    located = find(task, data_dir, files) or (find(task, data_dir, files, split)
                                             if split != "train" else None)
    if located is None:
        first, *others = PLACES[task.name]
        message = f"{_path(data_dir, first, split)} does not exist ({first.layout})"
        if others:
            message += ", nor does " + ", nor ".join(f"{_path(data_dir, place, split)} ({place.layout})"
                                                     for place in others)
        raise FileNotFoundError(_with_source(task, message))
    return located


# Tags of training files already read: {(path, digest of its bytes): tags}; reading dev needs them.
_TRAIN_TAGS: dict[tuple[str, bytes], frozenset[str]] = {}


def _key(path: str, data: bytes) -> tuple[str, bytes]:
    return path, hashlib.blake2b(data, digest_size=16).digest()


def _tags(examples: list[Example]) -> frozenset[str]:
    return frozenset(t for e in examples for t in e.label)


def train_tags(task: Task, where: str | Located, files: Files = LOCAL) -> frozenset[str]:
    """The tag set of a token task: the tags of its training file, as in BLURB."""
    located = where if isinstance(where, Located) else locate(task, where, files)
    path = located.path("train")
    try:
        data = files.read(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: {task.name}'s tags are those of its "
                                "training file") from None
    key = _key(path, data)
    if key not in _TRAIN_TAGS:
        _TRAIN_TAGS[key] = _tags(parse_tokens(decode(data, path, whose(task)), path, task))
    return _TRAIN_TAGS[key]


def whose(task: Task) -> str:
    """Whose files a decoding error names: BLURB's, or the clinical task's own (MedNLI's, ...)."""
    return "BLURB's" if task.benchmark == "BLURB" else f"{task.name}'s"


def read_split(task: Task, where: str | Located, split: str, files: Files = LOCAL) -> list[Example]:
    """The examples of one split of `task` under a data directory (`where`: its path, in either
    layout, or where `locate` found the task). For token tasks, a tag of dev or test that the
    training file never has is an error (the training file is read too, once per process). A
    missing or unreadable file of a clinical task names where its data comes from."""
    try:
        return _read_split(task, where, split, files)
    except (FileNotFoundError, UnreadableError) as error:
        message = str(error)
        if task.source and task.source not in message:
            raise type(error)(_with_source(task, message)) from None
        raise


def _read_split(task: Task, where: str | Located, split: str, files: Files) -> list[Example]:
    located = where if isinstance(where, Located) else locate(task, where, files, split)
    path = located.path(split)
    if task.head == "token":
        if split == "train":
            data = read_bytes(path, files)
            examples = parse_tokens(decode(data, path, whose(task)), path, task)
            _TRAIN_TAGS[_key(path, data)] = _tags(examples)
        else:
            tags = train_tags(task, located, files)
            examples = parse_tokens(decode(read_bytes(path, files), path, whose(task)), path, task, tags,
                                    located.path("train"))
    elif task.reader == "relation":
        examples = read_relation(path, task.labels, files, whose(task))
    else:
        examples = READERS[task.reader](path, files=files)
    if not examples:
        raise DataError(f"{path}: holds no example")
    if task.labels and task.head == "sequence":
        for example in examples:
            if example.label not in task.labels:
                raise DataError(f"{path}: {example.guid} has unknown label {example.label!r} "
                                f"(expected one of {', '.join(task.labels)})"
                                f"{did_you_mean(str(example.label), task.labels)}")
    return examples
