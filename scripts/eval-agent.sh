#!/usr/bin/env bash
# Agent benchmark: runs `lore agent -f json` on each task of
# eval/agent-tasks.tsv over the fixture workspace eval/agent-ws and checks
# the answer against the task's regex. Prints per task and in total: call
# validity (every step parsed as a tool call or an answer), existing-path
# rate of read/list calls, success, mean steps, loop stops, tokens per task.
#
#   scripts/eval-agent.sh [MODEL...]      (default: smollm2-135m)
#   TASKS=N limits the run to the first N tasks; LORE=path picks the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lore=${LORE:-${CARGO_TARGET_DIR:-$here/target}/debug/lore}
tasks=$here/eval/agent-tasks.tsv
ws=$here/eval/agent-ws
[ -x "$lore" ] || { echo "eval-agent: no lore binary at $lore (cargo build first)" >&2; exit 2; }
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(smollm2-135m)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for model in "${models[@]}"; do
  n=0
  while IFS=$'\t' read -r id request expect; do
    case "$id" in ''|'#'*) continue;; esac
    n=$((n + 1)); [ -n "${TASKS:-}" ] && [ "$n" -gt "$TASKS" ] && break
    start=$(date +%s.%N)
    set +e
    "$lore" --model "$model" agent -f json -t 0 --cd "$ws" "$request" \
      >"$out/$model.$id.jsonl" 2>"$out/$model.$id.err" </dev/null
    rc=$?
    set -e
    end=$(date +%s.%N)
    printf '%s\t%s\t%s\t%s\n' "$id" "$expect" "$rc" "$(echo "$end - $start" | bc)" >>"$out/$model.runs"
  done <"$tasks"
  python3 - "$out" "$model" "$ws" <<'PY'
import json, re, sys, os
out, model, ws = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(f"{out}/{model}.runs")]
tot = dict(steps=0, ok=0, calls=0, valid=0, paths=0, real=0, loops=0, tokens=0, secs=0.0)
print(f"model {model}")
print("task\tresult\tsteps\tstop\ttokens\tseconds\tanswer")
for id_, expect, rc, secs in rows:
    events = []
    for line in open(f"{out}/{model}.{id_}.jsonl"):
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    done = next((e for e in events if e["type"] == "turn.completed"), None)
    steps = done["steps"] if done else 0
    stop = done["stop"] if done else f"exit {rc}"
    answer = done["answer"] if done else ""
    tokens = sum(done["usage"].values()) if done else 0
    calls = [e for e in events if e["type"] == "tool.started"]
    # A step that did not parse ends the turn with an error naming it.
    invalid = 1 if done and done["stop"] == "error" and "not a tool call" in (done.get("error") or "") else 0
    tot["calls"] += steps
    tot["valid"] += steps - invalid
    for c in calls:
        p = c["args"].get("path")
        if p is not None and c["tool"] in ("read", "list"):
            tot["paths"] += 1
            tot["real"] += os.path.exists(os.path.join(ws, p))
    ok = bool(answer) and re.search(expect, answer, re.I | re.S) is not None
    tot["ok"] += ok; tot["steps"] += steps; tot["loops"] += stop == "loop_detected"
    tot["tokens"] += tokens; tot["secs"] += float(secs)
    short = answer.replace("\n", " ")[:70]
    print(f"{id_}\t{'pass' if ok else 'FAIL'}\t{steps}\t{stop}\t{tokens}\t{float(secs):.1f}\t{short}")
n = len(rows)
pct = lambda a, b: f"{100*a/b:.0f}%" if b else "n/a"
print(f"total {model}: tasks {n}, success {tot['ok']}/{n} ({pct(tot['ok'], n)}), "
      f"call validity {pct(tot['valid'], tot['calls'])} of {tot['calls']} steps, "
      f"existing paths {pct(tot['real'], tot['paths'])} of {tot['paths']}, "
      f"mean steps {tot['steps']/n:.1f}, loop stops {tot['loops']}, "
      f"tokens/task {tot['tokens']/n:.0f}, seconds/task {tot['secs']/n:.1f}")
PY
done
