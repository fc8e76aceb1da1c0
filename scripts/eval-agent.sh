#!/usr/bin/env bash
# Agent benchmark, one model after another: a thin wrapper over
# `lore eval agent` on the fixture workspace eval/agent-ws and its tasks
# eval/agent-tasks.tsv (see the README, `lore eval agent`).
#
#   scripts/eval-agent.sh [MODEL...]      (default: smollm2-135m)
#   TASKS=N limits the run to the first N tasks; LORE=path picks the binary;
#   extra flags for lore go in LORE_EVAL_FLAGS (e.g. "-f json --max-steps 4").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lore=${LORE:-${CARGO_TARGET_DIR:-$here/target}/debug/lore}
[ -x "$lore" ] || { echo "eval-agent: no lore binary at $lore (cargo build first)" >&2; exit 2; }
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(smollm2-135m)
for model in "${models[@]}"; do
  echo "model $model"
  # shellcheck disable=SC2086 # LORE_EVAL_FLAGS is a list of flags
  "$lore" --model "$model" eval agent "$here/eval/agent-ws" \
    ${TASKS:+--limit "$TASKS"} ${LORE_EVAL_FLAGS:-} </dev/null
done
