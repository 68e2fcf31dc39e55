"""The few exception types for a user's bad input: each names the file (or setting) and the problem,
shown as one line (``error: <path>: <problem>``), never a traceback. They subclass ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Input that cannot be used as it is: ``path`` names it, ``problem`` says why."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AnnotationError(InputError):
    """A dataset's list or CSV file that cannot be read at all."""


class ImageError(InputError):
    """An image file that cannot be decoded the way training decodes it."""


class ModelFileError(InputError):
    """A file that is not a usable Keras model (or its class list)."""


class ParameterError(InputError):
    """A run setting with an unknown name, a wrong type or a value out of range."""


class NothingUsable(InputError):
    """Every row of a dataset was skipped: nothing is left to train or label."""
