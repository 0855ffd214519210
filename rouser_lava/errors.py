"""The one error type for user mistakes: the CLI prints its message and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (a file, a flag, a value). The message names the file
    and the problem in one line; the CLI shows it without a traceback."""
