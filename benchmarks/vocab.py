"""Vocabulary learning and tokenization: ours versus what a user would otherwise pick, in one run.

    python benchmarks/vocab.py [--vocab-size 8000] [--skip-beam]

Corpus: titles and abstracts of the bundled PubMed sample (samples/mirror/pubmed, read with corpus.pubmed),
one paragraph per line, a blank line between documents; --repeat N uses it N times over. Held-apart text for
the quality column: the 148 GENIA dev abstracts (tests/data/genia-dev/raw), which no learner sees.

1. Learning, each learner in its own process (peak memory = that process's peak RSS, and the growth over
   its RSS once the corpus is loaded and libraries imported), time for the whole step from raw text:
   - ours: BERT pre-tokenization + word counts, then SentencePiece BPE over the counts (what the Beam job
     does on the workers and the learner), in-process; and the Beam job itself on the DirectRunner;
   - HF `tokenizers` WordPieceTrainer on the raw text (BertNormalizer + BertPreTokenizer);
   - SentencePiece (BPE, then unigram) on the raw text, converted to WordPiece the same way.
   Quality: WordPiece pieces per word on GENIA with each resulting vocabulary.
2. Tokenization throughput on one core (TF and Rust thread pools set to 1): our Tokenizer, HF `tokenizers`
   BertWordPieceTokenizer, and a faithful pure-Python port of BERT's `FullTokenizer` (google-research/bert
   tokenization.py), all with our vocabulary; tokens/s and MB/s, with ratios, and how many lines each
   tokenizes differently from the reference (HF).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def corpus_lines() -> list[str]:
    from corpus.documents import Document
    from corpus.pubmed import iter_pubmed
    from tests.fixtures import PUBMED_SAMPLES

    lines = []
    for path in PUBMED_SAMPLES:
        for record in iter_pubmed(str(path)):
            if isinstance(record, Document):
                lines.extend(p for p in [record.title] + [a["text"] for a in record.abstract] if p)
                lines.append("")
    return lines


def heldout_lines() -> list[str]:
    from tests.fixtures import genia_documents

    return [line for document in genia_documents() for line in document]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def start_memory_window() -> float:
    """Reset the process's peak RSS (Linux clear_refs) and return the current RSS: the learner's own peak
    is then measured from here, not from loading the corpus or importing libraries."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return _status_mb("VmHWM")


# --- learners (each runs in a child process: `benchmarks/vocab.py --learner NAME --corpus FILE`) -------------

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_ours(lines: list[str], vocab_size: int) -> list[str]:
    from collections import Counter

    from vocab.learn import alphabet_forms, learn_wordpiece
    from vocab.pretokenize import WordSplitter, count_words

    started = time.perf_counter()
    counts = count_words(lines, WordSplitter(True, True))
    alphabet = Counter()
    for word, count in counts.items():
        for form in alphabet_forms(word):
            alphabet[form] += count
    counted = time.perf_counter()
    tokens = learn_wordpiece(counts.items(), alphabet, vocab_size, max_alphabet=len(alphabet), threads=1).tokens
    _SPLIT_TIMES.update(count_s=counted - started, learn_s=time.perf_counter() - counted, distinct_words=len(counts))
    return tokens


_SPLIT_TIMES: dict = {}  # ours: counting (spread over Beam workers) versus learning (one machine)


def learn_beam_job(corpus_file: str, vocab_size: int) -> list[str]:
    """The same through `python -m pipelines.vocab` on the DirectRunner (job startup and all)."""
    from pipelines import vocab as job

    output = corpus_file + ".beam-vocab"
    job.run(["--input", corpus_file, "--output", output, "--vocab-size", str(vocab_size), "--min-count", "1",
             "--max-alphabet", str(vocab_size // 2)])
    return Path(output, "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


def learn_hf(lines: list[str], vocab_size: int) -> list[str]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(lines, trainer)
    vocab = tokenizer.get_vocab()
    return sorted(vocab, key=vocab.get)


def learn_sentencepiece(lines: list[str], vocab_size: int, model_type: str) -> list[str]:
    """SentencePiece on raw text, as SciBERT did: BERT-normalized lines in, pieces converted to WordPiece."""
    import io

    import sentencepiece
    from tokenizers import normalizers

    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=(normalizer.normalize_str(line) for line in lines if line.strip()),
        model_writer=model, model_type=model_type, vocab_size=vocab_size, character_coverage=1.0,
        hard_vocab_limit=False, bos_id=-1, eos_id=-1, minloglevel=2, num_threads=1)
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    tokens = list(SPECIALS)
    for i in range(processor.get_piece_size()):
        if processor.is_unknown(i) or processor.is_control(i):
            continue
        piece = processor.id_to_piece(i)
        token = piece[1:] if piece.startswith("\u2581") else "##" + piece
        if token and token != "##" and token not in tokens:
            tokens.append(token)
    return tokens[:vocab_size]


def synthetic_counts(lines: list[str], distinct: int) -> dict[str, int]:
    """`distinct` made-up words (two corpus words glued together) with Zipf-like counts: the learner's cost
    depends on the number of distinct words, which the sample alone cannot raise."""
    import random

    from vocab.pretokenize import WordSplitter, count_words

    words = sorted(w for w in count_words(lines, WordSplitter(True, True)) if w.isalpha())
    rng = random.Random(0)
    counts: dict[str, int] = {}
    while len(counts) < distinct:
        counts[rng.choice(words) + rng.choice(words)] = int(1 + 1e6 / (1 + len(counts)))
    return counts


def learn_at_scale(lines: list[str], vocab_size: int, distinct: int) -> list[str]:
    from collections import Counter

    from vocab.learn import alphabet_forms, learn_wordpiece

    counts = synthetic_counts(lines, distinct)
    alphabet = Counter()
    for word, count in counts.items():
        for form in alphabet_forms(word):
            alphabet[form] += count
    items = list(counts.items())
    del counts
    _SPLIT_TIMES["baseline_mb"] = start_memory_window()
    started = time.perf_counter()
    tokens = learn_wordpiece(items, alphabet, vocab_size, threads=1).tokens
    _SPLIT_TIMES["learn_s"] = time.perf_counter() - started
    return tokens


def run_learner(name: str, corpus_file: str, vocab_size: int, out_file: str) -> None:
    lines = Path(corpus_file).read_text(encoding="utf-8").split("\n")
    learners = {"ours": lambda: learn_ours(lines, vocab_size), "hf-wordpiece": lambda: learn_hf(lines, vocab_size),
                "sentencepiece-bpe": lambda: learn_sentencepiece(lines, vocab_size, "bpe"),
                "sentencepiece-unigram": lambda: learn_sentencepiece(lines, vocab_size, "unigram"),
                "beam-job": lambda: learn_beam_job(corpus_file, vocab_size)}
    if name.startswith("scale-"):
        learners[name] = lambda: learn_at_scale(lines, vocab_size, int(name[len("scale-"):]))
    import sentencepiece  # noqa: F401  (imports of every learner before the clock and the baseline RSS)
    import tokenizers  # noqa: F401

    import vocab.learn  # noqa: F401
    import vocab.pretokenize  # noqa: F401
    if name == "beam-job":
        import apache_beam  # noqa: F401
        import tensorflow  # noqa: F401
    baseline = start_memory_window()
    started = time.perf_counter()
    tokens = learners[name]()
    seconds = time.perf_counter() - started
    Path(out_file).write_text("\n".join(tokens) + "\n", encoding="utf-8")
    baseline = _SPLIT_TIMES.pop("baseline_mb", baseline)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb(), "growth_mb": peak_mb() - baseline,
                      **_SPLIT_TIMES}))


def learn_in_child(name: str, corpus_file: str, vocab_size: int, workdir: str, runs: int = 1) -> dict:
    """The learner's figures from the fastest of `runs` fresh processes (the machine may be shared)."""
    out_file = os.path.join(workdir, f"{name}.txt")
    best = None
    for _ in range(runs):
        result = subprocess.run([sys.executable, __file__, "--learner", name, "--corpus", corpus_file,
                                 "--vocab-size", str(vocab_size), "--out", out_file],
                                check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        if best is None or figures["seconds"] < best["seconds"]:
            best = figures
    best["tokens"] = Path(out_file).read_text(encoding="utf-8").split("\n")[:-1]
    return best


def tokenization_throughput(tokens: list[str], lines: list[str], batch: int, runs: int) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tokenizers import BertWordPieceTokenizer

    from vocab.tokenizer import Tokenizer

    ours = Tokenizer(tokens, do_lower_case=True, strip_accents=True)
    ours.encode_batch(lines[:10])  # the one-off character sweep is not throughput
    hf = BertWordPieceTokenizer({t: i for i, t in enumerate(tokens)}, lowercase=True)
    from tests.reference_electra import FullTokenizer

    full = FullTokenizer({token: i for i, token in enumerate(tokens)})
    size = sum(len(line.encode("utf-8")) for line in lines)
    batches = [lines[i:i + batch] for i in range(0, len(lines), batch)]
    results = {}
    candidates = {
        "ours (vocab.tokenizer)": lambda b: ours.encode_batch(b),
        "HF tokenizers BertWordPieceTokenizer": lambda b: [e.ids for e in hf.encode_batch(b, add_special_tokens=False)],
        "BERT FullTokenizer (pure Python)": lambda b: [full.encode(t) for t in b],
    }
    outputs = {}
    for name, encode in candidates.items():
        seconds = float("inf")
        for _ in range(runs):  # the fastest run: the machine may be shared
            started = time.perf_counter()
            ids = [x for b in batches for x in encode(b)]
            seconds = min(seconds, time.perf_counter() - started)
        outputs[name] = ids
        n = sum(len(x) for x in ids)
        results[name] = {"seconds": seconds, "tokens_per_s": n / seconds, "mb_per_s": size / seconds / 1e6}
    reference = outputs["HF tokenizers BertWordPieceTokenizer"]
    for name, ids in outputs.items():
        results[name]["lines_differing_from_hf"] = sum(a != b for a, b in zip(ids, reference))
    return {"bytes": size, "lines": len(lines), "results": results,
            "fast_path_chunks_sent_to_reference": ours.chunks_via_reference // runs}


def quality(tokens: list[str], heldout: list[str]) -> float:
    from tokenizers import BertWordPieceTokenizer

    from vocab.pretokenize import WordSplitter

    hf = BertWordPieceTokenizer({t: i for i, t in enumerate(tokens)}, lowercase=True)
    words = sum(len(WordSplitter(True, True).words(line)) for line in heldout)
    pieces = sum(len(e.ids) for e in hf.encode_batch(heldout, add_special_tokens=False))
    return pieces / words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=8000,
                        help="vocabulary size for the learners (default 8000: the sample is ~2.1 MB of text)")
    parser.add_argument("--batch", type=int, default=1024, help="lines per encode_batch call (default 1024)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="use the corpus this many times over: a larger corpus with the same words, to "
                             "see which costs grow with the text and which with the distinct words")
    parser.add_argument("--runs", type=int, default=3, help="time each candidate this often, keep the fastest")
    parser.add_argument("--skip-beam", action="store_true", help="do not time the Beam job itself")
    parser.add_argument("--learner-scaling", default="", metavar="N,N,...",
                        help="also time our learner (vocabulary 30522) on N made-up distinct words each, "
                             "e.g. 100000,400000: its memory per distinct word sizes --max-words")
    parser.add_argument("--learner", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.learner:
        run_learner(args.learner, args.corpus, args.vocab_size, args.out)
        return
    os.environ["RAYON_NUM_THREADS"] = "1"  # HF tokenizers in this process and the learner children: one core

    lines = corpus_lines() * args.repeat
    heldout = heldout_lines()
    text_mb = sum(len(line.encode("utf-8")) + 1 for line in lines) / 1e6
    print(f"corpus: {len(lines)} lines, {text_mb:.2f} MB (PubMed sample titles and abstracts); "
          f"vocab size {args.vocab_size}")
    with tempfile.TemporaryDirectory() as workdir:
        corpus_file = os.path.join(workdir, "corpus.txt")
        Path(corpus_file).write_text("\n".join(lines) + "\n", encoding="utf-8")

        print(f"\n1. learning from the raw text (fastest of {args.runs} fresh processes each; peak RSS, "
              "growth over RSS with the corpus loaded)")
        learned = {name: learn_in_child(name, corpus_file, args.vocab_size, workdir, args.runs)
                   for name in ("ours", "hf-wordpiece", "sentencepiece-bpe", "sentencepiece-unigram")}
        for name, figures in learned.items():
            print(f"  {name:24s} {figures['seconds']:7.2f} s  peak {figures['peak_rss_mb']:6.0f} MB "
                  f"(+{figures['growth_mb']:4.0f} MB)  {len(figures['tokens'])} tokens  "
                  f"pieces/word on GENIA {quality(figures['tokens'], heldout):.4f}")
        ours = learned["ours"]
        print(f"  ours = counting {ours['count_s']:.2f} s (runs on the Beam workers) + learning "
              f"{ours['learn_s']:.2f} s over {ours['distinct_words']} distinct words (one machine)")
        for name in ("hf-wordpiece", "sentencepiece-bpe", "sentencepiece-unigram"):
            print(f"  ratio {name} / ours: time {learned[name]['seconds'] / learned['ours']['seconds']:.2f}x, "
                  f"memory growth {learned[name]['growth_mb'] / max(learned['ours']['growth_mb'], 1):.2f}x")
        if not args.skip_beam:
            beam = learn_in_child("beam-job", corpus_file, args.vocab_size, workdir)
            same = "same vocabulary" if beam["tokens"] == learned["ours"]["tokens"] else "DIFFERENT vocabulary"
            print(f"  ours as the Beam job (DirectRunner, startup and report included): {beam['seconds']:.2f} s, "
                  f"peak {beam['peak_rss_mb']:.0f} MB (+{beam['growth_mb']:.0f} MB), {same}")

        for distinct in [int(n) for n in args.learner_scaling.split(",") if n]:
            figures = learn_in_child(f"scale-{distinct}", corpus_file, 30522, workdir)
            print(f"  our learner on {distinct} distinct words: {figures['learn_s']:.1f} s, "
                  f"+{figures['growth_mb']:.0f} MB ({figures['growth_mb'] * 1e3 / distinct:.2f} KB per word)")

        print(f"\n2. tokenization, one core, batches of {args.batch} lines, vocabulary learned by ours")
        figures = tokenization_throughput(learned["ours"]["tokens"], [line for line in lines if line],
                                          args.batch, args.runs)
        ours = figures["results"]["ours (vocab.tokenizer)"]
        for name, result in figures["results"].items():
            print(f"  {name:38s} {result['tokens_per_s'] / 1e6:6.2f} M tokens/s  {result['mb_per_s']:6.2f} MB/s  "
                  f"ours is {ours['tokens_per_s'] / result['tokens_per_s']:5.2f}x  "
                  f"lines differing from HF: {result['lines_differing_from_hf']}")
        print(f"  ({figures['fast_path_chunks_sent_to_reference']} space-separated chunks of "
              f"{figures['lines']} lines took our exact fallback path)")


if __name__ == "__main__":
    main()
