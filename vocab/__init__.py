"""The vocabulary: the project tokenizer (`vocab.tokenizer`), BERT pre-tokenization for counting, the WordPiece
learner over word counts and its quality figures.

Nothing in this package imports Apache Beam; `pipelines/vocab.py` wraps it in a Beam job.
"""
