"""The prosody editor of the web page in real Chromium (Playwright), with the shipped voice: dragging a symbol's
edge lengthens it in the document sent and in the audio returned; dragging a word's pitch point raises the F0
measured on the returned audio; undo, redo and reset; a long paragraph loads from a JSON file and scrolls."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import soundfile as sf

from fastpitch.audio import extract_f0
from fastpitch.server import create_app
from fastpitch.voice import read_voice
from test_server import live
from test_server_browser import browser_page  # noqa: F401  (the Chromium fixture)

TEXT = "Please call Stella and ask her to bring these things."
ASK = 4


@pytest.fixture(scope="module")
def page_url():
    with live(create_app({"default": None})) as (url, _):
        yield url


def audio_of(answer: dict) -> np.ndarray:
    audio, _ = sf.read(io.BytesIO(base64.b64decode(answer["audio_wav_base64"])), dtype="float32")
    return audio


def item_of(page, word: int) -> int:
    """The editor's box index of the stressed vowel of word `word` of the first sentence."""
    return page.evaluate(
        """w => state.items.findIndex(it => !it.pause && it.sentence === 0
              && symbolOf(it).word === w && /[12]$/.test(symbolOf(it).symbol))""",
        word,
    )


def drag(page, selector: str, dx: float, dy: float) -> None:
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate(
        "([x, y, s]) => document.elementFromPoint(x, y) === document.querySelector(s)", [x, y, selector]
    )
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=6)
    page.mouse.up()


def speak_edits(page) -> tuple[dict, dict]:
    """Press Speak edits: the document sent and the answer."""
    with page.expect_response("**/api/prosody") as answer:
        page.click("#edit-speak")
    response = answer.value
    assert response.status == 200, response.text()
    page.wait_for_selector("body[data-state=done]", timeout=60_000)
    return response.request.post_data_json["prosody"], response.json()


def word_median_f0(audio: np.ndarray, doc: dict, word: int) -> float:
    cfg = read_voice(None).audio
    f0, voiced = extract_f0(audio, cfg)
    symbols = doc["sentences"][0]["symbols"]
    edges = np.concatenate([[0], np.cumsum([sp["frames"] for sp in symbols])])
    own = [i for i, sp in enumerate(symbols) if sp["word"] == word]
    a, b = edges[own[0]], edges[own[-1] + 1]
    return float(np.median(f0[a:b][voiced[a:b]]))


def test_dragging_a_duration_and_a_pitch_point_changes_what_is_sent_and_heard(page_url, browser_page):  # noqa: F811
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.fill("#text", TEXT)
    with page.expect_response("**/api/synthesize") as first:
        page.click("#speak")
    original = first.value.json()
    page.wait_for_selector("#editor:not([hidden])", timeout=60_000)
    assert page.locator(".edit-sym").count() == sum(
        len(s["symbols"]) + 1 for s in original["prosody"]["sentences"]
    )
    assert page.locator(".edit-word").count() == 10

    # Lengthen the vowel of "ask" by dragging its box's right edge 20 frames to the right.
    k = item_of(page, ASK)
    px = page.evaluate("state.px")
    before = page.evaluate("k => frames(state.items[k])", k)
    drag(page, f'.edit-sym[data-item="{k}"] .edit-edge', 20 * px, 0)
    sent, longer = speak_edits(page)
    index = page.evaluate("k => state.items[k].index", k)
    assert sent["sentences"][0]["symbols"][index]["frames"] == before + 20
    assert longer["mel"]["n_frames"] == original["mel"]["n_frames"] + 20
    assert len(audio_of(longer)) == len(audio_of(original)) + 20 * 256

    # Raise the pitch point of the same vowel: the F0 measured on the returned audio rises.
    hz = page.evaluate("k => symbolOf(state.items[k]).pitch", k)
    drag(page, f'circle[data-item="{k}"]', 0, -40)
    raised_hz = page.evaluate("k => symbolOf(state.items[k]).pitch", k)
    assert raised_hz > hz * 1.1
    sent_high, higher = speak_edits(page)
    assert sent_high["sentences"][0]["symbols"][index]["pitch"] == pytest.approx(raised_hz)
    rise = 12 * math.log2(
        word_median_f0(audio_of(higher), sent_high, ASK) / word_median_f0(audio_of(longer), sent, ASK)
    )
    assert rise > 0.5, rise

    # Undo brings the pitch back, Redo raises it again, Reset returns to the prediction.
    page.click("#edit-undo")
    assert page.evaluate("k => symbolOf(state.items[k]).pitch", k) == pytest.approx(hz)
    page.click("#edit-redo")
    assert page.evaluate("k => symbolOf(state.items[k]).pitch", k) == pytest.approx(raised_hz)
    page.click("#edit-reset")
    assert page.evaluate("k => frames(state.items[k])", k) == before

    # Two pitch points selected (Shift+click) move together, by the same interval.
    j = item_of(page, ASK + 2)
    pitches = page.evaluate("ks => ks.map(k => symbolOf(state.items[k]).pitch)", [k, j])
    page.click(f'circle[data-item="{j}"]')
    page.locator(f'circle[data-item="{k}"]').click(modifiers=["Shift"])
    assert page.evaluate("[...state.selected].sort((a, b) => a - b)") == sorted([k, j])
    drag(page, f'circle[data-item="{k}"]', 0, 30)
    moved = page.evaluate("ks => ks.map(k => symbolOf(state.items[k]).pitch)", [k, j])
    assert moved[0] < pitches[0] and moved[1] < pitches[1]
    assert moved[0] / pitches[0] == pytest.approx(moved[1] / pitches[1], rel=1e-3)

    # A word's loudness: its symbols' energies rise by ln(scale) in the document sent, the others' stay.
    page.click(f'.edit-word[data-word="{ASK}"]')
    assert page.is_visible("#energy-field")
    page.fill("#edit-energy", "0.7")
    page.dispatch_event("#edit-energy", "change")
    sent_loud, _ = speak_edits(page)
    for old_sp, new_sp in zip(
        original["prosody"]["sentences"][0]["symbols"], sent_loud["sentences"][0]["symbols"], strict=True
    ):
        expected = old_sp["energy"] + (0.7 if old_sp["word"] == ASK else 0.0)
        assert new_sp["energy"] == pytest.approx(expected, abs=1e-3)
    assert not errors, errors


def test_a_long_paragraph_loads_from_json_and_scrolls(page_url, browser_page, tmp_path):  # noqa: F811
    from fastpitch.runtime import OnnxSynthesizer

    text = " ".join(["The small boat drifted slowly past the old stone bridge at dawn."] * 12)
    doc = OnnxSynthesizer.load().analyze(text)
    n_symbols = sum(len(s.symbols) for s in doc.sentences)
    assert n_symbols >= 500
    (tmp_path / "long.json").write_text(doc.to_json())
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.set_input_files("#edit-load", str(tmp_path / "long.json"))
    page.wait_for_selector("#editor:not([hidden])")
    assert page.locator(".edit-sym").count() == n_symbols + len(doc.sentences)
    assert page.evaluate("$('edit-scroll').scrollWidth > 4 * $('edit-scroll').clientWidth")
    # The last box is reachable by scrolling, and dragging its edge edits the last sentence.
    last = n_symbols + len(doc.sentences) - 2
    page.locator(f'.edit-sym[data-item="{last}"]').scroll_into_view_if_needed()
    before = page.evaluate("k => frames(state.items[k])", last)
    drag(page, f'.edit-sym[data-item="{last}"] .edit-edge', 30, 0)
    assert page.evaluate("k => frames(state.items[k])", last) > before
    sent, _ = speak_edits(page)
    assert json.dumps(sent["sentences"][-1]) != json.dumps(doc.to_dict()["sentences"][-1])
    assert not errors, errors


def test_a_file_that_is_no_prosody_document_leaves_the_editor_as_it_was(page_url, browser_page, tmp_path):  # noqa: F811
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.fill("#text", TEXT)
    page.click("#speak")
    page.wait_for_selector("#editor:not([hidden])", timeout=60_000)
    k = item_of(page, ASK)
    drag(page, f'.edit-sym[data-item="{k}"] .edit-edge', 10 * page.evaluate("state.px"), 0)
    edited = page.evaluate("JSON.stringify(state.doc)")
    assert page.is_enabled("#edit-undo")
    broken = {
        "empty.json": {"format": "fastpitch-prosody", "sentences": [{"symbols": []}]},
        "no-sentences.json": {"format": "fastpitch-prosody"},
        "bad-word.json": {"format": "fastpitch-prosody", "sentences": [{"words": [], "symbols": [{"symbol": "AH0", "word": 3}]}]},
    }  # fmt: skip
    for name, doc in broken.items():
        (tmp_path / name).write_text(json.dumps(doc))
        page.set_input_files("#edit-load", str(tmp_path / name))
        # a selector, not wait_for_function: that one evals its predicate, which the page's CSP refuses
        page.wait_for_selector(f"#status.error:has-text('Could not load {name}')", timeout=10_000)
        assert f"Could not load {name}" in page.text_content("#status")
        assert page.evaluate("JSON.stringify(state.doc)") == edited  # nothing replaced
        assert page.is_enabled("#edit-undo")  # the history kept
    page.click("#edit-reset")  # and the prediction still there to return to
    assert (
        page.evaluate("k => frames(state.items[k])", k)
        < json.loads(edited)["sentences"][0]["symbols"][page.evaluate("k => state.items[k].index", k)][
            "frames"
        ]
    )

    # Audio longer than a canvas may be wide (65,535 columns in Chrome) still draws its spectrogram.
    colour = page.evaluate(
        """() => {
            const n = 70000, m = 80, bytes = new Uint8Array(n * m).fill(255);
            let s = "";
            for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
            drawPlot({mel: {n_mels: m, n_frames: n, levels_base64: btoa(s)}, frame_rate: 86.1, pitch_hz: []});
            return [...document.getElementById("plot").getContext("2d").getImageData(200, 60, 1, 1).data];
        }"""
    )
    assert colour[:3] != [13, 15, 20], colour  # not the empty plot's background
    assert not errors, errors
