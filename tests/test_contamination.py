"""Benchmark decontamination (`corpus.contamination`, the corpus job's `--exclude-benchmark`, the audit
`python -m pipelines.contamination`) on real files: a BLURB directory cut from the real fixtures, real sample
documents with benchmark examples planted in them (`tests.contamination_data`)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from corpus import contamination
from corpus.assemble import ABSTRACT, BODY, TITLE, CorpusDocument, Paragraph
from corpus.filters import FilterConfig
from corpus.minhash import normalised_words
from evaluation.tasks import ALL_TASKS, DataError
from pipelines import contamination as audit_job
from pipelines import corpus as job
from pipelines.common import LOCAL_RUNNER
from pipelines.corpus_decontaminate import Decontaminate, write_index
from tests.blurb_data import BLURB, GENERATED
from tests.contamination_data import EBM_DEV_PMID, detokenised, hoc_sentence, planted_benchmark
from tests.corpus_data import write_documents

CASES = ("pmid_copy", "text_copy", "sentence_inside", "near_miss", "pmc_linked")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("contamination")
    benchmark, documents, plants = planted_benchmark(root)
    return root, benchmark, documents, plants


@pytest.fixture(scope="module")
def index(planted):
    _, benchmark, _, _ = planted
    return contamination.build_index([str(benchmark)], ["dev", "test"], 13)


# --- the index: PMIDs, normalised n-grams, masks, bad files ---------------------------------------------------------

def test_every_pmid_the_task_files_carry_is_indexed(planted, index):
    _, benchmark, _, _ = planted
    rows = {(row["task"], row["split"]): row for row in index.rows()}
    assert rows[("PubMedQA", "test")]["pmids"] == rows[("PubMedQA", "test")]["examples"] == 20
    test_pmid = next(iter(json.loads((benchmark / "pubmedqa/test_set.json").read_text())))
    hoc_index, _ = hoc_sentence(benchmark)
    chemprot_id = (benchmark / "chemprot/dev.tsv").read_text().split("\t", 1)[0]  # PMID.Tx.Ty
    names = {index.sources[s].name for pmid in (test_pmid,) for s in index.pmid_sources(pmid)}
    assert names == {"PubMedQA/test"}
    assert {index.sources[s].name for s in index.pmid_sources(hoc_index.split("_")[0])} == {"HoC/dev"}
    assert {index.sources[s].name for s in index.pmid_sources(chemprot_id.split(".")[0])} == {"ChemProt/dev"}
    assert {index.sources[s].name for s in index.pmid_sources(EBM_DEV_PMID)} == {"EBM-PICO/dev"}  # -DOCSTART-
    # Files without PMIDs: DDI's DDI-MedLine ids, GAD's and BIOSSES' row numbers are no PMIDs.
    for task in ("DDI", "GAD", "BIOSSES", "BioASQ", "BC5CDR-chem", "JNLPBA"):
        assert all(row["pmids"] == 0 for (name, _), row in rows.items() if name == task), task
    assert not index.pmid_sources("0") and not index.pmid_sources(None)


def test_blurb_tokenised_text_matches_the_raw_abstract(planted, index):
    _, benchmark, _, _ = planted
    _, tokenised = hoc_sentence(benchmark)
    raw = detokenised(tokenised)
    assert raw != tokenised and " ( " in tokenised and " , " in tokenised
    assert normalised_words(raw) == normalised_words(tokenised)
    match = contamination.judge("1", ["A first sentence.", raw, "A last one."], index)
    assert match.kind == contamination.BY_TEXT and [index.sources[s].name for s in match.text_sources] == ["HoC/dev"]
    assert set(match.sentences) == {1}  # only the sentence that carries it
    dose = "the dose - dependent increase of IL - 2 ( interleukin - 2 ) mRNA , as shown , in T cells"
    assert normalised_words(dose) == normalised_words("the dose-dependent increase of IL-2 (interleukin-2) mRNA, "
                                                      "as shown, in T cells")


def test_masks_and_labels_never_become_ngrams():
    sentence = "Binding of dimemorfan to @GENE$ and its anticonvulsant and locomotor effects in mice"
    assert contamination.text_segments(sentence) == [["binding", "of", "dimemorfan", "to"],
                                                     ["and", "its", "anticonvulsant", "and", "locomotor", "effects",
                                                      "in", "mice"]]
    for task in ALL_TASKS.values():  # every task's masks are cut
        for marker in task.entity_markers:
            assert contamination.MASK.fullmatch(marker), marker
    # A ChemProt row whose only 13-word runs span a mask: its raw sentence (the mask's entity named) shares none.
    row = next(line for line in (BLURB / "re/chemprot/dev.tsv").read_text().splitlines()
               if line.split("\t")[1].startswith("Binding of dimemorfan to @GENE$"))
    _, masked, label = row.split("\t")
    one = contamination.Index(13, [contamination.Source("ChemProt", "dev", ["x"])], ["r"], *_arrays(masked))
    raw = masked.replace("@GENE$", "sigma-1 receptor").replace("@CHEMICAL$", "dextromethorphan")
    assert contamination.judge(None, [raw], one) is None
    assert label not in " ".join(w for run in contamination.text_segments(masked) for w in run)


def _arrays(text: str):
    import numpy as np

    hashes = np.sort(np.concatenate([contamination.ngram_hashes(run, 13) for run in contamination.text_segments(text)]
                                    or [np.zeros(0, np.uint64)]))
    return (np.zeros(1, np.uint16), np.zeros(1, np.uint64), hashes, np.zeros(hashes.size, np.uint32), [])


def test_index_round_trip_and_missing_splits(index):
    again = contamination.Index.from_bytes(index.to_bytes())
    assert (again.hashes == index.hashes).all() and again.rows() == index.rows() and again.guids == index.guids
    assert "HoC/test: " in " ".join(index.missing) and all("does not exist" in note for note in index.missing)
    assert 1_000 < index.hashes.size < 100_000 and index.hashes.dtype.name == "uint64"


@pytest.mark.parametrize("bad, message", [
    ({"HoC/dev.tsv": "labels\tsentence\tindex\n0_0\tA sentence.\t123_s1\n"}, "HoC/dev.tsv:2: bad labels"),
    ({"pubmedqa/test_set.json": "{\"1\": {\"QUESTION\": \"q\"}"}, "test_set.json:1: not valid JSON"),
    ({"chemprot/dev.tsv": "1.T1.T2\tA sentence.\n"}, "chemprot/dev.tsv:1: expected 3 tab-separated fields"),
    ({"notes.txt": "nothing here"}, "holds no benchmark task file"),
])
def test_a_bad_benchmark_file_is_one_line_naming_it(tmp_path, capsys, bad, message):
    benchmark = tmp_path / "bench"
    for name, text in bad.items():
        (benchmark / name).parent.mkdir(parents=True, exist_ok=True)
        (benchmark / name).write_text(text)
    if "HoC" in next(iter(bad)):  # a task needs its train file to be found in this layout
        (benchmark / "HoC/train.tsv").write_text("labels\tsentence\tindex\n")
    documents = write_documents(tmp_path / "docs.jsonl.gz", [])
    with pytest.raises(SystemExit) as exit_info:
        job.run(["--input", str(documents), "--output", str(tmp_path / "out"), "--exclude-benchmark", str(benchmark)])
    text = str(exit_info.value.code)
    assert text.startswith("error: --exclude-benchmark: ") and message in text and "\n" not in text


def test_flags_are_checked_and_documented(capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.run(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--exclude-benchmark", "--exclude-splits", "--decontamination ", "--decontamination-scope",
                 "--decontamination-ngram", "--decontamination-min-matches"):
        assert flag in out, flag
    for bad in (["--decontamination", "report"], ["--exclude-benchmark", "b", "--exclude-splits", "dev,val"],
                ["--exclude-benchmark", "b", "--decontamination", "delete"],
                ["--exclude-benchmark", "b", "--decontamination-ngram", "0"],
                ["--exclude-benchmark", "b", "--decontamination-min-matches", "0"],
                ["--exclude-benchmark", "b", "--decontamination-scop", "sentence"]):
        with pytest.raises(SystemExit) as exit_info:
            job.run(["--input", "x", "--output", "y", *bad])
        assert exit_info.value.code == 2, bad


# --- the step on the local runner -------------------------------------------------------------------------------------

def _document(doc_id: str, pmid: str, sentences: list[str], body: list[str] = ()) -> CorpusDocument:
    paragraphs = [Paragraph(TITLE, None, sentences[:1]), Paragraph(ABSTRACT, None, sentences[1:])]
    if body:
        paragraphs.append(Paragraph(BODY, None, list(body)))
    return CorpusDocument(id=doc_id, source="pmc" if body else "pubmed", pmid=pmid, paragraphs=paragraphs)


@pytest.mark.parametrize("mode, scope", [("remove", "document"), ("remove", "sentence"), ("report", "document")])
def test_step_removes_counts_and_lists(planted, index, tmp_path, mode, scope):
    _, benchmark, _, _ = planted
    _, tokenised = hoc_sentence(benchmark)
    prose = [f"This is sentence number {n} of a long abstract about nothing in particular at all." for n in range(6)]
    documents = [
        _document("pubmed:1", "1", prose[:1] + [detokenised(tokenised)] + prose[1:]),  # a benchmark sentence inside
        _document("pmc:PMC1", EBM_DEV_PMID, prose[:3], body=prose[3:]),  # linked to a benchmark PMID
        _document("pubmed:2", "2", prose),  # clean
    ]
    config = contamination.DecontaminationConfig((str(benchmark),), mode=mode, scope=scope)
    index_file = write_index(str(tmp_path), index)
    step = Decontaminate(index_file, config, FilterConfig(min_document_words=5))
    with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
        kept = pipeline | beam.Create(documents) | step
        ids = kept | "Ids" >> beam.Map(lambda d: (d.id, d.num_sentences()))
        lines = step.matches | beam.Map(lambda row: (row["id"], row["kind"], row["action"], row["sentences_removed"]))
        expected = {
            ("remove", "document"): ([("pubmed:2", 6)], [("pubmed:1", "text", "removed", 7),
                                                          ("pmc:PMC1", "pmid", "removed", 6)]),
            ("remove", "sentence"): ([("pubmed:2", 6), ("pubmed:1", 6), ("pmc:PMC1", 3)],
                                     [("pubmed:1", "text", "sentences_removed", 1),
                                      ("pmc:PMC1", "pmid", "sentences_removed", 3)]),
            ("report", "document"): ([("pubmed:2", 6), ("pubmed:1", 7), ("pmc:PMC1", 6)],
                                     [("pubmed:1", "text", "reported", 0), ("pmc:PMC1", "pmid", "reported", 0)]),
        }[(mode, scope)]
        assert_that(ids, equal_to(expected[0]), label="kept")
        assert_that(lines, equal_to(expected[1]), label="listed")
        exclusions = step.exclusions[0] | beam.Map(lambda row: (row["id"], row["step"], row["reason"]))
        assert_that(exclusions, equal_to([(i, "decontaminate", k) for i, k, a, _ in expected[1] if a == "removed"]),
                    label="excluded")
    counters = pipeline.result.metrics().query()["counters"]
    values = {c.key.metric.name: c.committed for c in counters}
    assert values["decontaminate.in"] == 3 == values.get("decontaminate.out", 0) + sum(
        v for k, v in values.items() if k.startswith("decontaminate.removed."))
    assert values["decontaminate.matched.pmid"] == values["decontaminate.matched.text"] == 1
    assert values["decontaminate.match.HoC.dev.text"] == values["decontaminate.match.EBM-PICO.dev.pmid"] == 1


# --- the corpus job: the bundled sample with the planted cases ----------------------------------------------------

@pytest.fixture(scope="module")
def sample_run(planted):
    root, benchmark, documents, plants = planted
    write_documents(root / "docs-00000-of-00001.jsonl.gz", documents)
    out = root / "corpus"
    stats = job.run(["--input", str(root / "docs-*.jsonl.gz"), "--output", str(out), "--shard-size-mb", "0.5",
                     "--exclude-benchmark", str(benchmark), "--exclude-benchmark", str(BLURB),
                     "--exclude-benchmark", str(GENERATED)])
    return out, stats


def _written(out: Path) -> dict[str, dict]:
    return {record["id"]: record for path in sorted((out / "documents").glob("part-*.jsonl.gz"))
            for record in map(json.loads, gzip.open(path, "rt", encoding="utf-8"))}


@pytest.mark.slow
def test_planted_examples_are_removed_and_the_rest_of_the_sample_stays(sample_run, planted):
    out, stats = sample_run
    _, _, documents, plants = planted
    written = _written(out)
    for case in ("pmid_copy", "text_copy", "sentence_inside", "pmc_linked"):
        assert plants[case] not in written, case
    assert plants["near_miss"] in written  # 12-word runs shared, no 13-gram
    steps = {row["step"]: row for row in stats["steps"]}
    assert steps["decontaminate"]["removed"] == {"pmid": 2, "text": 2}  # and nothing else of the sample
    assert all(row["balanced"] for row in stats["steps"]) and stats["sentences"]["balanced"]
    assert [row["in"] for row in stats["steps"][1:]] == [row["out"] for row in stats["steps"][:-1]]
    section = stats["decontamination"]
    rows = {(row["task"], row["split"]): row for row in section["tasks"]}
    assert rows[("PubMedQA", "test")]["documents_pmid"] == 1 and rows[("PubMedQA", "test")]["documents_text"] == 2
    assert rows[("HoC", "dev")]["documents_text"] == 1 and rows[("EBM-PICO", "dev")]["documents_pmid"] == 1
    assert section["documents_removed"] == {"pmid": 2, "text": 2}
    lines = [json.loads(line) for path in (out / "contamination").glob("part-*.jsonl") for line in path.open()]
    assert {(line["id"], line["kind"]) for line in lines} == {
        (plants["pmid_copy"], "pmid"), (plants["pmc_linked"], "pmid"), (plants["text_copy"], "text"),
        (plants["sentence_inside"], "text")}
    assert all(line["ngram"] for line in lines if line["kind"] == "text")
    removed = [json.loads(line) for path in (out / "removed").glob("part-*")
               for line in gzip.open(path, "rt", encoding="utf-8")]
    assert sorted(r["id"] for r in removed if r["step"] == "decontaminate") == sorted(
        plants[case] for case in ("pmid_copy", "text_copy", "sentence_inside", "pmc_linked"))
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Benchmark decontamination" in page and "PubMedQA" in page


@pytest.mark.slow
def test_audit_measures_the_corpus_without_rewriting_it(sample_run, planted, tmp_path):
    out, _ = sample_run
    root, benchmark, _, _ = planted
    # The decontaminated corpus holds nothing of the benchmark; its input (the documents) holds the plants.
    clean = audit_job.run(["--corpus", str(out / "text" / "part-*.txt"), "--benchmark", str(benchmark),
                           "--output", str(tmp_path / "clean.json")])
    assert not any(row["found_by_text"] or row["found_by_pmid"] for row in clean["tasks"])
    dirty = audit_job.run(["--corpus", str(root / "docs-*.jsonl.gz"), "--benchmark", str(benchmark),
                           "--output", str(tmp_path / "dirty.json")])
    rows = {(row["task"], row["split"]): row for row in dirty["tasks"]}
    assert rows[("PubMedQA", "test")]["found_by_text"] == rows[("PubMedQA", "test")]["found_by_pmid"] == 1
    assert rows[("PubMedQA", "test")]["share_by_text"] == 0.05
    assert rows[("HoC", "dev")]["found_by_text"] == 1 and rows[("EBM-PICO", "dev")]["found_by_pmid"] == 1
    assert rows[("PubMedQA", "dev")]["found_by_text"] == 0  # the near miss
    assert json.loads((tmp_path / "dirty.json").read_text()) == dirty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json", "dirty.json"]


@pytest.mark.slow
def test_sentence_scope_and_gcs(planted, gcs_prefix):
    """Benchmark, output and audit on gs:// (the emulator), the sentence scope, a small part of the sample."""
    root, benchmark, documents, plants = planted
    cases = {plants[case] for case in CASES}
    small = [d for d in documents if d.id in cases] + [d for d in documents if d.id not in cases][:30]
    write_documents(root / "small-00000-of-00001.jsonl.gz", small)
    remote = f"{gcs_prefix}/blurb"
    for path in benchmark.rglob("*"):
        if path.is_file():
            with FileSystems.create(f"{remote}/{path.relative_to(benchmark).as_posix()}") as handle:
                handle.write(path.read_bytes())
    out = f"{gcs_prefix}/corpus"
    stats = job.run(["--input", str(root / "small-*.jsonl.gz"), "--output", out, "--exclude-benchmark", remote,
                     "--decontamination-scope", "sentence"])
    steps = {row["step"]: row for row in stats["steps"]}
    assert steps["decontaminate"]["removed"] == {"pmid": 1}  # the PubMed copy under its PMID: nothing left
    assert stats["sentences"]["removed"]["contamination"] > 0 and stats["sentences"]["balanced"]
    text = "".join(FileSystems.open(m.path).read().decode() for m in
                   FileSystems.match([f"{out}/text/part-*.txt"])[0].metadata_list)
    assert plants["hoc_sentence"] not in text and plants["near_miss_text"] in text
    lines = [json.loads(line) for m in FileSystems.match([f"{out}/contamination/part-*.jsonl"])[0].metadata_list
             for line in FileSystems.open(m.path).read().decode().splitlines()]
    actions = {line["id"]: (line["action"], line["sentences_removed"]) for line in lines}
    assert actions[plants["sentence_inside"]] == ("sentences_removed", 1)
    assert actions[plants["pmc_linked"]][0] == "sentences_removed"  # title and abstract gone, the body stays
    report = audit_job.run(["--corpus", f"{out}/text/part-*.txt", "--benchmark", remote,
                            "--output", f"{gcs_prefix}/audit.json"])
    assert FileSystems.exists(f"{gcs_prefix}/audit.json") and report["documents"] == stats["written"]["documents"]


def test_without_the_flag_nothing_changes_in_stats(tmp_path):
    from corpus.stats import build_stats

    plain = build_stats({}, {}, {}, {})
    assert "decontamination" not in plain and "decontaminate" not in [row["step"] for row in plain["steps"]]
    assert "decontamination" not in job.CorpusConfig().to_dict()
    with pytest.raises(DataError, match="holds no benchmark task file"):
        contamination.build_index([str(tmp_path)], ["dev"], 13)


@pytest.mark.slow
def test_audit_dataflow_graph(gcs_prefix, tmp_path, planted):
    from tests.test_dataflow import dry_run

    root, benchmark, documents, _ = planted
    write_documents(root / "graph-00000-of-00001.jsonl.gz", documents[:5])
    _, names = dry_run(audit_job, ["--corpus", str(root / "graph-*.jsonl.gz"), "--benchmark", str(benchmark),
                                   "--output", f"{gcs_prefix}/audit.json"], gcs_prefix, tmp_path)
    for step in ("Spread", "Match", "PerKind"):
        assert any(name.startswith(step) for name in names), step
    assert not FileSystems.exists(f"{gcs_prefix}/audit.json")  # nothing ran


def test_audit_flags_are_strict(capsys):
    for bad in (["--corpus", "c", "--benchmark", "b", "--output", "o.json", "--ngrams", "8"],
                ["--corpus", "c", "--benchmark", "b", "--output", "o.json", "--splits", "validation"],
                ["--corpus", "c", "--output", "o.json"]):
        with pytest.raises(SystemExit) as exit_info:
            audit_job.run(bad)
        assert exit_info.value.code == 2, bad
    assert "did you mean --ngram?" in capsys.readouterr().err
