#!/usr/bin/env bash
# Builds the fuzz seed corpora in OUT/<target>/ (default fuzz/target/seeds):
# the repo's own inputs, copied at run time instead of committed twice
# (tests/corpus grub.cfg, grubenv, BLS entries, loader.conf, syslinux
# configs), fuzz/seeds/<target>/ (small hand-written seeds), fuzz/campaign/<target>/
# (minimised corpora of the long runs), and small disk
# images built here: ext4 and FAT filesystems, a GPT disk (ESP + ext4 root),
# the same disk with an MBR and an extended partition, and a UKI made with
# objcopy from systemd's stub. Needs gdisk, e2fsprogs, dosfstools, mtools,
# binutils (scripts/install-deps.sh installs them).
set -euo pipefail
FUZZ=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ")
OUT=${1:-$FUZZ/target/seeds}
CORPUS=$ROOT/tests/corpus
# systemd's EFI stub as the tests find it (target/efi-stub/ or the system's); none: no UKI seed.
STUB=$("$ROOT/scripts/efi-stub.sh" 2>/dev/null || echo /nonexistent)
export MTOOLS_SKIP_CHECK=1 E2FSPROGS_FAKE_TIME=1700000000

rm -rf "$OUT"
TARGETS=(mbr gpt grub grubenv bls loader_conf extlinux uki cmdline modules_dep ext4 fat discover bzimage dhcp pxelinux ipxe http_response dns_reply tftp minisign manifest tpm_response)
for t in "${TARGETS[@]}"; do mkdir -p "$OUT/$t"; done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Committed hand-written seeds, and the minimised corpora of the long runs of the
# text targets (fuzz/campaign/<target>/, `-merge=1` of a 30-minute run's corpus).
for t in "${TARGETS[@]}"; do
    if [ -d "$FUZZ/seeds/$t" ]; then cp "$FUZZ/seeds/$t"/* "$OUT/$t/" 2>/dev/null || true; fi
    if [ -d "$FUZZ/campaign/$t" ]; then cp "$FUZZ/campaign/$t"/* "$OUT/$t/" 2>/dev/null || true; fi
done

# Corpus files: name each after its case and path so they stay distinct.
copy() { # copy TARGET FILE
    local rel=${2#"$CORPUS"/}
    cp "$2" "$OUT/$1/${rel//\//_}"
}
while IFS= read -r -d '' f; do
    case "$f" in
        */loader/entries/*.conf) copy bls "$f" ;;
        */loader/loader.conf) copy loader_conf "$f" ;;
        */grubenv) copy grubenv "$f"; copy grub "$f" ;;
        */grub/*.cfg | */grub2/*.cfg | */grub/grub.conf | */EFI/*/grub.cfg) copy grub "$f" ;;
        */isolinux/*.cfg | */syslinux/*.cfg | */extlinux/*.conf | */extlinux.conf) copy extlinux "$f" ;;
    esac
done < <(find "$CORPUS" -type f -size -1024k -print0)

# A filesystem tree with every config format hopboot reads.
# Network boot: real DHCP packets and netboot configs (loader/testdata/netboot/SOURCES.md).
NET=$ROOT/loader/testdata/netboot
for f in "$NET"/udhcpd/*.bin; do cp "$f" "$OUT/dhcp/"; done
for f in "$NET"/netboot.cz/pxelinux.cfg/default "$NET"/netboot.cz/debian.conf; do
    cp "$f" "$OUT/pxelinux/$(basename "$f")"
done
for f in "$NET"/*/*.ipxe; do cp "$f" "$OUT/ipxe/$(basename "$f")"; done
# Captured dnsmasq replies and packets, nginx heads (SOURCES.md). An http_response input
# starts with the byte that sets the chunked decoder's piece size.
for f in "$NET"/dnsmasq/dnsmasq-a-*.bin "$NET"/dnsmasq/dnsmasq-refused.bin; do cp "$f" "$OUT/dns_reply/"; done
for f in "$NET"/dnsmasq/dnsmasq-{oack,data1,error-not-found}.bin; do cp "$f" "$OUT/tftp/"; done
printf '\0\1pxelinux.cfg/default\0octet\0blksize\0001468\0tsize\0000\0' >"$OUT/tftp/rrq.bin"
for f in "$NET"/nginx/*.http; do
    { printf '\007'; cat "$f"; } >"$OUT/http_response/$(basename "$f")"
done
{ printf '\003'; cat "$NET/nginx/200-ssi-chunked.http"; printf '8;ext=1\r\n01234567\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n'; } \
    >"$OUT/http_response/chunked-body.http"

tree() { # tree DIR
    mkdir -p "$1/boot/grub" "$1/boot/extlinux" "$1/loader/entries"
    cp "$CORPUS/grub-semantics/root/boot/grub/grub.cfg" "$1/boot/grub/grub.cfg" 2>/dev/null ||
        printf "menuentry 'Debian' {\n  linux /boot/vmlinuz root=/dev/vda2\n}\n" > "$1/boot/grub/grub.cfg"
    printf '# GRUB Environment Block\nsaved_entry=0\n' > "$1/boot/grub/grubenv"
    printf 'DEFAULT l\nLABEL l\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND root=/dev/sda2\n' \
        > "$1/boot/extlinux/extlinux.conf"
    printf 'title Arch\nlinux /boot/vmlinuz\ninitrd /boot/initrd.img\noptions rw\n' > "$1/loader/entries/arch.conf"
    printf 'timeout 3\ndefault arch*\n' > "$1/loader/loader.conf"
    printf 'kernel' > "$1/boot/vmlinuz"
    for k in 1 2 3; do printf 'kernel' > "$1/boot/vmlinuz-$k"; done
    printf 'initrd' > "$1/boot/initrd.img"
    ln -sf vmlinuz "$1/boot/vmlinuz-6.1"
}
tree "$WORK/root"

ext4() { # ext4 IMG KIB [mkfs options]
    local img=$1 kib=$2
    shift 2
    mkfs.ext4 -q -F -b 1024 -N 32 -U 0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f "$@" -d "$WORK/root" "$img" "${kib}k" > /dev/null
}
ext4 "$WORK/root.ext4" 96 -O ^has_journal,^resize_inode
ext4 "$WORK/root.ext2" 96 -t ext2
cp "$WORK/root.ext4" "$OUT/ext4/root.ext4"
cp "$WORK/root.ext2" "$OUT/ext4/root.ext2"

# A UKI: the stub plus .osrel/.cmdline/.uname/.initrd/.linux, placed above
# the stub's own sections as ukify does.
if [ -e "$STUB" ]; then
    cp "$STUB" "$OUT/uki/stub.efi"
    vma=0
    while read -r idx _ size addr _; do
        [[ $idx =~ ^[0-9]+$ ]] && (( 0x$addr + 0x$size > vma )) && vma=$(( 0x$addr + 0x$size ))
    done < <(objdump -h "$STUB")
    vma=$(( (vma + 0xffff) & ~0xffff ))
    printf 'NAME="Fedora Linux"\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n' > "$WORK/osrel"
    printf 'root=/dev/vda2 ro quiet' > "$WORK/cmdline"
    printf '6.5.6-300.fc39.x86_64' > "$WORK/uname"
    head -c 1500 /dev/zero | tr '\0' 'I' > "$WORK/initrd"
    head -c 3000 /dev/zero | tr '\0' 'K' > "$WORK/linux"
    args=()
    for s in osrel cmdline uname initrd linux; do
        args+=(--add-section ".$s=$WORK/$s" --change-section-vma ".$s=$(printf '%#x' "$vma")")
        vma=$((vma + 0x10000))
    done
    objcopy "${args[@]}" "$STUB" "$WORK/uki.efi"
    cp "$WORK/uki.efi" "$OUT/uki/uki.efi"
fi

# An ESP: BLS entries, loader.conf, a kernel, the UKI.
mkdir -p "$WORK/esp/loader/entries" "$WORK/esp/EFI/Linux" "$WORK/esp/EFI/debian"
printf 'title Fedora\nversion 6.5\nlinux /vmlinuz\ninitrd /initrd.img\noptions quiet\n' \
    > "$WORK/esp/loader/entries/fedora+3-1.conf"
printf 'timeout menu-force\ndefault fedora*\n' > "$WORK/esp/loader/loader.conf"
printf 'search --fs-uuid --set=root 0f4c1b1e-0a4f-4b3e-9f57-3c4b0a1d2e3f\nconfigfile ($root)/boot/grub/grub.cfg\n' \
    > "$WORK/esp/EFI/debian/grub.cfg"
printf 'kernel' > "$WORK/esp/vmlinuz"
printf 'initrd' > "$WORK/esp/initrd.img"
[ -e "$WORK/uki.efi" ] && cp "$WORK/uki.efi" "$WORK/esp/EFI/Linux/fedora.efi"
fat() { # fat IMG KIB
    mkfs.vfat -C -i 48420001 -n ESP "$1" "$2" > /dev/null
    mcopy -s -i "$1" "$WORK/esp/"* ::/
}
fat "$WORK/esp.fat" 160
cp "$WORK/esp.fat" "$OUT/fat/esp.fat"
# Without a GRUB config, so the BLS entries are read.
rm -rf "$WORK/esp/EFI/Linux/fedora.efi" "$WORK/esp/EFI/debian"
fat "$WORK/small.fat" 64
cp "$WORK/small.fat" "$OUT/fat/small.fat"

# A GPT disk: ESP at sector 40, ext4 root after it, backup GPT at the end.
esp_kib=160 root_kib=96
disk=$WORK/disk.gpt
truncate -s $(( (40 + 2 * (esp_kib + root_kib) + 40) * 512 )) "$disk"
sgdisk -a 8 -n 1:40:+${esp_kib}K -t 1:ef00 -c 1:ESP -n 2:0:+${root_kib}K -t 2:8300 -c 2:root "$disk" > /dev/null
root_start=$(( 40 + 2 * esp_kib ))
dd if="$WORK/esp.fat" of="$disk" bs=512 seek=40 conv=notrunc status=none
dd if="$WORK/root.ext4" of="$disk" bs=512 seek=$root_start conv=notrunc status=none
cp "$disk" "$OUT/gpt/disk.gpt"
cp "$disk" "$OUT/discover/disk.gpt"
head -c 17408 "$disk" > "$OUT/gpt/table-only.gpt"

# The same disk with an MBR instead: ESP primary, an extended partition
# holding the root as the first of two logical partitions (EBR chain).
# Table entries as printf escapes (command substitution would drop NUL bytes).
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
entry() { # entry STATUS TYPE LBA SECTORS
    printf '\\x%02x\\x00\\x00\\x00\\x%02x\\x00\\x00\\x00' "$1" "$2"
    le32 "$3"
    le32 "$4"
}
sector() { # sector OUT-FILE OFFSET-SECTORS ENTRY...: writes a table with 0x55AA
    local f=$1 at=$2
    shift 2
    { head -c 446 /dev/zero; for e in "$@"; do printf '%b' "$e"; done; } > "$WORK/sec"
    truncate -s 510 "$WORK/sec"
    printf '\x55\xaa' >> "$WORK/sec"
    dd if="$WORK/sec" of="$f" bs=512 seek="$at" conv=notrunc status=none
}
mbr=$WORK/disk.mbr
cp "$disk" "$mbr"
dd if=/dev/zero of="$mbr" bs=512 count=40 conv=notrunc status=none
ext_start=$(( root_start - 8 ))
total=$(( $(stat -c %s "$mbr") / 512 ))
sector "$mbr" 0 "$(entry 0x80 0xef 40 $((2 * esp_kib)))" "$(entry 0 0x05 $ext_start $((total - ext_start)))"
# EBR 1: the root (relative to this EBR), a link to EBR 2 (relative to the extended start).
sector "$mbr" $ext_start "$(entry 0 0x83 8 $((2 * root_kib)))" "$(entry 0 0x05 $((2 * root_kib + 8)) 16)"
sector "$mbr" $((ext_start + 2 * root_kib + 8)) "$(entry 0 0x83 8 4)"
cp "$mbr" "$OUT/mbr/disk.mbr"
cp "$mbr" "$OUT/discover/disk.mbr"
head -c 512 "$mbr" > "$OUT/mbr/sector0.mbr"
cp "$WORK/root.ext4" "$OUT/discover/whole-disk.ext4"
cp "$WORK/small.fat" "$OUT/discover/whole-disk.fat"

for t in "${TARGETS[@]}"; do
    n=$(find "$OUT/$t" -type f | wc -l)
    [ "$n" -gt 0 ] || { echo "make-seeds: no seeds for $t" >&2; exit 1; }
done
echo "make-seeds: $(find "$OUT" -type f | wc -l) seeds in $OUT"
