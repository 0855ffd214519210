"""The one error type for user mistakes: the CLI prints its message and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (a file, a setting, a value). The message names the file
    and the problem in one line; the CLI shows it without a traceback.

    ``params`` are the Python parameters (``lr``, ``batch_size``) the message names, as
    whole words; the CLI writes each as its flag (``--lr``, ``--batch-size``).
    """

    def __init__(self, message: str, params: tuple[str, ...] = ()):
        super().__init__(message)
        self.params = tuple(params)  # pickled with the instance's __dict__
