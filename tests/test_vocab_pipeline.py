"""The vocab job end to end on the DirectRunner: output contract, other tools, report, options, gs://."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipelines import vocab as job
from tests.gcs import storage_client
from tests.fixtures import BERT_VOCAB, GENIA_RAW, REPO, SCIVOCAB, genia_documents
from tests.vocab_data import pubmed_documents, write_corpus_shard
from vocab.learn import alphabet_forms
from vocab.pretokenize import WordSplitter
from pipelines.common import read_vocabulary
from vocab.tokenizer import Tokenizer
from vocab.vocabulary import CONFIG_FILE, FAST_TOKENIZER_FILE, SPECIAL_TOKENS, VOCAB_FILE

BAD_LINE = b"\xff\xfe not UTF-8 \xc3\x28\n"


def write_shards(directory: Path, documents, parts: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(parts):
        write_corpus_shard(directory / f"part-{i}.txt", documents[i::parts])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The PubMed sample in the corpus job's format, two plain shards and a gzipped one with a bad line."""
    directory = tmp_path_factory.mktemp("corpus")
    documents = pubmed_documents()
    write_shards(directory, documents[:-20], parts=2)
    tail = "".join("\n".join(doc) + "\n\n" for doc in documents[-20:]).encode()
    (directory / "part-2.txt.gz").write_bytes(gzip.compress(tail + BAD_LINE))
    return directory


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("vocab") / "out"
    report = job.run([
        "--input", f"{corpus}/part-*", "--output", str(output), "--num-unused", "3",
        "--heldout", f"{GENIA_RAW}/*.txt", "--compare", f"bert={BERT_VOCAB}", "--compare", f"scivocab={SCIVOCAB}",
    ])
    return output, report


def corpus_alphabet(corpus: Path) -> set[str]:
    splitter = WordSplitter(True, True)
    forms = set()
    for path in sorted(corpus.glob("part-*")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for line in data.split(b"\n"):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            for word in splitter.words(text):
                if len(word) <= 100:
                    forms.update(alphabet_forms(word))
    return forms


def test_output_contract(built, corpus):
    output, _ = built
    lines = (output / VOCAB_FILE).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 30522  # default --vocab-size, newline-terminated
    tokens = lines[:-1]
    assert tokens[:8] == list(SPECIAL_TOKENS) + ["[unused0]", "[unused1]", "[unused2]"]
    assert len(set(tokens)) == len(tokens) and all(t and t == t.strip() for t in tokens)
    assert sum(t.startswith("##") and len(t) > 3 for t in tokens) > 1000
    assert corpus_alphabet(corpus) <= set(tokens)  # every character of the corpus, where it occurs
    assert json.loads((output / CONFIG_FILE).read_text())["do_lower_case"] is True
    assert {p.name for p in output.iterdir()} == {CONFIG_FILE, "counts", "errors", FAST_TOKENIZER_FILE, VOCAB_FILE,
                                              job.REPORT_FILE}
    fast = json.loads((output / FAST_TOKENIZER_FILE).read_text(encoding="utf-8"))
    assert fast["normalizer"]["lowercase"] is True and fast["normalizer"]["strip_accents"] is True
    assert fast["post_processor"] == {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}


def test_loadable_by_other_tools_with_the_same_ids(built):
    import tensorflow_text as tf_text
    from tokenizers import BertWordPieceTokenizer
    from transformers import AutoTokenizer

    output, _ = built
    ours = Tokenizer.from_vocabulary(read_vocabulary(str(output)))
    texts = [line for doc in genia_documents() for line in doc]
    expected = ours.encode_batch(texts)
    hf = BertWordPieceTokenizer(str(output / VOCAB_FILE), lowercase=True)
    assert [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)] == expected
    from tokenizers import Tokenizer as FastTokenizer
    from transformers import PreTrainedTokenizerFast

    auto = AutoTokenizer.from_pretrained(str(output))
    assert isinstance(auto, PreTrainedTokenizerFast)
    assert [auto(t, add_special_tokens=False)["input_ids"] for t in texts[:200]] == expected[:200]
    # tokenizer.json on its own (tokenizers, transformers.js, ...) and with the special tokens and pairs.
    fast = FastTokenizer.from_file(str(output / FAST_TOKENIZER_FILE))
    assert [e.ids for e in fast.encode_batch(texts, add_special_tokens=False)] == expected
    pairs = list(zip(texts[:50], texts[50:100]))
    assert ([auto(a, b)["input_ids"] for a, b in pairs]
            == [e.ids for e in fast.encode_batch(pairs)]
            == [e.ids for e in hf.encode_batch(pairs)])
    # tensorflow_text's own BERT tokenizers, on the ASCII lines (their Unicode handling is the known difference)
    ascii_lines = [i for i, t in enumerate(texts) if t.isascii()]
    fast = tf_text.FastBertTokenizer(vocab=ours.tokens, lower_case_nfd_strip_accents=True)
    bert = tf_text.BertTokenizer(str(output / VOCAB_FILE), lower_case=True)
    fast_ids = fast.tokenize([texts[i] for i in ascii_lines]).to_list()
    bert_ids = bert.tokenize([texts[i] for i in ascii_lines]).merge_dims(-2, -1).to_list()
    assert fast_ids == bert_ids == [expected[i] for i in ascii_lines]


def test_report_figures_and_counts(built, corpus):
    output, report = built
    assert json.loads((output / job.REPORT_FILE).read_text(encoding="utf-8")) == report
    vocabularies = report["heldout"]["vocabularies"]
    assert set(vocabularies) == {"ours", "bert", "scivocab"}
    for figures in vocabularies.values():
        assert figures["words"] == vocabularies["ours"]["words"] > 30000
        assert 1.0 < figures["pieces_per_word"] < 1.6 and 0 <= figures["unk_rate"] < 0.01
    assert 0.2 < report["overlap"]["scivocab"]["fraction_of_ours"] < 1
    counts = report["counts"]
    documents = pubmed_documents()
    assert counts["lines_not_utf8"] == 1
    assert counts["blank_lines"] == len(documents)
    assert counts["lines"] == sum(len(doc) + 1 for doc in documents)
    learner = report["learner"]
    assert learner["distinct_words"] == learner["training_words"] + learner["distinct_words_below_threshold"]
    assert learner["count_threshold"] == 2 and learner["filler_unused"] == 0
    # The counts the learner read: every word seen twice or more, as the histogram says.
    histogram = json.loads((output / "counts" / "histogram.json").read_text())
    tsv = [line for path in (output / "counts").glob("words-*.tsv.gz")
           for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    assert len(tsv) == learner["training_words"] == sum(n for c, n in histogram.items() if int(c) >= 2)
    assert sum(int(line.rpartition("\t")[2]) for line in tsv) == learner["training_word_occurrences"]
    errors = [json.loads(line) for path in (output / "errors").glob("vocab-*.jsonl")
              for line in path.read_text().splitlines()]
    assert len(errors) == 1 and errors[0]["origin"].endswith("part-2.txt.gz") and "not UTF-8" in errors[0]["reason"]
    assert (errors[0]["job"], errors[0]["kind"]) == ("vocab", "line")


@pytest.mark.slow
def test_same_vocabulary_whatever_the_sharding_and_workers(built, tmp_path):
    output, _ = built
    resharded = tmp_path / "resharded"
    documents = pubmed_documents()
    write_shards(resharded, documents[::-1], parts=5)  # other order, other files
    (resharded / "part-9.txt").write_bytes(BAD_LINE)
    again = tmp_path / "again"
    job.run(["--input", f"{resharded}/*.txt", "--output", str(again), "--num-unused", "3",
             "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert (again / VOCAB_FILE).read_bytes() == (output / VOCAB_FILE).read_bytes()


@pytest.mark.slow
def test_cased_and_accent_options(tmp_path):
    small = tmp_path / "small.txt"
    write_corpus_shard(small, pubmed_documents()[:500])
    cased = tmp_path / "cased"
    job.run(["--input", str(small), "--output", str(cased), "--vocab-size", "3000", "--cased"])
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(str(cased)))
    assert (tokenizer.do_lower_case, tokenizer.strip_accents) == (False, False)
    assert {"The", "DNA", "Patients"} <= set(tokenizer.tokens)
    assert tokenizer.decode_ids(tokenizer.encode("The DNA")) == ["The", "DNA"]
    normalizer = json.loads((cased / FAST_TOKENIZER_FILE).read_text(encoding="utf-8"))["normalizer"]
    assert (normalizer["lowercase"], normalizer["strip_accents"]) == (False, False)

    accents = tmp_path / "accents"
    job.run(["--input", str(small), "--output", str(accents), "--vocab-size", "3000", "--no-strip-accents"])
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(str(accents)))
    assert (tokenizer.do_lower_case, tokenizer.strip_accents) == (True, False)
    accented = {t for t in tokenizer.tokens if any(c in t for c in "éèöüñ")}
    assert accented and not any(c.isupper() for t in tokenizer.tokens[5:] for c in t)


@pytest.mark.slow
def test_gcs_input_and_output(gcs_prefix, corpus):
    bucket_name, _, prefix = gcs_prefix[len("gs://"):].partition("/")
    bucket = storage_client().bucket(bucket_name)
    for path in sorted(corpus.glob("part-*.txt")):
        bucket.blob(f"{prefix}/corpus/{path.name}").upload_from_filename(str(path))
    output = f"{gcs_prefix}/vocab"
    job.run(["--input", f"{gcs_prefix}/corpus/*.txt", "--output", output, "--vocab-size", "3000"])
    names = {blob.name.rsplit("/", 1)[-1] for blob in bucket.list_blobs(prefix=f"{prefix}/vocab/")}
    assert {VOCAB_FILE, CONFIG_FILE, job.REPORT_FILE} <= names
    assert not any("tmp" in name for name in names)
    tokenizer = Tokenizer.from_vocabulary(read_vocabulary(output))
    assert tokenizer.vocab_size == 3000 and tokenizer.tokens[0] == "[PAD]"


@pytest.mark.slow
def test_input_without_words_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"\n\n" + BAD_LINE)
    with pytest.raises(Exception, match="holds no words"):
        job.run(["--input", str(tmp_path / "empty.txt"), "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out" / VOCAB_FILE).exists()


def test_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        job.run(["--help"])
    assert exit_info.value.code == 0 and "--vocab-size" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="matches no file"):
        job.run(["--input", "/nonexistent/*.txt", "--output", "/tmp/never"])


@pytest.mark.slow
def test_dataflow_job_graph_gathers_only_statistics(gcs_prefix, tmp_path, corpus):
    """Built offline with --dry_run: counting is spread over workers; the only global combines are the
    alphabet and the count histogram, and nothing (no learner) runs."""
    job_file = tmp_path / "job.json"
    report = job.run([
        "--input", f"{corpus}/part-0.txt", "--output", f"{gcs_prefix}/dry", "--runner=DataflowRunner",
        "--project=my-project-id", "--region=us-central1", f"--temp_location={gcs_prefix}/tmp",
        f"--setup_file={REPO / 'setup.py'}", "--dry_run=True", f"--dataflow_job_file={job_file}"])
    assert report == {}
    steps = json.loads(Path(f"{job_file}.pipeline.json").read_text())["components"]["transforms"].values()
    names = {step["uniqueName"] for step in steps}
    assert {"CountWords/CountInBundles", "CountWords/SumPerWord", "KeepFrequent", "WriteCounts",
            "WriteAlphabet", "WriteHistogram", "WriteDeadLetters"} <= names
    assert {name[: -len("/KeyWithVoid")] for name in names if name.endswith("/KeyWithVoid")} == {
        "Alphabet", "Histogram"}
    assert not [name for name in names if any(word in name for word in ("AsIter", "AsList", "ToList"))]
    assert not storage_client().bucket("test-bucket").blob(
        f"{gcs_prefix[len('gs://test-bucket/'):]}/dry/{VOCAB_FILE}").exists()
