"""Typed configuration: JSON round trip, presets and `--set` overrides fail loudly on typos."""

import json

import pytest

from fastpitch.config import Config, ConfigError, apply_overrides, preset


def test_json_round_trip(tmp_path):
    cfg = preset("small", ["model.n_speakers=3", 'text.symbols=["_", "a"]'])
    path = tmp_path / "config.json"
    cfg.save(path)
    again = Config.load(path)
    assert again == cfg
    assert again.train.betas == (0.9, 0.98)
    assert again.text.symbols == ["_", "a"]


def test_configs_saved_before_edge_boundaries_read_without_them(tmp_path):
    data = Config().to_dict()
    assert data["text"].pop("edge_boundaries") is True  # new configs have them
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert Config.load(path).text.edge_boundaries is False  # an old model was trained without them


def test_configs_saved_before_the_mas_boundary_cost_read_none(tmp_path):
    data = Config().to_dict()
    assert data["train"].pop("mas_boundary_cost") == 4.0  # new runs let MAS skip word boundaries
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert Config.load(path).train.mas_boundary_cost == 0.0  # an old run had every symbol at a frame or more


def test_default_is_nvidia_ljspeech():
    m = Config().model
    assert (m.symbols_embedding_dim, m.in_fft_n_layers, m.out_fft_n_layers) == (384, 6, 6)
    assert (m.in_fft_n_heads, m.in_fft_d_head, m.in_fft_conv1d_filter_size) == (1, 64, 1536)
    assert (m.dur_predictor_filter_size, m.pitch_predictor_filter_size) == (256, 256)


def test_overrides_parse_types():
    cfg = apply_overrides(
        Config(), ["model.symbols_embedding_dim=256", "train.amp=bf16", "train.learning_rate=1e-3"]
    )
    assert cfg.model.symbols_embedding_dim == 256
    assert cfg.train.amp == "bf16"
    assert cfg.train.learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.nope=1", "unknown config field"),
        ("model.symbols_embedding_dim=abc", "expects an integer"),
        ("model.symbols_embedding_dim=2.5", "expects an integer"),
        ("model.energy_conditioning=maybe", "expects true or false"),
        ("train.batch_frames=Infinity", "expects an integer, got inf"),
        ("train.batch_frames=NaN", "expects an integer, got nan"),
        ("train.learning_rate=NaN", "expects a finite number, got nan"),
        ("no_equals_sign", "section.field=value"),
        # an audio definition no mel or pitch track can be made with: refused, not failed clip by clip
        ("audio.sample_rate=0", "audio.sample_rate must be at least 1000, got 0"),
        ("audio.hop_length=0", "audio.hop_length must be 1 to n_fft, got 0"),
        ("audio.n_mels=0", "audio.n_mels must be at least 1, got 0"),
        ("audio.f0_max=10", "0 < f0_min < f0_max <= 11025 Hz, got 60 and 10"),
        ("audio.fmax=20000", "0 <= fmin < fmax <= 11025 Hz"),
        # what torch's optimiser or loader would refuse with a traceback, or a model that cannot be built
        ("train.learning_rate=-1", "train.learning_rate must be above 0"),
        ("train.num_workers=-1", "train.num_workers must be 0 or more"),
        ("train.betas=[0.9]", "train.betas must be two numbers"),
        ("train.batch_frames=0", "train.batch_frames must be at least 1"),
        ("train.duration_loss_weight=-0.1", "train.duration_loss_weight must be 0 or more"),
        ("model.out_fft_n_heads=0", "model.out_fft_n_heads must be at least 1, got 0"),
        ("model.p_in_fft_dropout=1", "model.p_in_fft_dropout is a dropout probability"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), [override])


def test_unknown_preset_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.load(bad)
    with pytest.raises(ConfigError, match="not found"):
        Config.load(tmp_path / "missing.json")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"model": {"typo_field": 1}}))
    with pytest.raises(ConfigError, match="typo_field"):
        Config.load(unknown)


@pytest.mark.parametrize("field", ["max_steps", "log_every", "val_every", "checkpoint_every"])
def test_a_cadence_below_one_is_refused_before_training(field):
    from fastpitch.train.runner import Cadence

    values = {
        "max_steps": 10,
        "log_every": 1,
        "val_every": 1,
        "checkpoint_every": 1,
        "max_nonfinite_steps": 1,
    }
    with pytest.raises(ConfigError, match=f"train.{field} must be 1 or more, got 0"):
        Cadence(**(values | {field: 0}))
