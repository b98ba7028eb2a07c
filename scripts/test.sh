#!/usr/bin/env bash
# The whole test suite: every crate, every driver against its real store.
# Starts (and if needed installs) the stores first; see scripts/services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
cargo test --workspace --all-features --no-fail-fast "$@"
