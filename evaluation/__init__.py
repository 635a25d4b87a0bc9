"""The evaluation benchmarks' tasks and files: definitions, layouts, readers; plain Python.

- `tasks`: the BLURB tasks and the clinical ones (MedNLI, MEDIQA-NLI, BLUE's MedSTS, ShARe/CLEFE, i2b2 2010):
  what each one is, its labels, the fine-tuning defaults, where restricted data comes from; `Example`, `DataError`;
- `files`: how the readers reach files (`Files`: `read(path) -> bytes`, `exists(path)`); `LOCAL` for local paths;
- `tags`: the NER and PICO tag schemes (typed `B-Chemical` or untyped `B`), checked as they are read;
- `readers`: the file formats (NER/PICO `word<TAB>tag`, the relation, HoC, BIOSSES and BioASQ TSVs, PubMedQA's JSON;
  MedNLI's JSON lines and the MEDIQA ground-truth CSV, BLUE's MedSTS TSV and four-column NER files);
- `layouts`: where a task's files are in a data directory, and reading one split of a task.

Nothing in this package imports TensorFlow or Apache Beam: `finetune/` reads the benchmarks through it with
tf.io.gfile, and a Beam job can read the same files through Beam's FileSystems.
"""
