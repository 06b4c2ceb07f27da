"""Which written text each spoken word reads: "3/4/2025." is read as "March fourth twenty twenty-five", and a
subtitle or a highlighted word should show what was written, as Amazon Polly's word marks do.

The normalizer rewrites a sentence through dozens of context-dependent passes, so instead of threading offsets
through each of them, the spoken words are matched back to the written tokens (runs of non-space characters)
afterwards, with difflib: words that are their token anchor the match, and between anchors the letters are
matched one by one. A word reads the tokens its matched letters lie in; a word that matched none ("five" of
"5%") reads the tokens between its neighbours; words that read one token are one group. Tokens with nothing to
say (a dash, an ellipsis) join the group before them, so nothing written is lost.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

_TOKEN = re.compile(r"\S+")
LOOK_AHEAD = 24  # tokens plus words searched for the next anchor after a difference
MAX_LETTERS = 600  # letters matched one by one between two anchors (difflib is quadratic): past it, none
_KEY = re.compile(r"[^0-9a-z]+")


def _key(text: str) -> str:
    return _KEY.sub("", text.lower())


def written_groups(text: str, spoken: Sequence[str]) -> list[tuple[str, int]]:
    """For each spoken word of `text` (in order): the written text it reads and its group, a number shared by
    the words that read one stretch of `text` ("March", "fourth", ... of "3/4/2025." share one)."""
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return [("", 0)] * len(spoken)
    token_keys, word_keys = [_key(text[a:b]) for a, b in tokens], [_key(w) for w in spoken]
    reads: list[set[int]] = [set() for _ in spoken]  # the tokens each word's matched characters lie in
    unread = [len(key) for key in token_keys]  # characters of each token no word matched
    t, w = 0, 0
    for a, b, size in [*_anchors(token_keys, word_keys), (len(tokens), len(spoken), 0)]:
        _match_letters(token_keys, word_keys, (t, a), (w, b), reads, unread)
        for k in range(size):
            reads[b + k].add(a + k)
            unread[a + k] = 0
        t, w = a + size, b + size
    first = [min(r) if r else -1 for r in reads]
    last = [max(r) if r else -1 for r in reads]
    # A run of words that matched nothing ("five percent" of "5%") reads the tokens between its neighbours;
    # with none between, the next token if some of it was not matched ("one eight hundred" of "1-800-FLOWERS"),
    # else the one before.
    w = 0
    while w < len(spoken):
        if first[w] >= 0:
            w += 1
            continue
        end = w
        while end < len(spoken) and first[end] < 0:
            end += 1
        before = last[w - 1] if w else -1
        after = first[end] if end < len(spoken) else len(tokens)
        start = before + 1  # tokens with nothing to say ("東京,") stay with the group before
        while start < after - 1 and not token_keys[start]:
            start += 1
        if start < after and after - start == end - w:  # as many words as tokens: one each
            first[w:end] = last[w:end] = range(start, after)
            w = end
            continue
        if start < after:
            span = (start, after - 1)
        elif before >= 0 and unread[before]:  # "squared" of "x^2": the rest of the token before
            span = (before, before)
        elif after < len(tokens) and (unread[after] or before < 0):
            span = (after, after)
        else:
            span = (before, before)
        first[w:end], last[w:end] = [span[0]] * (end - w), [span[1]] * (end - w)
        w = end
    # Words whose tokens overlap form one group; a group shows its tokens and the unread ones up to the next.
    starts: list[int] = []
    owner: list[int] = []
    reach = -1
    for w in range(len(spoken)):
        if not starts or first[w] > reach:
            starts.append(max(first[w], reach + 1))
        reach = max(reach, last[w])
        owner.append(len(starts) - 1)
    if not starts:
        return []
    starts[0] = 0
    ends = [s - 1 for s in starts[1:]] + [len(tokens) - 1]
    texts = [text[tokens[a][0] : tokens[max(a, b)][1]] for a, b in zip(starts, ends, strict=True)]
    return [(texts[g], g) for g in owner]


def _anchors(token_keys: list[str], word_keys: list[str]) -> list[tuple[int, int, int]]:
    """(token, word, count) runs where words are their tokens, found in one pass: in step, a word equal to its
    token is an anchor; after a difference, the nearest pair ahead (within `LOOK_AHEAD`) that cannot be a
    coincidence (a key found once on each side, or the start of two equal pairs) brings them back in step.
    Linear in the sentence, unlike a general diff, which takes quadratic time on repetitive text."""
    counts = Counter(token_keys), Counter(word_keys)
    n_tokens, n_words = len(token_keys), len(word_keys)

    def safe(i: int, j: int) -> bool:
        key = token_keys[i]
        if not key or key != word_keys[j]:
            return False
        unique = counts[0][key] == 1 and counts[1][key] == 1
        return unique or (i + 1 < n_tokens and j + 1 < n_words and token_keys[i + 1] == word_keys[j + 1])

    runs: list[tuple[int, int, int]] = []
    i = j = 0
    while i < n_tokens and j < n_words:
        if token_keys[i] and token_keys[i] == word_keys[j]:
            if runs and runs[-1][0] + runs[-1][2] == i and runs[-1][1] + runs[-1][2] == j:
                runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
            else:
                runs.append((i, j, 1))
            i, j = i + 1, j + 1
            continue
        step = next(
            (
                (di, distance - di)
                for distance in range(1, LOOK_AHEAD)
                for di in range(distance + 1)
                if i + di < n_tokens and j + distance - di < n_words and safe(i + di, j + distance - di)
            ),
            None,
        )
        if step is None:
            break
        i, j = i + step[0], j + step[1]
    return runs


def _match_letters(
    token_keys: list[str],
    word_keys: list[str],
    token_range: tuple[int, int],
    word_range: tuple[int, int],
    reads: list[set[int]],
    unread: list[int],
) -> None:
    """Match the letters of the words in `word_range` to those of the tokens in `token_range`, recording in
    `reads` which tokens each word's letters lie in and counting down each token's `unread` letters."""
    tokens, words = range(*token_range), range(*word_range)
    if not tokens or not words or sum(len(word_keys[w]) for w in words) > MAX_LETTERS:
        return  # the words then read the tokens between their neighbours, as one group
    written = [t for t in tokens for _ in token_keys[t]]  # the token of each written letter
    said = [w for w in words for _ in word_keys[w]]  # the word of each spoken letter
    matcher = SequenceMatcher(
        None, "".join(token_keys[t] for t in tokens), "".join(word_keys[w] for w in words), autojunk=False
    )
    for a, b, size in matcher.get_matching_blocks()[:-1]:  # the last is a (len, len, 0) sentinel
        # A short block counts only where it is whole words or a whole token ("I" of "I.B.M.", "a", "m" of
        # "a.m."): the "s" of "nineties" is not the "s" of "1990s".
        whole_words = (b == 0 or said[b - 1] != said[b]) and (
            b + size == len(said) or said[b + size] != said[b + size - 1]
        )
        whole_token = written[a] == written[a + size - 1] and len(token_keys[written[a]]) == size
        for k in range(size if size >= 3 or whole_words or whole_token else 0):
            reads[said[b + k]].add(written[a + k])
            unread[written[a + k]] -= 1
