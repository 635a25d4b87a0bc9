"""Realistic input for the data chain at any size, from the bundled real records, with known planted cases.

PubMed: the bundled citations (samples/mirror/pubmed) are the templates: each generated record is a real record's
XML (authors, MeSH terms, identifiers, structured abstract labels and inline markup kept, so the parser does its
real work) with a fresh PMID and the words of its title and abstract resampled: a share of them (default 30%)
replaced by words drawn from the sample's own vocabulary at their frequencies, so no two generated records are
duplicates by accident. PMC: the bundled JATS articles are the templates, with fresh PMCIDs and PMIDs and the
words of every text node resampled the same way; each gets the Cloud Service's JSON beside it.

Planted, at known rates, so that every dedup and update rule does real work at scale (`Truth` records them):
- exact copies: a record with the text of another and a new PMID (the corpus job's exact duplicates);
- near copies: a record with one or two words of another changed (near duplicates, Jaccard >= ~0.93);
- boilerplate: a funding or copyright sentence from a small set appended to an abstract (boilerplate lines);
- PubMed/PMC pairs: a PubMed record of a generated PMC article, linked by PMID and PMCID (cross-source);
- superseded versions: a record issued again in an update file (the documents job keeps the latest);
- deletions: `DeleteCitation` entries in an update file for some baseline records;
- `template_copies`: a hot key on purpose, N records that are one template with two words changed (the same LSH
  buckets, the same title line and near duplicates of each other, all of them).

Deterministic for a seed. `python -m benchmarks.scale_data --text-mb 20 --output DIR` writes a set; the scale
benchmark (`benchmarks.scale`) and the tests use `generate`.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import re
from collections import Counter
from html import escape, unescape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "mirror"
BOILERPLATE = (
    "This work was supported by the National Institutes of Health.",
    "Copyright (c) 2020 The Authors. Published by Elsevier Inc. All rights reserved.",
    "The authors declare that they have no competing interests.",
    "This article is protected by copyright. All rights reserved.",
    "No funding was received for this study.",
)
_RECORD = re.compile(rb"<PubmedArticle>.*?</PubmedArticle>", re.S)
_PMID = re.compile(rb'(<PMID Version=")(\d+)(">)(\d+)(</PMID>)')
_PUBMED_ID = re.compile(rb'(<ArticleId IdType="pubmed">)(\d+)(</ArticleId>)')
_PMC_ID = re.compile(rb'<ArticleId IdType="pmc">[^<]*</ArticleId>')
_OTHER_ABSTRACT = re.compile(rb"<OtherAbstract\b.*?</OtherAbstract>", re.S)
_TEXT_ELEMENT = re.compile(rb"(<(ArticleTitle|AbstractText)\b[^>]*>)(.*?)(</\2>)", re.S)
_ARTICLE_ID_LIST = re.compile(rb'(<ArticleIdList>)')
_WORD = re.compile(r"[A-Za-z]{3,}")
# A near copy changes one word of an original of at least this many words (two from twice as many): at most 5
# of its 5-word shingles per change, so its Jaccard similarity to the original is at least ~0.93.
NEAR_COPY_MIN_WORDS = 150
_TEXT_NODE = re.compile(rb">([^<>]{30,})<")
_ARTICLE_META = re.compile(rb"<article-meta>.*?</article-meta>", re.S)
_META_ID = re.compile(rb'(<article-id pub-id-type="(?:pmc|pmcid|pmid)">)[^<]*(</article-id>)')


@dataclasses.dataclass
class Rates:
    """Shares of PubMed records (the first five) or of PMC articles (pmc_pairs) that are planted cases."""

    exact_copies: float = 0.02
    near_copies: float = 0.02
    boilerplate: float = 0.05
    superseded: float = 0.03
    deleted: float = 0.005
    pmc_pairs: float = 0.5
    resample: float = 0.3  # share of words replaced in every generated text


@dataclasses.dataclass
class Truth:
    """What was planted, by id, for the benchmark's recall and precision."""

    pubmed_records: int = 0
    pmc_articles: int = 0
    text_bytes: int = 0
    exact_copies: list = dataclasses.field(default_factory=list)  # [(copy id, original id)]
    near_copies: list = dataclasses.field(default_factory=list)
    boilerplate: dict = dataclasses.field(default_factory=dict)  # sentence -> number of documents
    pmc_pairs: list = dataclasses.field(default_factory=list)  # [(pubmed id, pmc id)]
    superseded: list = dataclasses.field(default_factory=list)  # pubmed ids issued again
    deleted: list = dataclasses.field(default_factory=list)
    template_copies: list = dataclasses.field(default_factory=list)  # ids of the hot-key records

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)


class Resampler:
    """Replaces a share of the words of a text with words of the sample, drawn at their frequencies."""

    def __init__(self, texts: list[str], rng: random.Random, share: float):
        counts = Counter(word for text in texts for word in _WORD.findall(text))
        self._words = list(counts)
        self._weights = list(counts.values())
        self._rng = rng
        self._share = share
        self._pool: list[str] = []

    def word(self) -> str:
        if not self._pool:
            self._pool = self._rng.choices(self._words, self._weights, k=4096)
        return self._pool.pop()

    def text(self, text: str) -> str:
        share, rng = self._share, self._rng
        return _WORD.sub(lambda m: self.word() if rng.random() < share else m.group(0), text)

    def xml_text(self, data: bytes) -> bytes:
        """The words of XML character data (entities kept valid)."""
        return escape(self.text(unescape(data.decode("utf-8"))), quote=False).encode("utf-8")


def _words(texts: list[bytes]) -> int:
    return sum(len(text.split()) for text in texts)


def _change_words(text: str, rng: random.Random, resampler: Resampler, changes: int) -> str:
    words = list(_WORD.finditer(text))
    if not words:
        return text + " " + resampler.word()
    chosen = sorted(rng.sample(words, min(changes, len(words))), key=lambda m: m.start(), reverse=True)
    for match in chosen:
        word = resampler.word()
        while word.lower() == match.group(0).lower():  # a change must change the text (the exact key ignores case)
            word = resampler.word()
        text = text[:match.start()] + word + text[match.end():]
    return text


class PubmedTemplates:
    """The bundled PubMed records, cut where a generated record differs: PMIDs, title and abstract texts."""

    def __init__(self):
        records = []
        for path in sorted(SAMPLES.glob("pubmed/*/*.xml.gz")):
            records += _RECORD.findall(gzip.decompress(path.read_bytes()))
        # Real PMC links are taken out (a generated record links only where a pair is planted), and so are the
        # translated abstracts (the corpus leaves them out: a change planted there would change nothing).
        records = [_OTHER_ABSTRACT.sub(b"", _PMC_ID.sub(b"", record)) for record in records]
        self.records = [record for record in records if _TEXT_ELEMENT.search(record)]
        self.texts = [unescape(m.group(3).decode("utf-8")) for r in self.records for m in _TEXT_ELEMENT.finditer(r)]

    def render(self, index: int, pmid: int, version: int, texts: list[bytes],
               pmcid: str | None = None) -> bytes:
        record = self.records[index]
        record = _PMID.sub(lambda m: m.group(1) + str(version).encode() + m.group(3) + str(pmid).encode()
                           + m.group(5), record, count=1)
        record = _PUBMED_ID.sub(lambda m: m.group(1) + str(pmid).encode() + m.group(3), record)
        parts = iter(texts)
        record = _TEXT_ELEMENT.sub(lambda m: m.group(1) + next(parts) + m.group(4), record)
        if pmcid:
            record = _ARTICLE_ID_LIST.sub(lambda m: m.group(1) + f'<ArticleId IdType="pmc">{pmcid}</ArticleId>'
                                          .encode(), record, count=1)
        return record

    def texts_of(self, index: int) -> list[bytes]:
        return [m.group(3) for m in _TEXT_ELEMENT.finditer(self.records[index])]


class PmcTemplates:
    """The bundled JATS articles; a generated one has fresh ids in its article-meta and resampled text."""

    def __init__(self):
        self.articles = [path.read_bytes() for path in sorted(SAMPLES.glob("pmc-oa-opendata/*/*.xml"))]

    def render(self, index: int, pmcid: str, pmid: int, resampler: Resampler) -> bytes:
        article = self.articles[index]

        def meta(match: re.Match) -> bytes:
            def identifier(m: re.Match) -> bytes:
                kind = m.group(1)
                value = pmcid[3:] if b'"pmc"' in kind else pmcid if b'"pmcid"' in kind else str(pmid)
                return kind + value.encode() + m.group(2)
            return _META_ID.sub(identifier, match.group(0))

        article = _ARTICLE_META.sub(meta, article, count=1)
        return _TEXT_NODE.sub(lambda m: b">" + resampler.xml_text(m.group(1)) + b"<", article)


def generate(output: Path, text_mb: float, seed: int = 0, rates: Rates = Rates(), pmc_share: float = 0.2,
             records_per_file: int = 30_000, template_copies: int = 0) -> Truth:
    """Writes `output/pubmed/baseline/*.xml.gz`, `output/pubmed/updatefiles/*.xml.gz` and
    `output/pmc/PMC<id>.1/PMC<id>.1.{xml,json}` holding about `text_mb` MB of title, abstract and body text
    (`pmc_share` of it in PMC articles), and `output/truth.json`."""
    rng = random.Random(seed)
    pubmed, pmc = PubmedTemplates(), PmcTemplates()
    resampler = Resampler(pubmed.texts, rng, rates.resample)
    truth = Truth()
    pmc_dir = output / "pmc"
    next_pmid, next_pmcid = 40_000_000, 20_000_000

    # PMC articles first: the pairs need their ids.
    pmc_text = 0.0
    pairs: list[tuple[int, str]] = []
    while pmc_text < text_mb * 1e6 * pmc_share:
        pmcid, pmid = f"PMC{next_pmcid}", next_pmid
        next_pmcid += 1
        next_pmid += 1
        article = pmc.render(rng.randrange(len(pmc.articles)), pmcid, pmid, resampler)
        directory = pmc_dir / f"{pmcid}.1"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{pmcid}.1.xml").write_bytes(article)
        (directory / f"{pmcid}.1.json").write_text(json.dumps({
            "pmcid": pmcid, "version": 1, "pmid": pmid, "is_pmc_openaccess": True, "license_code": "CC BY",
            "is_retracted": False, "xml_url": f"s3://pmc-oa-opendata/{pmcid}.1/{pmcid}.1.xml"}))
        size = sum(len(m.group(1)) for m in _TEXT_NODE.finditer(article))
        pmc_text += size
        truth.pmc_articles += 1
        if rng.random() < rates.pmc_pairs:
            pairs.append((pmid, pmcid))
    truth.text_bytes += int(pmc_text)

    # PubMed: baseline files of `records_per_file`, then one update file with the re-issued and deleted.
    records: list[bytes] = []
    issued: list[tuple[int, int, list[bytes]]] = []  # (pmid, template, texts) of every original record
    updates: list[bytes] = []
    deletions: list[int] = []
    pubmed_text = 0

    def emit(record: bytes, texts: list[bytes]) -> None:
        nonlocal pubmed_text
        records.append(record)
        pubmed_text += sum(len(t) for t in texts)
        truth.pubmed_records += 1

    for pmid, pmcid in pairs:  # the PubMed record of a PMC article: removed by cross-source dedup
        index = rng.randrange(len(pubmed.records))
        texts = [resampler.xml_text(t) for t in pubmed.texts_of(index)]
        emit(pubmed.render(index, pmid, 1, texts, pmcid), texts)
        truth.pmc_pairs.append((f"pubmed:{pmid}", f"pmc:{pmcid}"))
    # The hot key: one template, two words of its longest text changed in each copy. The template is long
    # enough that any two copies (at most four words apart) stay near duplicates: they share every LSH bucket.
    long_enough = [i for i in range(len(pubmed.records))
                   if max(len(t.split()) for t in pubmed.texts_of(i)) >= 2 * NEAR_COPY_MIN_WORDS]
    template = rng.choice(long_enough or range(len(pubmed.records)))
    template_texts = [resampler.xml_text(t) for t in pubmed.texts_of(template)]
    longest = max(range(len(template_texts)), key=lambda i: len(template_texts[i]))
    for _ in range(template_copies):
        texts = list(template_texts)
        texts[longest] = escape(_change_words(unescape(texts[longest].decode()), rng, resampler, 2),
                                quote=False).encode()
        emit(pubmed.render(template, next_pmid, 1, texts), texts)
        truth.template_copies.append(f"pubmed:{next_pmid}")
        next_pmid += 1
    near_sources: list[tuple[int, int, list[bytes]]] = []  # originals long enough for a near copy to stay near
    while pubmed_text + truth.text_bytes < text_mb * 1e6:
        pmid = next_pmid
        next_pmid += 1
        draw = rng.random()
        if issued and draw < rates.exact_copies:
            original, index, texts = rng.choice(issued)
            truth.exact_copies.append((f"pubmed:{pmid}", f"pubmed:{original}"))
            emit(pubmed.render(index, pmid, 1, texts), texts)
            continue
        if near_sources and draw < rates.exact_copies + rates.near_copies:
            original, index, texts = rng.choice(near_sources)
            texts = list(texts)
            longest = max(range(len(texts)), key=lambda i: len(texts[i]))
            changes = 1 if _words(texts) < 2 * NEAR_COPY_MIN_WORDS else rng.choice((1, 2))
            texts[longest] = escape(_change_words(unescape(texts[longest].decode()), rng, resampler, changes),
                                    quote=False).encode()
            truth.near_copies.append((f"pubmed:{pmid}", f"pubmed:{original}"))
            emit(pubmed.render(index, pmid, 1, texts), texts)
            continue
        index = rng.randrange(len(pubmed.records))
        texts = [resampler.xml_text(t) for t in pubmed.texts_of(index)]
        if rng.random() < rates.boilerplate and len(texts) > 1:
            line = rng.choice(BOILERPLATE)
            texts[-1] = texts[-1] + b" " + escape(line, quote=False).encode()
            truth.boilerplate[line] = truth.boilerplate.get(line, 0) + 1
        emit(pubmed.render(index, pmid, 1, texts), texts)
        # An original may be re-issued or deleted; only the others are copied, so a copy's original is in the
        # corpus with the text the copy repeats.
        if rng.random() < rates.superseded:
            revised = [resampler.xml_text(t) for t in pubmed.texts_of(index)]
            updates.append(pubmed.render(index, pmid, 2, revised))
            truth.superseded.append(f"pubmed:{pmid}")
        elif rng.random() < rates.deleted:
            deletions.append(pmid)
            truth.deleted.append(f"pubmed:{pmid}")
        else:
            issued.append((pmid, index, texts))
            if _words(texts) >= NEAR_COPY_MIN_WORDS:
                near_sources.append((pmid, index, texts))
    truth.text_bytes += pubmed_text

    baseline = output / "pubmed" / "baseline"
    baseline.mkdir(parents=True, exist_ok=True)
    number = 1
    for start in range(0, len(records), records_per_file):
        _write_pubmed(baseline / f"pubmed26n{number:04d}.xml.gz", records[start:start + records_per_file])
        number += 1
    update_dir = output / "pubmed" / "updatefiles"
    update_dir.mkdir(parents=True, exist_ok=True)
    _write_pubmed(update_dir / f"pubmed26n{number:04d}.xml.gz", updates, deletions)
    (output / "truth.json").write_text(truth.to_json())
    return truth


def reissue(output: Path, files: int) -> str:
    """A hot key of the documents job: the first record of a generated set issued again, its title changed, in
    `files` more update files (named after the set's own, so the last one wins); its PMID."""
    baseline = sorted((output / "pubmed" / "baseline").glob("*.xml.gz"))[0]
    record = _RECORD.search(gzip.decompress(baseline.read_bytes())).group(0)
    pmid = _PMID.search(record).group(4).decode()
    for number in range(files):
        issue = _TEXT_ELEMENT.sub(lambda m: m.group(1) + m.group(3) + f" (issue {number})".encode() + m.group(4)
                                  if m.group(2) == b"ArticleTitle" else m.group(0), record)
        _write_pubmed(output / "pubmed" / "updatefiles" / f"pubmed26n{5000 + number:04d}.xml.gz", [issue])
    return pmid


def _write_pubmed(path: Path, records: list[bytes], deletions: list[int] = ()) -> None:
    body = b"\n".join(records)
    if deletions:
        body += b"\n<DeleteCitation>" + b"".join(f'<PMID Version="1">{pmid}</PMID>'.encode()
                                                 for pmid in deletions) + b"</DeleteCitation>"
    xml = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
           b'2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
           + body + b"\n</PubmedArticleSet>\n")
    path.write_bytes(gzip.compress(xml, compresslevel=6, mtime=0))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="directory to write (pubmed/, pmc/, truth.json)")
    parser.add_argument("--text-mb", type=float, default=10.0, help="MB of title, abstract and body text")
    parser.add_argument("--pmc-share", type=float, default=0.2, help="share of the text in PMC articles")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--template-copies", type=int, default=0,
                        help="also this many records that are one template with two words changed (a hot key)")
    args = parser.parse_args(argv)
    truth = generate(Path(args.output), args.text_mb, args.seed, pmc_share=args.pmc_share,
                     template_copies=args.template_copies)
    print(f"{truth.pubmed_records} PubMed records, {truth.pmc_articles} PMC articles, "
          f"{truth.text_bytes / 1e6:.1f} MB of text -> {args.output}")


if __name__ == "__main__":
    main()
