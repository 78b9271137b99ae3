"""The errors a user can cause (bad input, missing model): reported as one line, exit 1."""

from genoseg.annotation import AnnotationError
from genoseg.fasta import FastaError
from genoseg.model.config import ConfigError
from genoseg.model.segment_nt import ModelLoadError
from genoseg.regions import RegionError
from genoseg.tokenizer import TokenizationError


class GenosegError(RuntimeError):
    """A user-facing failure that is not tied to one input format."""


def _train_error():
    from genoseg.train import TrainingError

    return TrainingError


USER_ERRORS: tuple[type[BaseException], ...] = (
    GenosegError, AnnotationError, FastaError, ConfigError, ModelLoadError, RegionError, TokenizationError, _train_error(),
)
