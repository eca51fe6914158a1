#!/usr/bin/env bash
# The locomotion table on the D4RL-level ladder (issue 21): each method trained on each HalfCheetah level with a
# stated budget, then 10 evaluation episodes (env seeds 0-9, which no dataset episode uses). Writes runs/ladder/;
# read the numbers with `python docs/scripts/ladder_table.py runs/ladder`. Usage:
#   bash docs/scripts/halfcheetah_ladder.sh "medium medium-replay" "bc iql dt cql" "0"
set -euo pipefail
levels=${1:-"medium medium-replay medium-expert"}
algos=${2:-"bc iql dt cql tt leap"}
seeds=${3:-"0 1 2"}
export OMP_NUM_THREADS=1
for level in $levels; do
  minirl data info "halfcheetah-$level" >/dev/null 2>&1 || minirl data collect "halfcheetah-$level"
  for seed in $seeds; do
    for algo in $algos; do
      run="runs/ladder/$algo-$level-s$seed"
      [ -f "$run/eval.json" ] && continue
      eval_args=""
      case $algo in
        # step budgets, not minutes: a cell then means the same on a loaded machine (its wall time is reported)
        bc)  args="--steps 20000" ;;
        iql) args="--steps 20000" ;;
        cql) args="--steps 20000" ;;
        dt)  args="--steps 4000 --set context_len=10 --set lr=3e-4 --set warmup_steps=1000" ;;
        # TT's CPU recipe (issue 13): 2 x 128, one-transition windows, batch 128; planned at beam 32, horizon 1
        tt)  args="--steps 6000 --set n_layer=2 --set seq_len=1 --set batch_size=128 --set warmup_steps=200"
             eval_args="--beam-width 32 --horizon 1" ;;
        # LEAP's defaults (3 x 128, plans of 5 steps x 6 action tokens, 64 bins, 10 refinements), 5,000 steps;
        # it acts with argmax refills here: sampling each of 30 action-bin tokens (temperature 1, its BabyAI
        # default) scored 17.5 +/- 10.9 on medium seed 0, argmax 35.8 +/- 3.7 (docs/results.md)
        leap) args="--steps 5000"
              eval_args="--set temperature=0" ;;
        *)   args="" ;;
      esac
      # a run stopped part-way (killed, the session's end) continues from its checkpoint; resuming a finished one
      # changes nothing, so the cell is evaluated as it was trained
      resume=""
      [ -f "$run/checkpoint.pt" ] && resume="--resume"
      minirl train "$algo" --dataset "halfcheetah-$level" --seed "$seed" $args --out "$run" $resume
      minirl eval "$run" --episodes 10 $eval_args
    done
  done
done
