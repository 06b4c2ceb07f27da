"""Letter-to-sound for words the CMU dictionary lacks: a small convolutional tagger, trained here on cmudict.

Why this design: every letter of a word maps to zero, one or a few phonemes ("x" -> "K S", "e" in "make" -> none).
Aligning the dictionary's spellings with its pronunciations once (hard EM, `align`) turns letter-to-sound into
tagging: a stack of dilated gated convolutions sees about fifteen letters either side, enough for English vowel
quality and stress, and labels each letter with its phoneme chunk (ARPAbet with stress). One pass, no decoder
loop, so inference is a handful of numpy matrix products (no torch at runtime) and the weights fit in ~1.5 MB.

`python -m fastpitch.text.g2p train` rebuilds `data/g2p-en-v1.safetensors` from the shipped dictionary
(needs the `torch` extra); `python -m fastpitch.text.g2p evaluate` scores it on the held-out words.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from fastpitch.atomic import atomic_write
from fastpitch.errors import FastPitchError
from fastpitch.text.lexicon import Lexicon

DATA = Path(__file__).with_name("data")
MODEL_PATH = DATA / "g2p-en-v1.safetensors"
LETTERS = "#abcdefghijklmnopqrstuvwxyz'"  # index 0 is padding
# BLAS's thread count is the process's: two words converted at once (a server's requests) would each restore what
# the other had set, and leave BLAS on one thread for good, or run on all of them.
_BLAS_LOCK = threading.Lock()
DILATIONS = (1, 2, 4, 1, 2, 4)
MAX_CHUNK = 3  # phonemes one letter may stand for


def is_held_out(word: str) -> bool:
    """The fixed 5% of dictionary words kept out of training, to measure accuracy on unseen words."""
    return zlib.crc32(word.encode()) % 20 == 0


def fix_stress(phones: list[str]) -> list[str]:
    """Exactly one primary stress per word: promote the first secondary (or first vowel); demote extra primaries."""
    vowels = [i for i, p in enumerate(phones) if p[-1].isdigit()]
    primary = [i for i in vowels if phones[i][-1] == "1"]
    if vowels and not primary:
        secondary = [i for i in vowels if phones[i][-1] == "2"]
        i = (secondary or vowels)[0]
        phones[i] = phones[i][:-1] + "1"
    for i in primary[1:]:
        phones[i] = phones[i][:-1] + "2"
    return phones


# ------------------------------------------------------------------------------------------------ inference


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file with numpy alone (the format: 8-byte header size, JSON header, raw tensors)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F16": np.float16, "F32": np.float32}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buf = raw[8 + n + start : 8 + n + end]
        tensors[name] = (
            np.frombuffer(buf, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).astype(np.float32)
        )
    return tensors, meta


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    centered = x - x.mean(-1, keepdims=True)
    return centered / np.sqrt((centered * centered).mean(-1, keepdims=True) + 1e-5) * weight + bias


class G2P:
    """Predicts ARPAbet with stress for a lowercase word; weights load on first use."""

    def __init__(self, path: str | Path = MODEL_PATH) -> None:
        self.path = Path(path)
        self._w: dict[str, np.ndarray] | None = None
        self._blas: Any = None
        self.labels: list[tuple[str, ...]] = []

    def _load(self) -> dict[str, np.ndarray]:
        if self._w is None:
            if not self.path.exists():
                raise FastPitchError(f"G2P model not found: {self.path}")
            w, meta = _read_safetensors(self.path)
            self.labels = [tuple(label.split()) for label in json.loads(meta["labels"])]
            for i in range(len(DILATIONS)):  # conv taps stacked to (3 d_in, d_out), 1x1 conv to (d_in, d_out)
                p = f"blocks.{i}."
                taps = w[p + "conv.weight"].transpose(2, 1, 0)  # (3, d_in, d_out)
                w[p + "conv.weight"] = np.ascontiguousarray(taps.reshape(-1, taps.shape[-1]))
                w[p + "out.weight"] = np.ascontiguousarray(w[p + "out.weight"][:, :, 0].T)
            w["proj.weight"] = np.ascontiguousarray(w["proj.weight"].T)
            self._w = w
            self._blas = ThreadpoolController()
        return self._w

    def __call__(self, word: str) -> list[str]:
        w = self._load()
        ids = [LETTERS.index(c) for c in word.lower() if c in LETTERS[1:]]
        if not ids:
            return []
        # Matrices this small run fastest on one thread; BLAS threads on a busy machine cost 100x.
        with _BLAS_LOCK, self._blas.limit(limits=1, user_api="blas"):
            logits = self._forward(w, ids)
        phones: list[str] = []
        for k in logits.argmax(-1):
            phones.extend(self.labels[k])
        return fix_stress(phones)

    @staticmethod
    def _forward(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
        """The tagger of `train`, in numpy: (T,) letter ids -> (T, labels) logits."""
        h = w["emb.weight"][ids]  # (T, d): position-major, so layer norm runs over the last axis
        t, d = h.shape
        for i, dilation in enumerate(DILATIONS):
            p = f"blocks.{i}."
            x = np.zeros((t + 2 * dilation, d), np.float32)  # the conv's zero padding
            x[dilation : dilation + t] = _layer_norm(h, w[p + "norm.weight"], w[p + "norm.bias"])
            shifted = np.concatenate([x[k * dilation : k * dilation + t] for k in range(3)], axis=1)
            y = shifted @ w[p + "conv.weight"] + w[p + "conv.bias"]
            gate = y[:, :d] / (1.0 + np.exp(-y[:, d:]))  # GLU: a * sigmoid(b)
            h = h + gate @ w[p + "out.weight"] + w[p + "out.bias"]
        return _layer_norm(h, w["norm.weight"], w["norm.bias"]) @ w["proj.weight"] + w["proj.bias"]


def evaluate(g2p: G2P, entries: Iterable[tuple[str, list[str]]]) -> dict[str, float]:
    """Word accuracy with and without stress, and phoneme error rate, on (word, phones) pairs."""
    n = exact = no_stress = edits = total = 0
    for word, phones in entries:
        pred = g2p(word)
        n += 1
        exact += pred == phones
        strip = [re.sub(r"\d", "", p) for p in pred], [re.sub(r"\d", "", p) for p in phones]
        no_stress += strip[0] == strip[1]
        edits += _edit_distance(pred, phones)
        total += len(phones)
    return {
        "words": n,
        "word_accuracy": exact / max(n, 1),
        "word_accuracy_no_stress": no_stress / max(n, 1),
        "phoneme_error_rate": edits / max(total, 1),
    }


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


# ------------------------------------------------------------------------------------------------- training


def dictionary_entries() -> list[tuple[str, list[str]]]:
    """(word, phones) for every plain-spelled word of the shipped dictionary (first pronunciation)."""
    lexicon = Lexicon()
    return [(w, lexicon.lookup(w) or []) for w in lexicon.words() if re.fullmatch(r"[a-z']+", w)]


def align(entries: list[tuple[str, list[str]]], iterations: int = 5) -> list[tuple[str, list[str]]]:
    """Hard-EM alignment of letters to phoneme chunks (0..MAX_CHUNK phonemes each), on stress-free phonemes.

    Returns (word, labels) with one label per letter: the chunk with stress, space-joined, or "" for silence.
    Words that cannot be aligned (abbreviations read as letters) are left out.
    """
    plain = [(w, [re.sub(r"\d", "", p) for p in ph], ph) for w, ph in entries]
    logp: dict[tuple[str, str], float] = {}
    for _ in range(iterations):
        counts: Counter[tuple[str, str]] = Counter()
        for word, phones, _stressed in plain:
            path = _viterbi(word, phones, logp)
            if path is not None:
                j = 0
                for c, k in zip(word, path, strict=True):
                    counts[c, " ".join(phones[j : j + k])] += 1
                    j += k
        per_letter: Counter[str] = Counter()
        for (c, _chunk), n in counts.items():
            per_letter[c] += n
        logp = {key: math.log(n / per_letter[key[0]]) for key, n in counts.items()}
    out = []
    for word, phones, stressed in plain:
        path = _viterbi(word, phones, logp)
        if path is not None:
            labels, j = [], 0
            for k in path:
                labels.append(" ".join(stressed[j : j + k]))
                j += k
            out.append((word, labels))
    return out


def _viterbi(word: str, phones: list[str], logp: dict[tuple[str, str], float]) -> list[int] | None:
    """Best split of `phones` into one chunk per letter; chunks of 2+ phonemes pay a penalty."""
    n_letters, n_phones, neg = len(word), len(phones), -1e18
    best = [[neg] * (n_phones + 1) for _ in range(n_letters + 1)]
    back = [[0] * (n_phones + 1) for _ in range(n_letters + 1)]
    best[0][0] = 0.0
    for i, c in enumerate(word):
        for j in range(n_phones + 1):
            score = best[i][j]
            if score <= neg:
                continue
            for k in range(min(MAX_CHUNK, n_phones - j) + 1):
                chunk = " ".join(phones[j : j + k])
                v = (
                    score
                    + logp.get((c, chunk), -5.0 if not logp else -12.0)
                    - 2.0 * (k >= 2)
                    - 4.0 * (k >= 3)
                )
                if v > best[i + 1][j + k]:
                    best[i + 1][j + k], back[i + 1][j + k] = v, k
    if best[n_letters][n_phones] <= neg:
        return None
    path, j = [], n_phones
    for i in range(n_letters, 0, -1):
        path.append(back[i][j])
        j -= back[i][j]
    return path[::-1]


def train(
    out: Path = MODEL_PATH, epochs: int = 12, d_model: int = 128, batch_size: int = 256, seed: int = 0
) -> dict[str, float]:
    """Align the dictionary, train the tagger on all but the held-out words, save fp16 safetensors atomically."""
    import random

    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from torch import nn

    torch.manual_seed(seed)
    rng = random.Random(seed)
    entries = dictionary_entries()
    train_set = align([e for e in entries if not is_held_out(e[0])])
    held_out = [e for e in entries if is_held_out(e[0])]
    labels = sorted({label for _, ls in train_set for label in ls})  # "" (silent letter) sorts first
    label_id = {label: i for i, label in enumerate(labels)}

    class Block(nn.Module):
        def __init__(self, d: int, dilation: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.conv = nn.Conv1d(d, 2 * d, 3, padding=dilation, dilation=dilation)
            self.out = nn.Conv1d(d, d, 1)

        def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # h: (B, d, T)
            x = self.norm(h.transpose(1, 2)).transpose(1, 2) * mask
            a, b = self.conv(x).chunk(2, 1)
            return h + self.out(a * torch.sigmoid(b)) * mask

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(len(LETTERS), d_model)
            self.blocks = nn.ModuleList(Block(d_model, d) for d in DILATIONS)
            self.norm = nn.LayerNorm(d_model)
            self.proj = nn.Linear(d_model, len(labels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mask = (x > 0).float().unsqueeze(1)
            h = self.emb(x).transpose(1, 2) * mask
            for block in self.blocks:
                h = block(h, mask)
            return self.proj(self.norm(h.transpose(1, 2)))

    def batchify(items: list[tuple[str, list[str]]]) -> tuple[torch.Tensor, torch.Tensor]:
        t = max(len(w) for w, _ in items)
        x = torch.zeros(len(items), t, dtype=torch.long)
        y = torch.full((len(items), t), -100, dtype=torch.long)
        for i, (w, ls) in enumerate(items):
            x[i, : len(w)] = torch.tensor([LETTERS.index(c) for c in w])
            y[i, : len(w)] = torch.tensor([label_id[label] for label in ls])
        return x, y

    model = Tagger()
    data = sorted(train_set, key=lambda e: len(e[0]))  # length-bucketed batches
    batches = [data[i : i + batch_size] for i in range(0, len(data), batch_size)]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=epochs * len(batches), pct_start=0.1)
    for epoch in range(epochs):
        rng.shuffle(batches)
        total = 0.0
        for items in batches:
            x, y = batchify(items)
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, len(labels)), y.reshape(-1), label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1}/{epochs} loss {total / len(batches):.4f}", flush=True)

    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    meta = {"labels": json.dumps(labels), "d_model": str(d_model), "dilations": json.dumps(DILATIONS)}
    out = Path(out)
    atomic_write(out, lambda tmp: save_file(tensors, str(tmp), metadata=meta), mode=0o644)
    return evaluate(G2P(out), held_out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastpitch.text.g2p", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="align cmudict and train the tagger (needs torch)")
    t.add_argument("--out", type=Path, default=MODEL_PATH)
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--d-model", type=int, default=128)
    e = sub.add_parser("evaluate", help="accuracy on the held-out dictionary words")
    e.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    if args.command == "train":
        result = train(args.out, epochs=args.epochs, d_model=args.d_model)
    else:
        result = evaluate(G2P(args.model), [e for e in dictionary_entries() if is_held_out(e[0])])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
