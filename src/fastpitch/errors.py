"""The one exception type users see as a one-line message (the CLI prints it without a traceback)."""


class FastPitchError(Exception):
    """A problem with the user's input, files or settings, worded for the user."""
