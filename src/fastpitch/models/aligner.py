"""The learned aligner of "One TTS Alignment To Rule Them All" (Badlani et al., 2022).

Symbols and mel frames are encoded by small conv stacks; the soft alignment of each frame over the symbols is a
softmax of the negative squared L2 distance (times a temperature) plus a beta-binomial prior that favours the
diagonal. The forward-sum loss (CTC with one blank) maximises the likelihood of all monotonic paths; monotonic
alignment search (Viterbi) picks the best one as hard durations (word boundaries may get none), and a
binarization loss pulls the soft alignment towards it. MAS here is compiled with numba.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOG_PRIOR_FLOOR = math.log(1e-8)  # the prior's floor (NVIDIA adds 1e-8 before the log)
# Log score of padded symbols: exp() is 0 in any dtype, and CTC's gradient stays finite (with -inf it is NaN).
MASKED = -1e4


class AlignmentEncoder(nn.Module):
    """Soft alignment of mel frames to symbols: (B, T, N) log-probabilities and probabilities."""

    def __init__(
        self,
        n_mels: int,
        n_text_in: int,
        n_text_hidden: int,
        n_mel_hidden: int,
        n_att: int,
        temperature: float,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.text_encoder = nn.Sequential(
            nn.Conv1d(n_text_in, n_text_hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(n_text_hidden, n_att, 1),
        )
        self.mel_encoder = nn.Sequential(
            nn.Conv1d(n_mels, n_mel_hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(n_mel_hidden, n_mels, 1),
            nn.ReLU(),
            nn.Conv1d(n_mels, n_att, 1),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                gain = nn.init.calculate_gain("relu" if m.kernel_size[0] == 3 else "linear")
                nn.init.xavier_uniform_(m.weight, gain=gain)

    def forward(
        self,
        mel: torch.Tensor,
        text_emb: torch.Tensor,
        text_mask: torch.Tensor,
        mel_mask: torch.Tensor,
        log_prior: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T), text_emb (B, N, C), masks bool, log_prior (B, T, N).

        Returns (attn_logprob, attn_soft), both (B, T, N): the unnormalised log scores the forward-sum loss
        renormalises with its blank, and the per-frame distribution over symbols (zero on padded symbols).
        """
        keys = self.text_encoder((text_emb * text_mask[:, :, None]).transpose(1, 2)).transpose(1, 2)
        queries = self.mel_encoder(mel * mel_mask[:, None, :]).transpose(1, 2)  # (B, T, n_att)
        # ‖q - k‖² through a matmul (NVIDIA's broadcast builds a (B, n_att, T, N) tensor instead), in fp32
        # even under AMP: the expansion subtracts large, nearly equal terms.
        with torch.autocast(mel.device.type, enabled=False):
            queries, keys = queries.float(), keys.float()
            dist = (
                queries.pow(2).sum(-1, keepdim=True)
                + keys.pow(2).sum(-1)[:, None, :]
                - 2.0 * torch.bmm(queries, keys.transpose(1, 2))
            )
            scores = (-self.temperature * dist).masked_fill(~text_mask[:, None, :], MASKED)
            attn_logprob = F.log_softmax(scores, dim=-1) + log_prior
            attn_soft = torch.softmax(attn_logprob, dim=-1)
        return attn_logprob, attn_soft


def beta_binomial_log_prior(
    text_lens: torch.Tensor, mel_lens: torch.Tensor, n_max: int | None = None, t_max: int | None = None
) -> torch.Tensor:
    """log BetaBinomial(k; n=N-1, a=t, b=T+1-t) for frame t=1..T and symbol k, floored at log(1e-8).

    Shape (B, t_max, n_max), by default the longest lengths (the prior of Badlani et al. with scaling 1.0).

    Of the eight log-Gamma terms only lgamma(k+t) + lgamma(n+T+1-(k+t)) depends on both t and k, through k+t
    alone: it is tabulated per utterance (length N+T) and read through a strided view, so the prior of a whole
    batch costs two elementwise passes instead of eight lgammas per cell. Padded cells hold the floor.
    """
    b_size = len(text_lens)
    n_max = int(text_lens.max()) if n_max is None else n_max
    t_max = int(mel_lens.max()) if t_max is None else t_max
    f64 = {"device": text_lens.device, "dtype": torch.float64}
    n = (text_lens - 1).to(**f64)[:, None]
    big_m = mel_lens.to(**f64)[:, None]
    k = torch.arange(n_max, **f64)[None, :]
    t = torch.arange(1, t_max + 1, **f64)[None, :]
    s = torch.arange(1, n_max + t_max + 1, **f64)[None, :]  # k + t
    # Small float64 terms; -inf marks padding (symbols k > n, frames t > T) so that the clamp floors it.
    pair = torch.lgamma(s) + torch.lgamma((n + big_m + 1 - s).clamp(min=1))
    per_item = torch.lgamma(n + 1) - torch.lgamma(n + big_m + 1) + torch.lgamma(big_m + 1)
    per_symbol = -torch.lgamma(k + 1) - torch.lgamma((n - k + 1).clamp(min=1)) + per_item
    per_frame = -torch.lgamma(t) - torch.lgamma((big_m + 1 - t).clamp(min=1))
    per_symbol = per_symbol.masked_fill(k > n, float("-inf")).float()
    per_frame = per_frame.masked_fill(t > big_m, float("-inf")).float()
    pair = pair.float().contiguous()
    # pair[b, t, k] = table[b, t + k]: a strided (Hankel) view, no index tensor.
    hankel = pair.as_strided((b_size, t_max, n_max), (pair.stride(0), 1, 1))
    log_pmf = hankel + per_frame[:, :, None] + per_symbol[:, None, :]
    return log_pmf.clamp_(min=LOG_PRIOR_FLOOR)


def forward_sum_loss(
    attn_logprob: torch.Tensor, text_lens: torch.Tensor, mel_lens: torch.Tensor, blank_logprob: float = -1.0
) -> torch.Tensor:
    """CTC over the alignment: every monotonic path that visits each symbol in order (NVIDIA's batched form).

    attn_logprob (B, T, N); the blank gets a fixed log score, padded symbols are excluded, and each utterance's
    loss is divided by its number of symbols before averaging over the batch.
    """
    b_size, _, n_max = attn_logprob.shape
    logp = F.pad(attn_logprob.float(), (1, 0), value=blank_logprob)  # blank = class 0
    key_ids = torch.arange(n_max + 1, device=logp.device)
    logp = logp.masked_fill(key_ids[None, None, :] > text_lens[:, None, None], MASKED)
    logp = F.log_softmax(logp, dim=-1).transpose(0, 1)  # (T, B, N + 1)
    targets = key_ids[1:].expand(b_size, n_max)
    return F.ctc_loss(logp, targets, mel_lens, text_lens, blank=0, reduction="mean", zero_infinity=True)


def binarization_loss(attn_hard: torch.Tensor, attn_soft: torch.Tensor) -> torch.Tensor:
    """Mean negative log soft probability on the hard path: KL(hard ‖ soft) for a one-hot hard alignment."""
    log_soft = torch.log(attn_soft.clamp(min=1e-12))
    return -(log_soft * attn_hard).sum() / attn_hard.sum().clamp(min=1)


def mas(
    log_attn: np.ndarray, text_lens: np.ndarray, mel_lens: np.ndarray, skippable: np.ndarray | None = None
) -> np.ndarray:
    """Monotonic alignment search over a batch: (B, T, N) log-probabilities -> (B, N) integer durations.

    Viterbi for the best path that starts on the first symbol, ends on the last and, per frame, stays on its
    symbol or moves to the next one (ties move on, as in NVIDIA's `mas_width1`); with `skippable` (B, N) bool,
    it may also jump over a skippable symbol between the first and the last, which then gets zero frames.
    Every frame belongs to exactly one symbol, so each row sums to its mel length; when an utterance has fewer
    frames than symbols, the remaining symbols get zero frames. Compiled with numba (single-threaded, so that it
    stays safe in processes that fork data-loader workers).
    """
    log_attn = np.asarray(log_attn)
    if log_attn.dtype != np.float64:  # float64 stays exact (the tests compare with float64 loops)
        log_attn = np.ascontiguousarray(log_attn, dtype=np.float32)
    from fastpitch.models.mas_kernel import mas_batch  # numba: imported and compiled only where MAS runs

    b_size, _, n_max = log_attn.shape
    if skippable is None:
        skippable = np.zeros((b_size, n_max), dtype=np.bool_)
    return mas_batch(
        log_attn,
        np.asarray(text_lens, dtype=np.int64),
        np.asarray(mel_lens, dtype=np.int64),
        np.ascontiguousarray(skippable, dtype=np.bool_),
    )


def symbol_index(durations: torch.Tensor, n_frames: int | torch.Tensor) -> torch.Tensor:
    """For each frame, the index of the symbol it belongs to under `durations` (B, N): (B, n_frames).

    Frame t belongs to symbol #{j : end_j <= t}: a histogram of the symbols' end frames, cumulated. Linear in
    T + N, and made of scatter-add and cumsum, which export to ONNX (searchsorted does not). Frames past the
    end of the durations get index N, which callers drop.
    """
    ends = durations.long().cumsum(dim=1).clamp(max=n_frames)
    hist = torch.zeros(ends.size(0), n_frames + 1, dtype=torch.long, device=ends.device)
    hist = hist.scatter_add(1, ends, torch.ones_like(ends))
    return hist.cumsum(dim=1)[:, :-1]


def durations_to_alignment(durations: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Hard one-hot alignment (B, n_frames, N) from integer durations (B, N); zero rows past each length."""
    n_max = durations.size(1)
    idx = symbol_index(durations, n_frames)
    return F.one_hot(idx, n_max + 1)[..., :n_max].float()


def average_per_symbol(values: torch.Tensor, weights: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """Mean of per-frame `values` (B, T) over each symbol's frames where `weights` (B, T) is set: (B, N).

    Used for pitch (weights = voiced frames) and energy (weights = real frames); symbols with no weighted frame
    get 0 (the normalised mean, as in FastPitch).
    """
    b_size, n_max = durations.shape
    idx = symbol_index(durations, values.size(1))
    w = weights.to(values.dtype)
    sums = values.new_zeros(b_size, n_max + 1).scatter_add_(1, idx, values * w)
    counts = values.new_zeros(b_size, n_max + 1).scatter_add_(1, idx, w)
    return (sums / counts.clamp(min=1.0))[:, :n_max]


def hard_durations(
    attn_logprob: torch.Tensor,
    text_lens: torch.Tensor,
    mel_lens: torch.Tensor,
    cost: torch.Tensor | None = None,
) -> torch.Tensor:
    """MAS durations (B, N) on the device of `attn_logprob`, from the log soft alignment (no gradient).

    `cost` (B, N): nats charged per frame a symbol takes; a symbol with a cost (other than an utterance's first
    and last) may get no frame at all. FastPitch charges the word boundaries (see `FastPitch.set_boundary_cost`).
    """
    log_attn = F.log_softmax(attn_logprob.detach().float(), dim=-1)
    skippable = None
    if cost is not None:
        position = torch.arange(cost.size(1), device=cost.device)[None, :]
        edge = (position == 0) | (position == (text_lens - 1)[:, None])
        cost = cost.float().masked_fill(edge, 0.0)
        log_attn = log_attn - cost[:, None, :]
        skippable = (cost > 0).cpu().numpy()
    dur = mas(log_attn.cpu().numpy(), text_lens.cpu().numpy(), mel_lens.cpu().numpy(), skippable)
    return torch.from_numpy(dur).to(attn_logprob.device)


def edge_silence(
    durations: torch.Tensor,
    text: torch.Tensor,
    text_lens: torch.Tensor,
    energy: torch.Tensor,
    mel_lens: torch.Tensor,
    boundary: int,
    drop: float,
) -> torch.Tensor:
    """Durations (B, N) whose edge word boundaries own the silence before and after the recording.

    MAS leaves an edge boundary one frame and gives the leading silence to the first phone (and the trailing
    one to the last symbol before the edge): to the aligner, silence and the quiet onset of a phone look alike.
    The model then speaks a phone of silence, so word timestamps start early and a cut at the edge keeps the
    silence. Frames at either end whose log energy lies more than `drop` below the utterance's loudest frame
    move to the edge boundary; the symbol they come from keeps at least one frame.
    """
    out = durations.clone()
    for b in range(durations.size(0)):
        n, t = int(text_lens[b]), int(mel_lens[b])
        if n < 3 or t < 1:
            continue
        e = energy[b, :t]
        loud = torch.nonzero(e >= e.max() - drop).flatten()
        if loud.numel() == 0:
            continue
        if int(text[b, 0]) == boundary:
            give = min(int(loud[0]) - int(out[b, 0]), int(out[b, 1]) - 1)
            if give > 0:
                out[b, 0] += give
                out[b, 1] -= give
        if int(text[b, n - 1]) == boundary:
            give = min(t - 1 - int(loud[-1]) - int(out[b, n - 1]), int(out[b, n - 2]) - 1)
            if give > 0:
                out[b, n - 1] += give
                out[b, n - 2] -= give
    return out
