#!/usr/bin/env bash
# Installs what `make qemu` / `make test` need on a Debian 12 machine.
# Root: installs missing apt packages (qemu from bookworm-backports, because these
# machines carry qemu-utils from backports and bookworm's qemu-system-x86 conflicts with it).
# Not root: prints what is missing and exits non-zero.
set -euo pipefail

need_rust_target() {
    if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
        echo "install-deps: adding rust target x86_64-unknown-linux-musl"
        rustup target add x86_64-unknown-linux-musl
    fi
}

# command -> package
declare -A PKG=(
    [qemu-system-x86_64]=qemu-system-x86
    [sgdisk]=gdisk
    [mkfs.ext4]=e2fsprogs
    [mkfs.vfat]=dosfstools
    [mcopy]=mtools
    [cpio]=cpio
    [zstd]=zstd
    [xz]=xz-utils
    [mkfs.btrfs]=btrfs-progs
    [mkfs.xfs]=xfsprogs
    [fdisk]=fdisk
    [gzip]=gzip
    [dpkg-deb]=dpkg
    [apt-get]=apt
    [objcopy]=binutils
    [sha256sum]=coreutils
    [debootstrap]=debootstrap
    [gcc]=gcc
    # `make payload` compiles Debian's kernel source.
    [make]=make
    [bc]=bc
    [bison]=bison
    [flex]=flex
)

missing=()
for cmd in "${!PKG[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
        missing+=("${PKG[$cmd]}")
    fi
done
# Debian's systemd EFI stub is used to build a real UKI in tests.
[ -e /usr/lib/systemd/boot/efi/linuxx64.efi.stub ] || missing+=(systemd-boot-efi)
# OVMF (UEFI firmware) for the UEFI end-to-end tests (tests/tests/uefi.rs).
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || missing+=(ovmf)
# `make payload`: Debian's kernel source, and libelf for the kernel's objtool.
[ -e /usr/src/linux-source-6.1.tar.xz ] || missing+=(linux-source-6.1)
[ -e /usr/include/libelf.h ] || missing+=(libelf-dev)
# `make bench` links its C reference loader (bench/minimal-kexec) statically against glibc.
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)

need_rust_target

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    echo "install-deps: (qemu-system-x86 may need -t bookworm-backports when qemu-utils comes from backports)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
bpo="${codename}-backports"
if ! grep -rqs -- "$bpo" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Use the mirror apt already uses for the main archive.
    uri=$(grep -rhs -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ \
          | grep -Eo 'https?://[^ ]*debian/?' | grep -v security | head -n1 || true)
    uri=${uri:-http://deb.debian.org/debian}
    echo "install-deps: adding $bpo from $uri"
    cat >/etc/apt/sources.list.d/hopboot-backports.sources <<SRC
Types: deb
URIs: $uri
Suites: $bpo
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
# qemu-utils from backports is already installed on these machines; keep qemu consistent with it.
apt-get install -y -qq --no-install-recommends -t "$bpo" "${missing[@]}"
