"""The vocabulary: the vocabulary directory contract (`vocab.vocabulary`: vocab.txt + tokenizer_config.json, as
bytes), the fast exact tokenizer for bulk text (`vocab.tokenizer`, `vocab.fast_path`), BERT pre-tokenization for
counting (`vocab.pretokenize`), the WordPiece learner over word counts (`vocab.learn`) and its quality figures
(`vocab.report`).

Nothing in this package imports Apache Beam or does file I/O; `pipelines/vocab.py` wraps it in a Beam job.
"""
