"""Dataflow ships the project to its workers with `--setup_file ./setup.py`; the metadata is pyproject.toml."""
from setuptools import setup

setup()
