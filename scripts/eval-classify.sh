#!/usr/bin/env bash
# Classification quality and throughput on the shared development sets:
# question_type.tsv (13 labels) and vader_tweets.tsv (mean score cut at
# -0.5 / 0.5 into negative / neutral / positive). A fixed shuffle splits
# each set into examples (for few-shot and knn) and held-out test items.
#
# usage: scripts/eval-classify.sh [TEST_ITEMS=200] [CONCURRENCY=4]
# env:   LORE (binary, default: cargo build), LORE_DATA (../shared/data),
#        SETS (qt vt), METHODS (knn zero-shot zero-shot-j few-shot)
set -euo pipefail
n=${1:-200}
j=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
data=${LORE_DATA:-$root/../shared/data}
if [[ ! -f $data/question_type.tsv || ! -f $data/vader_tweets.tsv ]]; then
    echo "eval-classify: skipped: no development data in $data" >&2
    exit 0
fi
if [[ -z ${LORE:-} ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lore/target}
    cargo build --quiet --manifest-path "$root/Cargo.toml"
    LORE=$CARGO_TARGET_DIR/debug/lore
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$data" "$work" "$n" <<'PY'
import random, sys
data, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(7)
qt = [l.rstrip("\n") for l in open(f"{data}/question_type.tsv", encoding="utf-8")][1:]
vt = []
for l in list(open(f"{data}/vader_tweets.tsv", encoding="utf-8"))[1:]:
    _, score, text = l.rstrip("\n").split("\t", 2)
    s = float(score)
    label = "negative" if s < -0.5 else "positive" if s > 0.5 else "neutral"
    vt.append(f"{label}\t{text.replace(chr(9), ' ')}")
for name, rows in (("qt", qt), ("vt", vt)):
    rng.shuffle(rows)
    half = len(rows) // 2
    open(f"{work}/{name}_examples.tsv", "w").write("\n".join(rows[:half]) + "\n")
    open(f"{work}/{name}_test.tsv", "w").write("\n".join(rows[half:half + n]) + "\n")
    labels = sorted({r.split("\t")[0] for r in rows})
    open(f"{work}/{name}_labels.txt", "w").write("\n".join(labels) + "\n")
PY
printf '%-14s %-22s %4s %9s %9s %8s\n' set method conc accuracy macro-F1 items/s
# qtype: question_type.tsv, 13 labels; vader: vader_tweets.tsv, 3 labels.
run() { # set label method concurrency [flags...]
    local set=$1 what=$2 conc=$3; shift 3
    if ! "$LORE" classify --labels-file "$work/${set}_labels.txt" --eval -f json -j "$conc" \
        --input "$work/${set}_test.tsv" "$@" >"$work/out.json" 2>"$work/err.txt"; then
        echo "eval-classify: $set $what failed: $(tail -n 1 "$work/err.txt")" >&2
        return 1
    fi
    python3 -c "import json,sys; v=json.load(open(sys.argv[1])); print('%-14s %-22s %4d %9.3f %9.3f %8.2f' % ('$set', '$what', $conc, v['accuracy'], v['macro_f1'], v['items_per_s']))" "$work/out.json"
}
# METHODS picks some of: knn zero-shot zero-shot-j few-shot (default: all).
want() { [[ " ${METHODS:-knn zero-shot zero-shot-j few-shot} " == *" $1 "* ]]; }
# Concurrency is compared on zero-shot only: on a CPU it slows mistral.rs
# down (see classify.concurrency), and few-shot prompts are 4x longer.
for set in ${SETS:-qt vt}; do
    name=$([[ $set == qt ]] && echo qtype || echo vader)
    if want knn; then
        run "$set" knn 1 --method knn --examples "$work/${set}_examples.tsv" | sed "s/^$set /$name/"
    fi
    if want zero-shot; then
        run "$set" zero-shot 1 | sed "s/^$set /$name/"
    fi
    if want zero-shot-j; then
        run "$set" zero-shot "$j" | sed "s/^$set /$name/"
    fi
    if want few-shot; then
        run "$set" "few-shot (k=4)" 1 --examples "$work/${set}_examples.tsv" | sed "s/^$set /$name/"
    fi
done
