"""The project's error types: one sentence each, and one exit code per kind.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``;
a traceback appears only with ``--debug``. Messages name the argument or layer
and echo the value received (Keras style), e.g.
``SpecError: layer 3 'maxpool7': window 7 does not fit its 4x4 input``.
"""

import warnings


def one_line_warnings() -> None:
    """Show warnings as the CLI does: ``warning: <message>``, without Python's source line."""
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"


class ConvnetError(Exception):
    """Base class: anything the user can fix by changing their input."""

    exit_code = 1


class SpecError(ConvnetError):
    """An impossible or unparseable network definition (unknown token, kernel > input...)."""

    exit_code = 3


class DataError(ConvnetError):
    """A dataset file is missing, corrupt, truncated or inconsistent."""

    exit_code = 4


class DownloadError(DataError):
    """A dataset could not be fetched, or its checksum did not match."""

    exit_code = 5


class ImageError(ConvnetError):
    """A user image cannot be read or converted (not an image, empty, absurd size...)."""

    exit_code = 6


class RunError(ConvnetError):
    """A run directory or checkpoint is missing, corrupt, or belongs to another model."""

    exit_code = 7


class TrainingError(ConvnetError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""

    exit_code = 8


class ModelError(ConvnetError):
    """An unknown model name or impossible model arguments."""

    exit_code = 9


class ExportError(ConvnetError):
    """A model cannot be exported, or the exported file disagrees with the torch model."""

    exit_code = 10


class WriteError(RunError):
    """A file cannot be written (disk full, read-only file system) or must not be replaced.

    Never replaced: a run's own files (its weights, manifest, metrics, lock) from another
    command, and anything but a writable regular file (a symlink, a device, a read-only file).
    Whatever was at the path is left intact.
    """

    exit_code = 11
