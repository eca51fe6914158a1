#!/usr/bin/env bash
# The stitching table (issue 15): methods on the PointMaze tasks with stated budgets, 50 evaluation episodes per run
# (env seeds 0-49). Seeds are added one at a time over all mazes (seed 0 everywhere first), so a run stopped early
# still covers every maze. Runs live in runs/pointmaze (reused: calling again costs only the table); the table is
# written to runs/pointmaze-table/compare.md. Usage:
#   bash docs/scripts/pointmaze_table.sh "umaze-maze2d medium-maze2d large-maze2d" "bc iql" 3
#   (algos: bc iql cql dt tt leap)
# A fourth argument is the first seed: "... cql 1 2" runs seed 2 alone, so two seeds can run side by side, one per
# core; calling again with "3" then reuses every run and prints the table over seeds 0-2.
set -euo pipefail
tasks=${1:-"umaze-maze2d medium-maze2d large-maze2d"}
algos=${2:-"bc iql dt"}
seeds=${3:-3}
first=${4:-0}
export OMP_NUM_THREADS=1
datasets=""
for task in $tasks; do
  minirl data info "pointmaze-$task" >/dev/null 2>&1 || minirl data collect "pointmaze-$task"
  datasets="$datasets,pointmaze-$task"
done
# step budgets (the same as the HalfCheetah ladder's, docs/scripts/halfcheetah_ladder.sh), not minutes
sets=()
for algo in $algos; do
  case $algo in
    bc | iql | cql) sets+=(--set "$algo.steps=20000") ;;
    dt) sets+=(--set dt.steps=4000 --set dt.context_len=10 --set dt.lr=3e-4 --set dt.warmup_steps=1000) ;;
    # issue 13's CPU model (2 layers, one-transition windows: the point mass's state is Markov), 5,000 steps, and
    # planning at horizon 1 with beam 32 (horizon 5 costs ~1 s a decision for 32 envs: ~45 min of evaluation a seed)
    tt) sets+=(--set tt.steps=5000 --set tt.n_layer=2 --set tt.seq_len=1 --set tt.batch_size=128
               --set tt.warmup_steps=200 --eval-set tt.horizon=1) ;;
    leap) ;; # its defaults: 5,000 steps of batch 64, horizon 5, 10 refinements
  esac
done
for seed in $(seq "$first" $((first + seeds - 1))); do
  minirl compare --datasets "${datasets#,}" --algos "$(echo $algos | tr ' ' ,)" --seeds 1 --first-seed "$seed" \
    --episodes 50 "${sets[@]}" --runs-dir runs/pointmaze --out runs/pointmaze-table
done
# the table over every seed this call ran (all runs reused)
minirl compare --datasets "${datasets#,}" --algos "$(echo $algos | tr ' ' ,)" --seeds "$seeds" --first-seed "$first" \
  --episodes 50 "${sets[@]}" --runs-dir runs/pointmaze --out runs/pointmaze-table
