"""Structured pruning: a narrower, shallower copy of a trained voice, to train on into a faster one.

Synthesis time on a CPU goes almost all to the decoder's feed-forwards and the vocoder's blocks, which run at the
frame rate (`fastpitch bench synth`). Training a slimmer voice from scratch costs as much as the first one;
starting from the trained one's most useful parts costs a few hundred steps. Two cuts:

- feed-forward units: each scores |its input weights| * |its output weights| (a bound on what it can add to
  the residual); the best-scoring stay, in their order;
- whole layers (decoder FFT blocks, vocoder ConvNeXt blocks): greedily the one whose removal changes the
  model's own output least on calibration input. Measured, because weights do not tell it: in the shipped voice
  the vocoder block with the smallest residual scale was not the cheapest to drop.

The calibration input is the voice speaking `CALIBRATION` (each sentence by the next speaker): the acoustic
model's mels are the vocoder's calibration mels too. Models know nothing of this module; it is applied to their
weights before `train --init-from` / `train-vocoder --init` train the result on.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastpitch import checkpoint
from fastpitch.checkpoint import Checkpoint
from fastpitch.errors import FastPitchError
from fastpitch.models.fastpitch import FastPitch
from fastpitch.text import TextFrontend
from fastpitch.vocoders.istft import ISTFTVocoder
from fastpitch.vocoders.neural import NeuralVocoder, load_neural

CALIBRATION = (
    "The birch canoe slid on the smooth planks, and the boy was there when the sun rose.",
    "Is it true that the meeting was moved to Thursday, the twelfth of March?",
    "A large size in stockings is hard to sell; we need forty-two more pairs by noon.",
    "She said, quietly, that nobody had ever asked her before.",
    "Open the window before the heat of the afternoon makes the room unbearable!",
    "Four hours of steady work faced us, then a long walk home through the rain.",
)


@dataclass
class Calibration:
    """What the full acoustic model said for `CALIBRATION`: its inputs, speakers and the prosody it chose, so
    that a pruned copy is compared on the same durations, pitch and energy."""

    text: list[torch.Tensor]
    speakers: list[int]
    outputs: list[dict[str, torch.Tensor]]

    @property
    def mels(self) -> list[torch.Tensor]:
        return [o["mel"] for o in self.outputs]

    def mel_change(self, model: FastPitch) -> float:
        """Mean |mel difference| of `model` from the full model, on the full model's own prosody."""
        errors = []
        with torch.no_grad():
            for text, speaker, full in zip(self.text, self.speakers, self.outputs, strict=True):
                mel = model.infer(
                    text,
                    torch.tensor([text.shape[1]]),
                    speaker=speaker,
                    durations=full["durations"].float(),
                    pitch=full["pitch"],
                    energies=full["energy"],
                    padded=False,
                )["mel"]
                errors.append((mel - full["mel"]).abs().mean())
        return float(torch.stack(errors).mean())


def calibrate(model: FastPitch, frontend: TextFrontend, n_speakers: int) -> Calibration:
    text, speakers, outputs = [], [], []
    model.eval()
    with torch.no_grad():
        for i, sentence in enumerate(CALIBRATION):
            for utterance in frontend.utterances(sentence):
                ids = torch.tensor([frontend.in_table(utterance.symbols)[1]])
                speaker = i % n_speakers
                out = model.infer(ids, torch.tensor([ids.shape[1]]), speaker=speaker, padded=False)
                text.append(ids)
                speakers.append(speaker)
                outputs.append(out)
    return Calibration(text, speakers, outputs)


def strongest_units(w_in: torch.Tensor, w_out: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices (ascending) of the `keep` hidden units with the largest |input weights| * |output weights|.

    w_in (units, ...) holds each unit's input weights in its first dimension, w_out (out, units, ...) its output
    weights in its second: a Conv1d or Linear pair's weights as they are.
    """
    units = w_in.shape[0]
    if not 0 < keep <= units:
        raise FastPitchError(f"cannot keep {keep} of {units} feed-forward units")
    score = w_in.flatten(1).norm(dim=1) * w_out.transpose(0, 1).flatten(1).norm(dim=1)
    return score.topk(keep).indices.sort().values


def narrow(first: nn.Module, second: nn.Module, keep: torch.Tensor) -> None:
    """Keep only hidden units `keep` between two layers (Conv1d or Linear), in place."""
    first.weight = nn.Parameter(first.weight.data[keep].clone())
    first.bias = nn.Parameter(first.bias.data[keep].clone())
    second.weight = nn.Parameter(second.weight.data[:, keep].clone())
    if isinstance(first, nn.Conv1d):
        first.out_channels = second.in_channels = len(keep)
    else:
        first.out_features = second.in_features = len(keep)


def drop_layers(layers: nn.ModuleList, keep: int, damage: Callable[[], float]) -> list[int]:
    """Remove layers one at a time, each time the one whose absence `damage()` measures smallest, until `keep`
    remain (in place). Returns the original indices of the layers kept."""
    if not 0 < keep <= len(layers):
        raise FastPitchError(f"cannot keep {keep} of {len(layers)} layers")
    kept = list(range(len(layers)))
    while len(layers) > keep:
        scores = []
        for i in range(len(layers)):
            layer = layers[i]
            del layers[i]
            scores.append(damage())
            layers.insert(i, layer)
        cheapest = min(range(len(scores)), key=scores.__getitem__)
        del layers[cheapest]
        del kept[cheapest]
    return kept


def prune_acoustic(ckpt: Checkpoint, ff: int, n_layers: int) -> tuple[Checkpoint, Calibration, list[int]]:
    """A copy of an acoustic checkpoint with `n_layers` decoder blocks of `ff` feed-forward units.

    The encoder, predictors and aligner are untouched, so the pruned model speaks with the same durations and
    pitch. Returns the new checkpoint (step 0, no optimizer state; its config says the new sizes), the full
    model's calibration (for the vocoder) and the decoder layers kept.
    """
    cfg = ckpt.config
    model = FastPitch(cfg.model)
    model.load_state_dict(ckpt.ema if ckpt.ema is not None else ckpt.model)
    calibration = calibrate(model, TextFrontend(cfg.text), max(cfg.model.n_speakers, 1))
    for layer in model.decoder.layers:
        keep = strongest_units(layer.ff.conv1.weight, layer.ff.conv2.weight, ff)
        narrow(layer.ff.conv1, layer.ff.conv2, keep)

    kept = drop_layers(model.decoder.layers, n_layers, lambda: calibration.mel_change(model))
    new_cfg = copy.deepcopy(cfg)
    new_cfg.model = replace(cfg.model, out_fft_conv1d_filter_size=ff, out_fft_n_layers=n_layers)
    pruned = Checkpoint(
        config=new_cfg,
        step=0,
        model={k: v.detach().clone() for k, v in model.state_dict().items()},
        provenance={
            "pruned_from": str(ckpt.path) if ckpt.path else None,
            "pruned_from_step": ckpt.step,
            "decoder_layers_kept": kept,
            "calibration_mel_l1": calibration.mel_change(model),
        },
    )
    return pruned, calibration, kept


def prune_vocoder(
    vocoder: NeuralVocoder, mels: list[torch.Tensor], intermediate_dim: int, n_layers: int
) -> tuple[NeuralVocoder, list[int], float]:
    """A copy of an iSTFT vocoder with `n_layers` ConvNeXt blocks of `intermediate_dim` units.

    Damage is the mean change of the log-magnitude spectrum on `mels`. Returns the vocoder, the blocks kept and
    the final damage.
    """
    if not isinstance(vocoder.model, ISTFTVocoder):
        raise FastPitchError(f"only the iSTFT vocoder can be pruned, not {vocoder.arch}")
    model = copy.deepcopy(vocoder.model).eval()

    def log_magnitude(mel: torch.Tensor) -> torch.Tensor:
        return model.spectrum(mel).pow(2).sum(-1).clamp(min=1e-10).log()

    with torch.no_grad():
        reference = [log_magnitude(mel) for mel in mels]

    def damage() -> float:
        with torch.no_grad():
            errors = [(log_magnitude(m) - r).abs().mean() for m, r in zip(mels, reference, strict=True)]
        return float(torch.stack(errors).mean()) / 2  # of log |S|

    for block in model.blocks:
        narrow(
            block.pwconv1,
            block.pwconv2,
            strongest_units(block.pwconv1.weight, block.pwconv2.weight, intermediate_dim),
        )
    kept = drop_layers(model.blocks, n_layers, damage)
    model.cfg = replace(model.cfg, intermediate_dim=intermediate_dim, n_layers=n_layers)
    pruned = NeuralVocoder(model, vocoder.arch, vocoder.audio_cfg, vocoder.source)
    return pruned, kept, damage()


@dataclass
class PruneResult:
    acoustic: Path  # the pruned checkpoint's JSON: `fastpitch train --init-from` it
    decoder_layers_kept: list[int]
    acoustic_damage: float  # mean |mel change| on the calibration sentences, before any training
    vocoder: Path | None = None  # the pruned vocoder's JSON: `fastpitch train-vocoder --init` it
    vocoder_layers_kept: list[int] = field(default_factory=list)
    vocoder_damage: float | None = None  # mean |log-magnitude change| of the vocoder's spectrum

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


def prune_voice(
    acoustic: str | Path,
    out: str | Path,
    decoder_ff: int,
    decoder_layers: int,
    vocoder: str | Path | None = None,
    vocoder_ff: int | None = None,
    vocoder_layers: int | None = None,
) -> PruneResult:
    """Prune an acoustic checkpoint (and its iSTFT vocoder) into `out`/acoustic and `out`/vocoder.

    The vocoder keeps its width or depth where `vocoder_ff` / `vocoder_layers` are None.
    """
    out = Path(out)
    if vocoder is None and (vocoder_ff is not None or vocoder_layers is not None):
        raise FastPitchError("a vocoder width or depth needs the vocoder to prune (--vocoder)")
    if checkpoint.latest(out / "acoustic") is not None:
        raise FastPitchError(f"{out / 'acoustic'} already holds a checkpoint; choose another --out")
    source = checkpoint.load_checkpoint(checkpoint.resolve(acoustic), with_optimizer=False)
    pruned, calibration, kept = prune_acoustic(source, decoder_ff, decoder_layers)
    small = None
    if vocoder is not None:  # pruned before anything is written: a vocoder it cannot prune leaves no files
        voc = load_neural(vocoder, source.config.audio)
        width, depth = vocoder_ff or voc.config.intermediate_dim, vocoder_layers or voc.config.n_layers
        small, vocoder_kept, vocoder_damage = prune_vocoder(voc, calibration.mels, width, depth)
    result = PruneResult(
        checkpoint.save_checkpoint(out / "acoustic", pruned), kept, pruned.provenance["calibration_mel_l1"]
    )
    if small is not None:
        result.vocoder, result.vocoder_layers_kept = small.save(out / "vocoder"), vocoder_kept
        result.vocoder_damage = vocoder_damage
    return result
