"""Training both model families on one skeleton (`runner`): the acoustic model (`acoustic`, `fastpitch train`)
and the vocoders (`vocoder`, `fastpitch train-vocoder`), on a CPU, one GPU or DDP under torchrun.

The public API below is what the CLI and the benchmarks call; models and vocoders never import this package.
"""

from fastpitch.train.acoustic import Engine, RunOptions, Trainer, TrainResult, train
from fastpitch.train.runner import NonFiniteLossError
from fastpitch.train.vocoder import TrainVocoderResult, VocoderTrainer, make_config, train_vocoder

__all__ = [
    "Engine",
    "NonFiniteLossError",
    "RunOptions",
    "TrainResult",
    "TrainVocoderResult",
    "Trainer",
    "VocoderTrainer",
    "make_config",
    "train",
    "train_vocoder",
]
