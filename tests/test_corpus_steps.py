"""Each step of the corpus job on small real inputs: the pure functions, then each PTransform on the DirectRunner."""
from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from corpus import boilerplate, compact, dedup, langid, shards
from corpus.assemble import ABSTRACT, BODY, SUMMARY, TITLE, CorpusDocument, Paragraph, assemble, text_blocks
from corpus.documents import Document
from corpus.fingerprints import fingerprint
from corpus.minhash import (MinHasher, jaccard_estimate, lsh_parameters, normalised_word_bytes, normalised_words,
                            shingle_hashes)
from corpus.pubmed import iter_pubmed
from corpus.report import render_report
from corpus.sentences import SentenceSplitter
from corpus.stats import build_stats, empty_histograms
from corpus.dedup import NearDuplicateConfig
from corpus.filters import FilterConfig
from pipelines import corpus_steps as steps
from pipelines.corpus_write import WriteCorpus
from pipelines.corpus_dedup import DeduplicateCorpus, RemoveLinesDoFn, TopLines
from pipelines.common import LOCAL_RUNNER
from tests.corpus_data import by_id, planted_documents, sample_documents
from tests.fixtures import DATA, REPO, genia_documents

SPLITTER = SentenceSplitter()


def corpus_document(document: Document) -> CorpusDocument:
    return assemble(document, SPLITTER)[0]


def genia_document(index: int, doc_id: str, extra: tuple[str, ...] = ()) -> CorpusDocument:
    sentences = list(genia_documents()[index])
    return CorpusDocument(id=doc_id, source="pubmed", paragraphs=[
        Paragraph(TITLE, None, sentences[:1]), Paragraph(ABSTRACT, None, sentences[1:] + list(extra))])


# --- assembly -----------------------------------------------------------------------------------------------------

def test_assembly_keeps_labels_as_structure_and_sentences_exact():
    article = by_id(sample_documents())["pmc:PMC2994229"]
    document, counts = assemble(article, SPLITTER)
    kinds = [paragraph.kind for paragraph in document.paragraphs]
    assert kinds[0] == TITLE and kinds.count(ABSTRACT) == len(article.abstract) and BODY in kinds
    labels = [section["label"] for section in article.abstract]
    assert [p.label for p in document.paragraphs if p.kind == ABSTRACT] == labels and all(labels)
    assert not any(sentence in labels for sentence in document.sentences())
    for paragraph, (_, _, text) in zip(document.paragraphs, text_blocks(article)):
        assert all(sentence in text for sentence in paragraph.sentences)  # exact substrings, nothing rewritten
    assert counts["sentences"] == document.num_sentences() == sum(1 for _ in document.sentences())
    assert counts["body_paragraphs"] == len(article.body)


def test_assembly_keeps_english_summaries_and_skips_translations():
    records = [item for item in iter_pubmed(DATA / "pubmed" / "update_pubmed26n1335_sample.xml.gz")
               if isinstance(item, Document)]
    with_summary = next(d for d in records if d.id == "pubmed:41568766")
    document, _ = assemble(with_summary, SPLITTER)
    assert [p.kind for p in document.paragraphs].count(SUMMARY) == 1
    translated = next(d for d in sample_documents() if any(o["language"] == "por" for o in d.other_abstracts))
    document, counts = assemble(translated, SPLITTER)
    assert counts["other_language_abstracts_skipped"] == 1
    assert SUMMARY not in [p.kind for p in document.paragraphs]


# --- cross-source, exact and near duplicates ----------------------------------------------------------------------

def test_cross_source_links_by_pmid_or_pmcid():
    assert dedup.cross_source_losers([("pubmed", "pubmed:1"), ("pmc", "pmc:PMC9")]) == [("pubmed:1", "pmc:PMC9")]
    assert dedup.cross_source_losers([("pubmed", "pubmed:1"), ("pubmed", "pubmed:2")]) == []
    documents, plants = planted_documents()
    index = by_id(documents)
    assert "pmid:21045829" in dedup.link_keys(index[plants["cross_by_pmid"]])
    assert set(dedup.link_keys(index[plants["cross_by_pmcid"]])) & set(dedup.link_keys(index["pmc:PMC3574550"]))


def test_exact_key_ignores_case_spacing_and_punctuation_only():
    original = genia_document(0, "a")
    copy = genia_document(0, "b")
    copy.paragraphs = [Paragraph(p.kind, p.label, [s.upper().replace(", ", " , ") for s in p.sentences])
                       for p in copy.paragraphs]
    # The split may differ for upper-cased text; the key does not depend on where sentences end.
    copy.paragraphs[1].sentences = [" ".join(copy.paragraphs[1].sentences)]
    assert dedup.exact_key(original) == dedup.exact_key(copy)
    assert dedup.exact_key(original) != dedup.exact_key(genia_document(1, "c"))


TRICKY = ["Plain ASCII, with 12 digits_and under_scores!", "tabs\tand\x0bcontrol\x01bytes\x7f", "", "  ...  ",
          "\ufb01sh \u00df \u0130stanbul", "\u00a9 2016 Elsevier Ltd", "Arabic digits \u0663\u0664 and 0099", "\U0001F600 x",
          "Na\u00efve caf\u00e9 \u2163 \u00bd", "UPPER lower MiXeD 2020-2021"]


def test_fast_paths_give_the_regex_definitions_words_and_keys():
    import re
    import unicodedata

    def words(text):
        return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())

    def key(joined):
        return hashlib.blake2b(re.sub(r"\d+", "0", joined).encode("utf-8"), digest_size=boilerplate.KEY_BYTES).digest()

    for text in TRICKY + [chr(code) * 3 + " a1" for code in range(160)]:
        assert normalised_words(text) == words(text), text
        assert normalised_word_bytes(text) == [word.encode("utf-8") for word in words(text)], text
        if words(text):
            assert boilerplate.key_of_text(" ".join(words(text))) == key(" ".join(words(text))), text
    assert shingle_hashes(words(TRICKY[0]), 5).tolist() == shingle_hashes(normalised_word_bytes(TRICKY[0]), 5).tolist()


def test_fingerprint_holds_the_keys_the_dedup_steps_define():
    hasher = MinHasher(128, seed=1)
    documents = [corpus_document(d) for d in sample_documents()[:200]]
    documents.append(CorpusDocument(id="x:1", source="pubmed", paragraphs=[Paragraph(TITLE, None, TRICKY)]))
    for document in documents:
        print_ = fingerprint(document, hasher, 5)
        assert print_.exact_key == dedup.exact_key(document)
        signature = dedup.minhash_signature(document, hasher, 5)
        assert print_.signature == (None if signature is None else signature.tobytes())
        assert print_.line_keys == b"".join(sorted(boilerplate.document_line_keys(document)))
        assert (print_.rank, print_.words) == (dedup.survivor_rank(document), document.num_words())


def test_minhash_estimates_jaccard_and_is_the_same_in_another_process():
    words = normalised_words(" ".join(genia_documents()[3]))
    edited = words[:40] + words[55:]  # 15 words cut out of a real abstract
    hasher = MinHasher(256, seed=1)
    first, second = (hasher.signature(shingle_hashes(w, 5)) for w in (words, edited))
    shingles = [set(zip(*(w[i:] for i in range(5)))) for w in (words, edited)]
    true = len(shingles[0] & shingles[1]) / len(shingles[0] | shingles[1])
    assert abs(jaccard_estimate(first, second) - true) < 0.1
    assert jaccard_estimate(first, hasher.signature(shingle_hashes(normalised_words(
        " ".join(genia_documents()[4])), 5))) < 0.1
    code = ("import sys; from corpus.minhash import *; w = normalised_words(sys.stdin.read()); "
            "print(MinHasher(256, seed=1).signature(shingle_hashes(w, 5)).tolist())")
    other = subprocess.run([sys.executable, "-c", code], input=" ".join(genia_documents()[3]), text=True,
                           capture_output=True, check=True, cwd=REPO, env={"PYTHONHASHSEED": "123"})
    assert json.loads(other.stdout) == first.tolist()


def test_lsh_parameters_put_the_step_at_the_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = lsh_parameters(threshold, 128)
        assert bands * rows <= 128
        probability = lambda s: 1 - (1 - s ** rows) ** bands  # noqa: E731
        assert probability(threshold - 0.2) < 0.2 < 0.8 < probability(min(threshold + 0.1, 1.0))


def test_bucket_edges_are_bounded_and_point_to_better_copies():
    ranks = {f"pubmed:{i}": dedup.rank_of(False, 100 - i, f"pubmed:{i}") for i in range(50)}
    edges = list(dedup.bucket_edges(list(ranks.values()), max_links=3))
    assert len(edges) == 3 * 47 + 1 + 2
    assert all(rank < ranks[worse] for worse, rank in edges)
    assert {dedup.rank_id(rank) for _, rank in edges} == {"pubmed:0", "pubmed:1", "pubmed:2"}
    # Over all its buckets a document keeps its best candidates: the best-ranked first, each once.
    candidates = [ranks[f"pubmed:{i}"] for i in (7, 3, 9, 3, 1, 4)]
    assert dedup.best_candidates(candidates, 3) == ["pubmed:1", "pubmed:3", "pubmed:4"]


def test_a_partition_of_buckets_gives_each_bucket_its_own_pairs():
    ranks = [dedup.rank_of(False, 100 - i, f"pubmed:{i}") for i in range(30)]
    buckets = {bytes([0, 0, 7, b, 2, 3, 4, 5, 6, 7]): ranks[b::3] for b in range(3)}  # three buckets, one partition
    buckets[bytes(range(1, 11))] = ranks[:1]  # a bucket of one: no pair
    values = [dedup.bucket_member(key, rank) for key, members in buckets.items() for rank in members]
    assert len({partition for partition, _ in values}) == 2
    expected = sorted(pair for members in buckets.values() for pair in dedup.bucket_edges(members, 2))
    grouped = {}
    for partition, value in values:
        grouped.setdefault(partition, []).append(value)
    found = sorted(pair for members in grouped.values() for pair in dedup.partition_edges(members, 2))
    assert found == expected and len(found) == 3 * (2 * 8 + 1)
    # A member twice in a bucket (a runner may not deliver it so, but the rule holds) pairs once with each better.
    assert len(list(dedup.bucket_edges([ranks[0], ranks[0], ranks[1]], 2))) == 1


def test_line_partitions_remove_each_line_but_from_its_winner():
    seed, ids = 3, [f"pubmed:{i}" for i in range(6)]
    lines = {bytes([9, 9, k, 0, 0, 0, 0, 0]): ids[:count] for k, count in ((1, 4), (2, 2), (3, 3))}
    grouped = {}
    for key, holders in lines.items():
        for doc_id in holders:
            partition, value = boilerplate.line_occurrence(key, boilerplate.occurrence(seed, doc_id))
            grouped.setdefault(partition, []).append(value)
    [(partition, values)] = grouped.items()
    count, losers = boilerplate.partition_losers(partition, values, min_documents=3)
    winner = {key: min(holders, key=lambda d: (boilerplate.winner_order(seed, d), d)) for key, holders in lines.items()}
    assert count == 2 and sorted(losers) == sorted(
        (doc_id, key) for key, holders in lines.items() if len(holders) >= 3 for doc_id in holders
        if doc_id != winner[key])


def test_survivor_rank_orders_full_text_then_length_then_id():
    ordered = [(True, 10, "pmc:PMC2"), (False, 500, "pubmed:9"), (False, 20, "pubmed:10"), (False, 20, "pubmed:9"),
               (False, 20, "pubmed:\u00e9"), (False, 0, "pubmed:1")]
    ranks = [dedup.rank_of(*fields) for fields in ordered]
    assert sorted(ranks) == ranks and [dedup.rank_id(rank) for rank in ranks] == [f[2] for f in ordered]
    assert sorted(ranks) == [dedup.rank_of(*f) for f in sorted(ordered, key=lambda f: (not f[0], -f[1], f[2]))]


# --- boilerplate --------------------------------------------------------------------------------------------------

def test_boilerplate_keys_and_deterministic_winner():
    assert boilerplate.line_key("(c) 2015 Elsevier Ltd. All rights reserved.") == \
        boilerplate.line_key("© 2016 Elsevier Ltd All rights reserved")
    assert boilerplate.line_key("*** ---") is None
    ids = [f"pubmed:{i}" for i in range(5)]
    occurrences = [boilerplate.occurrence(7, doc_id) for doc_id in ids]
    count, losers = boilerplate.losing_documents(occurrences, min_documents=3)
    winner = min((boilerplate.winner_order(7, doc_id), doc_id) for doc_id in ids)[1]
    assert count == 5 and sorted(losers) == sorted(d for d in ids if d != winner)
    assert list(boilerplate.losing_documents(occurrences[:2], min_documents=3)[1]) == []
    assert list(boilerplate.losing_documents(list(reversed(occurrences)), 3)[1]) == [
        d for d in reversed(ids) if d != winner]


# --- language -----------------------------------------------------------------------------------------------------

def test_language_of_real_text():
    identifier = langid.LanguageIdentifier()
    others = {}
    for document in sample_documents():
        for other in document.other_abstracts:
            others.setdefault(other["language"], []).append(other["text"])
    expected = {"por": "pt", "spa": "es", "fre": "fr", "chi": "zh"}
    for code, language in expected.items():
        assert [identifier.detect(text).language for text in others[code]] == [language] * len(others[code])
    genia = [identifier.detect(" ".join(sentences)).language for sentences in genia_documents()]
    assert genia == ["en"] * len(genia)
    # CLD2 raises on control characters and lone surrogates; they are blanked, not fatal.
    damaged = " ".join(genia_documents()[0]).replace(" ", "\x00 ", 3).replace(".", ".\ud800", 1)
    assert identifier.detect(damaged).language == "en"
    assert identifier.detect("").language == langid.UNDETERMINED


def test_language_drops_other_language_paragraphs_and_documents():
    documents, plants = planted_documents()
    index = by_id(documents)
    config, identifier = langid.LanguageConfig(), langid.LanguageIdentifier()
    host = corpus_document(index[plants["spanish_paragraph_host"]])
    keep, counts = langid.judge_document(host, identifier, config)
    assert keep and host.language == "en" and counts["paragraphs_other_language"] == 1
    assert not any("TEPT" in sentence for sentence in host.sentences())
    portuguese = corpus_document(index[plants["portuguese"]])
    assert langid.judge_document(portuguese, identifier, config)[0] is False and portuguese.language == "pt"
    keep_pt = langid.LanguageConfig(keep=langid.parse_languages(["en,pt"]))
    assert langid.judge_document(corpus_document(index[plants["portuguese"]]), identifier, keep_pt)[0]


# --- shards and report --------------------------------------------------------------------------------------------

def test_shard_files_are_electra_format_and_traceable():
    documents = [genia_document(i, f"pubmed:{i}") for i in range(5)]
    keyed = [(shards.shuffle_key(3, d.id), d) for d in documents]
    text, jsonl, count = shards.render_shard(reversed(keyed), "part-00000-of-00001.txt")
    assert count == 5 and text == shards.render_shard(keyed, "part-00000-of-00001.txt")[0]
    assert jsonl == shards.render_shard(keyed, "part-00000-of-00001.txt")[1]  # gzip without timestamp
    lines = text.decode().split("\n")
    assert lines[-1] == "" and lines[-2] != ""
    records = [json.loads(line) for line in gzip.decompress(jsonl).decode().splitlines()]
    for record in records:
        sentences = [s for p in record["paragraphs"] for s in p["sentences"]]
        first = record["line"] - 1
        assert lines[first:first + len(sentences)] == sentences
        assert first == 0 or lines[first - 1] == ""
    assert [r["id"] for r in records] == [d.id for _, d in sorted(keyed, key=lambda kd: kd[0])]
    assert shards.shard_count(0, 100) == 1 and shards.shard_count(250, 100) == 3


def test_documents_codec_round_trips_every_document_and_its_dictionary_shrinks_them(tmp_path):
    documents = [corpus_document(d) for d in sample_documents()]
    documents = [d for d in documents if d.paragraphs]
    odd = CorpusDocument(id="pmc:PMC1", source="pmc", paragraphs=[
        Paragraph(TITLE, None, ["Zürich \u00e9t\u00e9 \U0001F600 \u0000 ÷"]), Paragraph(BODY, "Ω", [])])
    for document in documents + [odd, CorpusDocument(id="pubmed:1", source="pubmed")]:
        assert shards.unpack(shards.pack(document)) == document
    raw = [d.to_bytes() for d in documents]
    with_dictionary = sum(len(compact.documents_codec().compress(data)) for data in raw)
    plain = sum(len(compact.compress(data)) for data in raw)
    assert with_dictionary < 0.85 * plain  # the dictionary was trained on these documents: a generous bound
    # The dictionary is reproducible from documents shards, by the command the module names.
    _, jsonl, _ = shards.render_shard([(shards.shuffle_key(0, d.id), d) for d in documents], "part.txt")
    (tmp_path / "part-00000-of-00001.jsonl.gz").write_bytes(jsonl)
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "corpus.compact", "--input", str(tmp_path / "part-*.jsonl.gz"),
                        "--output", str(tmp_path / f"{name}.zdict")], check=True, cwd=REPO, capture_output=True)
    assert (tmp_path / "a.zdict").read_bytes() == (tmp_path / "b.zdict").read_bytes()
    assert len((tmp_path / "a.zdict").read_bytes()) == compact.DICTIONARY_BYTES
    empty = subprocess.run([sys.executable, "-m", "corpus.compact", "--input", str(tmp_path / "none-*"),
                            "--output", str(tmp_path / "c.zdict")], cwd=REPO, capture_output=True, text=True)
    assert empty.returncode == 2 and "matches no file" in empty.stderr


@pytest.mark.slow
def test_report_escapes_text_from_the_data():
    counters = {"read.in": 3, "read.out": 3, "written.documents": 1, "written.sentences": 2}
    aggregates = {"histograms": empty_histograms(), "shards": [],
                  "boilerplate_lines": [{"documents": 3, "key": "k", "text": "<script>alert(1)</script>"}],
                  "exact_duplicate_groups": [], "near_duplicate_clusters": [{
                      "kept": "pubmed:1", "title": "<b>bold</b>", "kept_in_corpus": True,
                      "removed": [{"id": "pubmed:2", "similarity": 0.9, "title": "x & y"}]}]}
    stats = build_stats(counters, aggregates, {}, {})
    page = render_report(stats)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;bold" in page
    assert page.count("data:image/png;base64,") == 7
    assert page == render_report(stats)


# --- the PTransforms on the DirectRunner --------------------------------------------------------------------------

def deduplicate_and_write(inputs, out, seed: int = 5):
    """DeduplicateCorpus, then WriteCorpus with the boilerplate step's `RemoveLinesDoFn`, as the corpus job
    composes them; returns (the dedup step, its result, the write step)."""
    dedup_step = DeduplicateCorpus(NearDuplicateConfig(), seed=seed, min_documents=3)
    result = inputs | dedup_step
    write = WriteCorpus(str(out), 10**9, result.total_bytes, seed, RemoveLinesDoFn(FilterConfig()))
    _ = (result.entries, result.removed, result.line_losers) | write
    return dedup_step, result, write


def written_documents(out) -> list[dict]:
    return [json.loads(line) for path in sorted((out / "documents").glob("part-*.jsonl.gz"))
            for line in gzip.open(path)]


def test_cross_source_transform(tmp_path):
    documents, plants = planted_documents()
    index = by_id(documents)
    chosen = [index[i] for i in (plants["cross_by_pmid"], plants["cross_by_pmcid"], "pmc:PMC2994229",
                                 "pmc:PMC3574550", plants["exact_original"])]
    with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
        documents_in = pipeline | beam.Create(chosen)
        verdicts = documents_in | steps.CrossSourceVerdicts()
        assert_that(verdicts | "Losers" >> beam.Map(lambda pair: pair[0]),
                    equal_to([plants["cross_by_pmid"], plants["cross_by_pmcid"]]), label="verdicts")
        # The verdicts are applied to the fingerprints, before the exact step; the documents meet them once,
        # in their shard.
        corpus_documents = documents_in | "Corpus" >> beam.Map(corpus_document)
        _, result, _ = deduplicate_and_write((corpus_documents, verdicts), tmp_path)
        assert_that(result.removed | "Removed" >> beam.Map(lambda item: (item[0], item[1][:2])),
                    equal_to([(plants["cross_by_pmid"], ("cross_source", "pubmed_in_pmc")),
                              (plants["cross_by_pmcid"], ("cross_source", "pubmed_in_pmc"))]), label="removed")
    assert sorted(record["id"] for record in written_documents(tmp_path)) == sorted(
        ["pmc:PMC2994229", "pmc:PMC3574550", plants["exact_original"]])


def test_exact_and_near_duplicate_transforms(tmp_path):
    documents, plants = planted_documents()
    index = by_id(documents)
    names = ("exact_original", "exact_copy", "near_original", "near_copy")
    chosen = [corpus_document(index[plants[name]]) for name in names] + [genia_document(i, f"g:{i}")
                                                                          for i in range(6)]
    with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
        dedup_step, result, _ = deduplicate_and_write(pipeline | beam.Create(chosen), tmp_path)
        assert_that(result.exact_groups | "ExactIds" >> beam.Map(lambda gs: [(g["kept"], g["removed"]) for g in gs]),
                    equal_to([[(plants["exact_original"], [plants["exact_copy"]])]]), label="groups")
        assert_that(result.near_clusters | "NearIds" >> beam.Map(
                        lambda cs: [(c["kept"], [m["id"] for m in c["removed"]]) for c in cs]),
                    equal_to([[(plants["near_original"], [plants["near_copy"]])]]), label="clusters")
        exclusions = dedup_step.exclusions | "AllExclusions" >> beam.Flatten()
        assert_that(exclusions | "Rows" >> beam.Map(lambda row: (row["id"], row["step"], row["reason"])),
                    equal_to([(plants["exact_copy"], "exact", "duplicate"),
                              (plants["near_copy"], "near", "duplicate")]), label="exclusions")
    assert sorted(record["id"] for record in written_documents(tmp_path)) == sorted(
        [plants["exact_original"], plants["near_original"]] + [f"g:{i}" for i in range(6)])


def test_boilerplate_transform_keeps_one_copy(tmp_path):
    line = "© {} Elsevier Ltd. All rights reserved."
    documents = [genia_document(i, f"g:{i}", (line.format(2010 + i),)) for i in range(4)]
    documents += [genia_document(4 + i, f"h:{i}", ("Supported by the Foo Foundation.",)) for i in range(2)]
    winner = min((boilerplate.winner_order(5, d.id), d.id) for d in documents[:4])[1]
    with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
        _, _, write = deduplicate_and_write(pipeline | beam.Create(documents), tmp_path)
        lines = write.lines | TopLines(20)
        assert_that(lines | beam.Map(lambda rows: [row["documents"] for row in rows]), equal_to([[4]]),
                    label="lines")
    written = written_documents(tmp_path)
    sentences = {record["id"]: [s for p in record["paragraphs"] for s in p["sentences"]] for record in written}
    assert len(written) == 6
    assert [i for i, kept in sentences.items() if any("Elsevier" in s for s in kept)] == [winner]
    assert sum(s == "Supported by the Foo Foundation." for kept in sentences.values() for s in kept) == 2


def test_write_corpus_meets_the_verdicts_in_each_shard(tmp_path):
    """Removed ids are not written; a document's lines to drop go, and one left too short by that is removed."""
    documents = [genia_document(i, f"g:{i}") for i in range(12)]
    short = CorpusDocument(id="s:1", source="pubmed", paragraphs=[
        Paragraph(TITLE, None, ["A title of six words here."]),
        Paragraph(ABSTRACT, None, ["Only this boilerplate line makes the document long enough to keep it."])])
    documents.append(short)
    drop = boilerplate.key_of_text(" ".join(normalised_words(short.paragraphs[1].sentences[0])))
    seed = 3
    with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
        entries = pipeline | beam.Create(documents) | beam.Map(
            lambda d: (d.id, tuple(shards.entry(d, shards.shuffle_key(seed, d.id)))))
        removed = pipeline | "Removed" >> beam.Create([("g:3", ("exact", "duplicate", 5)),
                                                       ("g:7", ("near", "duplicate", 5))])
        lines = pipeline | "Lines" >> beam.Create([("s:1", drop)])
        total = pipeline | "Total" >> beam.Create([sum(shards.text_bytes(d) for d in documents)])
        write = WriteCorpus(str(tmp_path), 4000, total, seed, RemoveLinesDoFn(FilterConfig(min_document_words=10)))
        _ = (entries, removed, lines) | write
        exclusions = write.exclusions | beam.Flatten()
        assert_that(exclusions | beam.Map(lambda row: (row["id"], row["step"], row["reason"])),
                    equal_to([("s:1", "boilerplate", "too_short")]), label="exclusions")
    written = sorted(record["id"] for record in written_documents(tmp_path))
    assert written == sorted(f"g:{i}" for i in range(12) if i not in (3, 7))
    assert len(list((tmp_path / "text").glob("part-*.txt"))) == shards.shard_count(
        sum(shards.text_bytes(d) for d in documents), 4000)


def test_write_corpus_shards_every_document_once(tmp_path):
    documents = [genia_document(i, f"g:{i}") for i in range(12)]
    outputs = {}
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}"
        with TestPipeline(runner=LOCAL_RUNNER) as pipeline:
            entries = pipeline | beam.Create(documents) | beam.Map(
                lambda d, s: (d.id, tuple(shards.entry(d, shards.shuffle_key(s, d.id)))), s=seed)
            none = pipeline | "None" >> beam.Create([])
            total = pipeline | "Total" >> beam.Create([sum(shards.text_bytes(d) for d in documents)])
            _ = (entries, none, none) | WriteCorpus(str(out), 4000, total, seed, RemoveLinesDoFn(FilterConfig()))
        texts = sorted((out / "text").glob("part-*-of-*.txt"))
        assert len(texts) == shards.shard_count(sum(shards.text_bytes(d) for d in documents), 4000) > 1
        blocks = [block for path in texts for block in path.read_text().strip("\n").split("\n\n") if block]
        assert sorted(blocks) == sorted(shards.text_of(d) for d in documents)
        outputs[seed] = blocks
    assert outputs[1] != outputs[2]  # another seed, another order
