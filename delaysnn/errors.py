"""Typed errors. The CLI turns any ``DelaysnnError`` into a one-line message and exit code 1."""


class DelaysnnError(Exception):
    """Base of every error delaysnn raises on purpose (bad input, unsupported feature...)."""


class CheckpointError(DelaysnnError):
    """A checkpoint file is missing, unreadable, foreign or inconsistent."""


class DataError(DelaysnnError):
    """A dataset is missing or malformed, or an input has the wrong shape."""


class IRValidationError(DelaysnnError):
    """An integer network is internally inconsistent (shapes, dtypes, ranges)."""


class HardwareLimitError(DelaysnnError):
    """An integer network breaks a hardware profile's limits."""


class ProfileError(DelaysnnError):
    """A hardware profile file is malformed."""


class UnsupportedError(DelaysnnError):
    """A feature or graph shape delaysnn cannot handle."""


class MissingDependencyError(DelaysnnError):
    """An optional dependency (lava, onnxruntime, nir...) is not installed."""


class ParityError(DelaysnnError):
    """Backends disagree with the reference simulator."""


class OptionError(DelaysnnError):
    """Options that contradict each other, or that cannot apply to the model given (a ``.dnet``,
    ``--float``, ``--init``): the command line reports it as a usage error (exit code 2) naming
    the option, the Python API raises it as is."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: raised by the CLI's signal handler, never by library code.

    A ``BaseException`` like ``KeyboardInterrupt``, so ``except Exception`` does not swallow it
    and every ``atomic_path`` on the way up removes its temporary file.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")
