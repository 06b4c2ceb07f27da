#!/usr/bin/env bash
# The natural multi-speaker voice (issue 16): heart (hibari-tts, the default speaker), slt and kal (festival)
# in one FastPitch, taught by a corpus made offline on this machine (speaker ids follow the corpus names in sorted
# order: hibari-heart, kal, slt, so heart is speaker 0, the default):
# corpus (3 voices x 4,000 WordNet sentences) -> features -> FastPitch with the learned aligner ->
# iSTFT vocoder (spectral losses, then the adversarial phase) -> voice -> ONNX -> eval.
# Every step resumes: run it again after an interruption (or in the next session) and it continues.
#
#   ACOUSTIC_STEPS / VOCODER_STEPS: where this run stops (raise them and rerun to train on).
#   DEVICE=cuda: on a lent GPU, with bigger batches (ACOUSTIC_SET="--set train.batch_frames=32000").
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-/work/corpora}
RUNS=${RUNS:-/work/runs}
OUT_VOICE=${OUT_VOICE:-$RUNS/voice-natural}
ACOUSTIC_STEPS=${ACOUSTIC_STEPS:-20000}
VOCODER_STEPS=${VOCODER_STEPS:-30000}
VOCODER_GAN_FROM=${VOCODER_GAN_FROM:-20000}
ACOUSTIC_PRESET=${ACOUSTIC_PRESET:-small}
DEVICE=${DEVICE:-cpu}
EVAL_LIMIT=${EVAL_LIMIT:-60}
read -r -a ACOUSTIC_SET <<< "${ACOUSTIC_SET:-}"
CORPUS=$DATA/natural
FEATURES=$DATA/natural-features

resume_flag() { [ -n "$(ls "$1"/step-*.json 2>/dev/null)" ] && echo --resume || true; }

fastpitch corpus synth "$CORPUS" --count 4000 --seed 0 \
    --voices hibari:heart,festival:cmu_us_slt_arctic_hts,festival:kal_diphone
fastpitch prepare "$CORPUS" --out "$FEATURES"

# shellcheck disable=SC2046
fastpitch train --features "$FEATURES" --dataset "$CORPUS" --out "$RUNS/natural-acoustic" $(resume_flag "$RUNS/natural-acoustic") \
    --preset "$ACOUSTIC_PRESET" --durations learned --max-steps "$ACOUSTIC_STEPS" --device "$DEVICE" --no-progress \
    --set train.batch_frames=6000 --set train.warmup_steps=200 \
    --set train.checkpoint_every=100 --set train.val_every=500 --set train.log_every=20 \
    --set train.binarization_start_step=400 --set train.binarization_warmup_steps=400 \
    --set train.ema_decay=0.995 --set train.num_workers=1 --set train.keep_last=2 "${ACOUSTIC_SET[@]}"

# shellcheck disable=SC2046
fastpitch train-vocoder --dataset "$CORPUS" --features "$FEATURES" --out "$RUNS/natural-vocoder" --arch istft \
    $(resume_flag "$RUNS/natural-vocoder") --device "$DEVICE" --max-steps "$VOCODER_STEPS" \
    --set train.adversarial_start_step="$VOCODER_GAN_FROM" --set train.checkpoint_every=250 \
    --set train.val_every=1000 --set train.ema_decay=0.999

fastpitch voice create "$RUNS/natural-acoustic" --vocoder "$RUNS/natural-vocoder" --out "$OUT_VOICE" \
    --name natural --speakers heart,kal,slt \
    --description "US English: heart (taught by hibari-tts / Kokoro-82M), slt and kal (festival), in one model."
{ cat "$CORPUS/TEACHER_NOTICE.txt"; echo; cat recipes/default-voice/NOTICE.txt; } > "$OUT_VOICE/NOTICE.txt"
fastpitch export "$OUT_VOICE"
fastpitch eval "$OUT_VOICE" --dataset "$CORPUS" --limit "$EVAL_LIMIT" --out "$RUNS/eval-natural" --html
