"""Building blocks of FastPitch: the feed-forward Transformer (FFTr) and the 1-D conv predictors.

The layout follows NVIDIA's FastPitch (post-norm FFT blocks: self-attention, then a convolutional feed-forward
of kernel 3, each with dropout, a residual and LayerNorm). One difference on purpose: every convolution here
sees zeros at padded positions (the inner activations are masked too), so a sequence's outputs do not depend on
how much padding its batch carries, and a batch of one gives the same numbers as a padded batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fastpitch.models.conv_ff import conv_feed_forward


def conv_as_matmul(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A "same" `conv` over x (B, T, C) channels last -> (B, T, C_out), as one matrix product of the k shifted
    copies of x side by side with the weight laid out to match (im2col): the ONNX form of the feed-forward.

    ONNX Runtime runs this product at its matrix-multiply rate (its blocked 2-D convolutions were no faster
    here), and a MatMul with a constant weight is what the int8 export (`fastpitch.quantize`) quantizes.
    """
    k, p = conv.kernel_size[0], conv.padding[0]
    padded = F.pad(x, (0, 0, p, p))
    columns = torch.cat([padded[:, j : j + x.size(1)] for j in range(k)], dim=-1)
    weight = conv.weight.permute(2, 1, 0).reshape(k * conv.in_channels, conv.out_channels)
    return torch.matmul(columns, weight) + conv.bias


class Dropout(nn.Dropout):
    """`nn.Dropout` whose CPU mask is cut from 64-bit random draws, 16 bits per element: 3x faster than
    `bernoulli_`, which draws a float for every element and took 6-12 % of a CPU training step. The drop
    probability is rounded to a multiple of 1/65536 and what is kept is scaled by the exact inverse of its share.
    Elsewhere (GPU, eval) it is `nn.Dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        return x * dropout_mask(x, self.p)


def dropout_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A mask shaped like x: 0 with probability p (to 1/65536), else 1 / (1 - p), from the global CPU generator."""
    drop = min(round(p * 65536), 65536)
    if drop == 65536:
        return torch.zeros_like(x)
    bits = torch.empty((x.numel() + 3) // 4, dtype=torch.int64).random_(-(2**63), None)  # all 64 bits random
    keep = bits.view(torch.int16)[: x.numel()].view(x.shape) >= drop - 32768
    return keep.to(x.dtype).mul_(65536 / (65536 - drop))


def mask_from_lens(lens: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Bool (B, max_len) mask, True on real positions; `max_len` defaults to the longest length."""
    if max_len is None:
        max_len = int(lens.max())
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


class PositionalEncoding(nn.Module):
    """Sinusoidal positions (sines then cosines, as NVIDIA's FastPitch), computed on the fly for any length."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0.0, d_model, 2.0) / d_model))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, length: int, dtype: torch.dtype) -> torch.Tensor:
        pos = torch.arange(length, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        angles = pos[:, None] * self.inv_freq[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1).to(dtype)  # (T, d_model)


def attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive key mask (B, 1, 1, T) from a bool mask (B, T): computed once per stack, and a float mask keeps
    the exported graph free of the NaN guard (IsNaN + Where over every T x T score matrix) that ONNX export
    adds after the softmax of a bool-masked attention. Every query has a real key, so no row is all -inf."""
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, float("-inf"))
    return bias[:, None, None]


class MultiHeadAttention(nn.Module):
    """Self-attention with a key padding mask; post-norm residual. Heads may be narrower than the model."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, dropout: float, dropatt: float) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.dropatt = n_heads, d_head, dropatt
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head)
        self.out = nn.Linear(n_heads * d_head, d_model, bias=False)
        self.drop = Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, d_model), key_bias (B, 1, 1, T) 0 on real keys, -inf on padding (see `attention_bias`), or
        None when there is no padding."""
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)
        if self.training and self.dropatt > 0 and x.device.type == "cpu":
            # SDPA's own dropout on CPU draws with bernoulli_: written out, the weights take `dropout_mask`.
            # The scale goes on q and the key mask into the product (baddbmm): no extra pass over the T x T scores.
            q, k = (q * self.d_head**-0.5).flatten(0, 1), k.flatten(0, 1).transpose(1, 2)
            if key_bias is None:
                scores = torch.bmm(q, k)
            else:
                scores = torch.baddbmm(key_bias.expand(b, self.n_heads, 1, t).flatten(0, 1), q, k)
            weights = torch.softmax(scores.view(b, self.n_heads, t, t), dim=-1)
            attn = (weights * dropout_mask(weights, self.dropatt)) @ v
        else:
            attn = F.scaled_dot_product_attention(
                q, k, v, attn_mask=key_bias, dropout_p=self.dropatt if self.training else 0.0
            )
        attn = attn.transpose(1, 2).reshape(b, t, self.n_heads * self.d_head)
        return self.norm(x + self.drop(self.out(attn)))


class ConvFeedForward(nn.Module):
    """Position-wise feed-forward made of two 1-D convolutions (kernel 3 in FastPitch); post-norm residual.

    On CPU torch computes it as matrix products (`fastpitch.models.conv_ff`: faster forward and backward),
    on GPUs as convolutions, and in ONNX export as im2col matrix products (see `conv_as_matmul`).
    """

    def __init__(self, d_model: int, d_inner: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, d_inner, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(d_inner, d_model, kernel_size, padding=kernel_size // 2)
        self.drop = Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, d_model) zero on padding; mask float (B, T), or None when there is no padding."""
        if x.device.type == "cpu" and not torch.onnx.is_in_onnx_export():
            h = conv_feed_forward(x, None if mask is None else mask[:, :, None], self.conv1, self.conv2)
            return self.norm(x + self.drop(h))
        if torch.onnx.is_in_onnx_export():
            h = F.relu(conv_as_matmul(self.conv1, x))
            if mask is not None:
                h = h * mask[:, :, None]
            return self.norm(x + self.drop(conv_as_matmul(self.conv2, h)))
        # channels first, as oneDNN wants them: a channels-last view makes it up to 2x slower
        h = F.relu(self.conv1(x.transpose(1, 2)))
        if mask is not None:
            h = h * mask[:, None, :]
        return self.norm(x + self.drop(self.conv2(h).transpose(1, 2)))


class FFTBlock(nn.Module):
    """One feed-forward Transformer block: attention then conv feed-forward, padding zeroed after each."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_head: int,
        d_inner: int,
        kernel_size: int,
        dropout: float,
        dropatt: float,
    ) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, d_head, dropout, dropatt)
        self.ff = ConvFeedForward(d_model, d_inner, kernel_size, dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, key_bias: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, T, d_model); mask bool (B, T); key_bias from `attention_bias`; both None without padding."""
        if mask is None:
            return self.ff(self.attn(x, None), None)
        fmask = mask.to(x.dtype)
        x = self.attn(x, key_bias) * fmask[:, :, None]
        return self.ff(x, fmask) * fmask[:, :, None]


class FFTransformer(nn.Module):
    """A stack of FFT blocks over already-embedded inputs plus sinusoidal positions and a conditioning vector."""

    def __init__(
        self,
        n_layers: int,
        n_heads: int,
        d_model: int,
        d_head: int,
        d_inner: int,
        kernel_size: int,
        dropout: float,
        dropatt: float,
        dropemb: float = 0.0,
    ) -> None:
        super().__init__()
        self.pos_enc = PositionalEncoding(d_model)
        self.drop = Dropout(dropemb)
        self.layers = nn.ModuleList(
            FFTBlock(d_model, n_heads, d_head, d_inner, kernel_size, dropout, dropatt)
            for _ in range(n_layers)
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, conditioning: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (B, T, d_model), mask bool (B, T) or None when no sequence is padded (a batch of one: every mask
        multiply is then skipped), conditioning broadcastable to x (e.g. a speaker (B, 1, d))."""
        fmask = key_bias = None
        pos = self.pos_enc(x.size(1), x.dtype)[None]
        if mask is not None:
            fmask = mask.to(x.dtype)[:, :, None]
            pos = pos * fmask
            key_bias = attention_bias(mask, x.dtype)
        x = x + pos
        if conditioning is not None:
            x = x + conditioning
        x = self.drop(x)
        if fmask is not None:
            x = x * fmask
        for layer in self.layers:
            x = layer(x, mask, key_bias)
        return x


class ConvReLUNorm(nn.Module):
    """Conv1d → ReLU → LayerNorm → dropout, with padding zeroed so the next conv sees clean borders."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(out_channels)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), mask float (B, 1, T) -> (B, out_channels, T)."""
        h = F.relu(self.conv(x))
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        return self.drop(h) * mask


class TemporalPredictor(nn.Module):
    """Predicts one value per input symbol (log duration, pitch or energy) from the encoder output."""

    def __init__(
        self, in_channels: int, filter_size: int, kernel_size: int, dropout: float, n_layers: int = 2
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            ConvReLUNorm(in_channels if i == 0 else filter_size, filter_size, kernel_size, dropout)
            for i in range(n_layers)
        )
        self.proj = nn.Linear(filter_size, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, N, C), mask bool (B, N) -> (B, N), zero on padding."""
        fmask = mask.to(x.dtype)
        h = x.transpose(1, 2) * fmask[:, None, :]
        for layer in self.layers:
            h = layer(h, fmask[:, None, :])
        return self.proj(h.transpose(1, 2)).squeeze(-1) * fmask


class ValueEmbedding(nn.Module):
    """Embeds a per-symbol scalar (pitch or energy) to the model width with a 1-D conv (kernel 3 in FastPitch)."""

    def __init__(self, d_model: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, d_model, kernel_size, padding=kernel_size // 2)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """values (B, N), mask bool (B, N) -> (B, N, d_model), zero on padding."""
        fmask = mask.to(values.dtype)
        return self.conv((values * fmask)[:, None, :]).transpose(1, 2) * fmask[:, :, None]
