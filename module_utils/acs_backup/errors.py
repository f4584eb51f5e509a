# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The engine's errors: every failure reaches the caller as BackupError."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, verification or restore problem, phrased for an operator."""


class _PartialRestore(Exception):
    """The restore step failed after it may have changed data."""
