#!/usr/bin/env bash
# Checks that every vendored crate equals the published crate plus the
# patches listed for it, and nothing else:
#
#   vendor/check.sh           compare; exit 1 and show the difference if not
#   vendor/check.sh --diff    print each crate's whole difference from the
#                             published crate (to review or regenerate patches)
#
# The published .crate comes from cargo's cache, or is downloaded by cargo
# itself (a throw-away project that depends on exactly that version).
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-check}"

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
registry="${CARGO_HOME:-$HOME/.cargo}/registry/cache"

pristine() {  # name version -> path of the unpacked published crate
    local name="$1" version="$2" crate
    crate="$(ls "$registry"/*/"$name-$version.crate" 2>/dev/null | head -1 || true)"
    if [[ -z "$crate" ]]; then
        mkdir -p "$tmp/fetch/src"
        printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
            "$name" "$version" > "$tmp/fetch/Cargo.toml"
        touch "$tmp/fetch/src/lib.rs"
        (cd "$tmp/fetch" && cargo fetch --quiet)
        crate="$(ls "$registry"/*/"$name-$version.crate" | head -1)"
    fi
    mkdir -p "$tmp/pristine"
    tar xzf "$crate" -C "$tmp/pristine"
    echo "$tmp/pristine/$name-$version"
}

status=0
for dir in */; do
    dir="${dir%/}"
    [[ -f "$dir/Cargo.toml" ]] || continue
    name="${dir%-*}" version="${dir##*-}"
    base="$(pristine "$name" "$version")"
    if [[ "$mode" == "--diff" ]]; then
        (cd "$tmp/pristine" && diff -ruN "$name-$version" "$OLDPWD/$dir") || true
        continue
    fi
    for p in patches/"$dir"/*.patch; do
        [[ -e "$p" ]] || continue
        patch --quiet -p1 -d "$base" < "$p" || { echo "vendor: $p does not apply to $dir" >&2; status=1; }
    done
    if diff -r "$base" "$dir" > "$tmp/$dir.diff"; then
        echo "vendor: $dir = published crate + $(ls patches/"$dir"/*.patch 2>/dev/null | wc -l) patches"
    else
        echo "vendor: $dir differs from the published crate plus its patches:" >&2
        cat "$tmp/$dir.diff" >&2
        status=1
    fi
done
exit "$status"
