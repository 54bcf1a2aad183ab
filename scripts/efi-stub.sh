#!/usr/bin/env bash
# Prints the path of systemd's EFI stub `linuxx64.efi.stub`, which the tests use to
# build Unified Kernel Images (qemu/src/uki.rs, tests/corpus/uki-arch/build.sh,
# fuzz/make-seeds.sh). The first that exists:
#   1. $HOPBOOT_EFI_STUB;
#   2. target/efi-stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub, unpacked by --fetch;
#   3. /usr/lib/systemd/boot/efi/linuxx64.efi.stub (the systemd-boot-efi package, if
#      the host has it).
# --fetch: when none exists, download Debian's systemd-boot-efi (`apt-get download`:
# the version apt would pick, Debian 12's own unless the host pins another) and unpack
# it with `dpkg-deb -x` into target/efi-stub/. Nothing is installed: installing
# systemd-boot-efi from bookworm-backports is what used to upgrade the host's systemd.
# Works without root. Exits 1 (saying so) when there is no stub.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
REL=usr/lib/systemd/boot/efi/linuxx64.efi.stub
UNPACKED=$TARGET/efi-stub

find_stub() {
    local c
    for c in "${HOPBOOT_EFI_STUB:-}" "$UNPACKED/$REL" "/$REL"; do
        if [ -n "$c" ] && [ -f "$c" ]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if find_stub; then
    exit 0
fi
if [ "${1:-}" != --fetch ]; then
    echo "efi-stub: no $REL: run scripts/efi-stub.sh --fetch (or scripts/install-deps.sh)" >&2
    exit 1
fi

mkdir -p "$TARGET"
work=$(mktemp -d "$TARGET/efi-stub-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt's sandbox user cannot write into a root-owned mktemp directory; the download
# then runs as root, which apt reports with a harmless warning.
(cd "$work" && apt-get download -q systemd-boot-efi >&2) || {
    echo "efi-stub: apt-get download systemd-boot-efi failed (run apt-get update?)" >&2
    exit 1
}
deb=$(ls "$work"/systemd-boot-efi_*.deb)
dpkg-deb -x "$deb" "$work/root"
[ -f "$work/root/$REL" ] || { echo "efi-stub: $deb has no $REL" >&2; exit 1; }
version=$(dpkg-deb -f "$deb" Version)
echo "systemd-boot-efi $version" >"$work/root/source"
rm -rf "$UNPACKED"
mv "$work/root" "$UNPACKED"
echo "efi-stub: unpacked systemd-boot-efi $version into $UNPACKED" >&2
echo "$UNPACKED/$REL"
