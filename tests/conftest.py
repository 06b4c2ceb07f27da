import json
import shutil

import pytest


@pytest.fixture(scope="session")
def data_frontend():
    """The project's default text frontend, loaded once (data tests check transcripts with it)."""
    from fastpitch.config import TextConfig
    from fastpitch.text import TextFrontend

    return TextFrontend(TextConfig())


def _synth_make_voice(out, vocoder: str = "griffin-lim", speakers=("default",), seed: int = 0):
    """A tiny untrained voice (preset "tiny") that speaks with varied durations; for synthesis tests."""
    import dataclasses

    import torch

    from fastpitch.config import preset
    from fastpitch.models import FastPitch
    from fastpitch.text import get_symbol_table
    from fastpitch.voice_create import save_voice

    cfg = preset("tiny")
    cfg.text.symbols = list(get_symbol_table(cfg.text.symbol_set).symbols)
    cfg.model.n_symbols = len(cfg.text.symbols)
    cfg.model.n_speakers = len(speakers)
    torch.manual_seed(seed)
    model = FastPitch(cfg.model, aligner=False).eval()
    with torch.no_grad():
        model.duration_predictor.proj.bias.fill_(1.5)  # about 3.5 frames per symbol
    model.set_pitch_stats([150.0 + 50 * i for i in range(len(speakers))], [30.0] * len(speakers))
    vocoder_config, vocoder_state = {}, None
    if vocoder == "istft":
        from fastpitch.vocoders.istft import ISTFTConfig, ISTFTVocoder

        voc_cfg = ISTFTConfig(dim=16, intermediate_dim=32, n_layers=1)
        generator = ISTFTVocoder(voc_cfg).remove_weight_norm()
        vocoder_config, vocoder_state = dataclasses.asdict(voc_cfg), generator.state_dict()
    return save_voice(
        out,
        name="tiny",
        audio=cfg.audio,
        text=cfg.text,
        model=cfg.model,
        acoustic_state=model.inference_state_dict(),
        speakers=list(speakers),
        vocoder_type=vocoder,
        vocoder_config=vocoder_config,
        vocoder_state=vocoder_state,
    )


@pytest.fixture(scope="session")
def synth_make_voice():
    """`make(out_dir, vocoder="griffin-lim" | "istft", speakers=(...))` -> a tiny untrained `Voice`."""
    return _synth_make_voice


@pytest.fixture(scope="session")
def synth_voice(tmp_path_factory):
    """A tiny two-speaker Griffin-Lim voice directory (speakers "alice" and "bob")."""
    return _synth_make_voice(tmp_path_factory.mktemp("synth") / "voice", speakers=("alice", "bob")).path


@pytest.fixture(scope="session")
def synth_onnx_voice(tmp_path_factory):
    """A tiny iSTFT-vocoder voice with its fp32 ONNX export (acoustic.onnx + vocoder.onnx): torch's numbers
    within float rounding, which the equivalence tests need."""
    from fastpitch.export import export_voice

    voice = _synth_make_voice(tmp_path_factory.mktemp("synth") / "onnx-voice", vocoder="istft")
    return export_voice(voice.path, int8=False).path


@pytest.fixture(scope="session")
def synth_int8_voice(synth_onnx_voice, tmp_path_factory):
    """The same voice exported as voices ship: the decoder's and the vocoder's matrix products in int8."""
    from fastpitch.export import export_voice

    return export_voice(synth_onnx_voice, tmp_path_factory.mktemp("synth") / "int8-voice").path


@pytest.fixture()
def vocoder_single_thread():
    """Run a test on one torch thread: the vocoder tests' tiny ops are several times faster so on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def voice_copy(synth_voice, tmp_path):
    """A private copy of the tiny voice that a test may break."""
    return shutil.copytree(synth_voice, tmp_path / "voice")


def edit_voice_json(path, edit):
    """Apply `edit(data)` to the voice.json of the voice directory `path`."""
    data = json.loads((path / "voice.json").read_text())
    edit(data)
    (path / "voice.json").write_text(json.dumps(data))


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread avoids OpenMP oversubscription."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
