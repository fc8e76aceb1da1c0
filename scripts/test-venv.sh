#!/usr/bin/env bash
# The Python side of `lore serve`'s tests, built once into a cache:
#   - the official OpenAI Python client, as a client of `lore serve`;
#   - llama.cpp's OpenAI-compatible server (llama-cpp-python[server]),
#     as a server lore did not write, for `--engine URL`.
# llama-cpp-python compiles llama.cpp from its sdist (about 10 minutes on
# 2 cores the first time); later runs find the finished venv and return.
#
#   scripts/test-venv.sh          build if missing, print the venv's path
#
# LORE_TEST_VENV overrides the location.
set -euo pipefail

venv="${LORE_TEST_VENV:-$HOME/.cache/lore/venv-serve}"
# Pinned: the tests assert on these clients' and servers' behaviour.
packages=(openai==3.60.0 "llama-cpp-python[server]==0.3.36")
stamp="$venv/.lore-ready"
want="${packages[*]}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv"
    exit 0
fi

# One builder at a time: tests running in parallel wait for the first.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv"
    exit 0
fi

echo "test-venv: building $venv ($want); llama.cpp compiles from source, about 10 minutes the first time" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
# CPU only, portable: the tests run on whatever machine CI lends.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF}" \
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$venv/bin/python" -m pip install --quiet --no-cache-dir "${packages[@]}" >&2
"$venv/bin/python" -c 'import openai, llama_cpp, llama_cpp.server' >&2
echo "$want" > "$stamp"
echo "$venv"
