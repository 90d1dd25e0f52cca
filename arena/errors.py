"""Errors a user can cause. The CLI prints their message on one line and exits with the error's
exit code (2 for bad input); anything else that escapes is our bug and keeps its traceback."""


class ArenaError(Exception):
    """Base class: the message says what is wrong and what to do about it."""

    exit_code = 2
    #: How the CLI labels the message.
    label = "error"


class ConfigError(ArenaError):
    """A run config (or a CLI argument standing in for one) is invalid."""


class DataError(ArenaError):
    """A data file (questions, answers, reviews, battles, imports) is malformed."""


class ProviderError(ArenaError):
    """A model provider cannot be used as configured (missing key, unsupported setting...)."""


class IncompleteStage(ArenaError):
    """Some calls failed for good (after retries). What finished is saved; running the same
    command again retries only the rest."""

    exit_code = 1


class BatchesPending(ArenaError):
    """`--no-wait`: batch jobs were submitted (or are still running); the next run collects them.
    Not a fault: its own exit status lets a script tell "come back later" from a failure."""

    exit_code = 3
    label = "waiting"
