#!/usr/bin/env bash
# Regenerates lessons/08-choosing-a-method/stitching-<maze>.png (issue 15): 3 evaluation rollouts of the seed-0 run
# of each method on each maze2d task, drawn over the maze, from the runs docs/scripts/pointmaze_table.sh made
# under runs/pointmaze. Writes the figures and the stitching reports to runs/pointmaze-figures, then copies the
# figures into the lesson. Usage: bash docs/scripts/pointmaze_figure.sh "umaze medium large" "bc iql cql dt tt leap"
set -euo pipefail
mazes=${1:-"umaze medium large"}
algos=${2:-"bc iql cql dt tt leap"}
export OMP_NUM_THREADS=1
for maze in $mazes; do
  runs=()
  for algo in $algos; do
    run=$(ls -d runs/pointmaze/"$algo-pointmaze-$maze-maze2d-s0-"* 2>/dev/null | head -n 1 || true)
    [ -n "$run" ] && runs+=("$run")
  done
  [ ${#runs[@]} -gt 0 ] || continue
  minirl analyze stitching "${runs[@]}" --episodes 3 --out runs/pointmaze-figures
  cp "runs/pointmaze-figures/stitching-pointmaze-$maze-maze2d.png" "lessons/08-choosing-a-method/stitching-$maze.png"
done
