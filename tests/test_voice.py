"""The voice directory: save/load round trip, creation from training checkpoints, and every validation error."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from conftest import edit_voice_json
from fastpitch.cli import app
from fastpitch.config import preset
from fastpitch.models import FastPitch
from fastpitch.text import get_symbol_table
from fastpitch.voice import (
    ACOUSTIC_WEIGHTS,
    FORMAT_VERSION,
    VOICE_JSON,
    VoiceError,
    read_voice,
    resolve_voice_path,
)
from fastpitch.voice_create import create_voice, set_vocoder
from fastpitch.voice_load import load_voice


def test_round_trip(synth_voice):
    voice = read_voice(synth_voice)
    assert voice.speakers == ["alice", "bob"]
    assert voice.pitch == {"alice": {"mean": 150.0, "std": 30.0}, "bob": {"mean": 200.0, "std": 30.0}}
    assert voice.text.symbols == get_symbol_table("en-v1").symbols
    assert voice.vocoder_type == "griffin-lim"
    assert not (synth_voice / "vocoder.safetensors").exists()  # Griffin-Lim has no weights
    assert (synth_voice / "MODEL_CARD.md").read_text().startswith("# tiny")

    stored = load_file(str(synth_voice / ACOUSTIC_WEIGHTS))
    assert stored["embedding.weight"].dtype == torch.float16  # fp16 on disk
    assert not any(k.startswith("aligner.") for k in stored)  # inference weights only

    loaded = load_voice(synth_voice)
    model = loaded.acoustic
    assert not model.training and model.aligner is None
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 in memory
    assert torch.equal(model.embedding.weight, stored["embedding.weight"].float())
    assert model.pitch_mean.tolist() == [150.0, 200.0]


def test_voice_json_path_is_accepted(synth_voice):
    assert read_voice(synth_voice / VOICE_JSON).path == synth_voice


def test_missing_directory_and_files(tmp_path, voice_copy):
    with pytest.raises(VoiceError, match="voice not found"):
        read_voice(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VoiceError, match=r"voice.json is missing"):
        read_voice(tmp_path / "empty")
    (voice_copy / ACOUSTIC_WEIGHTS).unlink()
    with pytest.raises(VoiceError, match=r"acoustic.safetensors is missing"):
        load_voice(voice_copy)


def test_training_run_directory_gets_a_hint(tmp_path):
    (tmp_path / "step-0000100.json").write_text("{}")
    with pytest.raises(VoiceError, match="fastpitch voice create"):
        read_voice(tmp_path)


def test_bad_format_version(voice_copy):
    edit_voice_json(voice_copy, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(VoiceError, match="newer fastpitch"):
        read_voice(voice_copy)
    edit_voice_json(voice_copy, lambda d: d.update(format_version="one"))
    with pytest.raises(VoiceError, match="invalid format_version"):
        read_voice(voice_copy)


def test_not_a_voice_json(voice_copy):
    (voice_copy / VOICE_JSON).write_text("{not json")
    with pytest.raises(VoiceError, match="not valid JSON"):
        read_voice(voice_copy)
    (voice_copy / VOICE_JSON).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(VoiceError, match="not a fastpitch voice"):
        read_voice(voice_copy)


def test_symbol_table_mismatch(voice_copy):
    def swap(d):
        s = d["text"]["symbols"]
        s[10], s[11] = s[11], s[10]

    edit_voice_json(voice_copy, swap)
    with pytest.raises(VoiceError, match=r"symbol table mismatch.*differs.*at id 10"):
        read_voice(voice_copy)

    edit_voice_json(voice_copy, lambda d: d["text"]["symbols"].pop())
    with pytest.raises(
        VoiceError, match=r"symbol table mismatch: text.symbols lists 104 symbols but the model embeds 105"
    ):
        read_voice(voice_copy)


def test_speakers_must_match_the_model(voice_copy):
    edit_voice_json(voice_copy, lambda d: d.update(speakers=["alice"]))
    with pytest.raises(VoiceError, match="speakers"):
        read_voice(voice_copy)


def test_foreign_weights(voice_copy):
    # A file that is not tagged as FastPitch weights (say, a vocoder's) is refused before shapes are compared.
    save_file({"conv_pre.weight": torch.zeros(4, 80, 7)}, str(voice_copy / ACOUSTIC_WEIGHTS))
    with pytest.raises(VoiceError, match="does not hold FastPitch acoustic model weights"):
        load_voice(voice_copy)
    (voice_copy / ACOUSTIC_WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(VoiceError, match="corrupt"):
        load_voice(voice_copy)


def test_weights_of_another_architecture(voice_copy):
    # Tagged as ours but made for another config: wider model, so every shape differs.
    cfg = preset(
        "tiny",
        ["model.symbols_embedding_dim=64", "model.in_fft_output_size=64", "model.out_fft_output_size=64"],
    )
    cfg.model.n_symbols, cfg.model.n_speakers = 105, 2
    other = FastPitch(cfg.model, aligner=False).inference_state_dict()
    save_file(other, str(voice_copy / ACOUSTIC_WEIGHTS), metadata={"format": "fastpitch-acoustic"})
    with pytest.raises(VoiceError, match=r"does not match the voice.s config.*wrong shape"):
        load_voice(voice_copy)


def test_no_default_voice_is_a_clear_error(monkeypatch, tmp_path):
    import fastpitch.voice as voice_module

    monkeypatch.setattr(voice_module, "DEFAULT_VOICE", tmp_path / "voices" / "default")
    with pytest.raises(VoiceError, match=r"no default voice is installed.*fastpitch voice create.*--voice"):
        resolve_voice_path(None)


def test_create_voice_from_training_checkpoint_uses_ema(tmp_path):
    from fastpitch.checkpoint import Checkpoint, save_checkpoint

    cfg = preset("tiny")
    cfg.text.symbols = list(get_symbol_table("en-v1").symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    model = FastPitch(cfg.model)  # with its aligner, as trained
    model.set_pitch_stats(180.0, 25.0)
    ema = {k: v + 1.0 if k == "embedding.weight" else v.clone() for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "run", Checkpoint(config=cfg, step=100, model=model.state_dict(), ema=ema))

    voice = create_voice(tmp_path / "run", None, tmp_path / "voice", fp16=False, name="made")
    assert voice.name == "made" and voice.speakers == ["default"]
    assert voice.pitch == {"default": {"mean": 180.0, "std": 25.0}}
    assert voice.provenance["acoustic"]["step"] == 100
    assert voice.provenance["acoustic"]["weights"] == "ema"
    stored = load_file(str(tmp_path / "voice" / ACOUSTIC_WEIGHTS))
    assert not any(k.startswith("aligner.") for k in stored)
    assert torch.equal(stored["embedding.weight"], ema["embedding.weight"])
    assert load_voice(tmp_path / "voice").acoustic.aligner is None


def test_remaking_a_voice_keeps_its_model_card_and_says_so(tmp_path, caplog):
    from fastpitch.checkpoint import Checkpoint, save_checkpoint

    cfg = preset("tiny")
    cfg.text.symbols = list(get_symbol_table("en-v1").symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    model = FastPitch(cfg.model)
    model.set_pitch_stats(180.0, 25.0)
    save_checkpoint(tmp_path / "run", Checkpoint(config=cfg, step=5, model=model.state_dict()))
    create_voice(tmp_path / "run", None, tmp_path / "voice", name="first")
    (tmp_path / "voice" / "MODEL_CARD.md").write_text("# first\n\nWhat its author wrote.\n")
    with caplog.at_level("WARNING"):
        create_voice(tmp_path / "run", None, tmp_path / "voice", name="second")
    assert (tmp_path / "voice" / "MODEL_CARD.md").read_text().startswith("# first")  # the author's words
    assert "MODEL_CARD.md was kept as it was" in caplog.text


def test_create_voice_refuses_a_foreign_checkpoint(tmp_path):
    from fastpitch.checkpoint import Checkpoint, save_checkpoint

    cfg = preset("tiny")
    cfg.model.n_symbols = 105
    save_checkpoint(
        tmp_path / "run", Checkpoint(config=cfg, step=1, model={"something.weight": torch.zeros(3)})
    )
    with pytest.raises(VoiceError, match="not a FastPitch checkpoint"):
        create_voice(tmp_path / "run", None, tmp_path / "voice")


def test_create_voice_with_a_trained_vocoder(tmp_path):
    """A saved HiFi-GAN goes into vocoder.safetensors, loads back, speaks, and exports to ONNX."""
    from fastpitch import Synthesizer
    from fastpitch.checkpoint import Checkpoint, save_checkpoint
    from fastpitch.config import AudioConfig
    from fastpitch.export import export_voice
    from fastpitch.vocoders.hifigan import HiFiGANConfig
    from fastpitch.vocoders.neural import NeuralVocoder, build_generator

    cfg = preset("tiny")
    cfg.text.symbols = list(get_symbol_table("en-v1").symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    model = FastPitch(cfg.model)
    provenance = {"speakers": ["recorded"]}  # what training writes: the corpus's names
    save_checkpoint(
        tmp_path / "run", Checkpoint(config=cfg, step=5, model=model.state_dict(), provenance=provenance)
    )
    small = HiFiGANConfig(
        upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]]
    )
    NeuralVocoder(build_generator("hifigan", small), "hifigan", AudioConfig(), "test").save(
        tmp_path / "vocoder"
    )

    with pytest.raises(
        VoiceError, match=r"1 speaker\(s\) but 3 name\(s\) were given"
    ):  # not quietly "recorded"
        create_voice(tmp_path / "run", tmp_path / "vocoder", tmp_path / "other", speakers=["a", "b", "c"])
    voice = create_voice(tmp_path / "run", tmp_path / "vocoder", tmp_path / "voice", speakers=["anna"])
    assert voice.vocoder_type == "hifigan" and voice.vocoder["config"]["upsample_initial_channel"] == 16
    assert voice.speakers == ["anna"] and voice.provenance["acoustic"]["weights"] == "model"
    assert (tmp_path / "voice" / "vocoder.safetensors").is_file()
    audio, _ = Synthesizer.load(voice.path).synthesize("Hello.")
    assert len(audio) > 0

    exported = export_voice(voice.path)
    assert exported.onnx["vocoder"] == "vocoder.onnx" and (voice.path / "vocoder.onnx").is_file()

    # Swapping the vocoder keeps the acoustic weights bit for bit and drops the stale ONNX files.
    before = (voice.path / "acoustic.safetensors").read_bytes()
    result = CliRunner().invoke(app, ["voice", "set-vocoder", str(voice.path), "griffin-lim"])
    assert result.exit_code == 0, result.output
    swapped = read_voice(voice.path)
    assert swapped.vocoder_type == "griffin-lim" and not swapped.has_onnx
    assert not (voice.path / "vocoder.safetensors").exists() and not (voice.path / "acoustic.onnx").exists()
    assert (voice.path / "acoustic.safetensors").read_bytes() == before
    assert swapped.provenance["acoustic"]["step"] == 5
    set_vocoder(voice.path, tmp_path / "vocoder")
    assert read_voice(voice.path).vocoder_type == "hifigan"


@pytest.mark.parametrize("name", ["../elsewhere/acoustic.onnx", "/etc/passwd", "sub/acoustic.onnx", "..", ""])
def test_onnx_names_leading_out_of_the_directory_are_refused(voice_copy, name):
    edit_voice_json(voice_copy, lambda d: d.update(onnx={"acoustic": name, "vocoder": None, "opset": 17}))
    with pytest.raises(VoiceError, match="not a file name inside the voice directory"):
        read_voice(voice_copy)


def test_weights_linked_from_outside_the_directory_are_refused(voice_copy, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    (voice_copy / ACOUSTIC_WEIGHTS).rename(outside)
    (voice_copy / ACOUSTIC_WEIGHTS).symlink_to(outside)
    with pytest.raises(VoiceError, match="leads out of the voice directory"):
        load_voice(voice_copy)
    (voice_copy / ACOUSTIC_WEIGHTS).unlink()
    (voice_copy / ACOUSTIC_WEIGHTS).symlink_to(outside.rename(voice_copy / "weights-fp16.safetensors"))
    assert load_voice(voice_copy).voice.speakers == ["alice", "bob"]  # a link inside the directory is fine
