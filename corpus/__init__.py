"""Plain-Python building blocks of the corpus: parsing, text, sentences, deduplication.

Nothing in this package imports Apache Beam; `pipelines/` wraps these functions in Beam transforms.
"""
