#!/usr/bin/env bash
# Fuzzes the stored-job decoders and the CLI/config parsers, each for a bounded time, and
# says what it found. Not part of CI: run it by hand, e.g. before a release.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 minutes per target
#   scripts/fuzz.sh 60 stored_job
#
# Needs cargo-fuzz (installed here from crates.io when missing). It works on the stable
# toolchain with `--sanitizer none`, the default here: our crates forbid unsafe code, so a
# sanitizer adds little and runs four times slower. FUZZ_SANITIZER=address asks for
# AddressSanitizer; cargo-fuzz then passes `-Zsanitizer=address`, which the stable
# compiler takes only with RUSTC_BOOTSTRAP=1, so this script sets it for that case.
#
# The corpus grows in fuzz/corpus/<target> (not committed) from the seeds in
# fuzz/seeds/<target>; a crash is written to fuzz/artifacts/<target>/ and this script then
# prints how to replay it. Every crash found so far is a regression test in
# rakit-job/tests/fuzz_regressions.rs or drivers/*/tests/fuzz_regressions.rs.
# Set CARGO_TARGET_DIR to build elsewhere than fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(stored_job cli_and_config)
fi
case "$seconds" in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds per target] [target...]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

sanitizer="${FUZZ_SANITIZER:-none}"
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
fi
# Dates are read as local time: a zone with daylight saving reaches the gap and overlap code.
export TZ="${TZ:-Europe/Berlin}"
mkdir -p fuzz/logs

found=0
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    log="fuzz/logs/$target.log"
    mkdir -p "$corpus" "$artifacts"
    before=$(ls "$artifacts" | sort)

    echo "== building $target"
    cargo fuzz build --sanitizer "$sanitizer" "$target"

    echo "== fuzzing $target for ${seconds}s (log: $log)"
    status=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
        -dict="fuzz/dicts/$target.dict" -print_final_stats=1 >"$log" 2>&1 || status=$?

    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
    new=$(comm -13 <(echo "$before") <(ls "$artifacts" | sort) | sed '/^$/d')
    if [ -z "$new" ] && [ "$status" -eq 0 ]; then
        summary+=("$target: ${runs:-no run count}, ${stats:-no stats}; nothing found")
        continue
    fi
    found=1
    summary+=("$target: FOUND something after ${runs:-an unknown number of runs} (exit $status)")
    grep -m 1 -A 2 "panicked at" "$log" | sed 's/^/    /' || tail -n 20 "$log" | sed 's/^/    /'
    for file in $new; do
        summary+=("    $artifacts/$file")
        summary+=("      replay: cargo fuzz run --sanitizer $sanitizer $target $artifacts/$file")
        summary+=("      shrink: cargo fuzz tmin --sanitizer $sanitizer $target $artifacts/$file")
    done
done

echo
echo "== what fuzzing found"
printf '%s\n' "${summary[@]}"
if [ "$found" -ne 0 ]; then
    echo "Turn each input above into a regression test (see the tests named fuzz_regressions)."
fi
exit "$found"
