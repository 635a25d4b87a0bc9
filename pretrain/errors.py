"""The exceptions for problems a user can fix (paths, settings, data/vocabulary mismatches): the CLIs print
them as one line; anything else is a bug and keeps its traceback."""

from pretraining_data.contract import DataMismatchError
from vocab.vocabulary import VocabError


class PretrainError(ValueError):
    """A problem with the input or the settings, explained in its message."""

    exit_status = 2


class NonFiniteError(PretrainError):
    """Training diverged (a NaN or infinite loss or gradient norm), or a checkpoint holds NaN or infinite
    values: the run stops without saving, export writes nothing. Exit status 3, so that a script that
    re-runs a preempted job can tell "lower the learning rate" from "fix a flag" (2)."""

    exit_status = 3


# What `python -m pretrain` and `python -m finetune` report as a one-line error (exit status 2, or the
# exception's `exit_status`: 3 for NonFiniteError).
USER_ERRORS = (PretrainError, DataMismatchError, VocabError, FileNotFoundError)


def exit_status(error: BaseException) -> int:
    """The CLI's exit status for one of USER_ERRORS."""
    return getattr(error, "exit_status", 2)
