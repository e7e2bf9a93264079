"""The Multimodal Factorization Model (Tsai et al., ICLR 2019): model, objective, checkpoints and training.

from mfm import MFM, MFMConfig, load_checkpoint
"""

from mfm.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from mfm.config import MFMConfig, ModalityConfig
from mfm.errors import CheckpointError, ConfigError, DataError, MFMError
from mfm.model import MFM, MFMOutput

__all__ = [
    "MFM",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "LoadedCheckpoint",
    "MFMConfig",
    "MFMError",
    "MFMOutput",
    "ModalityConfig",
    "load_checkpoint",
    "save_checkpoint",
]
