"""`make demo`: the whole chain on the bundled sample, with the DirectRunner, into out/demo/.

The sample (samples/mirror/, real PubMed and PMC files) is served from 127.0.0.1 by a server laid out like
NCBI and the PMC Cloud Service, so the real download code runs against it. Re-running is safe: downloads
are skipped when already verified and every other stage rewrites its outputs atomically.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
TRAIN_STEPS = 1500
DEV_SENTENCES = 500
LOG = logging.getLogger("demo")


def step(title: str) -> Callable:
    def wrap(function: Callable) -> Callable:
        def run(*args, **kwargs):
            LOG.info("=== %s", title)
            started = time.monotonic()
            result = function(*args, **kwargs)
            LOG.info("=== %s: done in %.1f s", title, time.monotonic() - started)
            return result
        return run
    return wrap


@step("1/7 download from the local NCBI/PMC mirror")
def download(mirror_url: str, raw: Path) -> dict:
    from pipelines import download as job

    sources = {
        "pubmed-baseline": ("pubmed/baseline/", raw / "pubmed" / "baseline"),
        "pubmed-updates": ("pubmed/updatefiles/", raw / "pubmed" / "updatefiles"),
        "pmc-oa": ("pmc-oa-opendata/", raw / "pmc"),
    }
    for source, (path, dest) in sources.items():
        status = job.run(["--source", source, "--base-url", mirror_url + path, "--dest", str(dest)])
        if status != 0:
            raise SystemExit(f"demo: download of {source} failed; see {dest}/errors/download-00000-of-00001.jsonl")
    return {source: json.loads((dest / "_download_summary.json").read_text())
            for source, (_, dest) in sources.items()}


@step("2/7 documents: parse, apply updates and deletions")
def documents(raw: Path, out: Path) -> dict:
    from pipelines import documents as job

    return job.run([
        "--pubmed", str(raw / "pubmed" / "baseline" / "*.xml.gz"),
        "--pubmed", str(raw / "pubmed" / "updatefiles" / "*.xml.gz"),
        "--pmc", str(raw / "pmc" / "**" / "*.xml"),
        "--output", str(out / "docs"), "--num-shards", "2",
    ])


# The BLURB files the demo bundles (the task-type folders and files as BLURB's scripts write them): their dev
# and test examples are kept out of the corpus.
EXCLUDED_BENCHMARKS = (REPO / "tests" / "data" / "blurb", REPO / "tests" / "data" / "blurb_data")


@step("3/7 corpus: sentences, filters, language, benchmark decontamination, deduplication, shards, report")
def corpus(documents_dir: Path, out: Path) -> dict:
    from pipelines import corpus as job

    excluded = [arg for path in EXCLUDED_BENCHMARKS for arg in ("--exclude-benchmark", str(path))]
    return job.run(["--input", str(documents_dir / "docs-*-of-*.jsonl.gz"), "--output", str(out),
                    "--shard-size-mb", "0.5", *excluded])


@step("4/7 vocab: WordPiece vocabulary from the corpus text, report against BERT and scivocab")
def vocabulary(corpus_dir: Path, out: Path) -> dict:
    from pipelines import vocab as job

    data = REPO / "tests" / "data"
    return job.run(["--input", str(corpus_dir / "text" / "part-*.txt"), "--output", str(out),
                    "--heldout", str(data / "genia-dev" / "raw" / "*.txt"),
                    "--compare", f"bert={data / 'vocab' / 'bert_base_uncased_vocab.txt'}",
                    "--compare", f"scivocab={data / 'vocab' / 'scibert_scivocab_uncased_vocab.txt'}"])


@step("5/7 tfrecords: tokenize, pack and shuffle into ELECTRA shards (128 and 512)")
def tfrecords(corpus_dir: Path, vocab_dir: Path, out: Path) -> dict:
    from pipelines import tfrecords as job

    return {length: job.run(["--input", str(corpus_dir / "text" / "part-*.txt"), "--vocab", str(vocab_dir),
                             "--output", str(out / str(length)), "--max-seq-length", str(length),
                             "--num-shards", "4", "--overwrite"])
            for length in (128, 512)}


@step("6/7 pretrain the tiny ELECTRA, evaluate on a held-out shard, export for transformers")
def pretrain(shards: Path, vocab_dir: Path, run_dir: Path, steps: int) -> dict:
    from pretrain import cli
    from pretrain.evaluation import evaluate

    train_glob = str(shards / "pretrain_data.tfrecord-0000[1-9]-of-*")
    heldout_glob = str(shards / "pretrain_data.tfrecord-00000-of-*")
    common = ["--data", train_glob, "--vocab", str(vocab_dir), "--output", str(run_dir), "--model-size", "tiny",
              "--steps-per-loop", "50", "--log-every", "250", "--save-every", "500"]
    # One step first, so that the held-out loss "before" is measured on the same model, then the rest: the
    # trainer resumes a run when --train-steps grows. Re-running the demo finds both steps done.
    if cli.main(["train", *common, "--train-steps", "1"]) != 0:
        raise SystemExit("demo: pretraining failed")
    before = evaluate(str(run_dir / "ckpt-1"), heldout_glob)
    if cli.main(["train", *common, "--train-steps", str(steps)]) != 0:
        raise SystemExit("demo: pretraining failed")
    after = evaluate(str(run_dir), heldout_glob)
    if cli.main(["export", "--checkpoint", str(run_dir), "--output", str(run_dir.parent / "electra-export"),
                 "--corpus-stats", str(run_dir.parent / "corpus" / "stats.json")]) != 0:
        raise SystemExit("demo: export failed")
    return {"before": before, "after": after}


BLURB_DATA = REPO / "tests" / "data" / "blurb"  # BC5CDR-chem train and devel, unmodified
# A bundled abstract to tag with the saved model: GENIA's PubMed 8919644 (histamine, doxepin, pyrilamine, ...),
# one gold sentence per line there, one line (one document) here.
ABSTRACT = REPO / "tests" / "data" / "genia-dev" / "raw" / "8919644.txt"


@step("7/7 fine-tune on a BC5CDR-chem slice: the pretrained model against random initialisation; save, tag, compare")
def finetune(run_dir: Path, out: Path, train_sentences: int, epochs: int, trials: int) -> dict:
    from finetune import cli

    common = ["run", "--task", "BC5CDR-chem", "--data", str(BLURB_DATA), "--checkpoint", str(run_dir),
              "--max-train-examples", str(train_sentences), "--max-eval-examples", str(DEV_SENTENCES),
              "--trials", str(trials), "--epochs", str(epochs), "--learning-rate", "1e-3"]
    results = {}
    for name, extra in (("pretrained", ["--save-model", str(out / "model")]), ("random-init", ["--random-init"])):
        if cli.main([*common, "--output", str(out / name), *extra]) != 0:
            raise SystemExit("demo: fine-tuning failed")
        results[name] = json.loads((out / name / "BC5CDR-chem.json").read_text())
    started = time.monotonic()
    abstract = out / "abstract.txt"
    abstract.write_text(" ".join(ABSTRACT.read_text(encoding="utf-8").split()) + "\n", encoding="utf-8")
    tags = out / "abstract.tags.jsonl"
    if cli.main(["predict", "--model", str(out / "model"), "--input", str(abstract), "--output", str(tags)]) != 0:
        raise SystemExit("demo: predict failed")
    if cli.main(["compare", str(out / "random-init"), str(out / "pretrained"), "--output", str(out / "compare")]) != 0:
        raise SystemExit("demo: compare failed")
    LOG.info("predict and compare took %.1f s", time.monotonic() - started)
    results["tagged"] = json.loads(tags.read_text(encoding="utf-8").splitlines()[0])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="out/demo", help="where everything goes (default out/demo)")
    parser.add_argument("--train-steps", type=int, default=TRAIN_STEPS,
                        help=f"steps of the tiny ELECTRA (default {TRAIN_STEPS})")
    parser.add_argument("--finetune-sentences", type=int, default=200,
                        help=f"BC5CDR-chem training sentences to fine-tune on (default 200; the "
                             f"first {DEV_SENTENCES} dev sentences are scored)")
    parser.add_argument("--finetune-epochs", type=int, default=20, help="default 20")
    parser.add_argument("--finetune-trials", type=int, default=3, help="seeds per model (default 3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apache_beam", "sources.localmirror", "apache_beam.io.filebasedsink"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from corpus import contamination
    from sources.localmirror import MirrorServer

    out = Path(args.output).resolve()
    raw = out / "raw"
    with MirrorServer(REPO / "samples" / "mirror") as mirror:
        fetched = download(mirror.url, raw)
    docs = documents(raw, out / "documents")
    text = corpus(out / "documents", out / "corpus")
    vocab = vocabulary(out / "corpus", out / "vocab")
    shards = tfrecords(out / "corpus", out / "vocab", out / "tfrecords")
    trained = pretrain(out / "tfrecords" / "128", out / "vocab", out / "electra", args.train_steps)
    tuned = finetune(out / "electra", out / "finetune", args.finetune_sentences, args.finetune_epochs,
                     args.finetune_trials)

    print("\nDemo finished. Outputs:")
    print(f"  raw downloads      {raw}  "
          + ", ".join(f"{name}: {s.get('downloaded', 0)} fetched / {s.get('skipped_existing', 0)} already there"
                      for name, s in fetched.items()))
    print(f"  documents          {out / 'documents'}/docs-*.jsonl.gz  "
          f"PubMed {docs.get('pubmed_documents_written', 0)}, PMC {docs.get('pmc_documents_written', 0)}, "
          f"superseded {docs.get('superseded', 0)}, deleted {docs.get('deleted', 0)}")
    written = text["written"]
    print(f"  corpus             {out / 'corpus'}/text/part-*.txt  {written['documents']} documents, "
          f"{written['sentences']} sentences in {len(written['shards'])} shards; "
          f"report {out / 'corpus' / 'report.html'}")
    print(f"  decontamination    {out / 'corpus'}/contamination/  "
          f"{contamination.summary_line(text['decontamination'])[len('decontamination '):]}")
    held = {name: q["pieces_per_word"] for name, q in vocab["heldout"]["vocabularies"].items()}
    print(f"  vocab              {out / 'vocab'}/vocab.txt  {vocab['vocab_size']} tokens; pieces per word on "
          f"GENIA: ours {held['ours']}, BERT {held['bert']}, scivocab {held['scivocab']}; "
          f"report {out / 'vocab' / 'vocab_report.json'}")
    for length, meta in shards.items():
        print(f"  tfrecords {length:<8} {out / 'tfrecords' / str(length)}/pretrain_data.tfrecord-*  "
              f"{meta['num_examples']} examples in {meta['num_shards']} shards, {meta['num_tokens']} tokens "
              f"({meta['num_truncated_tokens']} truncated)")
    before, after = trained["before"], trained["after"]
    print(f"  pretrain           {out / 'electra'}  tiny ELECTRA, held-out shard: loss {before['loss']:.2f} -> "
          f"{after['loss']:.2f}, generator accuracy {before['generator_accuracy']:.3f} -> "
          f"{after['generator_accuracy']:.3f}, discriminator AUC {before['discriminator_auc']:.3f} -> "
          f"{after['discriminator_auc']:.3f}")
    print(f"  export             {out / 'electra-export'}/{{discriminator,generator}} (transformers, with model "
          "cards), tf1/ (original ELECTRA names)")
    scores = {name: f"{100 * tuned[name]['mean']:.1f} ± {100 * tuned[name]['std']:.1f}"
              for name in ("pretrained", "random-init")}
    sample = tuned["pretrained"]
    print(f"  finetune           {out / 'finetune'}/{{pretrained,random-init}}/BC5CDR-chem.json  "
          f"BC5CDR-chem slice ({sample['train_examples']} train / {sample['eval_examples']} dev "
          f"sentences, {args.finetune_epochs} epochs), entity F1 over {len(sample['scores'])} seeds: "
          f"pretrained {scores['pretrained']}, random initialisation {scores['random-init']} "
          f"({100 * (sample['mean'] - tuned['random-init']['mean']):+.1f} from pretraining); "
          f"{out / 'finetune' / 'compare'}/compare.html")
    tagged = tuned["tagged"]
    entities = tagged["entities"]
    distinct = list(dict.fromkeys(e["text"] for e in entities))
    shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "") if distinct else "none"
    best = sample["best_trial"]
    print(f"  saved model        {out / 'finetune' / 'model'}  the best trial (seed {best['seed']}, F1 "
          f"{100 * best['score']:.1f}): transformers' AutoModelForTokenClassification and tf/; tags GENIA abstract "
          f"{ABSTRACT.stem} ({len(tagged['sentences'])} sentences): {len(entities)} chemical mentions ({shown}) -> "
          f"{out / 'finetune' / 'abstract.tags.jsonl'}")


if __name__ == "__main__":
    main()
