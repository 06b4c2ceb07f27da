"""Hostile voice directories are refused with a clear error before anything outside them is read or a huge
allocation is made (issue 21, part 3). `voice.json` names leading out are tested in test_voice.py."""

import errno
import json
import os
import shutil
import struct
import threading
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import edit_voice_json
from fastpitch.voice import ACOUSTIC_WEIGHTS, VOCODER_WEIGHTS, VOICE_JSON, VoiceError, read_voice
from fastpitch.voice_load import load_voice

onnx = pytest.importorskip("onnx")


class OpenWatch:
    """A named pipe outside the voice directory that records whether anything opens it for reading.

    Opening a FIFO for reading blocks until a writer comes, and opening it for writing without blocking fails
    with ENXIO until a reader is there: a thread polling the write side sees every reader (and unblocks it,
    handing it recognisable bytes), whatever process or library, ONNX Runtime's C++ included, opened the file.
    """

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.002)
                continue
            self.opened = True
            try:
                os.write(fd, b"SECRET-OUTSIDE-THE-VOICE")
            except OSError:
                pass  # the reader has gone already: it was seen all the same
            finally:
                os.close(fd)
            return

    def close(self) -> bool:
        time.sleep(0.05)
        self._stop.set()
        self._thread.join(timeout=5)
        return self.opened


@pytest.fixture
def watch(tmp_path):
    w = OpenWatch(tmp_path / "outside.bin")
    yield w
    w.close()


@pytest.fixture
def onnx_copy(synth_onnx_voice, tmp_path):
    return shutil.copytree(synth_onnx_voice, tmp_path / "onnx-voice")


def _point_external_data(onnx_path, location):
    model = onnx.load(str(onnx_path), load_external_data=False)
    changed = 0
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = location
                changed += 1
    assert changed
    onnx.save(model, str(onnx_path))


def test_the_watch_sees_a_reader(tmp_path):
    w = OpenWatch(tmp_path / "probe")
    with open(w.path, "rb") as f:
        assert f.read(6) == b"SECRET"
    assert w.close()


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_onnx_external_data_outside_the_directory_is_refused_unread(onnx_copy, watch, how):
    from fastpitch.runtime import OnnxSynthesizer

    if how == "dotdot":
        location = os.path.relpath(watch.path, onnx_copy)
    elif how == "absolute":
        location = str(watch.path)
    else:
        (onnx_copy / "weights.bin").symlink_to(watch.path)
        location = "weights.bin"
    _point_external_data(onnx_copy / "acoustic.onnx", location)
    with pytest.raises(VoiceError, match=r"acoustic.onnx keeps weights in .*outside the voice directory"):
        OnnxSynthesizer.load(onnx_copy)
    assert not watch.close(), "a file outside the voice directory was opened"


def test_onnx_external_data_inside_the_directory_still_loads(onnx_copy):
    from fastpitch.runtime import OnnxSynthesizer

    audio, _ = OnnxSynthesizer.load(onnx_copy).synthesize("Hi.")
    assert audio.size and np.isfinite(audio).all()


def test_voice_json_linked_from_outside_is_refused(voice_copy, tmp_path):
    # A complete, valid voice.json outside: were it followed, the voice would load.
    outside = (voice_copy / VOICE_JSON).rename(tmp_path / "outside.json")
    (voice_copy / VOICE_JSON).symlink_to(outside)
    with pytest.raises(VoiceError, match="leads out of the voice directory"):
        read_voice(voice_copy)


def test_a_huge_voice_json_is_refused_without_reading_it(voice_copy):
    with open(voice_copy / VOICE_JSON, "r+b") as f:
        f.truncate(64 * 2**20)  # sparse: costs no disk
    with pytest.raises(VoiceError, match="a voice description is at most"):
        read_voice(voice_copy)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("model.n_symbols", 10**9, r"model.n_symbols is 1000000000; a voice may ask for 1 to 4096"),
        ("model.in_fft_n_layers", 10**6, r"model.in_fft_n_layers is 1000000"),
        ("model.symbols_embedding_dim", 2**40, r"model.symbols_embedding_dim is 1099511627776"),
        ("model.n_speakers", -1, r"model.n_speakers is -1"),
        ("model.speaker_emb_weight", float("nan"), r"speaker_emb_weight expects a finite number, got nan"),
        ("audio.n_fft", 2**30, r"audio.n_fft is 1073741824"),
        ("audio.hop_length", 0, r"audio.hop_length is 0"),
        ("vocoder.config", {"n_iter": 10**12}, r"vocoder.config.n_iter is 1000000000000"),
        ("vocoder.config", {"stages": list(range(1000))}, r"lists 1000 items"),
    ],
)
def test_absurd_sizes_in_the_config_are_refused(voice_copy, field, value, message):
    section, name = field.split(".")
    edit_voice_json(voice_copy, lambda d: d[section].__setitem__(name, value))
    with pytest.raises(VoiceError, match=message):
        read_voice(voice_copy)


def test_non_finite_pitch_statistics_are_refused(voice_copy):
    edit_voice_json(voice_copy, lambda d: d["pitch"]["alice"].update(mean=float("inf")))
    with pytest.raises(VoiceError, match="bad pitch statistics"):
        read_voice(voice_copy)


def _weights(voice):
    return load_file(str(voice / ACOUSTIC_WEIGHTS))


def _save(voice, state):
    save_file(state, str(voice / ACOUSTIC_WEIGHTS), metadata={"format": "fastpitch-acoustic"})


def test_truncated_weights_are_refused(voice_copy):
    data = (voice_copy / ACOUSTIC_WEIGHTS).read_bytes()
    (voice_copy / ACOUSTIC_WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(VoiceError, match="corrupt or not a safetensors file"):
        load_voice(voice_copy)


def test_a_header_promising_terabytes_is_refused_without_allocating(voice_copy):
    header = json.dumps(
        {
            "__metadata__": {"format": "fastpitch-acoustic"},
            "embedding.weight": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]},
        }
    ).encode()
    (voice_copy / ACOUSTIC_WEIGHTS).write_bytes(struct.pack("<Q", len(header)) + header + bytes(64))
    with pytest.raises(VoiceError, match="corrupt or not a safetensors file"):
        load_voice(voice_copy)


def test_oversized_tensors_are_refused_from_the_header(voice_copy, monkeypatch):
    state = _weights(voice_copy)
    state["embedding.weight"] = torch.zeros(105, 4096, dtype=torch.float16)
    state["extra.weight"] = torch.zeros(8)
    _save(voice_copy, state)
    import safetensors

    read = []
    real = safetensors.safe_open

    class Spy:
        def __init__(self, *args, **kwargs):
            self.inner = real(*args, **kwargs)

        def __enter__(self):
            self.f = self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def __getattr__(self, name):
            if name == "get_tensor":
                read.append(name)
            return getattr(self.f, name)

    monkeypatch.setattr("fastpitch.voice_load.safe_open", Spy)
    with pytest.raises(VoiceError, match=r"wrong shape: embedding.weight \(105, 4096\) vs \(105, 32\).*"):
        load_voice(voice_copy)
    assert not read, "tensors were read before the header was checked"


def test_wrong_dtypes_are_refused(voice_copy):
    state = _weights(voice_copy)
    state["embedding.weight"] = state["embedding.weight"].to(torch.float64)
    _save(voice_copy, state)
    with pytest.raises(VoiceError, match=r"dtype not one of F16/BF16/F32: embedding.weight F64"):
        load_voice(voice_copy)


def test_nan_and_inf_weights_are_refused(voice_copy):
    state = _weights(voice_copy)
    state["embedding.weight"][3, 4] = float("nan")
    key = next(k for k in state if k.startswith("decoder."))
    state[key].view(-1)[0] = float("inf")
    _save(voice_copy, state)
    with pytest.raises(VoiceError, match=r"NaN or infinite weights in .*embedding.weight"):
        load_voice(voice_copy)


def test_vocoder_weights_are_checked_too(synth_make_voice, tmp_path):
    voice = synth_make_voice(tmp_path / "v", vocoder="istft").path
    state = load_file(str(voice / VOCODER_WEIGHTS))
    key = next(iter(state))
    state[key] = torch.zeros(3, 3)
    save_file(state, str(voice / VOCODER_WEIGHTS), metadata={"format": "fastpitch-vocoder"})
    with pytest.raises(VoiceError, match=rf"vocoder.safetensors does not match.*wrong shape: {key}"):
        load_voice(voice)


def test_nothing_is_unpickled():
    """Weights are only ever read as safetensors (or ONNX); the one `torch.load` (published HiFi-GAN checkpoints)
    is `weights_only=True`, and numpy never loads with `allow_pickle`. This test is where that is enforced."""
    import pathlib
    import re

    src = pathlib.Path(__file__).parents[1] / "src" / "fastpitch"
    offenders = []
    for path in src.rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: {m.group(0)}")
        for pattern in (
            r"^\s*import pickle",
            r"^\s*from pickle",
            r"allow_pickle\s*=\s*True",
            r"pickle\.loads?\(",
        ):
            if re.search(pattern, text, re.MULTILINE):
                offenders.append(f"{path.name}: {pattern}")
    assert not offenders, offenders
