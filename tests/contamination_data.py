"""Benchmark examples planted into the bundled sample, for the decontamination tests.

The benchmark is a BLURB data directory cut from the real fixtures (`tests.blurb_data.write_blurb_directory`);
the planted documents are made of its real records and real sample documents:

- `pmid_copy`: a PubMedQA test example's abstract (its contexts and long answer, title = its question) as a PubMed
  record under its real PMID;
- `text_copy`: the same text under a PMID no benchmark has;
- `sentence_inside`: a real sample abstract with one HoC dev sentence, written back as raw text (BLURB's `( BER
  )` and ` , ` undone), put in the middle;
- `near_miss`: a real sample abstract with a PubMedQA dev context sentence in which every 13th word is changed:
  it shares runs of 12 (normalised) words with the benchmark, never 13, and must stay;
- `pmc_linked`: a real PMC article of the sample linked to the PMID of the EBM-NLP dev abstract.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from corpus.minhash import normalised_words
from corpus.documents import SOURCE_PMC, SOURCE_PUBMED, Document
from tests.blurb_data import write_blurb_directory
from tests.corpus_data import sample_documents

EBM_DEV_PMID = "10037531"  # the EBM-NLP dev abstract write_blurb_directory writes


def detokenised(text: str) -> str:
    """BLURB's pre-tokenised text as an abstract writes it: `( BER )` -> `(BER)`, `a , b .` -> `a, b.`."""
    text = re.sub(r" ([,.;:)\]%])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    return text.replace(" - ", "-")


def _long_abstracts(documents, count: int) -> list[Document]:
    chosen = [d for d in documents if d.source == SOURCE_PUBMED and len(d.abstract) == 1
              and len(d.abstract[0]["text"].split()) > 200]
    return chosen[:count]


def hoc_sentence(root: Path) -> tuple[str, str]:
    """(index, sentence) of the first HoC dev row with 30+ words, a comma and a bracket: tokenised text."""
    for line in (root / "HoC" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        _, sentence, index = line.split("\t")
        if len(sentence.split()) >= 30 and " , " in sentence and " ( " in sentence:
            return index, sentence
    raise LookupError("no such HoC sentence")


def planted_benchmark(root: Path) -> tuple[Path, list[Document], dict[str, str]]:
    """The benchmark directory under `root`, the sample with the plants, and {case: planted document id}."""
    benchmark = write_blurb_directory(root / "blurb")
    documents = [dataclasses.replace(document) for document in sample_documents()]
    plants: dict[str, str] = {}
    test = json.loads((benchmark / "pubmedqa" / "test_set.json").read_text(encoding="utf-8"))
    pmid, record = next(iter(test.items()))
    abstract = [{"label": label, "text": text} for label, text in zip(record["LABELS"], record["CONTEXTS"])]
    abstract.append({"label": "CONCLUSIONS", "text": record["LONG_ANSWER"]})
    copy = Document(id=f"pubmed:{pmid}", source=SOURCE_PUBMED, origin="planted", pmid=pmid,
                    title=record["QUESTION"], abstract=abstract, language=["eng"])
    plants["pmid_copy"] = copy.id
    other = dataclasses.replace(copy, id="pubmed:90000101", pmid="90000101")
    plants["text_copy"] = other.id

    host, near_host = _long_abstracts(documents, 2)
    _, sentence = hoc_sentence(benchmark)
    text = host.abstract[0]["text"]
    middle = text.find(". ", len(text) // 2) + 2
    host.abstract = [{**host.abstract[0], "text": text[:middle] + detokenised(sentence) + " " + text[middle:]}]
    plants["sentence_inside"] = host.id
    plants["hoc_sentence"] = detokenised(sentence)

    dev = json.loads((benchmark / "pubmedqa" / "pqal_fold0" / "dev_set.json").read_text(encoding="utf-8"))
    context = next(c for record in dev.values() for c in record["CONTEXTS"] if len(c.split()) >= 40)
    words = normalised_words(context)  # the words the n-grams are made of: every 13th changed
    changed = " ".join("variously" if number % 13 == 12 else word for number, word in enumerate(words))
    near_host.abstract = [{**near_host.abstract[0], "text": near_host.abstract[0]["text"] + " " + changed}]
    plants["near_miss"] = near_host.id
    plants["near_miss_text"] = changed

    article = next(d for d in documents if d.source == SOURCE_PMC and d.body and d.abstract)
    article.pmid = EBM_DEV_PMID
    plants["pmc_linked"] = article.id
    documents += [copy, other]
    return benchmark, sorted(documents, key=lambda document: document.id), plants
