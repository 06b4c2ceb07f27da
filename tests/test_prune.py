"""Structured pruning (fastpitch.prune): which units and layers go, and that the result loads and speaks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from fastpitch import checkpoint as ck
from fastpitch.cli import app
from fastpitch.config import preset
from fastpitch.errors import FastPitchError
from fastpitch.models import FastPitch
from fastpitch.prune import drop_layers, prune_voice, strongest_units
from fastpitch.text import get_symbol_table
from fastpitch.vocoders.istft import ISTFTConfig, ISTFTVocoder
from fastpitch.vocoders.neural import NeuralVocoder, load_neural


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    return one_thread


def test_strongest_units_weigh_inputs_times_outputs():
    w_in = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.1, 0.0]])  # (units, in)
    w_out = torch.tensor([[5.0, 1.0, 1.0, 100.0]])  # (out, units): unit 3 has tiny inputs, huge outputs
    assert strongest_units(w_in, w_out, 2).tolist() == [0, 3]  # 5, 3, 2, 10 -> units 3 and 0, in order
    assert strongest_units(w_in, w_out, 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(FastPitchError, match="cannot keep 5 of 4"):
        strongest_units(w_in, w_out, 5)


def test_drop_layers_removes_the_cheapest_one_at_a_time():
    layers = nn.ModuleList(nn.Linear(1, 1) for _ in range(4))
    cost = {id(layer): c for layer, c in zip(layers, (5.0, 1.0, 3.0, 2.0), strict=True)}
    originals = list(layers)

    def damage() -> float:  # what is missing costs what it is worth
        present = {id(layer) for layer in layers}
        return sum(c for k, c in cost.items() if k not in present)

    assert drop_layers(layers, 2, damage) == [0, 2]
    assert list(layers) == [originals[0], originals[2]]
    with pytest.raises(FastPitchError, match="cannot keep 3 of 2"):
        drop_layers(layers, 3, damage)


def _voice_checkpoints(tmp_path):
    """A random tiny acoustic checkpoint (two decoder layers, two speakers) and iSTFT vocoder."""
    cfg = preset("tiny", ["model.out_fft_n_layers=2", "model.n_speakers=2"])
    cfg.text.symbols = list(get_symbol_table(cfg.text.symbol_set).symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    torch.manual_seed(0)
    model = FastPitch(cfg.model)
    with torch.no_grad():
        model.duration_predictor.proj.bias.fill_(1.5)
    source = ck.save_checkpoint(tmp_path / "source", ck.Checkpoint(cfg, 5, model.state_dict()))
    voc_cfg = ISTFTConfig(dim=16, intermediate_dim=32, n_layers=3)
    vocoder = NeuralVocoder(ISTFTVocoder(voc_cfg), "istft", cfg.audio).save(tmp_path / "vocoder")
    return source, vocoder


def test_prune_voice_writes_a_smaller_voice_that_loads(tmp_path):
    source, vocoder = _voice_checkpoints(tmp_path)
    result = prune_voice(source, tmp_path / "slim", 16, 1, vocoder, vocoder_ff=8, vocoder_layers=2)
    slim = ck.load_checkpoint(result.acoustic)
    assert slim.step == 0 and slim.optimizer is None
    assert (slim.config.model.out_fft_conv1d_filter_size, slim.config.model.out_fft_n_layers) == (16, 1)
    model = FastPitch(slim.config.model)
    ck.load_weights(model, slim.model, result.acoustic)  # every tensor has the shape the config says
    full = ck.load_checkpoint(source).model
    kept = result.decoder_layers_kept[0]
    # The encoder is untouched; the kept decoder layer's attention too, its feed-forward keeps 16 of 64 units.
    for key in ("encoder.layers.0.ff.conv1.weight", "duration_predictor.proj.bias"):
        assert torch.equal(slim.model[key], full[key])
    assert torch.equal(
        slim.model["decoder.layers.0.attn.qkv.weight"], full[f"decoder.layers.{kept}.attn.qkv.weight"]
    )
    assert slim.model["decoder.layers.0.ff.conv2.weight"].shape[1] == 16
    assert slim.provenance["pruned_from_step"] == 5 and result.acoustic_damage > 0

    small = load_neural(result.vocoder)
    assert (small.config.intermediate_dim, small.config.n_layers) == (8, 2)
    assert len(small.model.blocks) == 2 and result.vocoder_damage > 0
    assert small(torch.randn(80, 6)).shape == (6 * 256,)


def test_pruning_nothing_changes_nothing(tmp_path):
    source, vocoder = _voice_checkpoints(tmp_path)
    result = prune_voice(source, tmp_path / "same", 64, 2, vocoder)
    assert result.acoustic_damage == 0.0 and result.vocoder_damage == 0.0
    assert result.decoder_layers_kept == [0, 1] and result.vocoder_layers_kept == [0, 1, 2]
    slim, full = ck.load_checkpoint(result.acoustic), ck.load_checkpoint(source)
    assert dataclasses.asdict(slim.config.model) == dataclasses.asdict(full.config.model)
    assert all(torch.equal(slim.model[k], full.model[k]) for k in full.model)


def test_prune_cli_and_its_errors(tmp_path):
    source, vocoder = _voice_checkpoints(tmp_path)
    runner = CliRunner()
    args = [
        "prune",
        str(source),
        "--out",
        str(tmp_path / "slim"),
        "--decoder-ff",
        "32",
        "--decoder-layers",
        "1",
    ]
    ok = runner.invoke(app, [*args, "--vocoder", str(vocoder), "--vocoder-layers", "1"])
    assert ok.exit_code == 0, ok.output
    assert '"decoder_layers_kept"' in ok.output and ck.latest(tmp_path / "slim" / "acoustic") is not None
    assert load_neural(tmp_path / "slim" / "vocoder").config.n_layers == 1
    again = runner.invoke(app, args)
    assert isinstance(again.exception, FastPitchError) and "already holds a checkpoint" in str(
        again.exception
    )
    too_many = [*args[:3], str(tmp_path / "x"), *args[4:-1], "3"]
    failed = runner.invoke(app, too_many)
    assert isinstance(failed.exception, FastPitchError) and "cannot keep 3 of 2 layers" in str(
        failed.exception
    )
    assert not (tmp_path / "x").exists()  # nothing written before the check
    no_vocoder = runner.invoke(app, [*too_many[:-1], "1", "--vocoder-layers", "1"])
    assert isinstance(no_vocoder.exception, FastPitchError) and "--vocoder" in str(no_vocoder.exception)
