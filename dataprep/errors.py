"""Errors meant for the user: one line saying what, where and what to do. The CLIs print them without a traceback.

Exit codes, the same for `dataprep` and `training`: 0 success, 1 failure, 2 usage error, 130 interrupted.
"""

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem with the user's input or environment, reported as one line and exit code 1."""

    exit_code = EXIT_FAILURE


class UsageError(UserError):
    """The command was called wrongly (a flag or config value out of range, a missing option): exit code 2."""

    exit_code = EXIT_USAGE
