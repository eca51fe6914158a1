#!/usr/bin/env bash
# GPU check (issue 18): the paper-size DT and TT training steps/s and TT planning decisions/s on whatever GPU this
# machine has, through the real commands (`minirl train/eval --device cuda`), fp32 and bf16, and on every GPU at
# once (`--nproc`) when there are several. Prints one table; the numbers go to docs/results.md with the date.
#
#   bash docs/scripts/gpu_check.sh            # about 5-10 minutes on one modern GPU
#   STEPS=2000 EPISODES=2 bash docs/scripts/gpu_check.sh
#   DEVICE=cpu STEPS=4 EPISODES=0 bash docs/scripts/gpu_check.sh   # a smoke test of this script, not a measurement
#
# Sizes: DT 3 layers × 128, K = 20, batch 64 (the paper: 100k steps); TT 4 layers × 128, 10 transitions (250
# tokens), batch 256 (the official code: 195k steps), planning with beam 32, horizon 5 (its HalfCheetah settings).
# The dataset is a small halfcheetah-medium (20k steps, collected here in a temporary folder): a step costs the same
# whatever the dataset's size. Steps/s is taken between the middle and the last logged step, after CUDA's warm-up.
set -euo pipefail
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-600}        # training steps timed per run
EPISODES=${EPISODES:-1}    # TT evaluation episodes (1000 decisions each; 0: no evaluation)
GPUS=1
if [ "$DEVICE" = cuda ]; then
  command -v nvidia-smi > /dev/null || { echo "no nvidia-smi: this machine has no NVIDIA GPU" >&2; exit 1; }
  python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" \
    || { echo "torch does not see a GPU (a CPU build of torch?)" >&2; exit 1; }
  GPUS=$(nvidia-smi -L | wc -l)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
WORK=$(mktemp -d)
export MINARI_DATASETS_PATH="$WORK/datasets" OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
trap 'rm -rf "$WORK"' EXIT

python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
minirl data collect halfcheetah-medium --steps 20000 > /dev/null

train() {  # name algo precision nproc: one timed training run in $WORK/name
  minirl train "$2" --dataset halfcheetah-medium --steps "$STEPS" --device "$DEVICE" --precision "$3" \
    --nproc "$4" --out "$WORK/$1" --quiet > /dev/null
}
train dt-fp32 dt fp32 1
train dt-bf16 dt bf16 1
train tt-fp32 tt fp32 1
train tt-bf16 tt bf16 1
if [ "$GPUS" -gt 1 ]; then
  train dt-ddp dt fp32 "$GPUS"
  train tt-ddp tt fp32 "$GPUS"
fi
if [ "$EPISODES" -gt 0 ]; then
  minirl eval "$WORK/tt-fp32" --episodes "$EPISODES" --device "$DEVICE" --quiet > /dev/null
fi

python - "$WORK" "$GPUS" "$DEVICE" <<'EOF'
import json, sys
from pathlib import Path

work, gpus, device = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
paper_steps = {"dt": 100_000, "tt": 195_000}
print(f"\n{'run':<10} {'steps/s':>8} {'samples/s':>10}  projected paper run")
for run in sorted(p.name for p in work.iterdir() if (p / "metrics.jsonl").exists()):
    rows = [json.loads(line) for line in (work / run / "metrics.jsonl").read_text().splitlines()]
    mid, last = rows[len(rows) // 2], rows[-1]
    steps_per_s = (last["step"] - mid["step"]) / (last["train_seconds"] - mid["train_seconds"])
    batch = json.loads((work / run / "config.json").read_text())["config"]["batch_size"]
    algo = run.split("-")[0]
    hours = paper_steps[algo] / steps_per_s / 3600
    label = f"{gpus} GPUs" if run.endswith("ddp") else "1 GPU" if device == "cuda" else device
    print(f"{run:<10} {steps_per_s:8.2f} {steps_per_s * batch:10.0f}  {paper_steps[algo]:,} steps: "
          f"{hours:.2f} h on {label}")
if not (work / "tt-fp32" / "eval.json").exists():
    sys.exit()
result = json.loads((work / "tt-fp32" / "eval.json").read_text())["runs"][0]
ms = result["latency_ms_per_step"]
print(f"\nTT planning (beam {result['options']['beam_width']}, horizon {result['options']['horizon']}, "
      f"1 env): {ms:.1f} ms per decision = {1000 / ms:.1f} decisions/s; a 1000-step episode: {ms:.0f} s")
EOF
