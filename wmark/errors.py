"""One error hierarchy for wmark, mapped to the CLI's exit codes in one place."""

from __future__ import annotations

# Exit codes of the command-line contract (documented in docs/cli.md#exit-codes).
EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_MODEL = 5
EXIT_REFUSED = 6
EXIT_INTERRUPTED = 130


class WmarkError(Exception):
    """Base of every error wmark raises on purpose; ``exit_code`` is the CLI's status."""

    exit_code = EXIT_USAGE


class UsageError(WmarkError):
    """Wrong arguments or options (bad payload, out-of-range parameter)."""

    exit_code = EXIT_USAGE


class PayloadError(UsageError):
    """A message that cannot be encoded: too long for the model, bad hex or bits."""


class DependencyError(UsageError):
    """A feature asked for whose Python package is not installed; the message says what to install."""


class InputError(WmarkError):
    """An input that cannot be read: missing, corrupt, unsupported or too large."""

    exit_code = EXIT_INPUT


class StuckError(InputError):
    """Work on one input that gave no result within its time limit (``--timeout``)."""


class OutputError(WmarkError):
    """An output that cannot be written, or would clobber a file."""

    exit_code = EXIT_OUTPUT


class OutputExistsError(OutputError):
    """The output file exists and ``force`` was not given (``embed`` skips such an input)."""


class ModelError(WmarkError):
    """A model that cannot be loaded: unknown name, missing or tampered weights."""

    exit_code = EXIT_MODEL


class RefusedError(WmarkError):
    """A mark wmark will not make: the image already carries one, or (``--strict``) the
    new one would not survive."""

    exit_code = EXIT_REFUSED


class AlreadyMarkedError(RefusedError):
    """The image already carries a readable wmark mark and ``force`` was not given."""


class WeakMarkError(RefusedError):
    """The self-check after embedding failed and ``strict`` was asked for."""


def exit_code_for(error: BaseException) -> int:
    """Exit status for ``error``: its own code for a WmarkError, 130 for Ctrl-C, else 1."""
    if isinstance(error, WmarkError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_NOT_FOUND
