#!/usr/bin/env bash
# The BabyAI table of issue 14: six methods on the LEAP paper's seven levels, in one observation mode, with the
# paper's data and budget: 500 BabyAI-bot demos per level (collection seed 0), 1600 gradient steps per run (the
# paper's 200 epochs x 500 demos / batch 64), 200 evaluation episodes per run (env seeds 0-199; the demos reset with
# seeds drawn from the collection seed's generator, none of them under 200). In the `full` mode every method reads
# states through the official encoder (encoder=paper) and LEAP runs `preset=paper` (the paper's own setting); in the
# `egocentric` one the shared encoder and minirl's LEAP defaults (the better of the two measured in
# each mode, docs/results.md). TT plans at horizon 1 (beam 32): at its default horizon 5 an evaluation of 200
# episodes costs tens of CPU-minutes on the long levels.
#
# Seeds are added one at a time over all levels (seed 0 everywhere first), so a run stopped early still covers every
# level; finished runs are reused, so calling again costs only what is missing. Datasets live in
# runs/babyai-table/minari (500 demos: not the 1000-demo defaults of `minirl data collect`); runs in
# runs/babyai-table/runs; the table in runs/babyai-table/<mode>/compare.md. Usage:
#   bash docs/scripts/babyai_table.sh full "gotolocal-s7n5 gotolocal-s8n7" "bc dt leap" 3
#   (modes: full, egocentric; levels: gotolocal-s7n5 gotolocal-s8n7 pickuploc gotoobjmaze-s4 gotoobjmaze-s7
#    gotoseq-s5r2 gotoobjmaze-s4r2close; algos: bc cql iql dt tt leap)
# A fifth argument is the first seed: "... 1 2" runs seed 2 alone (one seed per core); calling again with "3" then
# reuses every run and prints the table over seeds 0-2.
set -euo pipefail
mode=${1:-full}
levels=${2:-"gotolocal-s7n5 gotolocal-s8n7 pickuploc gotoobjmaze-s4 gotoobjmaze-s7 gotoseq-s5r2 gotoobjmaze-s4r2close"}
algos=${3:-"bc cql iql dt tt leap"}
seeds=${4:-3}
first=${5:-0}
case $mode in
  full) suffix=-full ;;
  egocentric) suffix= ;;
  *) echo "error: unknown mode '$mode'; valid: full, egocentric" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=1
export MINARI_DATASETS_PATH=${BABYAI_TABLE_DATA:-runs/babyai-table/minari}
datasets=""
for level in $levels; do
  minirl data info "babyai-$level$suffix" >/dev/null 2>&1 ||
    minirl data collect "babyai-$level" --obs "$mode" --episodes 500 --seed 0
  datasets="$datasets,babyai-$level$suffix"
done
sets=()
for algo in $algos; do
  # full mode: every method reads the state through the official LEAP model's encoder (encoder=paper), the one that
  # took LEAP from 64% to 89% on GoToLocalS7N5 (docs/results.md), so the methods differ only in their algorithm
  [ "$mode" = full ] && sets+=(--set "$algo.encoder=paper")
  case $algo in
    tt) sets+=(--eval-set tt.horizon=1) ;;
    leap) [ "$mode" = full ] && sets+=(--set leap.preset=paper) ;;
  esac
done
table() {  # $1 seeds, $2 first seed
  minirl compare --datasets "${datasets#,}" --algos "$(echo $algos | tr ' ' ,)" --seeds "$1" --first-seed "$2" \
    --steps 1600 --episodes 200 "${sets[@]}" --runs-dir runs/babyai-table/runs --out "runs/babyai-table/$mode"
}
for seed in $(seq "$first" $((first + seeds - 1))); do
  table 1 "$seed"
done
table "$seeds" "$first"  # the table over every seed this call ran (all runs reused)
