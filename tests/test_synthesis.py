"""The synthesis API on tiny untrained voices: controls, determinism, long text, streaming, bad input."""

import numpy as np
import pytest

from fastpitch import Synthesizer
from fastpitch.errors import FastPitchError
from fastpitch.runtime.pipeline import Controls, SynthesisError, pause_after, split_symbols

TEXT = "Hello there. How are you today? Fine, thanks."
SHORT = "Hello there, you."


@pytest.fixture(scope="module")
def tts(synth_voice):
    return Synthesizer.load(synth_voice)


@pytest.fixture(scope="module")
def neural_tts(synth_onnx_voice):
    """A voice with a (tiny) neural vocoder, whose audio follows the mel smoothly, unlike Griffin-Lim's."""
    return Synthesizer.load(synth_onnx_voice)


def test_synthesize_returns_float32_audio(tts):
    audio, sr = tts.synthesize(TEXT)
    assert sr == 22050 and audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) > 0.1 * sr and np.isfinite(audio).all()


def test_deterministic(tts, neural_tts):
    for engine in (tts, neural_tts):
        a, _ = engine.synthesize(TEXT, pace=1.2, pitch_shift=1.0)
        b, _ = engine.synthesize(TEXT, pace=1.2, pitch_shift=1.0)
        assert np.array_equal(a, b)


def test_pace_changes_length(tts):
    normal = tts.synthesize_detailed(TEXT)
    fast = tts.synthesize_detailed(TEXT, pace=2.0)
    slow = tts.synthesize_detailed(TEXT, pace=0.5)
    assert len(fast.audio) < 0.6 * len(normal.audio) and len(slow.audio) > 1.8 * len(normal.audio)
    assert fast.mel.shape[1] == pytest.approx(normal.mel.shape[1] / 2, rel=0.1)


def test_pitch_shift_changes_predicted_pitch(tts):
    base = tts.synthesize_detailed(TEXT)
    up = tts.synthesize_detailed(TEXT, pitch_shift=12.0)  # one octave
    voiced = base.pitch > 0
    assert voiced.sum() > 10 and np.array_equal(voiced, up.pitch > 0)
    np.testing.assert_allclose(up.pitch[voiced] / base.pitch[voiced], 2.0, rtol=1e-4)
    flat = tts.synthesize_detailed(TEXT, pitch_range=0.0)
    np.testing.assert_allclose(flat.pitch[flat.pitch > 0], 150.0, rtol=1e-4)  # alice's mean pitch
    assert not np.array_equal(base.mel, up.mel)


def test_speakers_by_name_or_index(tts):
    by_name = tts.synthesize_detailed(SHORT, speaker="bob")
    by_index = tts.synthesize_detailed(SHORT, speaker=1)
    assert np.array_equal(by_name.audio, by_index.audio)
    assert np.array_equal(by_name.audio, tts.synthesize_detailed(SHORT, speaker="1").audio)
    flat_bob = tts.synthesize_detailed(SHORT, speaker="bob", pitch_range=0.0)
    np.testing.assert_allclose(flat_bob.pitch[flat_bob.pitch > 0], 200.0, rtol=1e-4)
    for bad in ("carol", 2, -1):
        with pytest.raises(SynthesisError, match=r"unknown speaker.*0=alice, 1=bob"):
            tts.synthesize(SHORT, speaker=bad)


def test_detailed_result_is_consistent(tts):
    result = tts.synthesize_detailed("Hello there. How are you?")
    n_frames = result.mel.shape[1]
    assert result.mel.shape[0] == 80 and result.pitch.shape == (n_frames,)
    assert result.durations.sum() == n_frames and len(result.symbols) == len(result.durations)
    assert len(result.audio) == n_frames * result.hop_length
    assert result.sentences == ["Hello there.", "How are you?"]
    assert "HH" in result.symbols and " " in result.symbols  # phonemes, and the pause between the sentences
    assert result.seconds == pytest.approx(len(result.audio) / 22050)


def test_batch_matches_single(neural_tts):
    texts = ["Hello.", "A longer sentence, with a comma in it.", "Short one."]
    batch = neural_tts.synthesize_batch(texts)
    for text, audio in zip(texts, batch, strict=True):
        single, _ = neural_tts.synthesize(text)
        assert len(audio) == len(single)
        np.testing.assert_allclose(audio, single, atol=1e-4)


def test_stream_yields_sentences_that_join_to_the_full_audio(neural_tts):
    text = " ".join(f"This is sentence number {n}." for n in range(1, 5))
    chunks = list(neural_tts.stream(text))
    assert len(chunks) == 4
    full, _ = neural_tts.synthesize(text)
    joined = np.concatenate(chunks)
    assert len(joined) == len(full)
    np.testing.assert_allclose(joined, full, atol=1e-4)


def test_stream_starts_before_the_rest_is_synthesized(neural_tts, monkeypatch):
    calls = []
    original = neural_tts._acoustic
    monkeypatch.setattr(neural_tts, "_acoustic", lambda ids, *a: calls.append(len(ids)) or original(ids, *a))
    stream = neural_tts.stream(" ".join(["One sentence here."] * 5))
    next(stream)
    assert calls == [1]  # the first sentence alone
    list(stream)
    assert calls == [1, 4]


def test_long_text(tts, monkeypatch):
    # 200 sentences through the frontend, the batched acoustic model and the joining; the vocoder is stubbed
    # (Griffin-Lim on minutes of audio would only slow the test down).
    monkeypatch.setattr(tts, "_vocode", lambda mel, f0=None: np.zeros(mel.shape[1] * 256, np.float32))
    text = " ".join(f"Sentence {n} is here." for n in range(200))
    result = tts.synthesize_detailed(text, pace=8.0)
    assert len(result.sentences) == 200
    assert result.durations.sum() == result.mel.shape[1]
    assert len(result.audio) == result.mel.shape[1] * result.hop_length


def test_a_very_long_sentence_is_cut_into_bounded_pieces(neural_tts, monkeypatch):
    pieces = []
    original = neural_tts._acoustic
    monkeypatch.setattr(neural_tts, "_acoustic", lambda ids, *a: pieces.extend(ids) or original(ids, *a))
    words = " ".join(["banana"] * 400)  # no punctuation at all
    audio, _ = neural_tts.synthesize(words, pace=4.0)
    lengths = [len(p) for p in pieces]
    assert len(audio) > 0 and max(lengths) <= neural_tts.max_symbols and sum(lengths) > 400 * 6
    assert len(pieces) > 1 and neural_tts.frontend.edge_boundaries
    edge = neural_tts.frontend.symbols.id("|")
    assert all(p[0] == edge and p[-1] == edge and p[1] != edge for p in pieces)  # each piece has its edges


def test_max_chars_is_configurable(synth_voice):
    limited = Synthesizer.load(synth_voice, max_chars=20)
    limited.synthesize("Short enough.")
    with pytest.raises(SynthesisError, match="at most 20"):
        limited.synthesize("This text is a little too long.")


@pytest.mark.parametrize("text", ["", "   ", "?!...", "☃ ☃", "... --- !!!"])
def test_nothing_to_say_is_an_error(tts, text):
    with pytest.raises(FastPitchError, match="nothing to say"):
        tts.synthesize(text)
    with pytest.raises(FastPitchError, match="nothing to say"):
        next(tts.stream(text))


def test_punctuation_between_sentences_is_a_pause(tts):
    result = tts.synthesize_detailed("Hello there.\n\n...\n\nHow are you?")
    assert result.sentences == ["Hello there.", "How are you?"]
    pause = result.durations[result.symbols.index(" ")]
    assert pause == round(0.6 * 22050 / 256)  # a paragraph's pause, not lost with the unspoken "..."


def test_bad_controls(tts):
    for kwargs in ({"pace": 0.0}, {"pace": float("nan")}, {"pitch_shift": 100.0}, {"energy": -1.0}):
        with pytest.raises(SynthesisError, match="must be a number between"):
            tts.synthesize(TEXT, **kwargs)


def test_nan_mel_is_a_clear_error(synth_voice):
    broken = Synthesizer.load(synth_voice)
    with __import__("torch").no_grad():
        broken.model.proj.bias.fill_(float("nan"))
    with pytest.raises(SynthesisError, match="NaN or infinite values in the mel"):
        broken.synthesize(TEXT)


def test_pauses_follow_punctuation():
    assert pause_after("Really?") == pause_after("Stop!") > pause_after("Well;") > pause_after("So,")
    assert pause_after('He said "no."') == pause_after("No.")
    pieces = split_symbols(["A", "|", "B", ",", "C", "|", "D", "|", "E"], max_symbols=4)
    assert [p for p, _ in pieces] == [["A", "|", "B", ","], ["C", "|", "D"], ["E"]]
    assert all(len(p) <= 4 for p, _ in pieces)


def test_numpy_numbers_are_numbers(tts):
    """A value computed with numpy (np.float32, np.int64) was refused as "not a number"."""
    expected, _ = tts.synthesize(TEXT, pace=1.25)
    audio, _ = tts.synthesize(TEXT, pace=np.float32(1.25), speaker=np.int64(0))
    np.testing.assert_array_equal(audio, expected)
    assert Controls(energy=np.float32(0.5)).energy == 0.5 and type(Controls(pace=np.int64(2)).pace) is float


def test_controls_validate():
    assert Controls(pace=2.0).pace == 2.0
    with pytest.raises(SynthesisError):
        Controls(pitch_range=-0.5)
    with pytest.raises(SynthesisError, match="energy must be above 0"):  # ONNX made NaN of it, torch refused
        Controls(energy=0.0)


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize(
    "text",
    [
        "Hello there. How are you today? Fine, thanks.",
        "First paragraph, one sentence.\n\nSecond one. With two sentences!\n\n\n...\n\nAnd a third",
        "Dr. Smith paid $3.50 on Jan. 5. That was all...  ",
        "Hello. ! How are you?",
        "Say {HH AH0 L OW1} to them. And {T AH0 M EY1 T OW2}, too!",  # inline ARPAbet is not read aloud
        ' <speak>Hello <break time="300ms"/> there. <s>Fine.</s></speak>',  # a document: spoken whole
    ],
)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_stream_text_joins_to_what_synthesize_says(neural_tts, text, size):
    joined = np.concatenate(list(neural_tts.stream_text(pieces_of(text, size), pace=1.3)))
    full, _ = neural_tts.synthesize(text, pace=1.3)
    assert len(joined) == len(full)
    np.testing.assert_allclose(joined, full, atol=1e-4)


def test_stream_text_speaks_a_sentence_once_the_next_one_begins(neural_tts):
    arrived: list[str] = []

    def pieces():
        for piece in ("Hello ", "there.", " How", " are you", "?"):
            arrived.append(piece)
            yield piece

    stream = neural_tts.stream_text(pieces())
    next(stream)
    assert arrived == ["Hello ", "there.", " How"]  # "How" shows that "Hello there." has ended
    rest = list(stream)
    assert arrived[-1] == "?" and len(rest) == 2  # the pause after the first sentence, then the second


def test_stream_text_bad_input(neural_tts, synth_voice):
    with pytest.raises(FastPitchError, match="nothing to say"):
        list(neural_tts.stream_text(["", " ... ", "\n\n"]))
    with pytest.raises(SynthesisError, match="must be a string"):
        list(neural_tts.stream_text(["Hello.", 3]))
    with pytest.raises(SynthesisError, match="must be a string"):
        list(neural_tts.stream_text([" ", None]))
    with pytest.raises(SynthesisError, match="must be a string"):
        list(neural_tts.stream_text(["<speak>Hi", 3]))
    with pytest.raises(SynthesisError, match="pieces must be strings in order, got NoneType"):
        list(neural_tts.stream_text(None))
    limited = Synthesizer.load(synth_voice, max_chars=20)
    with pytest.raises(SynthesisError, match="at most 20"):
        list(limited.stream_text(["Short enough. ", "But this is not."]))
