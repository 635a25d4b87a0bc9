"""Plain-Python building blocks of the corpus; nothing here imports Apache Beam (`pipelines/` wraps them).

- parsing: `documents` (the document schema), `xmlrecords` (PubMed's record framer), `pubmed`, `jats`, `xmltext`,
  `pmc` (JATS articles), `pmc_bulk` (bulk packages and file lists), `licences`, `identifiers`, `gzipstream`;
- text: `assemble` (title, abstract, body into paragraphs), `sentences` (the splitter; `sentences_spacy` for a
  trained spaCy pipeline), `filters`, `langid`;
- deduplication: `fingerprints` (what the dedup steps need of a document, computed once), `dedup` (cross-source,
  exact and near-duplicate decisions), `minhash`, `boilerplate`;
- `contamination`: benchmark decontamination (PMIDs and n-grams of a benchmark's examples, the index, the verdict);
- output: `shards` (the text and documents shards), `stats` and `report` (stats.json and report.html).
"""
