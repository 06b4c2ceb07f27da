"""The FFT blocks' convolutional feed-forward on CPU as four large matrix products per training step.

`conv2(relu(conv1(x)) * mask)` with "same" convolutions of odd kernel k over x (B, T, C) in time-major layout.
oneDNN's convolutions ran at about 70 % of this machine's matrix-product rate here, forward and backward, plus
the (B, T, C) <-> (B, C, T) copies around them. Written as products instead:

    forward   h = relu(im2col(x) @ W1^T) * mask        im2col(x): row t holds x[t-1], x[t], x[t+1] (k = 3)
              y = tap_sum(h @ W2^T)                    W2 tap by tap; y[t] sums tap j's product at t + j - 1
    backward  dz = spread(dy), dW2 = dz^T @ h          spread: tap_sum's transpose, k shifted copies of dy
              dh = (dz @ W2) * [h > 0], dW1 = dh^T @ im2col(x), dx = reverse tap_sum of dh @ W1

Each product is (frames x k C) by (k C x 4 C) or a transpose of it, the shape of the matmul that `bench train`
holds training to, and runs at about that rate; the rest are copies of (T, C) slices. The parameters stay
`nn.Conv1d`'s (C_out, C_in, k), so checkpoints do not change: W1 is conv1's weight viewed as a matrix, W2 a
copy of conv2's regrouped tap by tap.
"""

from __future__ import annotations

from typing import Any

import torch


def im2col(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T, C) -> (B * T, C * k): row t holds x[t + j - k//2, c] at c * k + j (zeros past the ends), the input
    of a "same" convolution as one matrix, in the order of `nn.Conv1d`'s weight (C_out, C, k) viewed as 2-D."""
    p = k // 2
    return torch.nn.functional.pad(x, (0, 0, p, p)).unfold(1, k, 1).reshape(-1, x.size(2) * k)


def spread(g: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T, C) -> (B * T, k * C): block j of row s holds g[s - j + k//2] (zeros past the ends), the transpose
    of `tap_sum` over taps stored block by block."""
    p, t = k // 2, g.size(1)
    gp = torch.nn.functional.pad(g, (0, 0, p, p))
    return torch.cat([gp[:, 2 * p - j : 2 * p - j + t] for j in range(k)], dim=-1).flatten(0, 1)


def tap_sum(z: torch.Tensor, tap_dim: int, reverse: bool = False) -> torch.Tensor:
    """Sum k shifted tap slices of z (B, T, ...) along time: y[t] = sum_j z[t + j - k//2] at tap j of `tap_dim`
    (zeros past the ends), a "same" convolution's output from each tap's products. `reverse` shifts the other
    way, z[t - j + k//2]: the transpose of `im2col`, for its gradient."""
    k, t = z.size(tap_dim), z.size(1)
    p = k // 2
    y = z.select(tap_dim, p).clone()
    for j in range(k):
        s = (p - j) if reverse else (j - p)
        if s > 0:
            y[:, : t - s] += z.select(tap_dim, j)[:, s:]
        elif s < 0:
            y[:, -s:] += z.select(tap_dim, j)[:, : t + s]
    return y


class _ConvFeedForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x, mask, w1, b1, w2, b2):  # type: ignore[no-untyped-def]
        b, t, _ = x.shape
        k, c_out = w1.size(2), w2.size(0)
        w1m = w1.reshape(w1.size(0), -1)  # (hidden, C_in * k), the order of im2col's columns
        w2m = w2.permute(2, 0, 1).reshape(-1, w2.size(1))  # (k * C_out, hidden), tap by tap
        h = im2col(x, k).mm(w1m.t()).add_(b1).relu_()  # addmm would first copy the bias to every row: slower
        if mask is not None:
            h.mul_(mask.reshape(-1, 1))
        y = tap_sum(h.mm(w2m.t()).view(b, t, k, c_out), tap_dim=2).add_(b2)
        ctx.save_for_backward(x, h, w1m, w2m)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y):  # type: ignore[no-untyped-def]
        x, h, w1m, w2m = ctx.saved_tensors
        b, t, c_in = x.shape
        k = w1m.size(1) // c_in
        c_out = w2m.size(0) // k
        gz = spread(grad_y, k)  # (B * T, k * C_out)
        gw2 = gz.t().mm(h).view(k, c_out, -1).permute(1, 2, 0).contiguous()
        # ReLU's own backward kernel (h is zero on padding and where the ReLU was off): 7x faster than `* (h > 0)`
        gh = torch.ops.aten.threshold_backward(gz.mm(w2m), h, 0.0)
        gw1 = gh.t().mm(im2col(x, k)).view(-1, c_in, k)
        gx = None
        if ctx.needs_input_grad[0]:
            gx = tap_sum(gh.mm(w1m).view(b, t, c_in, k), tap_dim=3, reverse=True)
        return gx, None, gw1, gh.sum(0), gw2, grad_y.sum((0, 1))


def conv_feed_forward(
    x: torch.Tensor,
    mask: torch.Tensor | None,
    conv1: torch.nn.Conv1d,
    conv2: torch.nn.Conv1d,
) -> torch.Tensor:
    """conv2(relu(conv1(x)) * mask) for x (B, T, C) -> (B, T, C_out); mask (B, T, 1) float or None."""
    return _ConvFeedForward.apply(x, mask, conv1.weight, conv1.bias, conv2.weight, conv2.bias)
