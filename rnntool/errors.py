"""rnntool's exceptions and warnings: one base type that means "the user can fix this",
and a few subclasses a program can tell apart.

Every one carries the one-line message the CLI prints (``rnntool: error: <message>``,
exit 1); the message says what went wrong and what to do about it. The library never
prints and never exits: it raises these, and reports lesser problems as
:class:`RnntoolWarning` through :mod:`warnings`.
"""

__all__ = ["RnntoolError", "InputError", "OutOfRangeError", "ModelFileError", "WrongKindError", "RnntoolWarning"]


class RnntoolError(Exception):
    """A problem with the user's input or environment (the base of every rnntool error)."""


class InputError(RnntoolError, ValueError):
    """Bad input data or a bad argument: an unreadable file, a text the model cannot take,
    an option that does not fit the others. Also a ``ValueError``."""


class OutOfRangeError(InputError):
    """A number outside the range it must be in (a temperature below 0, a top-p of 2...)."""


class ModelFileError(RnntoolError):
    """A model file that is missing, damaged, not an rnntool model, or written by a newer
    rnntool than this one."""


class WrongKindError(ModelFileError, TypeError):
    """A model of another kind than the call needs (a tagger where a language model is
    asked for). Also a ``TypeError``."""


class RnntoolWarning(UserWarning):
    """Something worth knowing that does not stop the work: a prompt with characters the
    model never saw, gold tags outside the model's tag set, a text in a script the model
    was not trained on. The CLI shows these on stderr."""
