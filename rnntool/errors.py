"""The one exception type that means "the user can fix this"."""


class RnntoolError(Exception):
    """A problem with the user's input or environment.

    The CLI prints it as one line (``rnntool: error: <message>``) and exits 1;
    the message should say what went wrong and what to do about it.
    """
