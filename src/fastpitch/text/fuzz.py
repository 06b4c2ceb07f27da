"""`fastpitch bench ssml`: thousands of generated SSML documents, hostile ones among them, through the parser
(and optionally the voice), checking that each gives speech or a clear error, quickly, without opening a file.

Documents come from a seeded generator: random trees of the supported tags (and unknown ones) with valid and
invalid attributes, then damaged at random (cut, characters inserted); a fixed set of attacks is mixed in:
billion laughs, quadratic blow-up, external entities and DTDs, parameter entities, deep nesting, 1 MB
attributes and text, thousands of breaks. File access is watched with an audit hook while a document is
processed (the installed packages lazily loading their own code and data is listed apart).
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastpitch.errors import FastPitchError

TAGS = (
    "p", "s", "emphasis", "prosody", "say-as", "phoneme", "sub", "voice", "mark", "break", "audio", "lang", "w",
)  # fmt: skip
ATTRS = (
    'rate="50%"', 'rate="x-fast"', 'rate="-20%"', 'pitch="+4st"', 'pitch="-3st"', 'pitch="120Hz"',
    'pitch="+20%"', 'pitch="x-low"', 'range="150%"', 'volume="+6dB"', 'volume="soft"', 'time="500ms"',
    'time="2s"', 'strength="strong"', 'interpret-as="characters"', 'interpret-as="cardinal"',
    'interpret-as="ordinal"', 'interpret-as="digits"', 'interpret-as="telephone"', 'interpret-as="date"',
    'interpret-as="time"', 'interpret-as="currency"', 'format="dmy"', 'format="ymd"', 'alphabet="ipa"',
    'alphabet="arpabet"', 'ph="HH AH0 L OW1"', 'ph="təˈmeɪtoʊ"', 'alias="World Wide Web"', 'name="m1"',
    'name="bob"', 'level="strong"', 'level="reduced"', 'xml:lang="en-US"',
)  # fmt: skip
BAD_ATTRS = (
    'rate="0"', 'rate="1e9"', 'time="99999s"', 'time="-1s"', 'strength="x"', 'interpret-as="nope"',
    'format="zz"', 'alphabet="klingon"', 'ph="XX"', 'pitch="oops"', 'volume="silent"',
)  # fmt: skip
WORDS = (
    "hello", "world", "12", "3.5", "$4", "555-1234", "B2B", "2024-01-05", "3:30pm", "{HH AH0 L OW1}", "&amp;",
    "&lt;", "&#65;", "&#x1F600;", "é", "日本", ".", ",", "?", "!", "'", '"', "zorblat", "Dr.", "NASA",
)  # fmt: skip
REQUIRED = {"mark": 'name="m2"', "phoneme": 'ph="T AH0 M EY1 T OW2"', "sub": 'alias="also known as"'}
BAD_WORDS = ("{XX}", "&unknown;", "<", "&")
MAX_SECONDS = 5.0


def attacks() -> list[tuple[str, str]]:
    """(name, document) for the hostile inputs every run includes."""
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    return [
        ("billion laughs", f"<?xml version='1.0'?><!DOCTYPE speak [{laughs}]><speak>&lol9;</speak>"),
        (
            "quadratic blow-up",
            f'<!DOCTYPE speak [<!ENTITY a "{"x" * 50_000}">]><speak>{"&a;" * 1000}</speak>',
        ),
        ("external entity", '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>'),
        ("external DTD", '<!DOCTYPE speak SYSTEM "file:///etc/passwd"><speak>hi</speak>'),
        ("parameter entity", '<!DOCTYPE s [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]><speak/>'),
        (
            "XInclude",
            '<speak xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></speak>',
        ),
        ("deep nesting", "<speak>" + "<s>" * 100_000 + "x" + "</s>" * 100_000 + "</speak>"),
        ("1 MB attribute", f'<speak><mark name="{"a" * 1_000_000}"/>hi</speak>'),
        ("1 MB alias", f'<speak><sub alias="{"word " * 200_000}">x</sub></speak>'),
        ("1 MB text", "<speak>" + "word " * 200_000 + "</speak>"),
        ("many breaks", "<speak>" + 'a <break time="10s"/>' * 5000 + "</speak>"),
        ("many marks", "<speak>" + '<mark name="m"/>' * 100_000 + "end</speak>"),
        ("huge number", '<speak><say-as interpret-as="cardinal">' + "9" * 100_000 + "</say-as></speak>"),
        ("not xml", "<speak" + "<" * 100_000),
        ("NUL bytes", "<speak>a\x00b</speak>"),
    ]


def random_document(rng: random.Random) -> str:
    def word() -> str:
        return rng.choice(BAD_WORDS) if rng.random() < 0.005 else rng.choice(WORDS)

    def element(depth: int) -> str:
        tag = rng.choice(TAGS)
        attrs: dict[str, str] = {}  # one of each name: a repeated attribute is not XML
        if tag in REQUIRED and rng.random() < 0.9:
            attrs[REQUIRED[tag].split("=")[0]] = REQUIRED[tag]
        for _ in range(rng.randint(0, 3)):
            attr = rng.choice(BAD_ATTRS) if rng.random() < 0.05 else rng.choice(ATTRS)
            attrs.setdefault(attr.split("=")[0], attr)
        text = " ".join(word() for _ in range(rng.randint(0, 4)))
        children = "".join(element(depth + 1) for _ in range(rng.randint(0, 3 if depth < 4 else 0)))
        tail = " ".join(word() for _ in range(rng.randint(0, 2)))
        return f"<{tag} {' '.join(attrs.values())}>{text}{children}</{tag}>{tail}"

    doc = "<speak>" + "".join(element(0) for _ in range(rng.randint(1, 3))) + "</speak>"
    damage = rng.random()
    if damage < 0.1:
        doc = doc[: rng.randint(0, len(doc))]
    elif damage < 0.2:
        at = rng.randint(0, len(doc))
        doc = doc[:at] + "".join(rng.choice("<>&/\"'=;!?[]{}x ") for _ in range(rng.randint(1, 4))) + doc[at:]
    return doc


def documents(count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(name, document): the attacks first, then generated documents up to `count` in all."""
    fixed = attacks()
    yield from fixed[:count]
    rng = random.Random(seed)
    for i in range(max(count - len(fixed), 0)):
        yield f"generated {i}", random_document(rng)


class _Timeout(Exception):
    pass


def run(speak: Callable[[str], Any], count: int = 5000, seed: int = 0) -> dict:
    """Feed `count` documents to `speak` (which parses, or parses and synthesizes, one document): count
    speech, clear errors (a `FastPitchError` or `ValueError` with a message), crashes (anything else), slow
    documents (over `MAX_SECONDS`; with the audio's length when `speak` returns `(audio, sample_rate)`, since
    synthesis time grows with it) and files opened while a document is processed."""
    opened: list[str] = []
    library: set[str] = set()
    installed = tuple({sys.prefix, sys.base_prefix, str(Path(__file__).parents[1])})
    watching = False

    def audit(event: str, args: tuple) -> None:
        if watching and event == "open" and args and isinstance(args[0], (str, bytes)):
            path = str(args[0])
            # Lazily loaded code and data of the installed packages (a Unicode table, a module) are not
            # files a document chose; anything else is.
            (library.add if path.startswith(installed) else opened.append)(path)

    sys.addaudithook(audit)

    def alarm(signum: int, frame: Any) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    results: dict[str, Any] = {
        "documents": 0,
        "speech": 0,
        "errors": 0,
        "crashes": [],
        "slow": [],
        "files": [],
    }
    slowest = (0.0, "")
    try:
        for name, doc in documents(count, seed):
            results["documents"] += 1
            opened.clear()
            started = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS * 4)
            watching = True
            audio_s = 0.0
            try:
                out = speak(doc)
                results["speech"] += 1
                if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], int):
                    audio_s = len(out[0]) / out[1]
            except _Timeout:
                results["slow"].append(name)
            except (FastPitchError, ValueError) as e:
                if str(e):
                    results["errors"] += 1
                else:
                    results["crashes"].append(f"{name}: {type(e).__name__} without a message")
            except Exception as e:
                results["crashes"].append(f"{name}: {type(e).__name__}: {str(e)[:200]}")
            finally:
                watching = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            seconds = time.perf_counter() - started
            if seconds > MAX_SECONDS and name not in results["slow"]:
                results["slow"].append(
                    f"{name}: {seconds:.1f} s" + (f" for {audio_s:.1f} s of audio" if audio_s else "")
                )
            if seconds > slowest[0]:
                slowest = (seconds, name)
            if opened:
                results["files"].append(f"{name}: {sorted(set(opened))[:3]}")
    finally:
        signal.signal(signal.SIGALRM, previous)
    results["library_files_loaded"] = sorted(library)
    results["slowest_s"] = round(slowest[0], 3)
    results["slowest"] = slowest[1]
    results["ok"] = not (results["crashes"] or results["slow"] or results["files"])
    return results
