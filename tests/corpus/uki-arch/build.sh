#!/bin/bash
# Builds the UKI this case needs into a copy of the case: $1 holds roots/.
# Like `ukify build` / the Arch wiki's objcopy recipe: the systemd EFI stub
# plus .osrel, .cmdline, .uname, .linux and .initrd sections placed after the
# stub's last section. Kernel and initrd are placeholder text.
set -euo pipefail
out="$1/roots/1-esp/EFI/Linux/arch-linux.efi"
here="$(cd "$(dirname "$0")" && pwd)"
# systemd's EFI stub as the tests find it (scripts/efi-stub.sh: target/efi-stub/ or the system's).
stub=$("$here/../../../scripts/efi-stub.sh") || exit 1
if ! command -v objcopy >/dev/null || ! command -v objdump >/dev/null; then
    echo "uki-arch needs objcopy/objdump (binutils)" >&2
    exit 1
fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
printf 'kernel placeholder\n' > "$tmp/linux"
printf 'initrd placeholder\n' > "$tmp/initrd"
align=$((16#$(objdump -p "$stub" | awk '$1 == "SectionAlignment" {print $2}')))
last=$(objdump -h "$stub" | awk '$1 ~ /^[0-9]+$/ {line=$0} END {print line}')
size=$((16#$(echo "$last" | awk '{print $3}')))
vma=$((16#$(echo "$last" | awk '{print $4}')))
next=$(( (vma + size + align - 1) / align * align ))
args=()
for s in osrel:os-release cmdline:cmdline uname:uname linux:@linux initrd:@initrd; do
    name=${s%%:*}; file=${s#*:}
    case "$file" in @*) path="$tmp/${file#@}" ;; *) path="$here/uki/$file" ;; esac
    args+=(--add-section ".$name=$path" --change-section-vma ".$name=$(printf 0x%x "$next")")
    sz=$(stat -c %s "$path")
    next=$(( (next + sz + align - 1) / align * align ))
done
mkdir -p "$(dirname "$out")"
objcopy "${args[@]}" "$stub" "$out"
