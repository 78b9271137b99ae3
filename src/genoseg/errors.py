"""The errors a user can cause, each reported by the CLI as one line with a documented exit code.

This module imports nothing from genoseg (or anything heavy), so every module can raise these
and the CLI can catch them without importing torch.

Exit 2 (`UsageError`): the command line is wrong (bad option value, unknown record in --region).
Exit 1 (`DataError`): the data is wrong or missing (unreadable FASTA, malformed GFF3, missing model).

Each module's own errors subclass one of the two (`FastaError(DataError)`,
`RegionError(UsageError)`, ...). Some also keep the built-in base they had before the hierarchy
existed (ValueError, RuntimeError), so that callers catching the built-in still do.
"""

from __future__ import annotations


class GenosegError(Exception):
    """Base of every error genoseg reports as one line; `exit_code` is the process's exit status."""

    exit_code = 1


class UsageError(GenosegError, ValueError):
    """An option value that cannot work (exit 2)."""

    exit_code = 2


class DataError(GenosegError):
    """Input data, a model or an earlier run's files that cannot be used (exit 1)."""

    exit_code = 1
