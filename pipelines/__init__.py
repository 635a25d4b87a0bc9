"""The Beam jobs, thin glue around `sources/`, `corpus/`, `vocab/` and `pretraining_data/`.

- `download`, `documents`, `corpus`, `vocab`, `tfrecords`: the chain's jobs, each `python -m pipelines.NAME`;
  `contamination`: the audit of a corpus against a benchmark;
- the corpus job's steps: `corpus_steps` (reading, assembly, filters, language, cross-source links),
  `corpus_decontaminate`, `corpus_dedup` (fingerprints, exact duplicates, boilerplate lines), `near_duplicates`
  (MinHash LSH), `corpus_write` (the shards, where the documents meet their verdicts; the removed list);
- `common`: flags, I/O, the counted step, counters, dead letters, `GroupTagged`, the local runner's defaults.
"""
