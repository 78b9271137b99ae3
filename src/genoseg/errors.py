"""The errors a user can cause, each reported as one line with a documented exit code.

Exit 2: the command line is wrong (bad option value, unknown record in --region).
Exit 1: the data is wrong or missing (unreadable FASTA, malformed GFF3, missing model).
"""

from genoseg.annotation import AnnotationError
from genoseg.fasta import FastaError
from genoseg.model.config import ConfigError
from genoseg.model.segment_nt import ModelLoadError
from genoseg.regions import RegionError
from genoseg.tiling import TilingError
from genoseg.tokenizer import TokenizationError


class GenosegError(RuntimeError):
    """A data or environment failure that is not tied to one input format (exit 1)."""


class UsageError(ValueError):
    """An option value that cannot work (exit 2)."""


def _train_error():
    from genoseg.train import TrainingError

    return TrainingError


USAGE_ERRORS: tuple[type[BaseException], ...] = (UsageError, RegionError, TilingError)
DATA_ERRORS: tuple[type[BaseException], ...] = (
    GenosegError, AnnotationError, FastaError, ConfigError, ModelLoadError, TokenizationError, _train_error(),
)
