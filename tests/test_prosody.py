"""Prosody documents (issue 19): analyze -> JSON -> synthesize(prosody=...) replays exactly, edits take effect
where they are made and nowhere else, values left out are predicted, bad documents are refused by name, and
prosody transfer ("say it like this") takes a recording's timing and melody."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from fastpitch.audio import extract_f0, mel_spectrogram_np, mel_spectrogram_numpy
from fastpitch.cli import app
from fastpitch.runtime import OnnxSynthesizer, SynthesisError
from fastpitch.runtime.prosody import Prosody, ProsodyError
from fastpitch.runtime.transfer import TransferError
from fastpitch.synthesis import Synthesizer

TEXT = "Hello there, my friend. Is this the same?"
EDIT = "Please call Stella and ask her to bring these things."
ASK = 4  # the word "ask"


@pytest.fixture(scope="module")
def tiny(synth_voice):
    return Synthesizer.load(synth_voice)


@pytest.fixture(scope="module")
def tiny_onnx(synth_onnx_voice):
    return OnnxSynthesizer.load(synth_onnx_voice)


@pytest.fixture(scope="module")
def shipped():
    return Synthesizer.load()


def replay(tts, doc: Prosody) -> np.ndarray:
    """The audio of a document after a trip through its JSON text."""
    return tts.synthesize(prosody=Prosody.from_json(doc.to_json()))[0]


def word_frames(doc: Prosody, word: int) -> int:
    return sum(sp.frames for sp in doc.sentences[0].symbols if sp.word == word)


@pytest.mark.parametrize(
    "text",
    [TEXT, "<speak>One <break time='300ms'/> <prosody rate='70%' pitch='+3st'>two three</prosody>.</speak>"],
)
@pytest.mark.parametrize("engine", ["tiny", "tiny_onnx"])
def test_an_unedited_round_trip_gives_identical_samples(request, engine, text):
    tts = request.getfixturevalue(engine)
    audio, _ = tts.synthesize(text, pitch_shift=1.5, pace=0.9)
    doc = tts.analyze(text, pitch_shift=1.5, pace=0.9)
    assert np.array_equal(replay(tts, doc), audio)


def test_the_shipped_voice_round_trips_exactly_in_torch_and_onnx(shipped):
    onnx = OnnxSynthesizer.load()
    for tts in (shipped, onnx):
        audio, _ = tts.synthesize(TEXT)
        assert np.array_equal(replay(tts, tts.analyze(TEXT)), audio)


def test_the_document_describes_every_symbol(tiny):
    result = tiny.synthesize_detailed(TEXT)
    doc = result.prosody
    data = json.loads(doc.to_json())
    assert data["format"] == "fastpitch-prosody" and data["version"] == 1
    assert [s["words"] for s in data["sentences"]] == [
        ["Hello", "there", "my", "friend"],
        ["Is", "this", "the", "same"],
    ]
    total = sum(sum(sp["frames"] for sp in s["symbols"]) + s["pause_frames"] for s in data["sentences"])
    assert total == result.mel.shape[1]
    for sentence in data["sentences"]:
        for sp in sentence["symbols"]:
            assert sp["ms"] == pytest.approx(sp["frames"] * 256 / 22050 * 1000, abs=1e-3)
            silent = sp["word"] is None
            assert (sp["pitch"] is None) == silent
    first = data["sentences"][0]["symbols"]
    assert [sp["symbol"] for sp in first if sp["word"] == 0] == ["HH", "AH0", "L", "OW1"]


def test_doubling_one_words_durations_leaves_the_other_words_alone(tiny):
    doc = tiny.analyze(EDIT)
    edited = copy.deepcopy(doc)
    for sp in edited.sentences[0].symbols:
        if sp.word == ASK:
            sp.frames *= 2
    result = tiny.synthesize_detailed(prosody=Prosody.from_json(edited.to_json()))
    n_words = len(doc.sentences[0].words)
    assert word_frames(result.prosody, ASK) == 2 * word_frames(doc, ASK)
    for k in set(range(n_words)) - {ASK}:
        assert word_frames(result.prosody, k) == word_frames(doc, k)
    longer = sum(sp.frames for sp in doc.sentences[0].symbols if sp.word == ASK) * 256
    assert len(result.audio) == len(tiny.synthesize(EDIT)[0]) + longer


def test_values_left_out_are_predicted(tiny):
    doc = tiny.analyze(EDIT)
    audio, _ = tiny.synthesize(EDIT)
    # Pitch and energy left out, durations kept: the model predicts the same values again.
    blank = copy.deepcopy(doc)
    for sp in blank.sentences[0].symbols:
        sp.pitch = sp.energy = None
    assert np.array_equal(replay(tiny, blank), audio)
    # Durations changed, pitch left out: the pitch is predicted (the values that go with the new timing).
    stretched = copy.deepcopy(blank)
    for sp in stretched.sentences[0].symbols:
        sp.frames *= 2
    result = tiny.synthesize_detailed(prosody=stretched)
    assert all(sp.pitch is not None for sp in result.prosody.sentences[0].symbols if sp.word is not None)
    assert result.mel.shape[1] == 2 * sum(sp.frames for sp in doc.sentences[0].symbols)
    # A duration left out is predicted too, scaled by the document's pace.
    one = copy.deepcopy(doc)
    one.sentences[0].symbols[3].frames = None
    again = tiny.synthesize_detailed(prosody=one).prosody
    assert again.sentences[0].symbols[3].frames == doc.sentences[0].symbols[3].frames


def test_raising_one_words_pitch_raises_its_measured_f0_only(shipped):
    cfg = shipped.voice.audio
    doc = shipped.analyze(EDIT)
    higher = copy.deepcopy(doc)
    for sp in higher.sentences[0].symbols:
        if sp.word == ASK:
            sp.pitch *= 2 ** (4 / 12)
    edges = np.concatenate([[0], np.cumsum([sp.frames for sp in doc.sentences[0].symbols])])
    tracks = [extract_f0(shipped.synthesize(prosody=d)[0], cfg) for d in (doc, higher)]

    # Frames the tracker hears voiced in both renderings, within an octave of the voice's mean pitch (outside
    # it, WORLD's dio makes octave errors at some word onsets).
    mean = shipped.voice.pitch[shipped.voice.speakers[0]]["mean"]
    both = tracks[0][1] & tracks[1][1]
    for f0, _ in tracks:
        both &= (f0 > mean / 2) & (f0 < mean * 2)

    def median_f0(track, word):
        own = [i for i, sp in enumerate(doc.sentences[0].symbols) if sp.word == word]
        a, b = edges[own[0]], edges[own[-1] + 1]
        return float(np.median(track[0][a:b][both[a:b]]))

    ratio = median_f0(tracks[1], ASK) / median_f0(tracks[0], ASK)
    assert ratio == pytest.approx(2 ** (4 / 12), rel=0.05)
    words = doc.sentences[0].words
    # A word the tracker hears voiced in neither rendering (a creaky, fading last word) has no F0 to compare.
    heard = [w for w in range(len(words)) if w != ASK and not math.isnan(median_f0(tracks[0], w))]
    assert len(heard) >= len(words) - 2
    for word in heard:
        change = 12 * math.log2(median_f0(tracks[1], word) / median_f0(tracks[0], word))
        assert abs(change) < 1.0, words[word]


def _broken(doc: Prosody, edit) -> dict:
    data = copy.deepcopy(doc.to_dict())
    edit(data, data["sentences"][0]["symbols"])
    return data


BAD = {
    "another symbol table": (
        lambda d, s: d.update(symbol_table="en-v1:000000000000"),
        "made for symbol table 'en-v1:000000000000'",
    ),
    "a missing symbol": (lambda d, s: s.pop(2), "symbol 3 of the text ('AH0') is missing"),
    "an extra symbol": (
        lambda d, s: s.insert(2, dict(s[2])),
        "symbol 3 of the document ('AH0') is extra: the text has no such symbol there (a document made with a "
        "lexicon replays with the same lexicon)",
    ),
    "a symbol of no table": (lambda d, s: s[2].update(symbol="QQ"), "symbol 3: 'symbol' 'QQ' is not in"),
    "a negative duration": (
        lambda d, s: s[2].update(frames=-1, ms=None),
        "sentence 1, symbol 3 'AH0': 'frames' must be between 0",
    ),
    "an absurd duration": (
        lambda d, s: s[2].update(frames=None, ms=12000.0),
        "sentence 1, symbol 3 'AH0': 'ms' must be between 0 and 10000",
    ),
    "frames and ms that disagree": (
        lambda d, s: s[2].update(frames=3, ms=500.0),
        "symbol 3 'AH0': 'frames' (3) and 'ms' (500.0) disagree",
    ),
    "a NaN pitch": (
        lambda d, s: s[2].update(pitch=float("nan")),
        "sentence 1, symbol 3 'AH0': 'pitch' must be a finite number",
    ),
    "an unheard pitch": (
        lambda d, s: s[2].update(pitch=5.0),
        "'pitch' must be null or between 20 and 2000 Hz",
    ),
    "a word out of range": (lambda d, s: s[2].update(word=9), "'word' must be null or a word index below 4"),
    "ssml that is not a boolean": (
        lambda d, s: d.update(ssml="yes"),
        "'ssml' must be true or false, got 'yes'",
    ),
    "a sentence too many": (
        lambda d, s: d["sentences"].append(copy.deepcopy(d["sentences"][0])),
        "has 3 sentences but its text makes 2",
    ),
    "another version": (lambda d, s: d.update(version=2), "version 2 is not one this fastpitch reads"),
    "version as text": (lambda d, s: d.update(version="1"), "(it reads version 1): write it as the number 1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_document_is_refused_naming_what_is_wrong(tiny, case):
    edit, message = BAD[case]
    with pytest.raises(ProsodyError) as error:
        tiny.synthesize(prosody=_broken(tiny.analyze(TEXT), edit))
    assert message in str(error.value)


def test_controls_beside_a_document_are_refused_not_ignored(tiny, tiny_onnx):
    for tts in (tiny, tiny_onnx):
        doc = tts.analyze(TEXT)
        with pytest.raises(SynthesisError, match="set pace, energy in the document"):
            tts.synthesize(prosody=doc, pace=0.5, energy=2.0)
        with pytest.raises(SynthesisError, match="set speaker in the document"):
            tts.synthesize_detailed(prosody=doc, speaker=0)
        doc.settings["pace"] = 0.5  # where they belong: the values left out are predicted at that pace
        assert tts.synthesize(prosody=doc)[0].size > 0


def test_the_onnx_runtime_refuses_bad_documents_too(tiny_onnx):
    edit, _message = BAD["a NaN pitch"]
    with pytest.raises(ProsodyError, match="'pitch' must be a finite number"):
        tiny_onnx.synthesize(prosody=_broken(tiny_onnx.analyze(TEXT), edit))


def test_the_numpy_mel_is_the_torch_mel(shipped):
    wav = np.random.default_rng(0).standard_normal(9000).astype(np.float32) * 0.1
    cfg = shipped.voice.audio
    np.testing.assert_allclose(mel_spectrogram_numpy(wav, cfg), mel_spectrogram_np(wav, cfg), atol=1e-4)


def test_like_takes_the_timing_and_melody_of_a_recording(shipped):
    """A recording of the voice itself, slower and higher than it speaks: said like it, the result follows
    the recording's length and words' timing, and its melody lands in the voice's own range."""
    text = "The birch canoe slid on the smooth planks."
    slow = shipped.synthesize_detailed(text, pace=0.7, pitch_shift=5.0)
    recording = np.concatenate([slow.audio, np.zeros(0, np.float32)])
    doc = shipped.like(text, recording, shipped.sample_rate)
    result = shipped.synthesize_detailed(prosody=doc)
    assert result.mel.shape[1] == slow.mel.shape[1]
    plain = shipped.synthesize_detailed(text)
    for heard, target, usual in zip(result.words, slow.words, plain.words, strict=True):
        assert abs(heard.start - target.start) <= 0.05, heard
        assert abs(heard.start - target.start) <= abs(usual.start - target.start) + 0.012
    voiced = [sp.pitch for sp in doc.sentences[0].symbols if sp.pitch is not None]
    mean = math.exp(np.mean(np.log(voiced)))
    assert mean == pytest.approx(
        shipped.voice.pitch[shipped.voice.speakers[0]]["mean"], rel=0.08
    )  # shifted into the voice
    assert all(sp.energy is None for sp in doc.sentences[0].symbols)


@pytest.mark.parametrize(
    "recording, message",
    [
        ("noise", "cannot align the recording to its text: the voice's reading matches it poorly"),
        ("silence", "the recording is silent"),
        ("eight times the text", "cannot align the recording to its text: it lasts 8.0 times as long"),
    ],
)
def test_a_recording_that_does_not_say_the_text_is_refused(shipped, recording, message):
    rate = shipped.sample_rate
    audio = {
        "noise": np.random.default_rng(1).standard_normal(2 * rate).astype(np.float32) * 0.1,
        "silence": np.zeros(2 * rate, np.float32),
        "eight times the text": np.tile(shipped.synthesize("Hello there.")[0], 8),
    }[recording]
    with pytest.raises(TransferError) as error:
        shipped.like("Hello there.", audio, rate)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        ("speech", 0, "sample_rate must be a positive whole number of Hz, got 0"),
        ("speech", None, "sample_rate must be a positive whole number of Hz, got None"),
        ("speech", 22050.5, "sample_rate must be a positive whole number"),
        (None, 22050, "audio must be an array of samples, got NoneType"),
        ("infinite", 22050, "the recording holds NaN or infinite samples"),
    ],
)
def test_like_names_a_bad_rate_or_recording(shipped, audio, rate, message):
    samples = {"speech": np.zeros(100, np.float32) + 0.1, None: None, "infinite": np.full(100, np.inf)}[audio]
    with pytest.raises((SynthesisError, TransferError), match=message):
        shipped.like("Hello there.", samples, rate)


def test_cli_round_trip_and_like(tmp_path, synth_voice):
    runner = CliRunner()
    base = ["say", "--voice", str(synth_voice), "--engine", "torch"]
    first = runner.invoke(
        app, [*base, TEXT, "-o", str(tmp_path / "a.wav"), "--save-prosody", str(tmp_path / "p.json")]
    )
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*base, "--prosody", str(tmp_path / "p.json"), "-o", str(tmp_path / "b.wav")])
    assert again.exit_code == 0, again.output
    a, _ = sf.read(tmp_path / "a.wav", dtype="int16")
    b, _ = sf.read(tmp_path / "b.wav", dtype="int16")
    assert np.array_equal(a, b)
    data = json.loads((tmp_path / "p.json").read_text())
    data["sentences"][0]["symbols"][1]["pitch"] = float("nan")
    (tmp_path / "bad.json").write_text(json.dumps(data))
    bad = runner.invoke(app, [*base, "--prosody", str(tmp_path / "bad.json"), "-o", str(tmp_path / "c.wav")])
    assert isinstance(bad.exception, ProsodyError)  # `fastpitch` prints it as one line and exits 1
    assert "sentence 1, symbol 2 'HH': 'pitch' must be a finite number" in str(bad.exception)
    assert not (tmp_path / "c.wav").exists()
    beside = runner.invoke(
        app, [*base, "--prosody", str(tmp_path / "p.json"), "--pace", "0.5", "-o", str(tmp_path / "c.wav")]
    )
    assert "--pace cannot apply; --prosody holds its own speaker and settings" in str(beside.exception)
    like = runner.invoke(
        app, [*base, TEXT, "--like", str(tmp_path / "a.wav"), "--energy", "2", "-o", str(tmp_path / "c.wav")]
    )
    assert "--energy cannot apply; --like speaks as the recording does" in str(like.exception)
    assert not (tmp_path / "c.wav").exists()


def test_cli_say_like_a_recording(tmp_path, shipped):
    text = "Hello there, my friend."
    slow, rate = shipped.synthesize(text, pace=0.75)
    sf.write(tmp_path / "me.wav", slow, rate)
    result = CliRunner().invoke(
        app, ["say", text, "--like", str(tmp_path / "me.wav"), "-o", str(tmp_path / "out.wav")]
    )
    assert result.exit_code == 0, result.output
    out, _ = sf.read(tmp_path / "out.wav")
    assert abs(len(out) - len(slow)) <= 256


def test_the_onnx_runtime_speaks_like_a_recording_too(shipped):
    onnx = OnnxSynthesizer.load()
    text = "Hello there, my friend."
    recording, rate = shipped.synthesize(text, pace=0.8)
    result = onnx.synthesize_detailed(prosody=onnx.like(text, recording, rate))
    assert len(result.audio) == len(recording)


def test_like_reads_the_timing_off_the_speaker_closest_to_the_recording(shipped):
    """kal's own reading, said like it by heart: the timing is read off kal's reading (the closest of the
    voice's speakers), so kal's durations come back; the document is heart's, its melody in heart's range."""
    kal = shipped.analyze(EDIT, speaker="kal")
    audio, rate = shipped.synthesize(prosody=kal)
    like = shipped.like(EDIT, audio, rate)
    assert like.speaker == shipped.voice.speakers[0] != "kal"
    found = np.array([sp.frames for sp in like.sentences[0].symbols])
    own = np.array([sp.frames for sp in kal.sentences[0].symbols])
    frame_ms = 1000 * shipped.hop_length / shipped.sample_rate
    assert np.abs(found - own).mean() * frame_ms <= 10.0
    voiced = [sp.pitch for sp in like.sentences[0].symbols if sp.pitch is not None]
    assert math.exp(np.mean(np.log(voiced))) == pytest.approx(
        shipped.voice.pitch[shipped.voice.speakers[0]]["mean"], rel=0.08
    )


def test_like_recovers_the_voices_own_durations_from_its_own_audio(shipped):
    doc = shipped.analyze(EDIT)
    audio, rate = shipped.synthesize(prosody=doc)
    like = shipped.like(EDIT, audio, rate)
    found = np.array([sp.frames for sp in like.sentences[0].symbols])
    own = np.array([sp.frames for sp in doc.sentences[0].symbols])
    assert found.sum() == own.sum()
    # The transfer target (10 ms per phone), and no boundary off by more than two frames (the one
    # between two like vowels, "Stella and", is where the audio leaves the aligner a choice).
    frame_ms = 1000 * shipped.hop_length / shipped.sample_rate
    assert np.abs(found - own).mean() * frame_ms <= 10.0
    assert np.abs(np.cumsum(found) - np.cumsum(own)).max() <= 2


def test_a_recording_over_thirty_seconds_is_refused_before_aligning(tiny):
    with pytest.raises(TransferError, match="lasts 31 s; speaking like a recording takes at most 30 s"):
        tiny.like("Hello there.", np.full(31 * 22050, 0.1, np.float32), 22050)


def test_like_without_pyworld_names_the_extra_and_the_server_answers_501(tiny, monkeypatch):
    from fastpitch import audio
    from fastpitch.errors import MissingDependency
    from fastpitch.server.service import synthesis_error

    def no_pyworld():
        raise ModuleNotFoundError("No module named 'pyworld'", name="pyworld")

    monkeypatch.setattr(audio, "load_pyworld", no_pyworld)
    with pytest.raises(
        MissingDependency, match=r"speaking like a recording needs pyworld.*fastpitch\[train\]"
    ) as e:
        tiny.like("Hello there.", np.zeros(22050, np.float32), 22050)
    assert synthesis_error(e.value).status == 501


@pytest.mark.parametrize(
    "text", ["Yes. Two cats came home.", "Hello there, my friend, and welcome home. Please sit down."]
)
def test_like_recovers_the_durations_of_several_sentences_and_their_pauses(shipped, text):
    """The voice's own reading of sentences with pauses between and inside them, said like itself: every
    symbol gets its frames back (the reading's pauses are cut from the alignment like the recording's)."""
    doc = shipped.analyze(text)
    audio, rate = shipped.synthesize(prosody=doc)
    like = shipped.like(text, audio, rate)
    own = np.concatenate([[sp.frames for sp in s.symbols] for s in doc.sentences])
    found = np.concatenate([[sp.frames for sp in s.symbols] for s in like.sentences])
    spoken = np.concatenate([[sp.word is not None for sp in s.symbols] for s in doc.sentences])
    frame_ms = 1000 * shipped.hop_length / shipped.sample_rate
    assert (found[spoken] > 0).all()
    assert np.abs(found[spoken] - own[spoken]).mean() * frame_ms <= 10.0


@pytest.mark.parametrize("stop", [False, True])
def test_a_pause_the_reading_lacks_goes_to_the_word_boundary_and_a_stop_keeps_its_closure(stop):
    """Reading "A | B" with no pause, recording "A, 12 quiet frames, B": aligned whole, the quiet frames went
    to A or B; cut out and given to the boundary, A and B keep their own (a stop B also its 4-frame closure)."""
    from fastpitch.runtime import transfer

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, (80, 1)), rng.normal(0.0, 1.0, (80, 1))
    reading = np.concatenate([np.repeat(a, 6, 1), np.repeat(b, 6, 1)], axis=1)
    quiet = np.full((80, 12), -11.0)
    recording = np.concatenate([np.repeat(a, 7, 1), quiet, np.repeat(b, 7, 1)], axis=1)
    recording += rng.normal(0.0, 0.05, recording.shape)
    frames = np.array([6, 0, 6, 0])  # A, |, B, the sentence's pause
    silent = np.array([False, True, False, True])
    stops = np.array([False, False, stop, False])
    mask = transfer.quiet_frames(recording)
    assert transfer.pauses(mask) == [(7, 19)]
    whole, _ = transfer.aligned_frames(reading, recording, frames)
    assert whole[1] == 0 and whole.sum() == 26
    found, _ = transfer.aligned_frames(reading, recording, frames, silent, mask, stops)
    closure = transfer.CLOSURE if stop else 0
    assert found.tolist() == [7, 12 - closure, 7 + closure, 0]
    assert transfer.pauses(mask[:10]) == []  # a quiet run at an end is the recording's edge, not a pause
