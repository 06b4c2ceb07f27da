"""Training the acoustic model (`fastpitch train`): one code path for CPU, one GPU and DDP under torchrun.

Read top to bottom: `Engine` makes one optimisation step; `Trainer.__init__` builds data, model, optimiser and
EMA (fresh, resumed or initialised from another checkpoint); the loop itself (`Trainer.run`: validating,
checkpointing, non-finite handling, logs, progress) is the skeleton in `fastpitch.train.runner` that the vocoder
shares.

What a long run relies on:
- resume is exact: weights, EMA, optimiser, schedule (a function of the step), every rank's RNG states and the
  position in the epoch are checkpointed, and data order depends only on (seed, epoch), so `--resume` at step
  k reproduces an uninterrupted run bit for bit;
- a non-finite loss or gradient skips the update (the weights never see it), is logged, and
  `train.max_nonfinite_steps` of them in a row stop the run with a clear message; a checkpoint is only written
  from finite weights;
- only rank 0 writes checkpoints, TensorBoard and metrics; validation is sharded over the ranks and its sums
  all-reduced, so every rank takes the same decisions (best checkpoint, saving) at the same steps.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.profiler import record_function

from fastpitch import __version__
from fastpitch import checkpoint as ckpt_io
from fastpitch.config import Config
from fastpitch.errors import FastPitchError
from fastpitch.text import get_symbol_table
from fastpitch.train.augment import PitchShiftAugment
from fastpitch.train.data import TrainData
from fastpitch.train.distributed import Distributed
from fastpitch.train.optim import EMA, build_optimizer, freeze_parameters, set_learning_rate
from fastpitch.train.runner import (
    Cadence,
    NonFiniteLossError,
    Run,
    amp_dtype,
    autocast,
    preserved_rng,
    seed_everything,
    setup_device,
    to_device,
)

log = logging.getLogger(__name__)

__all__ = ["Engine", "NonFiniteLossError", "RunOptions", "TrainResult", "Trainer", "train"]


@dataclass
class RunOptions:
    """Where the data comes from, where the run lives, and how it starts."""

    features: Path
    out_dir: Path
    dataset: Path | None = None
    timings: Path | None = None  # external durations' folder; None: the dataset's timings/
    resume: bool = False
    init_from: Path | None = None
    device: str | None = None  # cpu | cuda | cuda:N; None picks CUDA when available
    progress: bool = True
    command: list[str] = field(default_factory=list)  # recorded in the provenance
    deadline: float | None = None  # time.monotonic() at which to stop early, with a checkpoint
    on_step: Callable[[int, int], None] | None = None  # (step, max_steps) after each update


@dataclass
class TrainResult:
    step: int
    epoch: int
    best_val_loss: float | None
    last_checkpoint: Path | None
    frames_per_second: float


# ------------------------------------------------------------------------------------------------- helpers


class EpochBatches:
    """Endless batch sampler: epoch after epoch of `sampler`, starting at a saved (epoch, batch) position.

    The DataLoader pulls batches from here in the main process, ahead of the loop (prefetch); `issued` records
    each batch's position in order, so the loop pops the position of the batch it actually consumes.
    """

    def __init__(self, sampler: Any, epoch: int, skip: int) -> None:
        self.sampler, self.epoch, self.skip = sampler, epoch, skip
        self.issued: collections.deque[tuple[int, int]] = collections.deque()

    def __iter__(self) -> Iterator[list[int]]:
        epoch, skip = self.epoch, self.skip
        while True:
            self.sampler.set_epoch(epoch)
            batches = list(self.sampler)
            if not batches:
                raise FastPitchError("the training split gives no batch: too few utterances for one batch")
            for i in range(skip, len(batches)):
                self.issued.append((epoch, i + 1))
                yield batches[i]
            epoch, skip = epoch + 1, 0


# ------------------------------------------------------------------------------------------------- engine


def build_model(cfg: Config) -> torch.nn.Module:
    """A FastPitch whose training pass finds durations as the run's config says (boundary cost, edge silence)."""
    from fastpitch.models import FastPitch

    model = FastPitch(cfg.model)
    model.set_boundary_cost(cfg.text.symbols, cfg.train.mas_boundary_cost)
    if cfg.text.edge_boundaries:
        model.set_edge_silence(cfg.text.symbols, cfg.train.edge_silence)
    return model


class Engine:
    """Model, loss, optimiser, gradient scaler and EMA: one optimisation step, wherever batches come from.

    `Trainer` feeds it batches from the features cache; `fastpitch bench train` feeds it synthetic ones.
    """

    def __init__(self, cfg: Config, device: torch.device, dist: Distributed | None = None) -> None:
        from fastpitch.models import FastPitchLoss

        self.cfg, self.device, self.dist = cfg, device, dist or Distributed()
        tc = cfg.train
        if tc.grad_accumulation < 1:
            raise FastPitchError(f"train.grad_accumulation must be at least 1, got {tc.grad_accumulation}")
        self.amp_dtype = amp_dtype(tc.amp, device)
        self.raw_model = build_model(cfg).to(device)
        freeze_parameters(self.raw_model, tc.freeze)
        self.model: torch.nn.Module = self.raw_model
        self.criterion = FastPitchLoss(tc)
        self.optimizer = build_optimizer(self.raw_model, tc)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ema = EMA(self.raw_model, tc.ema_decay) if tc.ema_decay > 0 else None
        self.step = 0  # optimiser updates done
        self.updating = False  # True while weights, optimiser state and EMA are being changed

    def reset_ema(self) -> None:
        """Start the average from the current weights (after loading weights into a fresh model)."""
        if self.ema is not None:
            self.ema.load_state_dict(self.raw_model.state_dict(), 0)

    def wrap_ddp(self) -> None:
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.raw_model, device_ids=ids)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp_dtype)

    def train_step(self, micro_batches: list[dict[str, Any]]) -> dict[str, Any]:
        """One update over `micro_batches` (gradient accumulation); skipped if the loss or gradient is not finite.

        Returns the loss terms averaged over micro-batches and ranks, `frames` (all ranks), `grad_norm`, `lr`
        and `finite` (False: no update happened).
        """
        tc = self.cfg.train
        self.model.train()
        n = len(micro_batches)
        sums: dict[str, torch.Tensor] = {}
        frames = 0
        for i, batch in enumerate(micro_batches):
            frames += int(batch["mel_lens"].sum())
            batch = to_device(batch, self.device)
            sync = i == n - 1 or not self.dist.enabled
            with contextlib.nullcontext() if sync else self.model.no_sync():
                with record_function("forward"), self.autocast():
                    outputs = self.model(batch)
                with record_function("loss"):
                    loss, terms = self.criterion(outputs, batch, self.step + 1)
                with record_function("backward"):
                    self.scaler.scale(loss / n).backward()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.float() / n

        with record_function("optimizer"):
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), tc.grad_clip)
            names = list(sums)
            extra = [grad_norm.float(), torch.tensor(float(frames), device=grad_norm.device)]
            packed = torch.stack([sums[k].reshape(()) for k in names] + [x.reshape(()) for x in extra])
            self.dist.all_reduce_mean(packed)  # the gradient norm is the same on every rank already
            values = packed.tolist()
            stats: dict[str, Any] = dict(zip(names, values[:-2], strict=True))
            stats["grad_norm"] = values[-2]
            stats["frames"] = round(values[-1] * self.dist.world_size)
            loss_ok = math.isfinite(stats["total"])
            stats["lr"] = set_learning_rate(self.optimizer, tc, self.step + 1)
            self.updating = True
            if self.scaler.is_enabled():
                # fp16: an overflowing gradient is the scaler's business (it skips the update, lowers the scale).
                if loss_ok:
                    self.scaler.step(self.optimizer)
                self.scaler.update()
                stats["finite"] = loss_ok
            else:
                stats["finite"] = loss_ok and math.isfinite(stats["grad_norm"])
                if stats["finite"]:
                    self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if stats["finite"]:
            self.step += 1
            if self.ema is not None:
                with record_function("ema"):
                    self.ema.update(self.raw_model)
        self.updating = False
        return stats


# ------------------------------------------------------------------------------------------------- trainer


class Trainer(Run):
    """Build everything a run needs from `cfg` and `opts`; `run()` trains."""

    def __init__(self, cfg: Config, opts: RunOptions) -> None:
        self.opts = opts
        self.device, self.dist = setup_device(opts.device)
        self.out_dir = Path(opts.out_dir)
        self.progress_enabled = opts.progress
        self.deadline, self.on_step = opts.deadline, opts.on_step

        resume_from = self._find_resume()
        init = ckpt_io.load_checkpoint(opts.init_from, with_optimizer=False) if opts.init_from else None
        if resume_from is not None and init is not None:
            raise FastPitchError(
                "--resume and --init-from exclude each other: the run already has checkpoints"
            )
        self.cfg = cfg = self._settle_config(cfg, resume_from, init)

        seed_everything(cfg.train.seed)
        self.data = TrainData(
            cfg,
            opts.features,
            opts.dataset,
            self.dist,
            strict_audio=bool(resume_from or init),
            pin_memory=self.device.type == "cuda",
            timings=opts.timings or self._resumed_timings(resume_from),
        )
        self._check_data_fits(cfg)
        self.engine = Engine(cfg, self.device, self.dist)
        self.engine.raw_model.set_pitch_stats(*self.data.pitch_stats())
        if cfg.model.pitch_embedding_stats == "shared":
            self.engine.raw_model.set_pitch_embedding_scale(*self.data.cache.pooled_pitch_stats())
        if init is not None:
            self._init_from(init)
        self.engine.reset_ema()

        self.epoch, self.batches_in_epoch = 0, 0
        tc = cfg.train
        self.cadence = Cadence(
            tc.max_steps, tc.log_every, tc.val_every, tc.checkpoint_every, tc.max_nonfinite_steps
        )
        if resume_from is not None:
            self._restore(resume_from)
        else:
            # Same initial weights on every rank (DDP also broadcasts them), different dropout afterwards.
            seed_everything(cfg.train.seed + 1000 * self.dist.rank + 1)
        self.engine.wrap_ddp()

    @property
    def step(self) -> int:
        return self.engine.step

    # ------------------------------------------------------------------ setup

    def _find_resume(self) -> ckpt_io.Checkpoint | None:
        existing = ckpt_io.latest(self.out_dir)
        if existing is None:
            if self.opts.resume:
                log.warning("--resume: no checkpoint in %s yet; starting a new run", self.out_dir)
            return None
        if not self.opts.resume:
            raise FastPitchError(
                f"{self.out_dir} already holds checkpoints (latest {existing.name}); pass --resume to continue "
                "that run, or choose another --out"
            )
        return ckpt_io.load_checkpoint(existing)

    def _settle_config(
        self, cfg: Config, resume: ckpt_io.Checkpoint | None, init: ckpt_io.Checkpoint | None
    ) -> Config:
        """The config the run uses.

        A resumed run keeps its model, text and audio sections (and durations mode); `--init-from` takes the
        source's model and audio sections and its symbol table, unless this run names a table that extends it.
        """
        cfg = copy.deepcopy(cfg)
        if cfg.train.durations not in ("learned", "external"):
            raise FastPitchError(f"unknown train.durations {cfg.train.durations!r}; use learned or external")
        if resume is not None:
            old = resume.config
            for section in ("model", "text", "audio"):
                if _settable(getattr(cfg, section)) != _settable(getattr(old, section)):
                    log.warning(
                        "--resume keeps the checkpoint's %s config; ignoring a different one", section
                    )
                setattr(cfg, section, copy.deepcopy(getattr(old, section)))
            if cfg.train.durations != old.train.durations:
                log.warning("--resume keeps train.durations=%s", old.train.durations)
                cfg.train.durations = old.train.durations
        elif init is not None:
            old = init.config
            mode = cfg.model.pitch_embedding_stats
            cfg.model, cfg.audio = copy.deepcopy(old.model), copy.deepcopy(old.audio)
            if old.model.n_speakers == 1:  # one speaker has one pitch scale, which new speakers can share
                cfg.model.pitch_embedding_stats = mode
            if cfg.text.symbol_set == old.text.symbol_set and cfg.text.symbols in ([], old.text.symbols):
                cfg.text.symbols = list(old.text.symbols)
            else:
                cfg.text.symbols = _extend_symbols(old.text.symbols, cfg.text, init.path)
        if not cfg.text.symbols:
            cfg.text.symbols = list(get_symbol_table(cfg.text.symbol_set).symbols)
        cfg.model.n_symbols = len(cfg.text.symbols)
        cfg.model.learn_alignment = cfg.train.durations == "learned"
        return cfg

    def _check_data_fits(self, cfg: Config) -> None:
        n = self.data.n_speakers
        if cfg.model.n_speakers != n:
            log.info("model.n_speakers set to %d from the data", n)
            cfg.model.n_speakers = n

    def _init_from(self, init: ckpt_io.Checkpoint) -> None:
        """Fine-tune: take the weights; what the new data changes starts afresh.

        A different speaker count renews the speaker embedding: each new speaker starts from the source speaker
        whose mean pitch is nearest its own (a man's voice from the source's male speaker: a closer start than
        a random vector, which matters for a few hundred CPU steps), or at random when the source had one. A
        single new speaker has no embedding, so its source speaker's vector is added to every symbol's
        embedding instead, which the encoder sums with it anyway: the encoder starts out computing exactly what
        it did for that speaker. Symbols added to the table get fresh embedding rows, an aligner the source
        lacks starts from scratch, and the pitch statistics are the new data's. A shared pitch embedding keeps
        the source's scale (its first speaker's), which it learned.
        """
        own = self.engine.raw_model.state_dict()
        state = {
            k: v
            for k, v in init.model.items()
            if k in own or not k.startswith(("speaker_embedding.", "aligner."))
        }
        renewed = ("speaker_embedding.", "aligner.")
        fresh = [
            k for k in own if k.startswith(renewed) and (k not in state or state[k].shape != own[k].shape)
        ]
        fresh += ["pitch_mean", "pitch_std"]  # statistics of the new data
        if self.cfg.model.pitch_embedding_stats == "shared":  # the scale the source's embedding learned
            shared = "pitch_embed_mean" in init.model
            mean = init.model["pitch_embed_mean" if shared else "pitch_mean"][0]
            std = init.model["pitch_embed_std" if shared else "pitch_std"][0]
            own["pitch_embed_mean"] = torch.full_like(own["pitch_embed_mean"], float(mean))
            own["pitch_embed_std"] = torch.full_like(own["pitch_embed_std"], float(std))
            fresh += ["pitch_embed_mean", "pitch_embed_std"]
        state.update({k: own[k] for k in fresh})
        source_speakers = init.model.get("speaker_embedding.weight")
        if source_speakers is not None and (
            "speaker_embedding.weight" in fresh or "speaker_embedding.weight" not in own
        ):
            nearest = nearest_speakers(init.model["pitch_mean"], own["pitch_mean"])
            if "speaker_embedding.weight" in own:
                state["speaker_embedding.weight"] = source_speakers[nearest].clone()
            else:
                vector = source_speakers[nearest[0]] * init.config.model.speaker_emb_weight
                state["embedding.weight"] = state["embedding.weight"] + vector
            log.info(
                "--init-from: new speaker(s) start from the source's speaker(s) %s (nearest pitch)", nearest
            )
        elif any(k.startswith("speaker_embedding.") for k in fresh):
            log.info(
                "--init-from: the speaker embedding starts afresh (%d speaker(s))", self.cfg.model.n_speakers
            )
        old_rows, new_rows = state["embedding.weight"], own["embedding.weight"]
        if old_rows.shape[0] < new_rows.shape[0]:
            grown = new_rows.clone()
            grown[: old_rows.shape[0]] = old_rows
            state["embedding.weight"] = grown
        ckpt_io.load_weights(self.engine.raw_model, state, init.path)
        log.info("initialised from %s (step %d)", init.path, init.step)

    def _restore(self, ck: ckpt_io.Checkpoint) -> None:
        ckpt_io.load_weights(self.engine.raw_model, ck.model, ck.path)
        if ck.optimizer is None:
            raise ckpt_io.CheckpointError(f"{ck.path} holds no optimizer state: it cannot be resumed")
        try:
            self.engine.optimizer.load_state_dict(ck.optimizer)
        except (ValueError, KeyError) as e:
            raise ckpt_io.CheckpointError(f"optimizer state in {ck.path} does not fit: {e}") from None
        if self.engine.ema is not None:
            self.engine.ema.load_state_dict(ck.ema if ck.ema is not None else ck.model, ck.ema_updates)
        if ck.scaler:
            self.engine.scaler.load_state_dict(ck.scaler)
        self.engine.step, self.epoch, self.batches_in_epoch = ck.step, ck.epoch, ck.batches_in_epoch
        self.best_val, self.best_step = ck.best_val_loss, ck.best_step
        self.last_checkpoint = ck.path
        if len(ck.rng) == self.dist.world_size:
            ckpt_io.set_rng_state(ck.rng[self.dist.rank])
        else:
            log.warning(
                "checkpoint has RNG states for %d rank(s), this run has %d: reseeding (resume not bit-exact)",
                len(ck.rng),
                self.dist.world_size,
            )
            seed_everything(self.cfg.train.seed + 1000 * self.dist.rank + ck.step)
        log.info("resumed from %s at step %d (epoch %d)", ck.path.name, ck.step, ck.epoch)

    # ------------------------------------------------------------------ training

    def start(self) -> None:
        if self.dist.is_main:
            self.cfg.save(self.out_dir / "config.json")
        self._batches = EpochBatches(self.data.train_sampler, self.epoch, self.batches_in_epoch)
        tc, model = self.cfg.train, self.engine.raw_model
        self.augment = PitchShiftAugment(
            self.cfg.audio, tc.pitch_augment, tc.pitch_augment_semitones, model.pitch_mean, model.pitch_std
        )
        self._stream = iter(self.data.loader(self._batches))

    def update(self) -> dict[str, Any]:
        # The data position moves once the step is taken: a Ctrl-C checkpoint from inside it (see
        # `checkpoint_rng`) then has --resume draw this step's batches again, as an uninterrupted run would.
        micro, positions = [], []
        for _ in range(self.cfg.train.grad_accumulation):
            micro.append(self.augment(next(self._stream)))
            positions.append(self._batches.issued.popleft())
        stats = self.engine.train_step(micro)
        self.epoch, self.batches_in_epoch = positions[-1]
        return stats

    def run(self) -> TrainResult:
        """Train until `train.max_steps` (see `Run.run`); Ctrl-C saves a checkpoint first."""
        fps = super().run()
        return TrainResult(self.step, self.epoch, self.best_val, self.last_checkpoint, fps)

    def consistent(self) -> bool:
        return not self.engine.updating

    def context(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def validate(self) -> float | None:
        """Losses of the EMA weights (the ones a voice ships) on the validation split; images and audio on rank 0.

        Returns the mel loss, the term that stays comparable over the run (the aligner terms change weight).
        Runs under a saved-and-restored RNG state, so validating never changes what training does next.
        """
        if self.data.val_loader is None:
            return None
        with preserved_rng(self.device):
            means, first = self._val_losses()
            if self.dist.is_main:
                self.log_val(means)
                if self.run_log.writer is not None and self.cfg.train.val_media:
                    self._val_media(*first)
        return means["mel"]

    def _val_losses(self) -> tuple[dict[str, float], tuple[torch.nn.Module, dict, dict]]:
        model = self.engine.ema.module if self.engine.ema is not None else self.engine.raw_model
        was_training = model.training
        model.eval()
        totals: dict[str, float] = {}
        weight = 0.0
        first = None
        for batch in self.data.val_loader:
            batch = to_device(batch, self.device)
            with self.engine.autocast():
                outputs = model(batch)
            _, terms = self.engine.criterion(outputs, batch, self.step)
            frames = float(batch["mel_lens"].sum())
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value) * frames
            weight += frames
            if first is None:
                first = (model, batch, outputs)
        model.train(was_training)
        # Each rank saw its share of the validation set: sum over ranks, so every rank gets the same means
        # (and takes the same checkpointing decisions).
        names = sorted(totals)
        packed = torch.tensor([totals[k] for k in names] + [weight], dtype=torch.float64, device=self.device)
        values = self.dist.all_reduce_sum(packed).tolist()
        return {k: v / values[-1] for k, v in zip(names, values[:-1], strict=True)}, first

    def _val_media(self, model: torch.nn.Module, batch: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Images of the first validation utterance, and Griffin-Lim audio of what the model says for its text."""
        from fastpitch.train import figures
        from fastpitch.vocoders.griffin_lim import griffin_lim

        for tag, fig in figures.validation_figures(batch, outputs):
            self.run_log.writer.add_figure(f"val/{tag}", fig, self.step)
        sr = self.cfg.audio.sample_rate
        inferred = model.infer(batch["text"][:1], batch["text_lens"][:1], speaker=batch["speaker"][:1])
        mels = {"synthesized": inferred["mel"][0, :, : int(inferred["mel_lens"][0])]}
        if self.step <= self.cfg.train.val_every:  # the ground truth once, as a reference
            mels["ground_truth"] = batch["mel"][0, :, : int(batch["mel_lens"][0])]
        for tag, mel in mels.items():
            self.run_log.audio(
                f"val/{tag}", griffin_lim(mel.float().cpu().numpy(), self.cfg.audio), sr, self.step
            )

    # ------------------------------------------------------------------ checkpoints and logs

    def save(self, val_loss: float | None) -> Path | None:
        """Checkpoint the current step (rank 0 writes; every rank contributes its RNG state)."""
        path = self.out_dir / f"{ckpt_io.checkpoint_name(self.step)}.json"
        if self.last_checkpoint == path:
            return path  # this step is on disk already (e.g. Ctrl-C right after a save)
        rng = self.dist.gather_json(self.checkpoint_rng(), self.device)
        if not self.dist.is_main:  # every rank records what rank 0 writes, so all take the same branches
            self.last_checkpoint = path
            return None
        tc = self.cfg.train
        norms = torch.stack(torch._foreach_norm([p.detach() for p in self.engine.raw_model.parameters()]))
        if not bool(torch.isfinite(norms).all()):
            raise NonFiniteLossError(f"the weights at step {self.step} are not finite: no checkpoint written")
        ck = ckpt_io.Checkpoint(
            config=self.cfg,
            step=self.step,
            model=self.engine.raw_model.state_dict(),
            ema=self.engine.ema.state_dict() if self.engine.ema is not None else None,
            optimizer=self.engine.optimizer.state_dict(),
            scaler=self.engine.scaler.state_dict() if self.engine.scaler.is_enabled() else None,
            epoch=self.epoch,
            batches_in_epoch=self.batches_in_epoch,
            ema_updates=self.engine.ema.updates if self.engine.ema is not None else 0,
            rng=rng,
            val_loss=val_loss,
            best_val_loss=self.best_val,
            best_step=self.best_step,
            schedule={"name": "noam", "learning_rate": tc.learning_rate, "warmup_steps": tc.warmup_steps},
            provenance=self._provenance(),
        )
        self.last_checkpoint = ckpt_io.save_checkpoint(self.out_dir, ck, keep_last=self.cfg.train.keep_last)
        log.debug("saved %s", self.last_checkpoint)
        return self.last_checkpoint

    @staticmethod
    def _resumed_timings(resume_from: ckpt_io.Checkpoint | None) -> str | None:
        """The timings folder a resumed run was trained on (`--timings`), so a resume without it goes on so."""
        return None if resume_from is None else resume_from.provenance.get("timings")

    def _provenance(self) -> dict[str, Any]:
        return {
            "fastpitch_version": __version__,
            "torch_version": torch.__version__,
            "features": str(self.data.cache.root),
            "speakers": list(self.data.cache.speakers),  # names in speaker-id order
            "dataset": str(self.opts.dataset) if self.opts.dataset else None,
            "durations": self.cfg.train.durations,
            "timings": str(self.data.timings) if self.data.timings is not None else None,
            "world_size": self.dist.world_size,
            "device": self.device.type,
            "init_from": str(self.opts.init_from) if self.opts.init_from else None,
            "command": self.opts.command,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


def nearest_speakers(source_hz: torch.Tensor, target_hz: torch.Tensor) -> list[int]:
    """For each target speaker's mean pitch, the source speaker whose mean pitch is nearest on a log scale."""
    source, target = (torch.log(t.float().clamp(min=1.0)) for t in (source_hz, target_hz))
    return (target[:, None] - source[None, :]).abs().argmin(dim=1).tolist()


DERIVED_FIELDS = ("n_symbols", "n_speakers", "learn_alignment", "symbols")  # set from the data and the run


def _settable(section: Any) -> dict[str, Any]:
    """A config section without the fields the run derives itself (for comparing what a user asked for)."""
    return {k: v for k, v in dataclasses.asdict(section).items() if k not in DERIVED_FIELDS}


def _extend_symbols(old: list[str], text_cfg: Any, source: Any) -> list[str]:
    """This run's symbol table, accepted for fine-tuning only if it starts with the checkpoint's table."""
    new = list(text_cfg.symbols) or list(get_symbol_table(text_cfg.symbol_set).symbols)
    if new[: len(old)] != list(old):
        i = next(
            (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new))
        )
        theirs = old[i] if i < len(old) else "(end)"
        mine = new[i] if i < len(new) else "(end)"
        raise FastPitchError(
            f"--init-from {source}: its symbol table ({len(old)} symbols) is not a prefix of this run's "
            f"{text_cfg.symbol_set!r} ({len(new)}): symbol {i} is {theirs!r} there and {mine!r} here"
        )
    return new


def train(cfg: Config, opts: RunOptions) -> TrainResult:
    """Build a `Trainer` and run it; the process group (if any) is closed afterwards."""
    trainer = Trainer(cfg, opts)
    try:
        return trainer.run()
    finally:
        trainer.dist.close()
