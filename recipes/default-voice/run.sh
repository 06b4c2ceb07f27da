#!/usr/bin/env bash
# Reproduce the shipped default voice on two CPU cores (or a GPU, with bigger settings via ACOUSTIC_PRESET):
# festival corpus -> features -> FastPitch with the learned aligner -> voice (+ vocoder) -> ONNX -> eval,
# and beside it the same model trained on festival's own phone timings (--durations external), for comparison.
# Every step resumes: run it again after an interruption and it continues where it stopped.
#
#   VOCODER=istft (default, what ships: the iSTFT vocoder is trained and put in the voice) or griffin-lim.
# MODEL_CARD.md here holds the figures of the shipped run; this run's own evaluation goes to $RUNS/eval-default.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-data}
RUNS=${RUNS:-runs}
VOICE=${VOICE:-src/fastpitch/voices/default}
ACOUSTIC_STEPS=${ACOUSTIC_STEPS:-2500}
EXTERNAL_STEPS=${EXTERNAL_STEPS:-500}
VOCODER_STEPS=${VOCODER_STEPS:-11500}
ACOUSTIC_PRESET=${ACOUSTIC_PRESET:-small}
VOCODER=${VOCODER:-istft}
EVAL_LIMIT=${EVAL_LIMIT:-100}

fastpitch corpus synth "$DATA/slt" --voices festival:cmu_us_slt_arctic_hts --count 2400 --seed 0
fastpitch prepare "$DATA/slt" --out "$DATA/features"

train() {  # train RUN DURATIONS STEPS [overrides...]
    local run=$1 durations=$2 steps=$3
    shift 3
    local resume=()
    [ -n "$(ls "$RUNS/$run"/step-*.json 2>/dev/null)" ] && resume=(--resume)
    fastpitch train --features "$DATA/features" --dataset "$DATA/slt" --out "$RUNS/$run" \
        --preset "$ACOUSTIC_PRESET" --durations "$durations" --max-steps "$steps" --no-progress "${resume[@]}" \
        --set train.batch_frames=6000 --set train.warmup_steps=200 \
        --set train.checkpoint_every=100 --set train.val_every=250 --set train.log_every=20 \
        --set train.ema_decay=0.99 --set train.num_workers=1 --set train.keep_last=2 "$@"
}
# The shipped voice predates MAS's word-boundary cost (train.mas_boundary_cost, 4 by default): plain MAS.
train default-voice learned "$ACOUSTIC_STEPS" \
    --set train.binarization_start_step=400 --set train.binarization_warmup_steps=400 \
    --set train.mas_boundary_cost=0
train external-voice external "$EXTERNAL_STEPS"

vocoder=()
if [ "$VOCODER" = istft ]; then
    resume=()
    [ -n "$(ls "$RUNS/vocoder-istft"/step-*.json 2>/dev/null)" ] && resume=(--resume)
    fastpitch train-vocoder --dataset "$DATA/slt" --features "$DATA/features" --out "$RUNS/vocoder-istft" \
        --arch istft --set train.checkpoint_every=250 --max-steps "$VOCODER_STEPS" "${resume[@]}"
    vocoder=(--vocoder "$RUNS/vocoder-istft")
fi

fastpitch voice create "$RUNS/default-voice" "${vocoder[@]}" --out "$VOICE" --name default \
    --description "US English female voice trained on an offline corpus synthesized with festival's cmu_us_slt_arctic_hts."
cp recipes/default-voice/NOTICE.txt recipes/default-voice/MODEL_CARD.md "$VOICE/"
fastpitch export "$VOICE"
fastpitch eval "$VOICE" --dataset "$DATA/slt" --limit "$EVAL_LIMIT" --out "$RUNS/eval-default" --html

fastpitch voice create "$RUNS/external-voice" "${vocoder[@]}" --out "$RUNS/voice-external" --name external
fastpitch eval "$RUNS/voice-external" --dataset "$DATA/slt" --limit "$EVAL_LIMIT" --out "$RUNS/eval-external" --html
