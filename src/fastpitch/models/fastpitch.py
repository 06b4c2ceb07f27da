"""FastPitch (Łańcucki, 2021), readable top to bottom, with the learned aligner of FastPitch 1.1.

    symbols ─► embedding ─► encoder FFTr ─► h ─┬─► duration predictor (log domain)
                                               ├─► pitch predictor ─────► p
                                               └─ g = h + PitchEmbedding(p) (+ EnergyEmbedding(e))
    g ─► length regulator (g_i repeated d_i times) ─► decoder FFTr ─► linear ─► mel (B, n_mels, T)

Training uses ground-truth durations (external timings, or MAS over the learned alignment) and per-symbol
averages of the ground-truth pitch and energy; inference uses the predictions, with pace, pitch and energy
controls. Pitch is normalised per speaker; the model keeps each speaker's mean and std in Hz as buffers so that
shifts in semitones and range scaling happen in Hz. The aligner is only needed for training: build the model
with `aligner=False` to load an inference state dict (see `inference_state_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from fastpitch.config import ConfigError, ModelConfig
from fastpitch.errors import FastPitchError
from fastpitch.models.aligner import (
    AlignmentEncoder,
    average_per_symbol,
    beta_binomial_log_prior,
    durations_to_alignment,
    edge_silence,
    hard_durations,
    symbol_index,
)
from fastpitch.models.layers import FFTransformer, TemporalPredictor, ValueEmbedding, mask_from_lens
from fastpitch.text.symbols import WORD_BOUNDARY

MAX_DURATION = 75  # frames per symbol at inference (NVIDIA's clamp)


def length_regulate(x: torch.Tensor, durations: torch.Tensor, n_frames: int | torch.Tensor) -> torch.Tensor:
    """Repeat each x_i (B, N, C) durations_i times -> (B, n_frames, C); frames past the total are zeros.

    A gather through the cumulative durations: no Python loop, no (T, N) matrix, and it exports to ONNX.
    """
    idx = symbol_index(durations, n_frames)  # index N points at the appended zero row
    x = torch.cat([x, x.new_zeros(x.size(0), 1, x.size(2))], dim=1)
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.size(2)))


def _check(cfg: ModelConfig) -> None:
    if cfg.n_symbols < 2:
        raise ConfigError("model.n_symbols is not set: it comes from the symbol table")
    widths = {cfg.symbols_embedding_dim, cfg.in_fft_output_size, cfg.out_fft_output_size}
    if len(widths) != 1:
        raise ConfigError(
            "model.symbols_embedding_dim, in_fft_output_size and out_fft_output_size must be equal, "
            f"got {sorted(widths)}"
        )
    if cfg.symbols_embedding_dim % 2:
        raise ConfigError(f"model.symbols_embedding_dim must be even, got {cfg.symbols_embedding_dim}")
    if cfg.n_speakers < 1:
        raise ConfigError(f"model.n_speakers must be at least 1, got {cfg.n_speakers}")
    if cfg.pitch_embedding_stats not in ("shared", "speaker"):
        raise ConfigError(
            f"model.pitch_embedding_stats must be shared or speaker, got {cfg.pitch_embedding_stats!r}"
        )


def _fftr(cfg: ModelConfig, side: str, d: int) -> FFTransformer:
    """The encoder (`side="in"`) or decoder (`"out"`) stack from NVIDIA's `in_fft_*` / `out_fft_*` fields."""

    def field(name: str, prefix: str = "") -> Any:
        return getattr(cfg, f"{prefix}{side}_fft_{name}")

    return FFTransformer(
        field("n_layers"),
        field("n_heads"),
        d,
        field("d_head"),
        field("conv1d_filter_size"),
        field("conv1d_kernel_size"),
        field("dropout", "p_"),
        field("dropatt", "p_"),
        field("dropemb", "p_"),
    )


def _predictor(cfg: ModelConfig, kind: str, d: int) -> TemporalPredictor:
    """The duration, pitch or energy predictor from its `<kind>_predictor_*` fields."""
    return TemporalPredictor(
        d,
        getattr(cfg, f"{kind}_predictor_filter_size"),
        getattr(cfg, f"{kind}_predictor_kernel_size"),
        getattr(cfg, f"p_{kind}_predictor_dropout"),
        getattr(cfg, f"{kind}_predictor_n_layers"),
    )


class FastPitch(nn.Module):
    """The FastPitch acoustic model: symbol ids (+ speaker) -> mel spectrogram, durations and pitch."""

    def __init__(self, model_cfg: ModelConfig, aligner: bool | None = None) -> None:
        super().__init__()
        _check(model_cfg)
        cfg = self.cfg = model_cfg
        d = cfg.symbols_embedding_dim

        self.embedding = nn.Embedding(cfg.n_symbols, d, padding_idx=0)
        self.speaker_embedding = nn.Embedding(cfg.n_speakers, d) if cfg.n_speakers > 1 else None
        self.encoder = _fftr(cfg, "in", d)
        self.duration_predictor = _predictor(cfg, "dur", d)
        self.pitch_predictor = _predictor(cfg, "pitch", d)
        self.pitch_embedding = ValueEmbedding(d, cfg.pitch_embedding_kernel_size)
        self.energy_predictor = self.energy_embedding = None
        if cfg.energy_conditioning:
            self.energy_predictor = _predictor(cfg, "energy", d)
            self.energy_embedding = ValueEmbedding(d, cfg.energy_embedding_kernel_size)
        self.decoder = _fftr(cfg, "out", d)
        self.proj = nn.Linear(d, cfg.n_mels)

        use_aligner = cfg.learn_alignment if aligner is None else aligner
        self.aligner = (
            AlignmentEncoder(
                cfg.n_mels,
                d,
                cfg.aligner_n_text_channels,
                cfg.aligner_n_mel_channels,
                cfg.aligner_n_att_channels,
                cfg.aligner_temperature,
            )
            if use_aligner
            else None
        )
        # Per-speaker pitch statistics in Hz (voiced frames): the predictor's targets are normalised with them.
        self.register_buffer("pitch_mean", torch.zeros(cfg.n_speakers))
        self.register_buffer("pitch_std", torch.ones(cfg.n_speakers))
        # The scale (Hz) pitch enters the pitch embedding in with shared stats, per speaker (all equal); with
        # per-speaker stats it is `pitch_mean` and `pitch_std`, so such models keep the weights they had.
        if cfg.pitch_embedding_stats == "shared":
            self.register_buffer("pitch_embed_mean", torch.zeros(cfg.n_speakers))
            self.register_buffer("pitch_embed_std", torch.ones(cfg.n_speakers))
        # MAS cost per frame of each symbol id (a training setting, see `set_boundary_cost`; not saved with weights).
        self.register_buffer("mas_cost", torch.zeros(cfg.n_symbols), persistent=False)
        self.edge_silence: tuple[int, float] | None = None  # a training setting too: see `set_edge_silence`

    # ---------------------------------------------------------------- helpers

    def set_pitch_stats(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        """Store each speaker's pitch mean and std in Hz (one value is used for every speaker)."""
        n = self.cfg.n_speakers
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() not in (1, n) or std_t.numel() not in (1, n):
            raise FastPitchError(
                f"pitch stats need 1 or {n} values, got {mean_t.numel()} and {std_t.numel()}"
            )
        if bool((std_t <= 0).any()):
            raise FastPitchError(f"pitch std must be positive, got {std_t.tolist()}")
        mean_t, std_t = mean_t.expand(n), std_t.expand(n)
        self.pitch_mean.copy_(mean_t)
        self.pitch_std.copy_(std_t)
        if self.cfg.pitch_embedding_stats == "shared":  # a first scale; training sets its data's pooled one
            self.set_pitch_embedding_scale(float(mean_t.mean()), float(std_t.mean()))

    def set_pitch_embedding_scale(self, mean: float, std: float) -> None:
        """The shared pitch embedding's input scale in Hz, for every speaker: the data's voiced frames pooled,
        or the scale of the model fine-tuned from."""
        if self.cfg.pitch_embedding_stats != "shared":
            raise FastPitchError("this model scales pitch per speaker (model.pitch_embedding_stats=speaker)")
        if not std > 0:
            raise FastPitchError(f"pitch embedding std must be positive, got {std}")
        self.pitch_embed_mean.fill_(mean)
        self.pitch_embed_std.fill_(std)

    def _embed_pitch(
        self, pitch: torch.Tensor, speaker: torch.Tensor, text_mask: torch.Tensor
    ) -> torch.Tensor:
        """The pitch embedding of per-symbol pitch in Hz."""
        shared = self.cfg.pitch_embedding_stats == "shared"
        mean = (self.pitch_embed_mean if shared else self.pitch_mean)[speaker][:, None]
        std = (self.pitch_embed_std if shared else self.pitch_std)[speaker][:, None]
        return self.pitch_embedding((pitch - mean) / std, text_mask)

    def set_boundary_cost(self, symbols: Sequence[str], cost: float) -> None:
        """Let MAS give the word boundary of `symbols` (the run's table) zero frames where it sounds like nothing,
        charging `cost` nats per frame it takes. A word boundary has no sound of its own unless the speaker
        pauses, yet without a cost MAS gives each one at least a frame, taken from the phones around it
        (festival's timings give most boundaries none). 0 keeps every symbol at one frame or more. The cost
        applies to the durations the model learns from; the aligner's binarization target stays plain MAS."""
        self.mas_cost.zero_()
        if WORD_BOUNDARY in symbols:
            self.mas_cost[list(symbols).index(WORD_BOUNDARY)] = max(cost, 0.0)

    def set_edge_silence(self, symbols: Sequence[str], drop: float) -> None:
        """Let the edge word boundaries of the durations the model learns take the silence around each
        recording: frames at the ends more than `drop` (log energy) below its loudest (`edge_silence`). 0 or a
        table without word boundaries turns it off."""
        on = drop > 0 and WORD_BOUNDARY in symbols
        self.edge_silence = (list(symbols).index(WORD_BOUNDARY), drop) if on else None

    def mas_durations(
        self,
        attn_logprob: torch.Tensor,
        text: torch.Tensor,
        text_lens: torch.Tensor,
        mel_lens: torch.Tensor,
        boundary_cost: bool = True,
    ) -> torch.Tensor:
        """Hard durations (B, N) from the aligner's output by MAS, with this model's boundary cost unless
        `boundary_cost=False` (plain MAS, every symbol at least one frame)."""
        cost = self.mas_cost[text] if boundary_cost and bool(self.mas_cost.any()) else None
        return hard_durations(attn_logprob, text_lens, mel_lens, cost)

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights inference needs: everything but the aligner."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("aligner.")}

    def _speaker(self, speaker: torch.Tensor | None, batch_size: int, device: torch.device) -> torch.Tensor:
        if speaker is None:
            return torch.zeros(batch_size, dtype=torch.long, device=device)
        speaker = torch.as_tensor(speaker, dtype=torch.long, device=device).flatten()
        return speaker.expand(batch_size) if speaker.numel() == 1 else speaker

    def _encode(self, text: torch.Tensor, text_mask: torch.Tensor | None, speaker: torch.Tensor):
        """Symbol embeddings and the encoder output h, conditioned on the speaker when there are several."""
        emb = self.embedding(text)
        cond = None
        if self.speaker_embedding is not None:
            cond = self.speaker_embedding(speaker)[:, None, :] * self.cfg.speaker_emb_weight
        return emb, self.encoder(emb, text_mask, cond)

    # ---------------------------------------------------------------- training

    def align(self, batch: dict) -> torch.Tensor:
        """The aligner alone: (B, T, N) log-probabilities of each mel frame over the symbols.

        Cheap next to `forward` (no encoder, predictors or decoder): warming up an aligner on a frozen model,
        or scoring how well each transcript matches its audio.
        """
        if self.aligner is None:
            raise FastPitchError("this model has no aligner")
        text, text_lens = batch["text"], batch["text_lens"]
        mel, mel_lens = batch["mel"], batch["mel_lens"]
        text_mask = mask_from_lens(text_lens, text.size(1))
        mel_mask = mask_from_lens(mel_lens, mel.size(2))
        log_prior = beta_binomial_log_prior(text_lens, mel_lens, text.size(1), mel.size(2))
        attn_logprob, _ = self.aligner(mel, self.embedding(text), text_mask, mel_mask, log_prior)
        return attn_logprob

    def forward(self, batch: dict) -> dict:
        """Training pass with ground-truth durations, pitch and energy (see the loader's batch contract)."""
        text, text_lens = batch["text"], batch["text_lens"]
        mel, mel_lens = batch["mel"], batch["mel_lens"]
        n_frames = mel.size(2)
        text_mask = mask_from_lens(text_lens, text.size(1))
        mel_mask = mask_from_lens(mel_lens, n_frames)
        speaker = self._speaker(batch.get("speaker"), text.size(0), text.device)

        emb, h = self._encode(text, text_mask, speaker)
        log_dur_pred = self.duration_predictor(h, text_mask)
        pitch_pred = self.pitch_predictor(h, text_mask)

        attn_logprob = attn_soft = attn_hard = None
        if self.aligner is not None:
            log_prior = beta_binomial_log_prior(text_lens, mel_lens, text.size(1), n_frames)
            attn_logprob, attn_soft = self.aligner(mel, emb, text_mask, mel_mask, log_prior)
        durations = binarize_to = batch.get("durations")
        if durations is None:
            if attn_logprob is None:
                raise FastPitchError("the batch has no durations and the model has no aligner to learn them")
            durations = binarize_to = self.mas_durations(attn_logprob, text, text_lens, mel_lens)
            if bool(self.mas_cost.any()):
                # The boundary cost shapes the durations FastPitch learns, not the attention: binarized towards
                # the costed path, the aligner agreed less with reference timings (`fastpitch bench align`).
                binarize_to = self.mas_durations(attn_logprob, text, text_lens, mel_lens, boundary_cost=False)
            if self.edge_silence is not None and "energy" in batch:
                boundary, drop = self.edge_silence
                durations = edge_silence(
                    durations, text, text_lens, batch["energy"], mel_lens, boundary, drop
                )
        durations = durations * text_mask
        if not torch.equal(durations.sum(dim=1), mel_lens):
            raise FastPitchError("external durations must sum to each utterance's mel length")
        if attn_soft is not None:
            attn_hard = durations_to_alignment(binarize_to * text_mask, n_frames)

        voiced = batch.get("voiced")
        voiced = (batch["pitch"] != 0) if voiced is None else voiced
        pitch_tgt = average_per_symbol(batch["pitch"], voiced & mel_mask, durations)
        hz = pitch_tgt * self.pitch_std[speaker][:, None] + self.pitch_mean[speaker][:, None]
        g = h + self._embed_pitch(hz, speaker, text_mask)

        energy_pred = energy_tgt = None
        if self.energy_predictor is not None:
            energy_pred = self.energy_predictor(g, text_mask)
            energy_tgt = average_per_symbol(batch["energy"], mel_mask, durations)
            g = g + self.energy_embedding(energy_tgt, text_mask)

        frames = length_regulate(g, durations, n_frames)
        mel_out = self.proj(self.decoder(frames, mel_mask)).transpose(1, 2) * mel_mask[:, None, :]
        return {
            "mel_out": mel_out,
            "log_dur_pred": log_dur_pred,
            "dur_tgt": durations,
            "pitch_pred": pitch_pred,
            "pitch_tgt": pitch_tgt,
            "energy_pred": energy_pred,
            "energy_tgt": energy_tgt,
            "attn_soft": attn_soft,
            "attn_hard": attn_hard,
            "attn_logprob": attn_logprob,
            "text_mask": text_mask,
            "mel_mask": mel_mask,
        }

    # ---------------------------------------------------------------- inference

    @torch.no_grad()
    def infer(
        self,
        text: torch.Tensor,
        text_lens: torch.Tensor,
        speaker: torch.Tensor | int | None = None,
        pace: float = 1.0,
        pitch_shift: float = 0.0,
        pitch_range: float = 1.0,
        energy: float = 1.0,
        durations: torch.Tensor | None = None,
        pitch: torch.Tensor | None = None,
        energies: torch.Tensor | None = None,
        padded: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Synthesize mels from symbol ids (B, N) and lengths (B,).

        Each control is a number or a (B, N) tensor with one value per symbol (speech markup's spans).
        pace > 1 speaks faster (2.0 halves the length); pitch_shift is in semitones; pitch_range scales the
        distance from the speaker's mean pitch (0 flattens the melody); energy scales the predicted loudness
        contour (1.0 = as predicted). `durations` (B, N) frames, `pitch` (B, N) Hz and `energies` (B, N) log
        energy are values to use as they are (a prosody document, possibly edited): NaN where the model should
        predict; the controls apply to the predicted values only, so feeding back what a call returned gives
        the same mel. `padded=False` is for a batch of one unpadded sequence: the transformers then skip
        every mask (the same numbers, fewer operations). Returns mel (B, n_mels, T), mel_lens (B,), durations
        (B, N) in frames, pitch (B, N) in Hz and energy (B, N) (log energy; zeros without energy
        conditioning), all after the controls.
        """
        if not torch.jit.is_tracing() and not (
            bool((torch.as_tensor(pace) > 0).all())
            and bool((torch.as_tensor(energy) > 0).all())
            and bool((torch.as_tensor(pitch_range) >= 0).all())
        ):
            raise FastPitchError(
                f"pace and energy must be positive and pitch_range not negative, got {pace}, {energy}, {pitch_range}"
            )
        if not padded and text.size(0) != 1:
            raise FastPitchError(f"padded=False needs a batch of one sequence, got {text.size(0)}")
        text_mask = mask_from_lens(text_lens, text.size(1))
        fmask = text_mask.float()
        speaker = self._speaker(speaker, text.size(0), text.device)
        _, h = self._encode(text, text_mask if padded else None, speaker)

        predicted = (torch.exp(self.duration_predictor(h, text_mask)) - 1).clamp(0, MAX_DURATION)
        frames = predicted * fmask / pace
        if durations is not None:
            frames = _given(durations, frames) * fmask
        # Round the cumulative durations, not each one: the total stays round(sum / pace).
        ends = torch.round(torch.cumsum(frames, dim=1)).clamp(min=1)
        dur = (ends - torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], dim=1)).long()

        mean, std = self.pitch_mean[speaker][:, None], self.pitch_std[speaker][:, None]
        hz = self.pitch_predictor(h, text_mask) * std + mean
        hz = (mean + (hz - mean) * pitch_range) * (2.0 ** (pitch_shift / 12.0))
        if pitch is not None:
            hz = _given(pitch, hz)
        g = h + self._embed_pitch(hz, speaker, text_mask)

        e = torch.zeros_like(hz)
        if self.energy_predictor is not None:
            # Energy targets are log frame norms (`fastpitch.audio.frame_energy`): scaling is an offset.
            # A tensor log keeps `energy` an input of the exported ONNX graph (a float log would fold it).
            log_energy = torch.log(torch.as_tensor(energy, dtype=g.dtype, device=g.device))
            e = self.energy_predictor(g, text_mask) + log_energy
            if energies is not None:
                e = _given(energies, e)
            g = g + self.energy_embedding(e, text_mask)

        mel_lens = dur.sum(dim=1)
        n_frames = mel_lens.max()
        frames = length_regulate(g, dur, n_frames)
        if padded:
            mel_mask = mask_from_lens(mel_lens, n_frames)
            mel = self.proj(self.decoder(frames, mel_mask)).transpose(1, 2) * mel_mask[:, None, :]
        else:
            mel = self.proj(self.decoder(frames, None)).transpose(1, 2)
        return {"mel": mel, "mel_lens": mel_lens, "durations": dur, "pitch": hz * fmask, "energy": e * fmask}


def _given(values: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """`values` where they are numbers, `predicted` where they are NaN (a prosody document's gaps)."""
    values = values.to(predicted.dtype)
    return torch.where(torch.isnan(values), predicted, values)
