#!/usr/bin/env bash
# A short cargo-fuzz run of every target in fuzz/ (see fuzz/README.md): builds
# them once (nightly, AddressSanitizer), runs each for FUZZ_SECONDS from its
# seeds, prints one line per target (execs, coverage) and fails on any crash,
# timeout or out-of-memory. Part of `make test` (`make fuzz-smoke`).
#
# Needs the `nightly` toolchain (installed here with rustup if missing) and
# cargo-fuzz (installed with `cargo install cargo-fuzz --locked` if missing).
#
#   FUZZ_SECONDS=8       seconds per target
#   FUZZ_JOBS=<nproc>    targets run side by side
#   FUZZ_TARGETS="grub uki"   only these targets
#   HOPBOOT_FUZZ_STRICT=1     a panic hopboot catches (fatfs, goblin) fails too
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-8}
JOBS=${FUZZ_JOBS:-$(nproc)}
TOOLCHAIN=nightly
START=$(date +%s)

say() { echo "fuzz-smoke: $*"; }
die() {
    echo "fuzz-smoke: FAILED: $*" >&2
    exit 1
}

# The nightly toolchain: libFuzzer's sanitizer flags are nightly-only.
if ! rustup run "$TOOLCHAIN" rustc --version > /dev/null 2>&1; then
    say "installing the $TOOLCHAIN toolchain (rustup toolchain install $TOOLCHAIN --profile minimal)"
    rustup toolchain install "$TOOLCHAIN" --profile minimal ||
        die "no '$TOOLCHAIN' toolchain and rustup could not install it; cargo fuzz needs nightly"
fi
if ! cargo fuzz --version > /dev/null 2>&1; then
    say "installing cargo-fuzz (cargo install cargo-fuzz --locked; a few minutes)"
    cargo install cargo-fuzz --locked || die "cargo install cargo-fuzz failed"
fi

mapfile -t ALL < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$FUZZ/Cargo.toml" | grep -v '^hopboot-fuzz$')
read -r -a TARGETS <<< "${FUZZ_TARGETS:-${ALL[*]}}"
[ "${#TARGETS[@]}" -gt 0 ] || die "no targets in fuzz/Cargo.toml"

SEEDS=$FUZZ/target/seeds
"$FUZZ/make-seeds.sh" "$SEEDS" || die "building the seed corpora (fuzz/make-seeds.sh)"

say "building ${#TARGETS[@]} targets (cargo +$TOOLCHAIN fuzz build, AddressSanitizer)"
(cd "$FUZZ" && cargo "+$TOOLCHAIN" fuzz build) || die "cargo +$TOOLCHAIN fuzz build"
BUILT=$(date +%s)
HOST=$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')
BIN=$FUZZ/target/$HOST/release

# Each target: a fresh work corpus (new inputs go there), its seeds read-only,
# crashes to fuzz/artifacts/TARGET/ (cargo-fuzz's place for them).
RUN=$FUZZ/target/smoke
rm -rf "$RUN"
mkdir -p "$RUN"
run_target() {
    local t=$1 dict=()
    local work=$RUN/corpus/$t art=$FUZZ/artifacts/$t log=$RUN/$t.log
    mkdir -p "$work" "$art"
    [ -e "$FUZZ/$t.dict" ] && dict=("-dict=$FUZZ/$t.dict")
    local rc=0
    "$BIN/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=1024 -timeout=5 \
        -max_len=1048576 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
        "$work" "$SEEDS/$t" > "$log" 2>&1 || rc=$?
    echo "$rc" > "$RUN/$t.rc"
}
for t in "${TARGETS[@]}"; do
    [ -x "$BIN/$t" ] || die "no binary for target $t in $BIN"
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_target "$t" &
done
wait

failed=()
for t in "${TARGETS[@]}"; do
    log=$RUN/$t.log
    rc=$(cat "$RUN/$t.rc" 2> /dev/null || echo "?")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    stats=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1  ft \2  corpus \3/')
    caught=$(grep -c '^hopboot-fuzz: panic:' "$log" || true)
    note=""
    [ "$caught" -gt 0 ] && note="  ($caught dependency panics caught by hopboot, see $log)"
    if [ "$rc" = 0 ]; then
        printf 'fuzz-smoke: %-12s ok    %9s execs  %s%s\n' "$t" "${execs:-?}" "${stats:-no stats}" "$note"
    else
        printf 'fuzz-smoke: %-12s FAIL  exit %s  %s\n' "$t" "$rc" "${stats:-}"
        grep -E 'ERROR: libFuzzer|panicked at|^SUMMARY|Test unit written to|ERROR: AddressSanitizer' "$log" | head -8 | sed 's/^/    /'
        failed+=("$t")
    fi
done

END=$(date +%s)
say "build $((BUILT - START)) s, runs $((END - BUILT)) s, total $((END - START)) s; logs in $RUN"
if [ "${#failed[@]}" -gt 0 ]; then
    die "${failed[*]} (reproduce: cd fuzz && cargo +$TOOLCHAIN fuzz run TARGET artifacts/TARGET/<file>; see fuzz/README.md)"
fi
say "all ${#TARGETS[@]} targets ok"
