#!/usr/bin/env bash
# A shell loop of `lore run` calls, in-process (each loads the model) vs
# against a resident `lore serve` (--engine URL), in the same invocation:
#
#   scripts/bench-serve.sh [CALLS] [MODEL] [MAX_TOKENS]
#
# Prints the wall time of each loop, the mean per call and the ratio.
# Defaults: 20 calls, smollm2-135m, 8 tokens. LORE=path picks the binary
# (default: target/debug/lore via cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."
calls="${1:-20}" model="${2:-smollm2-135m}" max_tokens="${3:-8}"
if [[ -z "${LORE:-}" ]]; then
    cargo build --quiet
    LORE="${CARGO_TARGET_DIR:-target}/debug/lore"
fi
prompt="What is the capital of France?"
tmp="$(mktemp -d)"
cleanup() { [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

loop() {  # extra args...
    local start end
    start=$(date +%s.%N)
    for _ in $(seq "$calls"); do
        "$LORE" "$@" run -n "$max_tokens" -t 0 "$prompt" > /dev/null
    done
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

"$LORE" --model "$model" serve --listen 127.0.0.1:0 2> "$tmp/serve.log" &
server=$!
for _ in $(seq 600); do
    url=$(sed -n 's/^lore: serving .* on \(http:\/\/[^ ]*\).*/\1/p' "$tmp/serve.log")
    [[ -n "$url" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
    sleep 0.2
done
[[ -n "$url" ]] || { echo "bench-serve: lore serve did not start" >&2; exit 1; }

# One call each first, so both loops start warm (page cache, first-use
# conversion).
"$LORE" --model "$model" run -n 1 -t 0 hi > /dev/null
"$LORE" --engine "$url" run -n 1 -t 0 hi > /dev/null

local_s=$(loop --model "$model")
remote_s=$(loop --engine "$url")
printf 'bench-serve: %d x `lore run -n %d` on %s\n' "$calls" "$max_tokens" "$model"
printf '  in-process : %6.2f s total, %5.3f s per call\n' "$local_s" "$(echo "$local_s / $calls" | bc -l)"
printf '  lore serve : %6.2f s total, %5.3f s per call\n' "$remote_s" "$(echo "$remote_s / $calls" | bc -l)"
printf '  resident is %.1fx faster\n' "$(echo "$local_s / $remote_s" | bc -l)"
