"""The project's exception types: every failure a person can cause raises one of these."""

from __future__ import annotations


class MFMError(Exception):
    """Base class of every error this project raises on purpose; its message is meant for a person."""


class ConfigError(MFMError, ValueError):
    """A model configuration is invalid (a field is missing, of the wrong type, or out of range)."""


class CheckpointError(MFMError):
    """A checkpoint cannot be loaded: wrong format, wrong keys or shapes, bad values, or not a checkpoint at all."""


class DataError(MFMError):
    """A data set cannot be loaded or generated: a missing file, a wrong shape or dtype, or non-finite values."""
