"""The exceptions for problems a user can fix (paths, settings, data/vocabulary mismatches): the CLIs print
them as one line; anything else is a bug and keeps its traceback."""

from pretraining_data.contract import DataMismatchError
from vocab.vocabulary import VocabError


class PretrainError(ValueError):
    """A problem with the input or the settings, explained in its message."""


# What `python -m pretrain` and `python -m finetune` report as a one-line error (exit status 2).
USER_ERRORS = (PretrainError, DataMismatchError, VocabError, FileNotFoundError)
