"""The FFT blocks' convolutional feed-forward on CPU as four large matrix products per training step.

`conv2(relu(conv1(x)) * mask) * mask` with "same" convolutions of odd kernel k over x (B, T, C) in time-major
layout. oneDNN's convolutions ran at about 70 % of this machine's matrix-product rate here, forward and backward,
plus the (B, T, C) <-> (B, C, T) copies around them. Written as products instead:

    forward   h = relu(im2col(x) @ W1^T)                im2col(x): row t holds x[t-1], x[t], x[t+1] (k = 3)
              y = tap_sum(h @ W2^T)                    W2 tap by tap; y[t] sums tap j's product at t + j - 1
    backward  dz = spread(dy), dW2 = dz^T @ h          spread: tap_sum's transpose, k shifted copies of dy
              dh = (dz @ W2) * [h > 0], dW1 = dh^T @ im2col(x), dx = reverse tap_sum of dh @ W1

The products run over the real frames of the batch only, utterance after utterance, so a padded batch costs
what its speech costs (the padding is 5 % of the frames of `bench train`'s batches, and 10 % of a product's
time there); each utterance's im2col, tap sums and spread read and write its own rows, with zeros past its
ends, as padding would give. Each product is (frames x k C) by (k C x 4 C) or a transpose of it, the shape of
the matmul that `bench train` holds training to, and runs at about that rate. The parameters stay
`nn.Conv1d`'s (C_out, C_in, k), so checkpoints do not change: W1 is conv1's weight viewed as a matrix, W2 a
copy of conv2's regrouped tap by tap.
"""

from __future__ import annotations

from typing import Any

import torch


def im2col(x: torch.Tensor, k: int, out: torch.Tensor) -> None:
    """x (T, C) -> out (T, C * k): row t holds x[t + j - k//2, c] at c * k + j (zeros past the ends), the input
    of a "same" convolution as one matrix, in the order of `nn.Conv1d`'s weight (C_out, C, k) viewed as 2-D."""
    p = k // 2
    out.view(x.size(0), x.size(1), k).copy_(torch.nn.functional.pad(x, (0, 0, p, p)).unfold(0, k, 1))


def spread(g: torch.Tensor, k: int, out: torch.Tensor) -> None:
    """g (T, C) -> out (T, k * C): block j of row s holds g[s - j + k//2] (zeros past the ends), the transpose
    of `tap_sum` over taps stored block by block."""
    p, t = k // 2, g.size(0)
    gp = torch.nn.functional.pad(g, (0, 0, p, p))
    torch.cat([gp[2 * p - j : 2 * p - j + t] for j in range(k)], dim=-1, out=out)


def tap_sum(z: torch.Tensor, tap_dim: int, out: torch.Tensor, reverse: bool = False) -> None:
    """Sum k shifted tap slices of z (T, ...) along time into out (T, C): out[t] = sum_j z[t + j - k//2] at tap j
    of `tap_dim` (zeros past the ends), a "same" convolution's output from each tap's products. `reverse` shifts
    the other way, z[t - j + k//2]: the transpose of `im2col`, for its gradient."""
    k, t = z.size(tap_dim), z.size(0)
    p = k // 2
    out.copy_(z.select(tap_dim, p))
    for j in range(k):
        s = (p - j) if reverse else (j - p)
        if s > 0:
            out[: t - s] += z.select(tap_dim, j)[s:]
        elif s < 0:
            out[-s:] += z.select(tap_dim, j)[: t + s]


def _spans(lens: list[int]) -> list[tuple[int, int, int]]:
    """(utterance, its first row among the real frames, its length) of each non-empty utterance."""
    spans, start = [], 0
    for i, n in enumerate(lens):
        if n > 0:
            spans.append((i, start, n))
        start += n
    return spans


def _columns(x: torch.Tensor, spans: list[tuple[int, int, int]], k: int) -> torch.Tensor:
    """im2col of each utterance's real frames, stacked: (real frames, C * k)."""
    cols = x.new_empty(sum(n for _, _, n in spans), x.size(2) * k)
    for i, r, n in spans:
        im2col(x[i, :n], k, cols[r : r + n])
    return cols


class _ConvFeedForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, lens, w1, b1, w2, b2):  # type: ignore[no-untyped-def]
        k, c_out = w1.size(2), w2.size(0)
        spans = _spans(lens)
        w1m = w1.reshape(w1.size(0), -1)  # (hidden, C_in * k), the order of im2col's columns
        w2m = w2.permute(2, 0, 1).reshape(-1, w2.size(1))  # (k * C_out, hidden), tap by tap
        # addmm would first copy the bias to every row: slower. The columns are rebuilt in backward: keeping
        # them would cost (frames x C k) floats per layer for under 1 % of the time.
        h = _columns(x, spans, k).mm(w1m.t()).add_(b1).relu_()
        z = h.mm(w2m.t()).view(-1, k, c_out)
        y = x.new_zeros(x.size(0), x.size(1), c_out)
        for i, r, n in spans:
            tap_sum(z[r : r + n], 1, y[i, :n])
            y[i, :n] += b2
        ctx.spans = spans
        ctx.save_for_backward(x, h, w1m, w2m)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y):  # type: ignore[no-untyped-def]
        x, h, w1m, w2m = ctx.saved_tensors
        spans = ctx.spans
        c_in = x.size(2)
        k = w1m.size(1) // c_in
        c_out = w2m.size(0) // k
        gz = grad_y.new_empty(h.size(0), w2m.size(0))
        for i, r, n in spans:
            spread(grad_y[i, :n], k, gz[r : r + n])
        gw2 = gz.t().mm(h).view(k, c_out, -1).permute(1, 2, 0).contiguous()
        # ReLU's own backward kernel (h is zero where the ReLU was off): 7x faster than `* (h > 0)`
        gh = torch.ops.aten.threshold_backward(gz.mm(w2m), h, 0.0)
        del gz
        gw1 = gh.t().mm(_columns(x, spans, k)).view(-1, c_in, k)
        gx = None
        if ctx.needs_input_grad[0]:
            gcols = gh.mm(w1m).view(-1, c_in, k)
            gx = torch.zeros_like(x)
            for i, r, n in spans:
                tap_sum(gcols[r : r + n], 2, gx[i, :n], reverse=True)
        gb2 = sum((grad_y[i, :n].sum(0) for i, _, n in spans), grad_y.new_zeros(c_out))
        return gx, None, gw1, gh.sum(0), gw2, gb2


def conv_feed_forward(
    x: torch.Tensor,
    mask: torch.Tensor | None,
    conv1: torch.nn.Conv1d,
    conv2: torch.nn.Conv1d,
) -> torch.Tensor:
    """conv2(relu(conv1(x)) * mask) * mask for x (B, T, C) -> (B, T, C_out), padding counted as zeros; mask
    (B, T, 1) float marking a prefix of each sequence (`mask_from_lens`), or None (no padding)."""
    b, t, _ = x.shape
    if mask is None:
        lens = [t] * b
    else:
        real = mask.reshape(b, t) > 0
        counts = real.sum(1)
        if not torch.equal(real, torch.arange(t)[None] < counts[:, None]):
            raise ValueError("conv_feed_forward's mask must mark a prefix of each sequence")
        lens = counts.tolist()
    return _ConvFeedForward.apply(x, lens, conv1.weight, conv1.bias, conv2.weight, conv2.bias)
