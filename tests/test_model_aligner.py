"""The learned aligner's parts: beta-binomial prior, MAS, forward-sum and binarization losses, per-symbol averages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import betabinom

from fastpitch.models.aligner import (
    LOG_PRIOR_FLOOR,
    AlignmentEncoder,
    average_per_symbol,
    beta_binomial_log_prior,
    binarization_loss,
    durations_to_alignment,
    edge_silence,
    forward_sum_loss,
    hard_durations,
    mas,
    symbol_index,
)
from fastpitch.models.bench import bench_mas, mas_reference, random_alignment


def diagonal_log_attn(durations: list[int], sharp: float = 8.0) -> np.ndarray:
    """(T, N) log-probabilities peaked on the path that `durations` describes."""
    n, t = len(durations), sum(durations)
    owner = np.repeat(np.arange(n), durations)
    logits = np.zeros((t, n))
    logits[np.arange(t), owner] = sharp
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def test_prior_matches_scipy_betabinom():
    text_lens, mel_lens = torch.tensor([7, 3, 1]), torch.tensor([20, 9, 4])
    prior = beta_binomial_log_prior(text_lens, mel_lens, n_max=8, t_max=22)
    assert prior.shape == (3, 22, 8)
    for b in range(3):
        n, m = int(text_lens[b]), int(mel_lens[b])
        ref = np.array([betabinom(n - 1, t, m + 1 - t).pmf(np.arange(n)) for t in range(1, m + 1)])
        got = prior[b, :m, :n].double().exp().numpy()
        np.testing.assert_allclose(got, np.maximum(ref, 1e-8), rtol=1e-4, atol=1e-9)
        assert torch.all(prior[b, m:] == LOG_PRIOR_FLOOR) and torch.all(prior[b, :, n:] == LOG_PRIOR_FLOOR)
    # Each frame's prior is a distribution over the symbols, peaked along the diagonal.
    np.testing.assert_allclose(prior[0, :20, :7].exp().sum(-1).numpy(), 1.0, atol=1e-4)
    assert prior[0, 0].argmax() == 0 and prior[0, 19].argmax() == 6


def test_mas_recovers_a_clear_diagonal_exactly():
    durations = [[3, 1, 4, 2, 5], [2, 2, 2]]
    b, n_max, t_max = 2, 5, 15
    log_attn = np.full((b, t_max, n_max), -30.0)
    for i, d in enumerate(durations):
        log_attn[i, : sum(d), : len(d)] = diagonal_log_attn(d)
    got = mas(log_attn, np.array([5, 3]), np.array([15, 6]))
    np.testing.assert_array_equal(got[0], durations[0])
    np.testing.assert_array_equal(got[1], [2, 2, 2, 0, 0])


def test_compiled_mas_equals_the_plain_loop_on_random_inputs():
    log_attn, text_lens, mel_lens = random_alignment(6, 23, 90, seed=3)
    got = mas(log_attn, text_lens, mel_lens)
    for i in range(6):
        ref = mas_reference(log_attn[i, : mel_lens[i], : text_lens[i]])
        np.testing.assert_array_equal(got[i, : text_lens[i]], ref)
        assert got[i, text_lens[i] :].sum() == 0
    # Noise without any diagonal structure as well, in float32 as the model passes it.
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(3, 40, 11)).astype(np.float32)
    got = mas(noise, np.array([11, 7, 1]), np.array([40, 25, 5]))
    for i, (n, t) in enumerate([(11, 40), (7, 25), (1, 5)]):
        np.testing.assert_array_equal(got[i, :n], mas_reference(noise[i, :t, :n]))


def best_path_score(log_attn: np.ndarray, skippable: np.ndarray) -> float:
    """The best monotonic path's score, by the recursion itself: stay, move on, or jump over a skippable
    symbol (never the first or the last)."""
    t_len, n_len = log_attn.shape
    best = np.full(n_len, -np.inf)
    best[0] = log_attn[0, 0]
    for t in range(1, t_len):
        prev, best = best, np.full(n_len, -np.inf)
        for j in range(n_len):
            ways = [prev[j], prev[j - 1] if j >= 1 else -np.inf]
            if j >= 2 and skippable[j - 1] and 0 < j - 1 < n_len - 1:
                ways.append(prev[j - 2])
            best[j] = max(ways) + log_attn[t, j]
    return best[-1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 9), st.integers(1, 30)), min_size=1, max_size=4),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_mas_sums_to_the_mel_length_and_takes_a_best_path(lengths, skips, seed):
    text_lens = np.array([n for n, _ in lengths])
    mel_lens = np.array([t for _, t in lengths])  # may be shorter than the text: still sums to T
    rng = np.random.default_rng(seed)
    log_attn = rng.normal(size=(len(lengths), mel_lens.max(), text_lens.max()))
    skippable = rng.random(log_attn.shape[::2]) < 0.5 if skips else np.zeros(log_attn.shape[::2], bool)
    got = mas(log_attn, text_lens, mel_lens, skippable if skips else None)
    np.testing.assert_array_equal(got.sum(1), mel_lens)
    assert (got >= 0).all()
    for i, (n, t) in enumerate(zip(text_lens, mel_lens, strict=True)):
        assert got[i, n:].sum() == 0
        best = best_path_score(log_attn[i, :t, :n], skippable[i, :n])
        if np.isfinite(best):  # a feasible path: MAS returns one of the best
            owner = np.repeat(np.arange(n), got[i, :n])
            assert np.isclose(log_attn[i, np.arange(t), owner].sum(), best)
            # Only skippable symbols between the first and the last may go without a frame.
            assert all(skippable[i, j] and 0 < j < n - 1 for j in np.flatnonzero(got[i, :n] == 0))


def test_mas_gives_a_skippable_symbol_no_frame_where_it_has_no_evidence():
    # Symbols 1 and 3 (word boundaries) sound like nothing here: the frames are the phones'.
    durations = [3, 0, 4, 0, 2]
    log_attn = diagonal_log_attn(durations)[None]
    lens = np.array([5]), np.array([9])
    stolen = mas(log_attn, *lens)[0]  # every symbol must get a frame: the boundaries take them from phones
    assert stolen[1] >= 1 and stolen[3] >= 1
    got = mas(log_attn, *lens, skippable=np.array([[False, True, False, True, False]]))[0]
    np.testing.assert_array_equal(got, durations)
    # A boundary that the evidence does support keeps its frames.
    paused = [3, 2, 4, 1, 2]
    got = mas(diagonal_log_attn(paused)[None], np.array([5]), np.array([12]), np.ones((1, 5), bool))[0]
    np.testing.assert_array_equal(got, paused)


def test_hard_durations_never_skip_an_utterance_edge():
    # A cost on the first and last symbols (the edge boundaries) is ignored: they always get frames.
    log_attn = torch.from_numpy(diagonal_log_attn([2, 3, 0, 3, 2])).float()[None]
    cost = torch.tensor([[4.0, 0.0, 4.0, 0.0, 4.0]])
    got = hard_durations(log_attn, torch.tensor([5]), torch.tensor([10]), cost)[0]
    assert got.tolist() == [2, 3, 0, 3, 2]
    assert hard_durations(log_attn, torch.tensor([5]), torch.tensor([10]))[0, 2] >= 1


def test_edge_silence_moves_the_quiet_ends_to_the_edge_boundaries():
    B = 0  # the word-boundary id
    text = torch.tensor([[B, 5, 6, B], [B, 5, 6, B], [7, 5, 6, 8]])
    # 17 frames: 6 quiet, 8 loud, 3 quiet (-5 and 3 in log energy: 8 nats apart)
    energy = torch.tensor([[-5.0] * 6 + [3.0] * 8 + [-5.0] * 3] * 3)
    durations = torch.tensor([[1, 10, 5, 1], [1, 2, 13, 1], [1, 10, 5, 1]])
    lens, mel_lens = torch.tensor([4, 4, 4]), torch.tensor([17, 17, 17])
    out = edge_silence(durations, text, lens, energy, mel_lens, B, drop=4.6)
    assert out[0].tolist() == [6, 5, 3, 3]  # the 5 leading and 2 trailing quiet frames the phones had
    assert out[1].tolist() == [2, 1, 11, 3]  # a phone keeps a frame even when quiet all through
    assert out[2].tolist() == [1, 10, 5, 1]  # no boundaries at the edges: nothing to move to
    assert torch.equal(out.sum(1), durations.sum(1))
    quiet_threshold = edge_silence(durations, text, lens, energy, mel_lens, B, drop=9.0)
    assert torch.equal(quiet_threshold, durations)  # nothing 9 nats below the loudest frame


def test_forward_sum_loss_prefers_the_true_alignment_and_ignores_padding():
    d = [3, 2, 4]
    good = torch.from_numpy(diagonal_log_attn(d)).float()[None]
    bad = torch.from_numpy(diagonal_log_attn([1, 1, 7])).float()[None]
    lens_n, lens_t = torch.tensor([3]), torch.tensor([9])
    assert forward_sum_loss(good, lens_n, lens_t) < forward_sum_loss(bad, lens_n, lens_t)
    # Extra padded symbols and frames (any values) change nothing.
    padded = torch.randn(1, 13, 6)
    padded[:, :9, :3] = good
    assert torch.allclose(forward_sum_loss(padded, lens_n, lens_t), forward_sum_loss(good, lens_n, lens_t))


def test_forward_sum_gradients_stay_finite_on_padded_batches():
    torch.manual_seed(0)
    enc = AlignmentEncoder(
        n_mels=8, n_text_in=6, n_text_hidden=12, n_mel_hidden=10, n_att=5, temperature=0.01
    )
    text_lens, mel_lens = torch.tensor([5, 2]), torch.tensor([14, 6])
    text_mask = torch.arange(5)[None] < text_lens[:, None]
    mel_mask = torch.arange(14)[None] < mel_lens[:, None]
    emb = torch.randn(2, 5, 6, requires_grad=True)
    mel = torch.randn(2, 8, 14) * mel_mask[:, None]
    logprob, soft = enc(mel, emb, text_mask, mel_mask, beta_binomial_log_prior(text_lens, mel_lens))
    assert torch.allclose(soft.sum(-1), torch.ones(2, 14))
    assert torch.all(soft[1, :, 2:] == 0)  # no probability on padded symbols
    hard = durations_to_alignment(hard_durations(logprob, text_lens, mel_lens), 14)
    loss = forward_sum_loss(logprob, text_lens, mel_lens) + binarization_loss(hard, soft)
    loss.backward()
    assert torch.isfinite(emb.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters())


def test_binarization_loss_is_zero_only_when_soft_equals_hard():
    hard = durations_to_alignment(torch.tensor([[2, 1]]), 3)
    assert binarization_loss(hard, hard).item() == pytest.approx(0.0, abs=1e-6)
    soft = torch.tensor([[[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]])
    expected = -(np.log(0.9) + np.log(0.6) + np.log(0.8)) / 3
    assert binarization_loss(hard, soft).item() == pytest.approx(expected, rel=1e-5)


def test_symbol_index_and_hard_alignment():
    durations = torch.tensor([[2, 0, 3], [1, 1, 0]])
    np.testing.assert_array_equal(
        symbol_index(durations, 6).numpy(), [[0, 0, 2, 2, 2, 3], [0, 1, 3, 3, 3, 3]]
    )
    hard = durations_to_alignment(durations, 6)
    np.testing.assert_array_equal(hard.sum(1).numpy(), durations.numpy())
    assert hard[1, 2:].sum() == 0  # frames past the end belong to no symbol


def test_average_per_symbol_uses_only_weighted_frames():
    values = torch.tensor([[1.0, 3.0, 100.0, 5.0, 7.0, 9.0]])
    voiced = torch.tensor([[True, True, False, False, True, True]])
    durations = torch.tensor([[3, 1, 2]])
    got = average_per_symbol(values, voiced, durations)
    np.testing.assert_allclose(got.numpy(), [[2.0, 0.0, 8.0]])  # symbol 1 has no voiced frame: 0
    everything = average_per_symbol(values, torch.ones_like(voiced), durations)
    np.testing.assert_allclose(everything.numpy(), [[104.0 / 3, 5.0, 8.0]])


def test_bench_commands_write_json(tmp_path):
    from typer.testing import CliRunner

    from fastpitch.cli import app

    runner = CliRunner()
    out = tmp_path / "model.json"
    args = ["bench", "model", "--presets", "tiny", "--batch-sizes", "2", "--symbols", "7", "--no-compile"]
    result = runner.invoke(app, [*args, "--repeats", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())["configs"][0]
    assert row["frames"] == 7 * 6 and row["eager_ms"] > 0
    mas_rows = bench_mas(((3, 9, 40),), repeats=1)
    assert mas_rows[0]["identical_paths"] and mas_rows[0]["durations_sum_to_mel_lens"]


def test_mas_compiles_without_a_writable_cache(monkeypatch):
    """A read-only install and home leave numba no place for its cache: MAS must still import and run."""
    import importlib

    from numba.core import caching

    from fastpitch.models import mas_kernel

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    try:
        kernel = importlib.reload(mas_kernel)
        log_attn = np.log(np.array([[[0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]]], dtype=np.float32))
        got = kernel.mas_batch(log_attn, np.array([2]), np.array([4]), np.zeros((1, 2), dtype=bool))
        assert got.tolist() == [[1, 3]]
    finally:
        monkeypatch.undo()
        importlib.reload(mas_kernel)
