#!/usr/bin/env bash
# Speed and quality of each catalogue model, one row per model: the figures
# behind the choice of the default model (README, "Models").
#
# usage: scripts/eval-models.sh [MODEL...]     (default: every installed catalogue model)
# env:   LORE        the binary (default: cargo build)
#        QA_N        squad_nyt questions (default 200)
#        CLASSIFY_N  held-out items per classification set (default 200)
#        SUPPORT_N   support dialogues, the first N of tests/support-dialogues (default all)
#        PARTS       which parts to run (default "speed qa support classify zh")
#        LORE_DATA   the development sets (default ../shared/data)
#
# Every model runs with the catalogue's settings for it; each part runs in
# its own data directory so that the sample knowledge base is indexed fresh.
# Parts whose data is missing are skipped with a message.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${LORE_DATA:-$root/../shared/data}
qa_n=${QA_N:-200}
classify_n=${CLASSIFY_N:-200}
parts=${PARTS:-speed qa support classify zh}
if [[ -z ${LORE:-} ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lore/target}
    cargo build --quiet --manifest-path "$root/Cargo.toml"
    LORE=$CARGO_TARGET_DIR/debug/lore
fi
export LORE
# Backtraces make every load slower; nothing here needs them.
unset RUST_BACKTRACE
models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
    mapfile -t models < <("$LORE" models list -f jsonl | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("catalogue") and m.get("installed") != "no":
        print(m["name"])')
fi
[[ ${#models[@]} -gt 0 ]] || { echo "eval-models: no catalogue model is installed (scripts/fetch-model.sh NAME)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The sample knowledge base is indexed anew in each fresh data directory.
fresh() { rm -rf "$work/data"; mkdir -p "$work/data"; echo "$work/data"; }
export LORE_MODELS_DIR=${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}

# A 1,500-token grounded prompt: sample articles as one piped document.
cat "$root"/index/help-centre/returns/*.md "$root"/index/help-centre/shipping/*.md \
    "$root"/index/help-centre/billing/refunds.md | head -c 7000 >"$work/doc.md"
short="Write one sentence about why the sky is blue, then one sentence about why sunsets are red, then one about clouds. Use plain words a child understands, no lists, no headings, and do not repeat yourself."

results="$work/results.jsonl"
: >"$results"
for model in "${models[@]}"; do
    export LORE_MODEL__PATH=$model
    row="{\"model\": \"$model\""
    if [[ " $parts " == *" speed "* ]]; then
        echo "eval-models: $model: speed" >&2
        # Load, time to first token and decode on a short prompt (the
        # first load also makes a catalogue conversion, so it is run twice).
        XDG_DATA_HOME=$(fresh) "$LORE" run -n 8 -t 0 "hi" >/dev/null 2>&1 || true
        /usr/bin/time -f '%M' -o "$work/rss" "$LORE" run -f json -n 128 -t 0 "$short" >"$work/short.json" 2>/dev/null
        rss=$(tail -n 1 "$work/rss")
        /usr/bin/time -f '%M' -o "$work/rss2" "$LORE" ask --no-index -f json -n 64 -t 0 \
            "How long do I have to return an item, and when is the refund paid?" <"$work/doc.md" >"$work/long.json" 2>/dev/null
        rss2=$(tail -n 1 "$work/rss2")
        row+=$(python3 - "$work/short.json" "$work/long.json" "$rss" "$rss2" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
def t(v): return v.get("timings", {})
def u(v): return v.get("usage", {})
m = s.get("model", {})
print(", \"load_s\": %.2f, \"rss_mb\": %d, \"rss_long_mb\": %d, \"short_prompt_tokens\": %d, \"short_ttft_s\": %.3f, \"short_decode_tps\": %.1f, \"long_prompt_tokens\": %d, \"long_ttft_s\": %.2f, \"long_prefill_tps\": %.1f, \"long_decode_tps\": %.1f" % (
    t(s).get("load_s", float("nan")), int(sys.argv[3]) // 1024, int(sys.argv[4]) // 1024,
    u(s).get("prompt_tokens", 0), t(s).get("time_to_first_token_s", 0), t(s).get("generated_tokens_per_s", 0),
    u(l).get("prompt_tokens", 0), t(l).get("time_to_first_token_s", 0), t(l).get("prompt_tokens_per_s", 0), t(l).get("generated_tokens_per_s", 0)))
PY
)
    fi
    if [[ " $parts " == *" qa "* ]]; then
        if [[ -f $data/squad_nyt/corpus.jsonl ]]; then
            echo "eval-models: $model: qa on $qa_n squad_nyt questions" >&2
            XDG_DATA_HOME=$(fresh) "$LORE" eval qa --corpus "$data/squad_nyt/corpus.jsonl" \
                --queries "$data/squad_nyt/queries.jsonl" --qrels "$data/squad_nyt/qrels.tsv" \
                --limit "$qa_n" -f json >"$work/qa.json" 2>"$work/qa.err" \
                || { echo "eval-models: qa failed: $(tail -n 1 "$work/qa.err")" >&2; }
            row+=$(python3 -c '
import json, sys
try: v = json.load(open(sys.argv[1]))
except Exception: sys.exit(0)
print(", \"qa_contains_gold\": %.3f, \"qa_valid_citations\": %.3f, \"qa_marker_citations\": %.3f, \"qa_unsupported\": %.3f, \"qa_ttft_s\": %.2f" % (v["answer_contains_gold"], v["valid_citations"], v["marker_citations"], v["unsupported_rate"], v.get("mean_ttft_s", float("nan"))))' "$work/qa.json")
        else
            echo "eval-models: qa skipped: no $data/squad_nyt" >&2
        fi
    fi
    if [[ " $parts " == *" support "* ]]; then
        echo "eval-models: $model: support dialogues" >&2
        mkdir -p "$work/dialogues"
        rm -f "$work/dialogues"/*.json
        ls "$root"/tests/support-dialogues/*.json | head -n "${SUPPORT_N:-1000}" | xargs -I{} cp {} "$work/dialogues/"
        XDG_DATA_HOME=$(fresh) "$LORE" eval support "$work/dialogues" -f json \
            >"$work/support.json" 2>"$work/support.err" \
            || { echo "eval-models: support failed: $(tail -n 1 "$work/support.err")" >&2; }
        row+=$(python3 -c '
import json, sys
try: v = json.load(open(sys.argv[1]))
except Exception: sys.exit(0)
g = lambda k: v.get(k, float("nan"))
print(", \"support_handover_precision\": %.3f, \"support_handover_recall\": %.3f, \"support_valid_citations\": %.3f" % (g("handover_precision"), g("handover_recall"), g("valid_citation_rate")))' "$work/support.json")
    fi
    if [[ " $parts " == *" classify "* ]]; then
        echo "eval-models: $model: classification ($classify_n items per set)" >&2
        XDG_DATA_HOME=$(fresh) METHODS="zero-shot few-shot" "$root/scripts/eval-classify.sh" "$classify_n" 1 \
            >"$work/classify.txt" 2>"$work/classify.err" \
            || echo "eval-models: classify failed: $(tail -n 1 "$work/classify.err")" >&2
        row+=$(python3 -c '
import sys
out = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 6 and f[0] in ("qtype", "vader") and f[1] in ("zero-shot", "few-shot"):
        key = f[0] + "_" + f[1].replace("-", "")
        acc, f1, ips = f[-3:]
        out.append(", \"%s_acc\": %s, \"%s_f1\": %s, \"%s_ips\": %s" % (key, acc, key, f1, key, ips))
print("".join(out))' "$work/classify.txt")
    fi
    if [[ " $parts " == *" zh "* ]]; then
        echo "eval-models: $model: 10 Chinese questions" >&2
        export XDG_DATA_HOME
        XDG_DATA_HOME=$(fresh)
        : >"$work/zh.jsonl"
        tail -n +2 "$root/tests/zh-questions.tsv" | while IFS=$'\t' read -r q article answer; do
            "$LORE" ask -f json -n 96 -t 0 "$q" </dev/null 2>/dev/null \
                | python3 -c '
import json, sys
q, article, answer = sys.argv[1:4]
v = json.load(sys.stdin)
a = v.get("answer", "")
# Chinese: written in Chinese characters (a bare number or "[2]" is not).
cjk = sum(1 for c in a if "\u4e00" <= c <= "\u9fff")
cites = [c.get("path", "") for c in v.get("citations", [])]
print(json.dumps({"q": q, "answer": a, "found": v.get("found"),
    "chinese": cjk >= 2, "fact": answer in a,
    "cited": any(p.endswith(article) for p in cites) and v.get("citations_valid", False)}, ensure_ascii=False))
' "$q" "$article" "$answer" >>"$work/zh.jsonl" || echo "{\"q\": \"$q\", \"error\": true}" >>"$work/zh.jsonl"
        done
        unset XDG_DATA_HOME
        cp "$work/zh.jsonl" "${ZH_LOG:-/dev/null}" 2>/dev/null || true
        row+=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = len(rows) or 1
s = lambda k: sum(1 for r in rows if r.get(k)) / n
print(", \"zh_chinese\": %.2f, \"zh_fact\": %.2f, \"zh_cited\": %.2f" % (s("chinese"), s("fact"), s("cited")))' "$work/zh.jsonl")
    fi
    row+="}"
    echo "$row" >>"$results"
    echo "$row"
done

# The table, one row per model.
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = []
for r in rows:
    keys += [k for k in r if k not in keys and k != "model"]
print()
print("%-34s" % "metric" + "".join("%20s" % r["model"] for r in rows))
for k in keys:
    print("%-34s" % k + "".join("%20s" % r.get(k, "-") for r in rows))
PY
