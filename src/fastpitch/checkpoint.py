"""Weights and checkpoints on disk, below models, vocoders and training (which all read or write them).

A checkpoint is a step: `step-NNNNNNN.safetensors` (tensors) + `step-NNNNNNN.json` (everything else), written by
`write_step` and read by `read_step_tensors` for every model family; `save_checkpoint` / `load_checkpoint` give
the acoustic model's layout. `load_weights` loads a state dict into a module and explains a mismatch; the
optimiser and RNG helpers turn torch state into tensors + JSON.

In the acoustic layout the safetensors file holds the model (`model.*`), the EMA weights (`ema.*`) and the optimiser's per-parameter
tensors (`optim.<index>.<name>`). The JSON holds the full config (with the symbol table), step, epoch and data
position, schedule, the optimiser's non-tensor state, the RNG state of every rank, the best validation loss and
provenance. Both are written to a temporary name, flushed to disk and renamed, the JSON last: a checkpoint exists
exactly when its JSON does, so a crash mid-save leaves the previous one valid. No pickle anywhere.
"""

from __future__ import annotations

import base64
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from fastpitch.atomic import atomic_write
from fastpitch.config import Config, ConfigError
from fastpitch.errors import FastPitchError

FORMAT = "fastpitch-train-checkpoint"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step-(\d{7,})\.json$")


class CheckpointError(FastPitchError):
    """A checkpoint that is missing, incomplete, corrupt or made for another model."""


@dataclass
class Checkpoint:
    """One training checkpoint in memory; `save_checkpoint` / `load_checkpoint` move it to and from disk."""

    config: Config
    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None = None
    optimizer: dict[str, Any] | None = None  # torch `optimizer.state_dict()` layout
    scaler: dict[str, Any] | None = None  # GradScaler state (fp16 AMP)
    epoch: int = 0
    batches_in_epoch: int = 0  # micro-batches of `epoch` already consumed, to resume mid-epoch
    ema_updates: int = 0
    rng: list[dict[str, Any]] = field(default_factory=list)  # one entry per rank
    val_loss: float | None = None
    best_val_loss: float | None = None
    best_step: int | None = None
    schedule: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the JSON file, once saved or loaded


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints (their JSON files) in `run_dir`, oldest step first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint in `run_dir`, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def best(run_dir: str | Path) -> Path | None:
    """The checkpoint with the lowest validation loss so far (as recorded by the newest one), or None."""
    newest = latest(run_dir)
    if newest is None:
        return None
    best_step = read_meta(newest).get("best_step")
    if best_step is None:
        return None
    path = Path(run_dir) / f"{checkpoint_name(best_step)}.json"
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------------------------
# saving


def write_step(
    run_dir: str | Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    tag: str,
    keep_last: int,
    best_step: int | None,
) -> Path:
    """Write one step's tensors, then its JSON (`meta` plus the tensor file's name and size), both atomically,
    then prune old steps (keeping the last `keep_last` and `best_step`). Returns the JSON path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stem = checkpoint_name(step)
    tensor_path = run_dir / f"{stem}.safetensors"
    json_path = run_dir / f"{stem}.json"
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    json_path.unlink(missing_ok=True)  # rewriting a step: it stops existing until its new JSON lands
    atomic_write(tensor_path, lambda tmp: save_file(tensors, str(tmp), metadata={"format": tag}))
    meta = {**meta, "tensors_file": tensor_path.name, "tensors_bytes": tensor_path.stat().st_size}
    text = json.dumps(meta, indent=1, default=str)
    atomic_write(json_path, lambda tmp: tmp.write_text(text))
    prune(run_dir, keep_last, best_step)
    return json_path


def save_checkpoint(run_dir: str | Path, ckpt: Checkpoint, keep_last: int = 3) -> Path:
    """Write an acoustic checkpoint atomically into `run_dir`, then drop old ones (see `write_step`)."""
    tensors: dict[str, torch.Tensor] = {}
    tensors.update(_prefixed("model.", ckpt.model))
    if ckpt.ema is not None:
        tensors.update(_prefixed("ema.", ckpt.ema))
    optim_json = None
    if ckpt.optimizer is not None:
        optim_tensors, optim_json = flatten_optimizer(ckpt.optimizer)
        tensors.update(optim_tensors)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "step": ckpt.step,
        "epoch": ckpt.epoch,
        "batches_in_epoch": ckpt.batches_in_epoch,
        "ema_updates": ckpt.ema_updates,
        "has_ema": ckpt.ema is not None,
        "val_loss": ckpt.val_loss,
        "best_val_loss": ckpt.best_val_loss,
        "best_step": ckpt.best_step,
        "schedule": ckpt.schedule,
        "optimizer": optim_json,
        "scaler": ckpt.scaler,
        "rng": ckpt.rng,
        "provenance": ckpt.provenance,
        "config": ckpt.config.to_dict(),
    }
    json_path = write_step(
        run_dir, ckpt.step, tensors, meta, tag=FORMAT, keep_last=keep_last, best_step=ckpt.best_step
    )
    ckpt.path = json_path
    return json_path


def prune(run_dir: Path, keep_last: int, best_step: int | None) -> None:
    """Remove all but the newest `keep_last` checkpoints and the best one; also orphaned tensor files."""
    complete = list_checkpoints(run_dir)
    keep = {p.stem for p in complete[-max(keep_last, 1) :]}
    if best_step is not None:
        keep.add(checkpoint_name(best_step))
    for json_path in complete:
        if json_path.stem not in keep:
            json_path.unlink(
                missing_ok=True
            )  # JSON first: the checkpoint stops existing before its tensors go
            json_path.with_suffix(".safetensors").unlink(missing_ok=True)
    for stale in run_dir.glob(".step-*.tmp-*"):
        stale.unlink(missing_ok=True)
    for tensors in run_dir.glob("step-*.safetensors"):
        if not tensors.with_suffix(".json").exists():
            tensors.unlink(missing_ok=True)


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split a torch optimiser state_dict into tensors `optim.<param index>.<name>` and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [
        {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------------------------------------------------------
# loading


def resolve(path: str | Path) -> Path:
    """Accept a run directory (its newest checkpoint), a `.json`, a `.safetensors` or a bare `step-N` stem."""
    path = given = Path(path)
    if path.is_dir():
        found = latest(path)
        if found is None:
            raise CheckpointError(f"no checkpoint (step-*.json) in {path}")
        return found
    if path.suffix != ".json":
        path = (
            path.with_suffix(".json")
            if path.suffix == ".safetensors"
            else path.with_name(path.name + ".json")
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {given} (a training run's folder, or its step-*.json)")
    return path


def read_meta(path: Path, fmt: str = FORMAT) -> dict[str, Any]:
    """A checkpoint's JSON, checked to be of format `fmt` and a version this fastpitch reads."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path} is unreadable or corrupt: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        from fastpitch.vocoders.neural import TRAIN_FORMAT as VOCODER_FORMAT

        found = meta.get("format") if isinstance(meta, dict) else None
        kinds = {FORMAT: "an acoustic model's", VOCODER_FORMAT: "a vocoder's"}
        what = kinds.get(found, "not a fastpitch") if isinstance(found, str) else "not a fastpitch"
        raise CheckpointError(
            f"{path} is {what} training checkpoint ({found!r}); {kinds.get(fmt, 'a')} one ({fmt!r}) is needed here"
        )
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {meta['format_version']}; this fastpitch reads up to "
            f"{FORMAT_VERSION}: upgrade fastpitch"
        )
    return meta


def read_step_tensors(
    json_path: Path, meta: dict[str, Any], skip: str | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of the step whose JSON is `json_path` (CPU), checked complete; keys starting `skip` are not
    read."""
    tensor_path = json_path.with_name(meta.get("tensors_file", json_path.with_suffix(".safetensors").name))
    if not tensor_path.is_file():
        raise CheckpointError(f"checkpoint {json_path} is incomplete: {tensor_path.name} is missing")
    if tensor_path.stat().st_size != meta.get("tensors_bytes"):
        raise CheckpointError(f"checkpoint {json_path} is corrupt: {tensor_path.name} has the wrong size")
    try:
        with safe_open(str(tensor_path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if skip is None or not k.startswith(skip)}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint tensors {tensor_path} are corrupt: {e}") from None


def read_config(path: str | Path) -> Config:
    """Only the config of a checkpoint (cheap: the tensors are not read)."""
    json_path = resolve(path)
    try:
        return Config.from_dict(read_meta(json_path)["config"])
    except (ConfigError, KeyError) as e:
        raise CheckpointError(f"checkpoint {json_path} has an unusable config: {e}") from None


def load_checkpoint(path: str | Path, with_optimizer: bool = True) -> Checkpoint:
    """Read a checkpoint (see `resolve` for what `path` may be); tensors land on the CPU.

    `with_optimizer=False` skips the optimiser tensors (fine-tuning and inference do not need them).
    """
    json_path = resolve(path)
    meta = read_meta(json_path)
    tensors = read_step_tensors(json_path, meta, skip=None if with_optimizer else "optim.")
    try:
        config = Config.from_dict(meta["config"])
    except (ConfigError, KeyError) as e:
        raise CheckpointError(f"checkpoint {json_path} has an unusable config: {e}") from None

    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optim": {}}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix in groups:
            groups[prefix][key if prefix == "optim" else rest] = value
    if not groups["model"]:
        raise CheckpointError(f"checkpoint {json_path} holds no model weights")
    optimizer = None
    if with_optimizer and meta.get("optimizer") is not None:
        optimizer = unflatten_optimizer(groups["optim"], meta["optimizer"])
    return Checkpoint(
        config=config,
        step=int(meta["step"]),
        model=groups["model"],
        ema=groups["ema"] if meta.get("has_ema") else None,
        optimizer=optimizer,
        scaler=meta.get("scaler"),
        epoch=int(meta.get("epoch", 0)),
        batches_in_epoch=int(meta.get("batches_in_epoch", 0)),
        ema_updates=int(meta.get("ema_updates", 0)),
        rng=meta.get("rng") or [],
        val_loss=meta.get("val_loss"),
        best_val_loss=meta.get("best_val_loss"),
        best_step=meta.get("best_step"),
        schedule=meta.get("schedule", {}),
        provenance=meta.get("provenance", {}),
        path=json_path,
    )


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """`module.load_state_dict(state)` that explains an architecture mismatch in one line."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if keys:
                shown = ", ".join(
                    f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" if label == "wrong shape" else k
                    for k in keys[:4]
                )
                more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
                parts.append(f"{label}: {shown}{more}")
        raise CheckpointError(
            f"checkpoint {source} does not fit this model (another architecture or config?); "
            + "; ".join(parts)
        )
    module.load_state_dict(state)


# --------------------------------------------------------------------------------------------------------------
# RNG state as JSON (no pickle)


def rng_state() -> dict[str, Any]:
    """This process's python, numpy, torch and CUDA generator states, as plain JSON."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [np_name, np_keys.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, gauss_np = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss_np))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_unb64(s), i)


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)
