#!/usr/bin/env bash
# Reproduce the shipped default voice on two CPU cores (or a GPU, with bigger settings via ACOUSTIC_PRESET):
# festival corpus -> features -> FastPitch with the learned aligner -> iSTFT vocoder -> voice -> ONNX -> eval.
# Every step resumes: run it again after an interruption and it continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${DATA:-data}
RUNS=${RUNS:-runs}
VOICE=${VOICE:-src/fastpitch/voices/default}
ACOUSTIC_STEPS=${ACOUSTIC_STEPS:-3000}
VOCODER_STEPS=${VOCODER_STEPS:-20000}
ACOUSTIC_PRESET=${ACOUSTIC_PRESET:-small}

fastpitch corpus synth "$DATA/slt" --voices festival:cmu_us_slt_arctic_hts --count 2400 --seed 0
fastpitch prepare "$DATA/slt" --out "$DATA/features"

resume=()
[ -n "$(ls "$RUNS/default-voice"/step-*.json 2>/dev/null)" ] && resume=(--resume)
fastpitch train --features "$DATA/features" --dataset "$DATA/slt" --out "$RUNS/default-voice" \
    --preset "$ACOUSTIC_PRESET" --durations learned --max-steps "$ACOUSTIC_STEPS" --no-progress "${resume[@]}" \
    --set train.batch_frames=6000 --set train.warmup_steps=200 \
    --set train.binarization_start_step=400 --set train.binarization_warmup_steps=400 \
    --set train.checkpoint_every=100 --set train.val_every=250 --set train.log_every=20 \
    --set train.ema_decay=0.99 --set train.num_workers=1 --set train.keep_last=2

resume=()
[ -n "$(ls "$RUNS/vocoder-istft"/step-*.json 2>/dev/null)" ] && resume=(--resume)
fastpitch train-vocoder --dataset "$DATA/slt" --out "$RUNS/vocoder-istft" --arch istft \
    --max-steps "$VOCODER_STEPS" "${resume[@]}"

fastpitch voice create "$RUNS/default-voice" --vocoder "$RUNS/vocoder-istft" --out "$VOICE" --name default \
    --description "US English female voice trained on an offline corpus synthesized with festival's cmu_us_slt_arctic_hts."
fastpitch export "$VOICE"
fastpitch eval "$VOICE" --dataset "$DATA/slt" --out "$RUNS/eval-default" --html
