"""The web page in a real browser: Debian's headless Chromium, driven by Playwright, on 127.0.0.1.

Types text, presses Speak with the keyboard only, and checks that audio arrived (the <audio> element decoded
it) and that the mel + pitch plot was drawn (the canvas is not blank). Leaves a screenshot in the test's tmp dir.
"""

from __future__ import annotations

import shutil
import time

import pytest
from playwright.sync_api import sync_playwright

from fastpitch.server import create_app
from test_server import live

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

CANVAS_STATS = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  let lit = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] + d[i + 1] + d[i + 2] > 120) lit++;
    if (i % 64 === 0) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  }
  return {lit: lit / (d.length / 4), colours: colours.size, drawn: c.dataset.drawn === 'true'};
}"""


def wait_until(page, expression: str, timeout_s: float) -> None:
    """Poll an expression from Python: Playwright's wait_for_function evaluates its predicate with eval() inside
    the page, which the page's Content-Security-Policy (script-src 'self') rightly forbids."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(50)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory, synth_make_voice):
    root = tmp_path_factory.mktemp("browser-voices")
    voices = {
        "tiny": synth_make_voice(root / "tiny"),
        "duo": synth_make_voice(root / "duo", speakers=("ann", "bob")),
    }
    with live(create_app({name: voice.path for name, voice in voices.items()})) as (url, _):
        yield url


@pytest.fixture
def browser_page(tmp_path):
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 1000},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page, errors
        context.close()


def test_speak_plays_audio_and_plots_mel_and_pitch(page_url, browser_page, tmp_path):
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    assert page.eval_on_selector_all("#voice option", "os => os.map(o => o.value)") == ["tiny", "duo"]
    assert page.is_hidden("#speaker-field")  # the default voice has one speaker

    # keyboard only: pick the two-speaker voice and its second speaker, type, speed up, speak with Ctrl+Enter
    page.focus("#voice")
    page.keyboard.press("ArrowDown")
    assert page.input_value("#voice") == "duo"
    assert page.is_visible("#speaker-field")
    page.focus("#speaker")
    page.keyboard.press("ArrowDown")
    assert page.input_value("#speaker") == "bob"
    page.focus("#pace")
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#pace-out") == "1.05×"
    page.focus("#text")
    page.keyboard.press("Control+A")
    page.keyboard.type("Hello from the browser test. It speaks two sentences.")
    with page.expect_response("**/api/synthesize") as response_info:
        page.keyboard.press("Control+Enter")
    assert response_info.value.status == 200
    page.wait_for_selector("body[data-state=done]", timeout=60_000)

    # the audio arrived and the browser decoded it
    wait_until(page, "document.getElementById('audio').duration > 0", timeout_s=30)
    duration = page.eval_on_selector("#audio", "a => a.duration")
    assert duration > 0.1
    assert page.eval_on_selector("#audio", "a => a.src").startswith("blob:")
    assert page.get_attribute("#download", "aria-disabled") is None
    assert page.get_attribute("#download", "href").startswith("blob:")

    # the plot is drawn: many colours (the mel image), a good share of lit pixels, and a description
    stats = page.eval_on_selector("#plot", CANVAS_STATS)
    assert stats["drawn"] and stats["colours"] > 50 and stats["lit"] > 0.05, stats
    assert page.get_attribute("#plot", "aria-label").startswith("Mel spectrogram of")
    assert "Spoke" in page.inner_text("#status")

    # Speak is reachable with Tab and works with Enter, too
    page.focus("#pitch_range")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "speak"
    with page.expect_response("**/api/synthesize") as again:
        page.keyboard.press("Enter")
    assert again.value.status == 200

    page.screenshot(path=str(tmp_path / "fastpitch-page.png"), full_page=True)
    assert (tmp_path / "fastpitch-page.png").stat().st_size > 10_000
    assert not errors, errors


def test_error_is_shown_for_empty_text(page_url, browser_page):
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.fill("#text", "   ")
    page.click("#speak")
    assert page.inner_text("#status") == "Type some text first."
    assert page.evaluate("document.activeElement.id") == "text"
    assert not errors, errors


def test_page_asks_for_the_api_key_and_then_speaks(tmp_path, synth_make_voice, browser_page):
    page, errors = browser_page
    app = create_app({"tiny": synth_make_voice(tmp_path / "tiny").path}, api_key="open sesame")
    with live(app) as (url, _):
        page.goto(url)
        page.wait_for_selector("body[data-state=error]", timeout=30_000)
        assert page.is_visible("#key-field")
        assert page.evaluate("document.activeElement.id") == "api-key"
        page.fill("#text", "Good morning to you.")
        page.focus("#api-key")
        page.keyboard.type("open sesame")
        with page.expect_response("**/api/synthesize") as response_info:
            page.keyboard.press("Enter")  # Enter in a form field submits the form
        assert response_info.value.status == 200, response_info.value.text()
        page.wait_for_selector("body[data-state=done]", timeout=60_000)
        assert page.eval_on_selector_all("#voice option", "os => os.map(o => o.value)") == ["tiny"]
    assert [e for e in errors if "401" not in e] == []  # the first, keyless request is expected to fail


def test_ssml_words_are_highlighted_as_written_as_they_are_said(page_url, browser_page):
    page, errors = browser_page
    page.goto(page_url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.fill("#text", '<speak>One <break time="600ms"/> 3.5 <break time="600ms"/> three.</speak>')
    page.check("#ssml")
    page.click("#speak")
    page.wait_for_selector("body[data-state=done]", timeout=60_000)
    assert page.eval_on_selector_all("#words span", "s => s.map(x => x.textContent)") == [
        "One",
        "3.5",  # as written, though read as three words
        "three.",
    ]
    seen = set()
    for _ in range(60):
        seen.add(page.get_attribute("#words", "data-current"))
        if page.evaluate("document.getElementById('audio').ended"):
            break
        page.wait_for_timeout(50)
    assert {"0", "1", "2"} <= seen, seen
    assert page.locator("#words span.current").count() <= 1 and not errors
