"""Typed errors: the CLI turns each into one line and a non-zero exit; anything else is a bug."""


class VsrError(Exception):
    """Base of every error that is the user's to fix (bad input, missing backend...)."""


class InputError(VsrError, ValueError):
    """The input cannot be read: missing, empty, truncated, not a video or an image."""


class OutputError(VsrError, OSError):
    """The output cannot be written: folder missing or read-only, file exists, disk full."""


class WeightsError(VsrError, ValueError):
    """A weights file is corrupt, unreadable or does not match the model asked for."""


class BackendUnavailable(VsrError, RuntimeError):
    """The backend asked for cannot run here (library or device missing)."""


class EngineBuildError(VsrError, RuntimeError):
    """A TensorRT engine could not be built or loaded."""


class SettingsError(VsrError, ValueError):
    """Settings that contradict each other or a saved run (e.g. --resume with another loss)."""
