"""The one exception type for problems a user can fix (paths, settings, data/vocabulary mismatches):
the CLI prints it as one line; anything else is a bug and keeps its traceback."""


class PretrainError(ValueError):
    """A problem with the input or the settings, explained in its message."""
