"""The Multimodal Factorization Model (Tsai et al., ICLR 2019): model, objective, checkpoints and training.

    from mfm import MFM, MFMConfig, load_checkpoint

One way through: a frozen `MFMConfig` (`config.py`) builds the one `MFM` class (`model.py`), whose `forward`
returns every code and factor by name (`MFMOutput`); the objective is pure functions of the paper's equations
(`losses.py`); `inference.py` is the one batched pass over a split (numpy `Outputs`), which training, evaluation,
interpretation and the app all call; checkpoints (`checkpoint.py`) and the importers of other producers' MFMs
(`importers.py`) read weights as data through `safe_load.py`; `eval/` judges generated images with independent
classifiers; `data/` holds the data sets; `progress.py` the one progress callback type. Nothing here imports
`interpret/` or the app.
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
