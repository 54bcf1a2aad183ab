#!/bin/bash
# Builds one Unified Kernel Image for the tests from a directory describing it:
#   scripts/build-uki.sh SPEC_DIR OUT.efi
# SPEC_DIR may hold `os-release`, `cmdline` and `uname`, each becoming the section of
# that name (.osrel, .cmdline, .uname); a missing file means no such section. The
# .linux and .initrd sections are placeholder text (enough for a menu: systemd-boot
# and hopboot read only the text sections to list a UKI), or the files named by
# $UKI_LINUX / $UKI_INITRD. Like `ukify build` / the Arch wiki's objcopy recipe:
# systemd's EFI stub (scripts/efi-stub.sh, or $HOPBOOT_EFI_STUB) with the sections
# added by objcopy after the stub's last section, each aligned as the stub asks.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SPEC_DIR OUT.efi" >&2; exit 2; }
spec=$1 out=$2
here="$(cd "$(dirname "$0")" && pwd)"
stub=$("$here/efi-stub.sh") || exit 1
for t in objcopy objdump; do
    command -v "$t" >/dev/null || { echo "build-uki: needs $t (binutils)" >&2; exit 1; }
done
[ -d "$spec" ] || { echo "build-uki: $spec is not a directory" >&2; exit 1; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
printf 'kernel placeholder\n' > "$tmp/linux"
printf 'initrd placeholder\n' > "$tmp/initrd"
align=$((16#$(objdump -p "$stub" | awk '$1 == "SectionAlignment" {print $2}')))
last=$(objdump -h "$stub" | awk '$1 ~ /^[0-9]+$/ {line=$0} END {print line}')
size=$((16#$(echo "$last" | awk '{print $3}')))
vma=$((16#$(echo "$last" | awk '{print $4}')))
next=$(( (vma + size + align - 1) / align * align ))
args=()
add() { # add NAME FILE
    args+=(--add-section ".$1=$2" --change-section-vma ".$1=$(printf 0x%x "$next")")
    local sz; sz=$(stat -c %s "$2")
    next=$(( (next + sz + align - 1) / align * align ))
}
[ -f "$spec/os-release" ] && add osrel "$spec/os-release"
[ -f "$spec/cmdline" ] && add cmdline "$spec/cmdline"
[ -f "$spec/uname" ] && add uname "$spec/uname"
add linux "${UKI_LINUX:-$tmp/linux}"
add initrd "${UKI_INITRD:-$tmp/initrd}"
mkdir -p "$(dirname "$out")"
objcopy "${args[@]}" "$stub" "$out"
