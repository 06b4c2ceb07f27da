"""FastPitch: shapes, masking, padding invariance, overfitting, inference controls, speakers, loss, FLOPs.

The shape, padding and learning tests run on the CPU, or on the device named by FASTPITCH_TEST_DEVICE.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from fastpitch.config import ConfigError, preset
from fastpitch.errors import FastPitchError
from fastpitch.models import FastPitch, FastPitchLoss, count_flops_per_frame
from fastpitch.models.fastpitch import length_regulate

N_SYMBOLS = 20
DEVICE = os.environ.get("FASTPITCH_TEST_DEVICE", "cpu")
# The same numbers to float rounding. cuDNN picks its convolution algorithm per shape, so on CUDA a padded
# batch sums in another order (differences of a few 1e-5); a leak would move outputs by far more.
CLOSE = {"atol": 1e-5, "rtol": 1e-5} if DEVICE == "cpu" else {"atol": 2e-4, "rtol": 1e-3}


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models on a shared 2-core machine run faster and steadier on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(*overrides: str):
    return preset("tiny", [f"model.n_symbols={N_SYMBOLS}", *overrides])


def synthetic_batch(b: int = 8, max_symbols: int = 10, seed: int = 0, n_speakers: int = 1) -> dict:
    """A collate-shaped batch of speech-like utterances: each symbol has its own mel template.

    Frames of a symbol repeat its (zero-mean) template plus noise for 2-4 frames, so a model that learns the
    symbol → spectrum map and the durations can drive the mel loss far down.
    """
    g = torch.Generator().manual_seed(seed)
    templates = torch.randn(N_SYMBOLS, 80, generator=g)
    text_lens = torch.randint(5, max_symbols + 1, (b,), generator=g)
    text_lens[0] = max_symbols
    n = int(text_lens.max())
    text_mask = torch.arange(n)[None] < text_lens[:, None]
    text = torch.randint(1, N_SYMBOLS, (b, n), generator=g) * text_mask
    durations = torch.randint(2, 5, (b, n), generator=g) * text_mask
    mel_lens = durations.sum(1)
    t = int(mel_lens.max())
    mel = torch.zeros(b, 80, t)
    frame_symbol = torch.zeros(b, t, dtype=torch.long)
    for i in range(b):
        owner = torch.repeat_interleave(torch.arange(n), durations[i])
        frame_symbol[i, : len(owner)] = text[i, owner]
        mel[i, :, : len(owner)] = templates[text[i, owner]].T + 0.1 * torch.randn(80, len(owner), generator=g)
    frame_mask = torch.arange(t)[None] < mel_lens[:, None]
    voiced = frame_mask & (frame_symbol % 3 != 0)
    pitch = torch.sin(frame_symbol.float()) * voiced
    energy = mel.exp().norm(dim=1).log() * frame_mask
    return {
        "ids": [f"u{i}" for i in range(b)],
        "text": text,
        "text_lens": text_lens,
        "mel": mel,
        "mel_lens": mel_lens,
        "pitch": pitch,
        "voiced": voiced,
        "energy": energy,
        "speaker": torch.arange(b) % n_speakers,
        "durations": durations,
    }


def on_device(batch: dict) -> dict:
    return {k: v.to(DEVICE) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def without(batch: dict, key: str) -> dict:
    return {k: v for k, v in batch.items() if k != key}


def pad_batch(batch: dict, extra_symbols: int, extra_frames: int) -> dict:
    """The same utterances with more zero padding on the symbol and frame axes."""
    out = dict(batch)
    for key in ("text", "durations"):
        out[key] = torch.nn.functional.pad(batch[key], (0, extra_symbols))
    for key in ("pitch", "voiced", "energy", "mel"):
        out[key] = torch.nn.functional.pad(batch[key], (0, extra_frames))
    return out


def select(batch: dict, i: int) -> dict:
    """Utterance i alone, cut to its own lengths (no padding at all)."""
    n, t = int(batch["text_lens"][i]), int(batch["mel_lens"][i])
    out = {"ids": [batch["ids"][i]], "text_lens": batch["text_lens"][i : i + 1]}
    out["mel_lens"], out["speaker"] = batch["mel_lens"][i : i + 1], batch["speaker"][i : i + 1]
    out["text"], out["durations"] = batch["text"][i : i + 1, :n], batch["durations"][i : i + 1, :n]
    for key in ("pitch", "voiced", "energy"):
        out[key] = batch[key][i : i + 1, :t]
    out["mel"] = batch["mel"][i : i + 1, :, :t]
    return out


def test_forward_shapes_and_masked_outputs():
    cfg = tiny_cfg()
    model = FastPitch(cfg.model).to(DEVICE)
    batch = on_device(synthetic_batch(b=4))
    b, n = batch["text"].shape
    t = batch["mel"].shape[2]
    for external in (True, False):
        out = model(batch if external else without(batch, "durations"))
        assert out["mel_out"].shape == (b, 80, t)
        for key in ("log_dur_pred", "dur_tgt", "pitch_pred", "pitch_tgt", "energy_pred", "energy_tgt"):
            assert out[key].shape == (b, n), key
            assert torch.all(out[key][~out["text_mask"]] == 0), f"{key} leaks into padding"
        for key in ("attn_soft", "attn_hard", "attn_logprob"):
            assert out[key].shape == (b, t, n)
        assert torch.all(out["mel_out"].transpose(1, 2)[~out["mel_mask"]] == 0)
        assert torch.equal(out["dur_tgt"].sum(1), batch["mel_lens"])
        if external:
            assert torch.equal(out["dur_tgt"], batch["durations"])


def test_padding_does_not_leak():
    """Each utterance alone (no padding), in its batch, and in an over-padded batch: the same numbers."""
    torch.manual_seed(0)
    model = FastPitch(tiny_cfg().model).eval().to(DEVICE)
    batch = on_device(synthetic_batch(b=3))
    for learned in (False, True):
        src = without(batch, "durations") if learned else batch
        with torch.no_grad():
            full = model(src)
            padded = model(
                pad_batch(src, 4, 17) if not learned else without(pad_batch(batch, 4, 17), "durations")
            )
            for i in range(3):
                one = model(select(batch, i) if not learned else without(select(batch, i), "durations"))
                n, t = int(batch["text_lens"][i]), int(batch["mel_lens"][i])
                for out in (full, padded):
                    torch.testing.assert_close(out["mel_out"][i, :, :t], one["mel_out"][0], **CLOSE)
                    for key in ("log_dur_pred", "pitch_pred", "energy_pred", "pitch_tgt", "energy_tgt"):
                        torch.testing.assert_close(out[key][i, :n], one[key][0], **CLOSE)
                    assert torch.equal(out["dur_tgt"][i, :n], one["dur_tgt"][0])
                    torch.testing.assert_close(out["attn_soft"][i, :t, :n], one["attn_soft"][0], **CLOSE)
    # Inference too: a sentence synthesized alone or in a padded batch.
    model.set_pitch_stats(150.0, 30.0)
    text, lens = batch["text"], batch["text_lens"]
    with torch.no_grad():
        together = model.infer(torch.nn.functional.pad(text, (0, 5)), lens)
        for i in range(3):
            alone = model.infer(text[i : i + 1, : int(lens[i])], lens[i : i + 1])
            t = int(alone["mel_lens"][0])
            assert int(together["mel_lens"][i]) == t
            torch.testing.assert_close(together["mel"][i, :, :t], alone["mel"][0], **CLOSE)


def test_a_batch_of_one_without_masks_gives_the_same_numbers():
    """`padded=False` skips every mask in the transformers (the runtime's batch-of-one graph): the output must
    not change, and a padded batch must be refused rather than silently attend to its padding."""
    torch.manual_seed(0)
    model = FastPitch(tiny_cfg().model).eval().to(DEVICE)
    model.set_pitch_stats(150.0, 30.0)
    text = torch.randint(1, N_SYMBOLS, (1, 23)).to(DEVICE)
    lens = torch.tensor([23], device=DEVICE)
    with torch.no_grad():
        masked = model.infer(text, lens, pace=1.2, pitch_shift=1.0)
        unmasked = model.infer(text, lens, pace=1.2, pitch_shift=1.0, padded=False)
    for key in ("mel", "mel_lens", "durations", "pitch"):
        assert torch.equal(masked[key], unmasked[key]), key
    with pytest.raises(FastPitchError, match="padded=False needs a batch of one"):
        model.infer(text.repeat(2, 1), lens.repeat(2), padded=False)


def test_every_parameter_learns_and_gradients_are_finite():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = FastPitch(cfg.model).to(DEVICE)
    batch = on_device(without(synthetic_batch(b=4), "durations"))
    total, terms = FastPitchLoss(cfg.train)(model(batch), batch, step=10_000)
    assert set(terms) == {"mel", "duration", "pitch", "energy", "attn", "kl", "total"}
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_overfits_eight_utterances_with_the_learned_aligner():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = FastPitch(cfg.model).to(DEVICE)
    loss_fn = FastPitchLoss(cfg.train)
    batch = on_device(without(synthetic_batch(b=8), "durations"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = last = None
    for step in range(120):
        total, terms = loss_fn(model(batch), batch, step)
        opt.zero_grad()
        total.backward()
        opt.step()
        first = terms["mel"].item() if first is None else first
        last = terms["mel"].item()
    assert last <= 0.2 * first, (first, last)


def test_inference_controls():
    torch.manual_seed(0)
    model = FastPitch(tiny_cfg().model, aligner=False).eval()
    model.set_pitch_stats(120.0, 20.0)
    batch = synthetic_batch(b=2)
    text, lens = batch["text"], batch["text_lens"]
    durations = batch["durations"].float() * 2  # even: pace 2 halves every one exactly
    base = model.infer(text, lens, durations=durations)
    assert torch.equal(base["durations"], durations.long())
    assert torch.equal(base["mel_lens"], base["durations"].sum(1))
    assert base["mel"].shape == (2, 80, int(base["mel_lens"].max()))

    kept = model.infer(text, lens, durations=durations, pace=2.0)  # given values are final: no pace on them
    assert torch.equal(kept["durations"], base["durations"])
    predicted = model.infer(text, lens)
    slow = model.infer(text, lens, pace=0.5)
    assert torch.allclose(slow["mel_lens"].float(), predicted["mel_lens"].float() * 2, atol=1)

    up = model.infer(text, lens, durations=durations, pitch_shift=12.0)
    mask = torch.arange(text.size(1))[None] < lens[:, None]
    torch.testing.assert_close(up["pitch"][mask], 2 * base["pitch"][mask])
    flat = model.infer(text, lens, durations=durations, pitch_range=0.0)
    torch.testing.assert_close(flat["pitch"][mask], torch.full_like(flat["pitch"][mask], 120.0))
    assert not torch.allclose(up["mel"], base["mel"])
    louder = model.infer(text, lens, durations=durations, energy=2.0)
    assert not torch.allclose(louder["mel"], base["mel"])

    # Durations and pitch given back (as an editor would) reproduce the same mel.
    again = model.infer(text, lens, durations=base["durations"], pitch=base["pitch"])
    torch.testing.assert_close(again["mel"], base["mel"])
    with pytest.raises(FastPitchError):
        model.infer(text, lens, pace=0.0)


def test_speaker_embedding_and_per_speaker_pitch():
    torch.manual_seed(0)
    cfg = tiny_cfg("model.n_speakers=3")
    model = FastPitch(cfg.model)
    assert model.speaker_embedding is not None
    batch = synthetic_batch(b=4, n_speakers=3)
    out = model(batch)
    assert out["mel_out"].shape[0] == 4
    model.eval()
    model.set_pitch_stats([100.0, 200.0, 300.0], [10.0, 20.0, 30.0])
    text, lens = batch["text"][:1], batch["text_lens"][:1]
    d = batch["durations"][:1].float()
    a = model.infer(text, lens, speaker=0, durations=d)
    b = model.infer(text, lens, speaker=torch.tensor([2]), durations=d)
    assert not torch.allclose(a["mel"], b["mel"])
    # Pitch lives in each speaker's own Hz: a flattened melody sits on that speaker's mean.
    for speaker, mean in ((0, 100.0), (2, 300.0)):
        flat = model.infer(text, lens, speaker=speaker, durations=d, pitch_range=0.0)["pitch"]
        torch.testing.assert_close(flat, torch.full_like(flat, mean))
    with pytest.raises(FastPitchError):
        model.set_pitch_stats([100.0, 200.0], [10.0, 20.0])


def test_the_pitch_embedding_scale_is_shared_or_each_speakers_own():
    torch.manual_seed(0)
    shared = FastPitch(tiny_cfg("model.n_speakers=2").model).eval()
    shared.set_pitch_stats([100.0, 200.0], [10.0, 30.0])
    assert shared.pitch_embed_mean.tolist() == [150.0, 150.0]  # a first guess, until training sets the pool
    shared.set_pitch_embedding_scale(160.0, 50.0)
    assert shared.pitch_embed_mean.tolist() == [160.0, 160.0] and shared.pitch_embed_std.tolist() == [
        50.0,
        50.0,
    ]
    # The same Hz enters the embedding the same way for both speakers.
    batch = synthetic_batch(b=1, n_speakers=2)
    hz = torch.full(batch["text"].shape, 200.0)
    mask = torch.ones_like(hz, dtype=torch.bool)
    torch.testing.assert_close(
        shared._embed_pitch(hz, torch.tensor([0]), mask), shared._embed_pitch(hz, torch.tensor([1]), mask)
    )

    # Per speaker (the models made before the choice): no buffers of its own, each speaker's statistics.
    own = FastPitch(tiny_cfg("model.n_speakers=2", "model.pitch_embedding_stats=speaker").model).eval()
    assert not any(k.startswith("pitch_embed_") for k in own.state_dict())
    own.set_pitch_stats([100.0, 200.0], [10.0, 30.0])
    a = own._embed_pitch(torch.full_like(hz, 100.0), torch.tensor([0]), mask)
    b = own._embed_pitch(torch.full_like(hz, 200.0), torch.tensor([1]), mask)
    torch.testing.assert_close(a, b)  # each at its own speaker's mean
    with pytest.raises(FastPitchError, match="per speaker"):
        own.set_pitch_embedding_scale(150.0, 50.0)
    with pytest.raises(ConfigError, match="pitch_embedding_stats"):
        FastPitch(tiny_cfg("model.pitch_embedding_stats=global").model)


def test_inference_weights_leave_the_aligner_out():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    trained = FastPitch(cfg.model).eval()
    trained.set_pitch_stats(150.0, 25.0)
    state = trained.inference_state_dict()
    assert state and not any(k.startswith("aligner.") for k in state)
    assert "pitch_mean" in state and "pitch_std" in state
    bare = FastPitch(cfg.model, aligner=False).eval()
    bare.load_state_dict(state)  # strict: nothing missing, nothing extra
    batch = synthetic_batch(b=2)
    a = trained.infer(batch["text"], batch["text_lens"])
    b = bare.infer(batch["text"], batch["text_lens"])
    torch.testing.assert_close(a["mel"], b["mel"])
    with pytest.raises(FastPitchError, match="no aligner"):
        bare(without(batch, "durations"))
    wrong = dict(batch, durations=batch["durations"] + 1)
    with pytest.raises(FastPitchError, match="sum"):
        bare(wrong)


def test_length_regulator_repeats_symbols():
    x = torch.arange(6.0).view(1, 3, 2)
    out = length_regulate(x, torch.tensor([[2, 0, 1]]), 4)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 1.0], [0.0, 1.0], [4.0, 5.0], [0.0, 0.0]]))


def test_loss_terms_are_masked_and_binarization_waits_for_its_step():
    cfg = tiny_cfg("train.binarization_start_step=100", "train.binarization_warmup_steps=10")
    model = FastPitch(cfg.model)
    loss_fn = FastPitchLoss(cfg.train)
    batch = without(synthetic_batch(b=3), "durations")
    out = model(batch)
    _, early = loss_fn(out, batch, step=99)
    assert "kl" not in early
    total, late = loss_fn(out, batch, step=100)
    assert "kl" in late and loss_fn.kl_weight(100) == pytest.approx(0.1) and loss_fn.kl_weight(500) == 1.0
    # Garbage in padded positions of predictions and targets changes no term.
    noisy_out, noisy_batch = dict(out), dict(batch)
    tm, mm = out["text_mask"], out["mel_mask"]
    for key in ("log_dur_pred", "pitch_pred", "energy_pred"):
        noisy_out[key] = out[key].masked_fill(~tm, 1e3)
    noisy_out["mel_out"] = out["mel_out"].masked_fill(~mm[:, None, :], -1e3)
    noisy_batch["mel"] = batch["mel"].masked_fill(~mm[:, None, :], 7.0)
    total2, terms2 = loss_fn(noisy_out, noisy_batch, step=100)
    torch.testing.assert_close(total2, total)
    for name in late:
        torch.testing.assert_close(terms2[name], late[name])


def test_flops_per_frame_scale_with_the_config():
    default, small, tiny = (preset(p).model for p in ("default", "small", "tiny"))
    assert count_flops_per_frame(default) > count_flops_per_frame(small) > count_flops_per_frame(tiny) > 0
    assert count_flops_per_frame(default, training=True) == pytest.approx(
        3 * count_flops_per_frame(default, training=False) + 3 * _aligner_forward_flops(default), rel=1e-9
    )
    # The decoder dominates: about 2 x (conv FF + projections) per layer and frame at the default size.
    d = 384
    per_layer = 2 * (2 * 3 * d * 1536) + 2 * (3 * 64 * d + 64 * d)
    assert count_flops_per_frame(default, training=False) > 6 * per_layer


def _aligner_forward_flops(cfg) -> float:
    with_aligner = count_flops_per_frame(cfg, training=True) / 3
    cfg_off = preset("default", ["model.learn_alignment=false"]).model
    return with_aligner - count_flops_per_frame(cfg_off, training=True) / 3


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="n_symbols"):
        FastPitch(preset("tiny").model)
    with pytest.raises(ConfigError, match="equal"):
        FastPitch(tiny_cfg("model.out_fft_output_size=48").model)
    assert math.isfinite(count_flops_per_frame(tiny_cfg().model))


# ------------------------------------------------------------------------------------------------ CPU kernels


@pytest.mark.parametrize("kernel", [3, 5])
def test_feed_forward_as_matrix_products_equals_the_convolutions(kernel):
    """`conv_feed_forward` (the CPU path, products over the real frames only) against two nn.Conv1d with the same
    weights, forward and backward, on a padded batch (one utterance empty); and torch's numerical gradient check
    in float64."""
    from fastpitch.models.conv_ff import conv_feed_forward

    torch.manual_seed(0)
    conv1 = torch.nn.Conv1d(6, 10, kernel, padding=kernel // 2).double()
    conv2 = torch.nn.Conv1d(10, 6, kernel, padding=kernel // 2).double()
    mask = (torch.arange(9)[None] < torch.tensor([9, 6, 2, 0])[:, None]).double()[:, :, None]
    x = (torch.randn(4, 9, 6, dtype=torch.double) * mask).requires_grad_()
    ref = conv2(torch.relu(conv1(x.transpose(1, 2))) * mask.transpose(1, 2)).transpose(1, 2) * mask
    got = conv_feed_forward(x, mask, conv1, conv2)
    torch.testing.assert_close(got, ref)
    grad = torch.randn_like(ref)
    params = [x, conv1.weight, conv1.bias, conv2.weight, conv2.bias]
    got_grads = torch.autograd.grad(got, params, grad)
    ref_grads = torch.autograd.grad(ref, params, grad)
    # The packed products never read padding: its gradient is 0 (in FastPitch it meets a mask anyway).
    torch.testing.assert_close(got_grads[0], ref_grads[0] * mask)
    for a, b in zip(got_grads[1:], ref_grads[1:], strict=True):
        torch.testing.assert_close(a, b)

    inputs = [t.detach().clone().requires_grad_() for t in params]
    assert torch.autograd.gradcheck(lambda *t: conv_feed_forward(t[0], mask, *_convs(*t[1:])), inputs)


def test_the_matrix_product_feed_forward_needs_prefix_masks():
    from fastpitch.models.conv_ff import conv_feed_forward

    conv = torch.nn.Conv1d(2, 2, 3, padding=1)
    holed = torch.tensor([[1.0, 0.0, 1.0]])[:, :, None]
    with pytest.raises(ValueError, match="prefix"):
        conv_feed_forward(torch.zeros(1, 3, 2), holed, conv, conv)


def _convs(w1, b1, w2, b2):  # type: ignore[no-untyped-def]
    """Stand-ins for two convolutions whose weights are the given tensors (for gradcheck)."""
    from types import SimpleNamespace

    return SimpleNamespace(weight=w1, bias=b1), SimpleNamespace(weight=w2, bias=b2)


def test_cpu_dropout_drops_at_its_rate_keeps_the_mean_and_is_seeded():
    from fastpitch.models.layers import Dropout

    drop = Dropout(0.1).train()
    x = torch.ones(200_000, requires_grad=True)
    torch.manual_seed(3)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.003
    assert y.mean().item() == pytest.approx(1.0, abs=0.004)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 65536 / (65536 - 6554)))  # 0.1 of 65536, rounded
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # the gradient goes through the same mask
    torch.manual_seed(3)
    assert torch.equal(drop(x), y)
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_attention_written_out_for_dropout_is_the_fused_attention(monkeypatch):
    """On CPU in training, attention with dropout is computed by hand (for the cheaper dropout mask); without
    the drop it must give what scaled_dot_product_attention gives."""
    import fastpitch.models.layers as layers

    torch.manual_seed(0)
    attn = layers.MultiHeadAttention(16, 2, 8, dropout=0.0, dropatt=0.2).train()
    x = torch.randn(2, 7, 16)
    mask = torch.arange(7)[None] < torch.tensor([7, 4])[:, None]
    bias = layers.attention_bias(mask, x.dtype)
    monkeypatch.setattr(layers, "dropout_mask", lambda t, p: torch.ones_like(t))
    by_hand = attn(x, bias)
    attn.dropatt = 0.0  # the fused path
    torch.testing.assert_close(by_hand, attn(x, bias))
    attn.dropatt = 0.2
    monkeypatch.undo()
    assert not torch.allclose(attn(x, bias), by_hand)  # the real mask drops something


def test_the_boundary_cost_shapes_the_durations_but_the_attention_binarizes_to_plain_mas():
    """With a MAS cost on a symbol, the duration targets come from the costed path (the symbol may get no frame)
    while the binarization target (`attn_hard`) stays plain MAS, where every symbol has a frame."""
    from fastpitch.models.aligner import durations_to_alignment

    torch.manual_seed(0)
    model = FastPitch(tiny_cfg().model).eval()
    batch = without(synthetic_batch(b=4), "durations")
    model.mas_cost[batch["text"][0, 2]] = 50.0  # an interior symbol of the first utterance, as if it were `|`
    with torch.no_grad():
        out = model(batch)
    args = (out["attn_logprob"], batch["text"], batch["text_lens"], batch["mel_lens"])
    costed, plain = model.mas_durations(*args), model.mas_durations(*args, boundary_cost=False)
    assert not torch.equal(costed, plain)  # the cost made a difference here
    assert torch.equal(out["dur_tgt"], costed)
    assert torch.equal(out["attn_hard"], durations_to_alignment(plain, batch["mel"].size(2)))
