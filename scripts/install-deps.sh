#!/usr/bin/env bash
# Installs what `make qemu` / `make test` need on a Debian 12 machine, without changing
# the host's system:
#   - packages come from the default release (bookworm);
#   - qemu-system-x86 alone comes from bookworm-backports, and only when the installed
#     qemu-utils is newer than the default release's qemu-system-x86 (these machines carry
#     backports' qemu-utils, which bookworm's qemu-system-x86 cannot go with); the
#     backports source is added only then;
#   - systemd's EFI stub (tests build UKIs with it) is not installed: unless the host has
#     it, it is unpacked from Debian's systemd-boot-efi .deb into target/efi-stub/
#     (scripts/efi-stub.sh --fetch);
#   - the install is simulated first (apt-get install -s) and refused when the plan would
#     install, upgrade, downgrade or remove a core package of the host (systemd, udev,
#     libc6, init, the kernel, ...; CORE below) or remove any package.
# --dry-run: show the plan and the guard's verdict; install nothing (needs no root).
# --check-simulation FILE: apply the guard to saved `apt-get install -s` output (tests).
# Not root: prints what is missing and exits non-zero.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

# Packages whose change would change how the host boots or runs: the guard refuses a plan
# that touches one of them (an extended regular expression on the package name).
CORE='systemd|systemd-sysv|systemd-timesyncd|systemd-resolved|libsystemd0|libsystemd-shared|libsystemd-core|libpam-systemd|libnss-systemd|udev|libudev1|init|init-system-helpers|sysvinit-core|sysvinit-utils|openrc|runit-init|libc6|libc-bin|libc-l10n|locales|libgcc-s1|libstdc\+\+6|dpkg|apt|libapt-pkg6\.0|base-files|bash|dash|coreutils|util-linux|mount|login|passwd|libpam0g|libpam-modules|libpam-runtime|dbus|dbus-daemon|dbus-system-bus-common|libdbus-1-3|linux-image-.*|linux-base|firmware-.*|grub-.*|grub2-.*|shim-.*|initramfs-tools.*|dracut.*|kmod|libkmod2|e2fsprogs'

# guard FILE: reads `apt-get install -s` output; prints what the plan does; exits 1 with a
# reason when it touches a core package or removes anything.
guard() {
    awk -v core="^($CORE)\$" '
        # Inst PKG [OLD] (NEW RELEASE [ARCH])   an upgrade or downgrade when [OLD] is there
        # Remv PKG [OLD]
        $1 == "Inst" {
            if ($3 ~ /^\[/) { old = substr($3, 2, length($3) - 2); new = substr($4, 2); what = "change" }
            else { old = ""; new = substr($3, 2); what = "new" }
            n[what]++
            line = $2 (old != "" ? " " old " -> " new : " " new)
            list[what] = list[what] "  " line "\n"
            if ($2 ~ core) bad = bad "  " $2 ": " (old != "" ? "would change " old " -> " new : "would be installed (" new ")") "\n"
        }
        $1 == "Remv" {
            n["remove"]++
            list["remove"] = list["remove"] "  " $2 "\n"
            bad = bad "  " $2 ": would be removed\n"
        }
        END {
            printf "install-deps: the plan: %d new, %d upgraded or downgraded, %d removed\n", n["new"], n["change"], n["remove"]
            if (n["change"]) printf "install-deps: upgraded or downgraded:\n%s", list["change"]
            if (n["remove"]) printf "install-deps: removed:\n%s", list["remove"]
            if (bad != "") {
                printf "install-deps: REFUSED: this install would change the host'\''s system:\n%s", bad
                printf "install-deps: nothing was installed. Install the packages yourself if you mean it,\n"
                printf "install-deps: or on a machine (VM, container) whose system may change.\n"
                exit 1
            }
        }' "$1"
}

if [ "${1:-}" = --check-simulation ]; then
    guard "$2"
    exit
fi
dry_run=false
[ "${1:-}" = --dry-run ] && dry_run=true

need_rust_target() {
    if ! command -v rustup >/dev/null 2>&1; then
        $dry_run && { echo "install-deps: (no rustup here: the Rust target is not checked)"; return 0; }
        echo "install-deps: rustup is missing (https://rustup.rs)" >&2
        return 1
    fi
    if ! rustup target list --installed 2>/dev/null | grep -x x86_64-unknown-linux-musl >/dev/null; then
        if $dry_run; then
            echo "install-deps: would add the Rust target x86_64-unknown-linux-musl"
        else
            echo "install-deps: adding rust target x86_64-unknown-linux-musl"
            rustup target add x86_64-unknown-linux-musl
        fi
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
    # Signatures in the trust tests are made with Debian's minisign.
    [minisign]=minisign
    # The TPM 2.0 tests (`make test-trust`) attach swtpm's socket TPM to QEMU. Only swtpm:
    # swtpm-tools (swtpm_setup) is not needed for a fresh TPM, and its gnutls-bin would
    # upgrade the host's libgnutls30.
    [swtpm]=swtpm
    # `make payload` compiles Debian's kernel source.
    [make]=make
    [bc]=bc
    [bison]=bison
    [flex]=flex
    # `make test-netboot` (loader/tests/netboot.rs) runs real servers in network namespaces:
    # dnsmasq-base is dnsmasq without its system service; the services of nginx and atftpd
    # (a TFTP server with RFC 7440 windowsize) are stopped and disabled below (the tests
    # start their own, inside their namespaces).
    [ip]=iproute2
    [dnsmasq]=dnsmasq-base
    [nginx]=nginx
    [atftpd]=atftpd
    # `make bench-net` compares hopboot's HTTP client with curl on the same server.
    [curl]=curl
)

missing=()
for cmd in "${!PKG[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
        missing+=("${PKG[$cmd]}")
    fi
done
# OVMF (UEFI firmware) for the UEFI end-to-end tests (tests/tests/uefi.rs).
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || missing+=(ovmf)
# `make payload`: Debian's kernel source, and libelf for the kernel's objtool.
[ -e /usr/src/linux-source-6.1.tar.xz ] || missing+=(linux-source-6.1)
[ -e /usr/include/libelf.h ] || missing+=(libelf-dev)
# `make bench` links its C reference loader (bench/minimal-kexec) statically against glibc.
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)

need_rust_target

# systemd's EFI stub, unpacked (not installed) unless the host has it; apt-get download
# works without root.
if stub=$("$HERE/efi-stub.sh" 2>/dev/null); then
    :
elif $dry_run; then
    echo "install-deps: would unpack systemd-boot-efi's linuxx64.efi.stub into target/efi-stub/ (not installed)"
else
    "$HERE/efi-stub.sh" --fetch >/dev/null
fi

if [ ${#missing[@]} -eq 0 ]; then
    $dry_run && echo "install-deps: no package is missing"
    exit 0
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ] && ! $dry_run; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
    echo "install-deps: (qemu-system-x86 needs /bookworm-backports when qemu-utils comes from backports)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
bpo="${codename}-backports"
[ "$(id -u)" -eq 0 ] && apt-get update -qq

installed_version() { # PKG: its version if installed, else nothing
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "installed" {print $2}'
}

# Everything from the default release, except qemu-system-x86 when the installed
# qemu-utils is newer than the default release offers (backports'): bookworm's
# qemu-system-x86 wants its own qemu-utils version.
args=()
for p in "${missing[@]}"; do
    if [ "$p" != qemu-system-x86 ]; then
        args+=("$p")
        continue
    fi
    qu=$(installed_version qemu-utils)
    cand=$(apt-cache policy qemu-system-x86 | awk '$1 == "Candidate:" {print $2}')
    if [ -n "$qu" ] && [ -n "$cand" ] && [ "$cand" != "(none)" ] && dpkg --compare-versions "$qu" gt "$cand"; then
        echo "install-deps: qemu-utils $qu is newer than the default release's qemu-system-x86 $cand: qemu-system-x86 from $bpo"
        if ! grep -rqs -- "$bpo" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            if $dry_run; then
                echo "install-deps: would add the $bpo source (absent: the plan below cannot show backports' qemu)"
            else
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
                apt-get update -qq
            fi
        fi
        args+=("qemu-system-x86/$bpo")
    else
        args+=(qemu-system-x86)
    fi
done

echo "install-deps: missing: ${args[*]}"
sim=$(mktemp)
trap 'rm -f "$sim"' EXIT
# Backports' qemu-system-x86 wants some dependencies at backports' versions (its own
# qemu-system-common, qemu-system-data, seabios, ...); apt names them when it cannot
# resolve the plan. Each is then taken from backports too, and the plan simulated again.
for round in 1 2 3 4 5 6 7 8; do
    if apt-get install -s --no-install-recommends "${args[@]}" >"$sim" 2>&1; then
        break
    fi
    more=()
    if [[ " ${args[*]}" == *"/$bpo"* ]]; then
        while read -r dep; do
            [[ " ${args[*]} " == *" $dep/$bpo "* ]] && continue
            # (no `| grep -q`: with pipefail, apt-cache's SIGPIPE would read as "not found")
            [[ "$(apt-cache policy "$dep")" == *" $bpo/"* ]] && more+=("$dep/$bpo")
        done < <(grep -Eo '(Pre-)?Depends: [a-z0-9][a-z0-9.+-]+' "$sim" | awk '{print $2}' | sort -u)
    fi
    if [ ${#more[@]} -eq 0 ] || [ "$round" = 8 ]; then
        cat "$sim" >&2
        echo "install-deps: apt cannot install these packages (simulation above)" >&2
        exit 1
    fi
    echo "install-deps: also from $bpo (backports' qemu-system-x86 needs them): ${more[*]}"
    args+=("${more[@]}")
done
guard "$sim"
if $dry_run; then
    echo "install-deps: dry run: nothing installed"
    exit 0
fi
echo "install-deps: installing ${args[*]}"
# Debian's nginx and atftpd packages would start their services (ports 80 and 69 on the
# host); the tests never use them. While apt runs, a policy-rc.d (Debian's way, which
# invoke-rc.d and deb-systemd-invoke obey) refuses every service start, unless the host
# already has one of its own.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# hopboot install-deps: no service starts while it installs packages\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
fi
rc=0
apt-get install -y -qq --no-install-recommends "${args[@]}" || rc=$?
if $own_policy; then rm -f "$policy"; fi
[ "$rc" = 0 ] || exit "$rc"
# And they are not started at the next boot either.
for svc in nginx atftpd; do
    if [[ " ${args[*]} " != *" $svc "* ]]; then continue; fi
    echo "install-deps: disabling the $svc service (the netboot tests run their own)"
    if [ -d /run/systemd/system ]; then
        systemctl disable --now "$svc.service" || true
        if [ "$svc" = atftpd ]; then systemctl disable --now atftpd.socket || true; fi
    else
        invoke-rc.d "$svc" stop >/dev/null 2>&1 || true
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
        systemctl disable "$svc.service" >/dev/null 2>&1 || true
        if [ "$svc" = atftpd ]; then systemctl disable atftpd.socket >/dev/null 2>&1 || true; fi
    fi
done
exit 0
