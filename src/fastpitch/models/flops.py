"""Analytic FLOPs of FastPitch per mel frame, for throughput-versus-peak figures in the training bench.

Counts the multiply-adds of matrix products and convolutions (2 FLOPs each); normalisations, activations,
softmaxes, the length regulator and MAS are ignored (a few percent at most). Per-symbol work is spread over
the frames through `frames_per_symbol`, and attention's quadratic part uses the mean sequence lengths.
A training step costs about three forward passes (forward, and backward for inputs and weights).
"""

from __future__ import annotations

from fastpitch.config import ModelConfig


def _fft_flops(
    n_layers: int, d: int, n_heads: int, d_head: int, d_inner: int, kernel: int, length: float
) -> float:
    """Forward FLOPs per position of an FFTr stack over sequences of `length` positions."""
    inner = n_heads * d_head
    qkv_out = 2 * d * 3 * inner + 2 * inner * d
    attention = 2 * 2 * length * inner  # scores and the weighted sum
    conv_ff = 2 * 2 * d * d_inner * kernel
    return n_layers * (qkv_out + attention + conv_ff)


def _predictor_flops(d_in: int, filters: int, kernel: int, n_layers: int) -> float:
    convs = sum(2 * (d_in if i == 0 else filters) * filters * kernel for i in range(n_layers))
    return convs + 2 * filters


def count_flops_per_frame(
    model_cfg: ModelConfig,
    frames_per_symbol: float = 6.0,
    mean_frames: float = 600.0,
    training: bool = True,
) -> float:
    """FLOPs per mel frame of one training step (or one forward pass with `training=False`).

    Defaults fit LJSpeech-like speech with phonemes: about 6 frames (70 ms) per symbol, 7 s utterances.
    The aligner counts only when `model_cfg.learn_alignment` (it runs in training only).
    """
    cfg = model_cfg
    d = cfg.symbols_embedding_dim
    n_symbols = mean_frames / frames_per_symbol

    per_symbol = _fft_flops(
        cfg.in_fft_n_layers,
        d,
        cfg.in_fft_n_heads,
        cfg.in_fft_d_head,
        cfg.in_fft_conv1d_filter_size,
        cfg.in_fft_conv1d_kernel_size,
        n_symbols,
    )
    per_symbol += _predictor_flops(
        d, cfg.dur_predictor_filter_size, cfg.dur_predictor_kernel_size, cfg.dur_predictor_n_layers
    )
    per_symbol += _predictor_flops(
        d, cfg.pitch_predictor_filter_size, cfg.pitch_predictor_kernel_size, cfg.pitch_predictor_n_layers
    )
    per_symbol += 2 * d * cfg.pitch_embedding_kernel_size
    if cfg.energy_conditioning:
        per_symbol += _predictor_flops(
            d,
            cfg.energy_predictor_filter_size,
            cfg.energy_predictor_kernel_size,
            cfg.energy_predictor_n_layers,
        )
        per_symbol += 2 * d * cfg.energy_embedding_kernel_size

    per_frame = _fft_flops(
        cfg.out_fft_n_layers,
        d,
        cfg.out_fft_n_heads,
        cfg.out_fft_d_head,
        cfg.out_fft_conv1d_filter_size,
        cfg.out_fft_conv1d_kernel_size,
        mean_frames,
    )
    per_frame += 2 * d * cfg.n_mels

    if training and cfg.learn_alignment:
        hid_t, hid_m, att = (
            cfg.aligner_n_text_channels,
            cfg.aligner_n_mel_channels,
            cfg.aligner_n_att_channels,
        )
        per_symbol += 2 * (d * hid_t * 3 + hid_t * att)
        per_frame += 2 * (cfg.n_mels * hid_m * 3 + hid_m * cfg.n_mels + cfg.n_mels * att)
        per_frame += 2 * n_symbols * att  # the frame-symbol distance matrix

    forward = per_frame + per_symbol / frames_per_symbol
    return 3.0 * forward if training else forward
