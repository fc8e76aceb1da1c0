#!/usr/bin/env bash
# End-to-end benchmark: the same prompt and token count through a raw
# mistral.rs program (examples/raw_engine.rs) and through `lore run`, in one
# invocation, alternating runs so both see the same machine load. Prints the
# median of each and the ratio lore / raw of generated tokens per second.
#
#   scripts/bench-e2e.sh [RUNS] [MAX_TOKENS]
#
# Uses the default model (Q8_0) unless LORE_BENCH_MODEL names a GGUF file.
# Both use the model's own default system prompt, so the texts match.
# lore against llama.cpp is scripts/bench-engine.sh (same files, same
# thread count, interleaved).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-5}"
max_tokens="${2:-128}"
prompt="Write a short story about a robot who learns to paint. Describe the colours it discovers and how the people in its town react to its first exhibition."
models_dir="${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}"
model="${LORE_BENCH_MODEL:-$models_dir/SmolLM2-135M-Instruct.Q8_0.gguf}"

cargo build --quiet --bin lore --example raw_engine
target="${CARGO_TARGET_DIR:-target}"
lore="$target/debug/lore"
raw="$target/debug/examples/raw_engine"
[[ -f "$model" ]] || "$lore" run --max-tokens 1 hi >/dev/null  # makes the default Q8_0 file
[[ -f "$model" ]] || { echo "bench: model $model not found (run scripts/fetch-model.sh)" >&2; exit 1; }

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
run_raw() { "$raw" "$model" "$prompt" "$max_tokens" > "$tmp/raw.$1.json"; }
run_lore() {
    "$lore" run --model "$model" --system "" --temperature 0 --max-tokens "$max_tokens" \
        --format json "$prompt" > "$tmp/lore.$1.json"
}
# Alternate which goes first so neither always meets a warmer cache.
for i in $(seq 1 "$runs"); do
    if (( i % 2 )); then run_raw "$i"; run_lore "$i"; else run_lore "$i"; run_raw "$i"; fi
done

python3 - "$tmp" "$runs" "$model" "$prompt" "$max_tokens" <<'PY'
import json, statistics, sys
tmp, runs, model, prompt, max_tokens = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def load(kind):
    return [json.load(open(f"{tmp}/{kind}.{i}.json")) for i in range(1, runs + 1)]
raw, lore = load("raw"), load("lore")
def med(rows, key):
    return statistics.median(r["timings"][key] for r in rows)
same = all(r["text"] == l["text"] for r, l in zip(raw, lore))
print(f"model: {model}")
print(f"runs: {runs}, max_tokens: {max_tokens}, prompt tokens: {lore[0]['usage']['prompt_tokens']}, "
      f"generated: {lore[0]['usage']['completion_tokens']}, same text: {same}")
print(f"{'':8} {'gen tok/s':>10} {'ttft s':>8} {'prompt tok/s':>13}")
for name, rows in (("raw", raw), ("lore", lore)):
    print(f"{name:8} {med(rows, 'generated_tokens_per_s'):10.1f} {med(rows, 'time_to_first_token_s'):8.3f} "
          f"{med(rows, 'prompt_tokens_per_s'):13.1f}")
print(f"ratio lore/raw generated tok/s: {med(lore, 'generated_tokens_per_s') / med(raw, 'generated_tokens_per_s'):.3f}")
PY
