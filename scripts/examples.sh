#!/usr/bin/env bash
# Builds every example crate (examples/*, each `example-<topic>`) in one go, runs each
# one, and runs the tests of those that have them. Fails if any example fails.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
for manifest in examples/*/Cargo.toml; do
    name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)
    packages+=("$name")
done
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done

echo "== building ${#packages[@]} examples"
cargo build "${args[@]}" --bins

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
failed=()
for p in "${packages[@]}"; do
    echo
    echo "== $p"
    if ! "$target_dir/debug/$p"; then
        failed+=("$p")
    fi
done

tested=()
for manifest in examples/*/Cargo.toml; do
    dir=$(dirname "$manifest")
    if [ -d "$dir/tests" ]; then
        tested+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
    fi
done
if [ ${#tested[@]} -gt 0 ]; then
    echo
    echo "== example tests"
    if ! cargo test "${tested[@]}"; then
        failed+=("tests")
    fi
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "examples that failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#packages[@]} examples ran and passed"
