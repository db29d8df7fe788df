"""rnntool's exceptions and warnings: one base type that means "the user can fix this",
and a few subclasses a program can tell apart.

Every one carries the one-line message the CLI prints (``rnntool: error: <message>``,
exit 1); the message says what went wrong and what to do about it. The library never
prints and never exits: it raises these, and reports lesser problems as
:class:`RnntoolWarning` through :mod:`warnings`.
"""

__all__ = ["RnntoolError", "InputError", "OutOfRangeError", "OptionError", "ModelFileError", "WrongKindError",
           "RnntoolWarning"]


class RnntoolError(Exception):
    """A problem with the user's input or environment (the base of every rnntool error)."""


class InputError(RnntoolError, ValueError):
    """Bad input data or a bad argument: an unreadable file, a text the model cannot take,
    an option that does not fit the others. Also a ``ValueError``."""


class OutOfRangeError(InputError):
    """A number outside the range it must be in (a temperature below 0, a top-p of 2...)."""


_NO_VALUE = object()


class OptionError(OutOfRangeError):
    """An option's value outside what it may be (``hidden=0``, ``dropout=1.5``). The message
    names the option as the library spells it (``max_time must be a positive number, not
    -1``); ``option`` holds that name, and the CLI names its flag instead (``--max-time``)."""

    def __init__(self, option: str, rule: str, value=_NO_VALUE):
        self.option, self.rule, self.value = option, rule, value
        super().__init__(self.naming(option))

    def __reduce__(self):  # pickles (a worker process's error reaches the main process whole)
        return type(self), (self.option, self.rule, self.value)

    def naming(self, name: str) -> str:
        """The message with the option called ``name``."""
        return f"{name} {self.rule}" + ("" if self.value is _NO_VALUE else f", not {self.value}")

    @property
    def flag(self) -> str:
        """The command line's spelling of the option."""
        return "--" + self.option.replace("_", "-")


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
