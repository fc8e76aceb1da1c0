#!/usr/bin/env bash
# Engine benchmark: lore against llama.cpp on the same GGUF files, the same
# prompts and the same thread count, interleaved in one invocation so both
# see the same machine. Prints, per model, the medians and the ratio
# lore / llama.cpp of:
#   - prefill tok/s on a ~1,500-token grounded prompt (help-centre passages
#     and a question, as `lore ask` sends them),
#   - time to first token on that prompt,
#   - decode tok/s on a short chat prompt,
#   - load time (a fresh process each run, files in the page cache).
#
#   scripts/bench-engine.sh [RUNS] [MODEL.gguf ...]
#
# Models default to the catalogue's installed files (SmolLM2-135M Q8_0,
# Qwen2.5-Coder 0.5B with its Q8_0 conversion, 1.5B) plus any Qwen files
# found in $BENCH_MODELS_DIR (default ~/.cache/lore/models). BENCH_LORE runs
# another lore binary (e.g. a saved build, for before/after figures).
# llama-cpp-python is built once into ~/.cache/lore/llama-venv (about
# 10 minutes on 2 cores the first time).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
shift || true
threads="${BENCH_THREADS:-$(nproc)}"
decode_tokens="${BENCH_DECODE_TOKENS:-64}"
models_dir="${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}"
bench_dir="${BENCH_MODELS_DIR:-$HOME/.cache/lore/models}"
venv="$HOME/.cache/lore/llama-venv"

if [[ -z "${BENCH_LORE:-}" ]]; then
    cargo build --quiet --bin lore
    BENCH_LORE="${CARGO_TARGET_DIR:-target}/debug/lore"
fi
if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "bench: building llama-cpp-python into $venv (once; about 10 minutes)" >&2
    python3 -m venv "$venv"
    # Portable AVX2 build, like lore's x86-64-v3; no network use at run time.
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF" \
        "$venv/bin/pip" install --quiet "llama-cpp-python==0.3.16"
fi

models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
    # The catalogue's files as lore runs them (making the conversions first).
    for name in smollm2-135m qwen2.5-coder-0.5b; do
        "$BENCH_LORE" run --model "$name" --max-tokens 1 hi >/dev/null 2>&1 || true
    done
    models=()
    for f in "$models_dir"/SmolLM2-135M-Instruct.Q8_0.gguf \
             "$models_dir"/qwen2.5-coder-0.5b-instruct-q8_0.gguf \
             "$models_dir"/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
             "$bench_dir"/qwen2.5-coder-0.5b-instruct.q8_0.gguf \
             "$bench_dir"/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf; do
        [[ -f "$f" ]] && models+=("$f")
    done
    [[ ${#models[@]} -gt 0 ]] || { echo "bench-engine: no model installed (scripts/fetch-model.sh)" >&2; exit 2; }
fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
short="Write a short story about a robot who learns to paint. Describe the colours it discovers and how the people in its town react to its first exhibition."
# The grounded prompt: numbered help-centre passages, then the question,
# cut to about 6,000 characters (~1,500 tokens for these tokenizers).
python3 - "$tmp/grounded.txt" <<'PY'
import pathlib, sys
parts, size = [], 0
for n, path in enumerate(sorted(pathlib.Path("index/help-centre").rglob("*.md")), 1):
    text = path.read_text().strip()
    parts.append(f"[{n}] {path.relative_to('index')}\n{text}")
    size += len(parts[-1])
    if size > 5600:
        break
body = "\n\n".join(parts)[:5800]
pathlib.Path(sys.argv[1]).write_text(
    "Answer the question using only these passages, citing them as [n].\n\n"
    f"{body}\n\nQuestion: How long do I have to return an item, and who pays for the return?")
PY

cat > "$tmp/llama.py" <<'PY'
import json, sys, time
model, prompt_file, max_tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompt = open(prompt_file).read()
t0 = time.perf_counter()
from llama_cpp import Llama
llm = Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
load = time.perf_counter() - t0
start = time.perf_counter(); first = None; n = 0; text = ""
for chunk in llm.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=max_tokens,
                                        temperature=0, stream=True):
    piece = chunk["choices"][0]["delta"].get("content")
    if piece:
        first = first or time.perf_counter(); n += 1; text += piece
end = time.perf_counter()
first = first or end
print(json.dumps({"load_s": load, "ttft_s": first - start,
                  "decode": max(n - 1, 0) / (end - first) if end > first else 0.0, "text": text}))
PY

run_lore() {  # model prompt-file max-tokens out
    "$BENCH_LORE" run --model "$1" --system "" --temperature 0 --max-tokens "$3" --format json \
        < "$2" > "$4"
}
run_llama() {
    "$venv/bin/python" "$tmp/llama.py" "$1" "$2" "$3" "$threads" > "$4"
}
printf '%s' "$short" > "$tmp/short.txt"

i=0
for model in "${models[@]}"; do
    [[ -f "$model" ]] || { echo "bench: $model not found" >&2; exit 1; }
    i=$((i + 1))
    for r in $(seq 1 "$runs"); do
        # Alternate which engine goes first so neither always meets a warmer machine.
        for engine in $( ((r % 2)) && echo "lore llama" || echo "llama lore"); do
            "run_$engine" "$model" "$tmp/short.txt" "$decode_tokens" "$tmp/$i.$engine.short.$r.json"
            "run_$engine" "$model" "$tmp/grounded.txt" 8 "$tmp/$i.$engine.long.$r.json"
        done
    done
done

python3 - "$tmp" "$runs" "$threads" "${models[@]}" <<'PY'
import json, os, statistics, sys
tmp, runs, threads, models = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def load(i, engine, kind):
    return [json.load(open(f"{tmp}/{i}.{engine}.{kind}.{r}.json")) for r in range(1, runs + 1)]
med = statistics.median
print(f"lore vs llama.cpp, {threads} threads each, {runs} interleaved runs, medians; ratio = lore / llama.cpp"
      " (higher is better for tok/s, lower for seconds)")
for i, model in enumerate(models, 1):
    ls, ll = load(i, "lore", "short"), load(i, "lore", "long")
    cs, cl = load(i, "llama", "short"), load(i, "llama", "long")
    long_tokens = ll[0]["usage"]["prompt_tokens"]
    rows = [
        (f"prefill tok/s ({long_tokens}-token prompt)",
         med(long_tokens / r["timings"]["time_to_first_token_s"] for r in ll),
         med(long_tokens / r["ttft_s"] for r in cl)),
        ("time to first token, s (same prompt)",
         med(r["timings"]["time_to_first_token_s"] for r in ll), med(r["ttft_s"] for r in cl)),
        (f"decode tok/s ({ls[0]['usage']['prompt_tokens']}-token prompt)",
         med(r["timings"]["generated_tokens_per_s"] for r in ls), med(r["decode"] for r in cs)),
        ("load, s", med(r["timings"]["load_s"] for r in ls + ll), med(r["load_s"] for r in cs + cl)),
    ]
    print(f"\n{os.path.basename(model)}")
    print(f"  {'':44} {'lore':>9} {'llama.cpp':>10} {'ratio':>7}")
    for name, a, b in rows:
        print(f"  {name:44} {a:9.2f} {b:10.2f} {a / b:7.2f}")
PY
