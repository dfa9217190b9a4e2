"""Errors meant for the user: one line saying what, where and what to do. The CLI prints them without a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment, reported as one line and a non-zero exit."""
