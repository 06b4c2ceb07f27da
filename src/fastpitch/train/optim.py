"""Optimisers, learning-rate schedule and weight averaging used by `fastpitch train`.

NVIDIA trains FastPitch with LAMB (apex's `FusedLAMB`), which torch does not ship; `Lamb` below follows apex's
update rule (bias-corrected Adam moments, decoupled weight decay, per-tensor trust ratio, global gradient-norm
clipping to 1.0 inside the optimiser) with torch's multi-tensor `_foreach` kernels, so it needs no extension.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable

import torch
from torch import nn

from fastpitch.checkpoint import load_weights
from fastpitch.config import TrainConfig
from fastpitch.errors import FastPitchError

OPTIMIZERS = ("lamb", "adam")


class Lamb(torch.optim.Optimizer):
    """Layer-wise adaptive moments (You et al., 2020) as in apex FusedLAMB (adam_w_mode, bias correction).

    update = m̂ / (sqrt(v̂) + eps) + weight_decay * w;   w -= lr * (‖w‖ / ‖update‖) * update
    The trust ratio is 1 when either norm is zero. Gradients are first clipped (in place, as
    `clip_grad_norm_` does) to a global norm of `max_grad_norm` (apex's default 1.0; 0 turns it off).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        max_grad_norm: float = 1.0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(
                f"invalid LAMB hyperparameters lr={lr} betas={betas} eps={eps} wd={weight_decay}"
            )
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
        self.max_grad_norm = max_grad_norm

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = [(g, [p for p in g["params"] if p.grad is not None]) for g in self.param_groups]
        all_grads = [p.grad for _, ps in groups for p in ps]
        if not all_grads:
            return loss
        if self.max_grad_norm > 0:
            global_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(all_grads)))
            torch._foreach_div_(all_grads, torch.clamp(global_norm / self.max_grad_norm, min=1.0))
        for group, params in groups:
            if params:
                self._update(group, params)
        return loss

    def _update(self, group: dict, params: list[torch.Tensor]) -> None:
        """The LAMB update of one parameter group, in place: one temporary the size of the group.

        With c = sqrt(bc2) / bc1 (bias corrections), m̂ / (sqrt(v̂) + eps) = c * m / (sqrt(v) + eps * sqrt(bc2)),
        so u = m / (sqrt(v) + eps * sqrt(bc2)) + (wd / c) * w is the update divided by c, and the trust ratio
        ‖w‖ / ‖c u‖ times c u is just ‖w‖ / ‖u‖ times u: c only matters where the ratio falls back to 1.
        """
        beta1, beta2 = group["betas"]
        exp_avgs, exp_avg_sqs, steps = [], [], []
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        torch._foreach_add_(steps, 1.0)
        t = float(steps[0])
        grads = [p.grad for p in params]
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)

        bc2_sqrt = math.sqrt(1 - beta2**t)
        c = bc2_sqrt / (1 - beta1**t)
        u = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(u, group["eps"] * bc2_sqrt)
        torch._foreach_reciprocal_(u)
        torch._foreach_mul_(u, exp_avgs)
        if group["weight_decay"] != 0:
            torch._foreach_add_(u, params, alpha=group["weight_decay"] / c)
        w_norm = torch.stack(torch._foreach_norm(params))
        u_norm = torch.stack(torch._foreach_norm(u))
        scale = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.full_like(w_norm, c))
        # w -= (lr * scale) * u in one pass over each tensor (the scales broadcast as 0-d tensors)
        torch._foreach_addcmul_(params, u, list((scale * group["lr"]).unbind()), value=-1.0)


def freeze_parameters(model: nn.Module, prefixes: list[str]) -> int:
    """Keep the parameters whose names start with one of `prefixes` fixed; returns how many were frozen.

    A prefix that names no parameter is an error: a typo would otherwise train what was meant to stay fixed.
    """
    names = [name for name, _ in model.named_parameters()]
    unknown = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if unknown:
        roots = sorted({n.split(".")[0] for n in names})
        raise FastPitchError(
            f"train.freeze: {', '.join(map(repr, unknown))} names no parameter; the model's parts: {', '.join(roots)}"
        )
    frozen = 0
    for name, param in model.named_parameters():
        if name.startswith(tuple(prefixes)):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named by `train.optimizer`, with the config's betas, eps and weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = {
        "lr": cfg.learning_rate,
        "betas": tuple(cfg.betas),
        "eps": cfg.eps,
        "weight_decay": cfg.weight_decay,
    }
    if cfg.optimizer == "lamb":
        return Lamb(params, **kwargs)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs, foreach=True)
    raise FastPitchError(f"unknown optimizer {cfg.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")


def noam_scale(step: int, warmup_steps: int) -> float:
    """Noam warm-up as in NVIDIA FastPitch, normalised so that the peak (at `warmup_steps`) is 1.

    Linear rise for `warmup_steps` updates, then decay as 1/sqrt(step). `step` counts updates from 1.
    NVIDIA's un-normalised form (their lr 0.1) equals ours with lr = 0.1 / sqrt(warmup_steps).
    """
    if warmup_steps <= 0:
        return 1.0
    step = max(step, 1)
    return min(step**-0.5, step * warmup_steps**-1.5) * warmup_steps**0.5


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int) -> float:
    """Set every group's lr for update number `step` (from 1) and return it."""
    lr = cfg.learning_rate * noam_scale(step, cfg.warmup_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


class EMA:
    """Exponential moving average of a model's weights, kept as a full copy so it can run validation.

    The decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates, so that short CPU runs
    still get a useful average instead of one dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_params = list(self.module.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - decay)
        for b_ema, b in zip(self.module.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        load_weights(self.module, state, "the checkpoint's weight average")
        self.updates = updates
