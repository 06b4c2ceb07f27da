"""FastPitch's training loss: L = mel MSE + α·pitch MSE + γ·log-duration MSE (+ energy) (+ aligner terms).

Every term is averaged over real positions only (frames for the mel, symbols for the predictors), so padding
never dilutes or biases it. The aligner adds its forward-sum loss and, after `binarization_start_step`, a
binarization loss whose weight ramps up linearly over `binarization_warmup_steps`.
"""

from __future__ import annotations

import torch
from torch import nn

from fastpitch.config import TrainConfig
from fastpitch.models.aligner import binarization_loss, forward_sum_loss


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the positions where the (broadcastable) bool `mask` is set."""
    mask = mask.to(pred.dtype).expand_as(pred)
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp(min=1)


class FastPitchLoss(nn.Module):
    """Weighted sum of the FastPitch terms; returns (total, terms) with every term detached for logging."""

    def __init__(self, train_cfg: TrainConfig) -> None:
        super().__init__()
        self.cfg = train_cfg

    def kl_weight(self, step: int) -> float:
        """Binarization weight: 0 before the start step, then a linear ramp up to `kl_loss_weight`."""
        cfg = self.cfg
        if step < cfg.binarization_start_step:
            return 0.0
        ramp = (step - cfg.binarization_start_step + 1) / max(cfg.binarization_warmup_steps, 1)
        return min(ramp, 1.0) * cfg.kl_loss_weight

    def forward(
        self, outputs: dict, batch: dict, step: int = 0
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        text_mask, mel_mask = outputs["text_mask"], outputs["mel_mask"]
        terms: dict[str, torch.Tensor] = {}

        terms["mel"] = masked_mse(outputs["mel_out"], batch["mel"], mel_mask[:, None, :])
        log_dur_tgt = torch.log(outputs["dur_tgt"].float() + 1.0)
        terms["duration"] = masked_mse(outputs["log_dur_pred"], log_dur_tgt, text_mask)
        terms["pitch"] = masked_mse(outputs["pitch_pred"], outputs["pitch_tgt"], text_mask)
        total = (
            terms["mel"]
            + cfg.duration_loss_weight * terms["duration"]
            + cfg.pitch_loss_weight * terms["pitch"]
        )

        if outputs.get("energy_pred") is not None:
            terms["energy"] = masked_mse(outputs["energy_pred"], outputs["energy_tgt"], text_mask)
            total = total + cfg.energy_loss_weight * terms["energy"]

        if outputs.get("attn_logprob") is not None:
            terms["attn"] = forward_sum_loss(outputs["attn_logprob"], batch["text_lens"], batch["mel_lens"])
            total = total + cfg.attn_loss_weight * terms["attn"]
            kl_weight = self.kl_weight(step)
            if kl_weight > 0:
                terms["kl"] = binarization_loss(outputs["attn_hard"], outputs["attn_soft"])
                total = total + kl_weight * terms["kl"]

        terms = {name: value.detach() for name, value in terms.items()}
        terms["total"] = total.detach()
        return total, terms
