#!/usr/bin/env bash
# Builds the root filesystem of a real Debian 12 installation for `make test-distro`
# (tests/tests/distro.rs; the Rust side, qemu/src/distro.rs, turns the directory into a
# GPT disk with mkfs.ext4 -d, no loop devices).
#
#   build-distro-rootfs.sh CACHE_DIR OUT_DIR FS_UUID PART_UUID [BOOT [SYSTEMD]]
#
# SYSTEMD is `stable` (the default: bookworm's systemd 252) or `backports`: the base then
# has systemd, systemd-sysv, udev, libsystemd0 and libudev1 from bookworm-backports (254),
# installed with apt inside the base's chroot (the host's own packages are not touched).
#
# BOOT is `bios` (the default: GRUB's tools only, no boot loader installed) or `uefi`:
# the base also holds Debian's UEFI boot packages (systemd-boot; grub-efi-amd64 with
# the signed GRUB and shim), and stage 2 sets up an ESP tree in OUT_DIR/boot/efi the
# way `bootctl install` and `kernel-install` (systemd 252) make it: loader.conf,
# systemd-boot's binaries, and a type #1 entry with the kernel and initrd copied in
# (qemu/src/distro.rs makes that directory the vfat ESP, or leaves it empty for GRUB).
#
# Two stages:
#   1. base: `debootstrap --variant=minbase` of bookworm with the kernel, initramfs-tools,
#      systemd and GRUB's tools, into CACHE_DIR/base-KEY.tar. The .debs are kept in
#      CACHE_DIR/debs (--cache-dir), the installed tree in the tarball, so only the first
#      run downloads and installs; KEY changes with the package list.
#   2. install (every run): OUT_DIR = the tarball + what a user installing Debian on the
#      disk-to-be would configure: /etc/fstab with root by UUID, initramfs-tools with
#      FSTYPE=ext4 and zstd, /etc/default/grub for a serial console, a systemd unit that
#      prints HOPBOOT-DISTRO-MARKER on ttyS0 and powers off; then, inside the chroot,
#      `update-initramfs -u -k all` and `grub-mkconfig -o /boot/grub/grub.cfg`.
#
# grub-mkconfig asks grub-probe about the disk holding / and /boot. In a chroot that is
# the host's disk, so a stand-in grub-probe (dpkg-diverted, removed afterwards) answers
# for the disk the directory becomes: /dev/vda1 on a GPT disk, ext2 driver, FS_UUID,
# PART_UUID. Every question it was asked is printed. GRUB is not installed to any boot
# sector (hopboot reads grub.cfg; nothing here needs GRUB's core image).
#
# Runs as root (debootstrap, chroot). Mounts (/proc and a tmpfs /dev in the chroot) live
# in a private mount namespace (unshare), so they vanish with the process whatever
# happens. Env: HOPBOOT_DISTRO_MIRROR (default: the mirror apt uses, else
# deb.debian.org).
set -euo pipefail

SUITE=bookworm
VARIANT=minbase
# udev: device units for the fstab entry (also pulled in by initramfs-tools-core).
INCLUDE=linux-image-amd64,initramfs-tools,systemd-sysv,udev,grub-pc-bin,grub2-common,zstd,e2fsprogs
# BOOT=uefi adds these. grub-efi-amd64 conflicts only with grub-pc (not installed);
# their postinsts run grub-install / bootctl only when /boot/efi/EFI/debian or an ESP
# exists, which debootstrap's tree has not.
UEFI_INCLUDE=systemd-boot,grub-efi-amd64,grub-efi-amd64-signed,shim-signed
# Bump when stage 1 changes in a way the key below does not see.
BASE_REV=1

say() { echo "build-distro-rootfs: $*" >&2; }
die() {
    echo "build-distro-rootfs: error: $*" >&2
    exit 1
}

# The part that runs inside `unshare --mount`: chroot work on OUT_DIR.
# The part that runs inside `unshare --mount` for SYSTEMD=backports: apt in the base.
if [ "${1:-}" = "--backports" ]; then
    W=$2
    MIRROR=$3
    mount -t proc proc "$W/proc"
    mount -t tmpfs -o mode=0755 hopboot-dev "$W/dev"
    for node in "null c 1 3" "zero c 1 5" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
        set -- $node
        mknod -m 0666 "$W/dev/$1" "$2" "$3" "$4"
    done
    cp /etc/resolv.conf "$W/etc/resolv.conf"
    echo "deb $MIRROR bookworm-backports main" >"$W/etc/apt/sources.list.d/bookworm-backports.list"
    b_chroot() {
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive chroot "$W" "$@"
    }
    b_chroot apt-get update
    b_chroot apt-get install -y --no-install-recommends -t bookworm-backports \
        systemd systemd-sysv udev libsystemd0 libudev1
    b_chroot dpkg-query -W systemd udev libsystemd0
    b_chroot apt-get clean
    exit 0
fi

if [ "${1:-}" = "--in-namespace" ]; then
    OUT=$2
    FS_UUID=$3
    PART_UUID=$4
    BOOT=$5
    mount -t proc proc "$OUT/proc"
    # A scratch /dev: the device nodes the tools need, and the by-uuid link 10_linux
    # checks (`test -e /dev/disk/by-uuid/$GRUB_DEVICE_UUID`) before it writes
    # root=UUID=. /dev/vda1 is an empty file: nothing opens it (grub-probe is the
    # stand-in). The image keeps debootstrap's own /dev underneath.
    mount -t tmpfs -o mode=0755 hopboot-dev "$OUT/dev"
    for node in "null c 1 3" "zero c 1 5" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
        set -- $node
        mknod -m 0666 "$OUT/dev/$1" "$2" "$3" "$4"
    done
    mkdir -p "$OUT/dev/disk/by-uuid" "$OUT/dev/disk/by-partuuid"
    : >"$OUT/dev/vda1"
    ln -s ../../vda1 "$OUT/dev/disk/by-uuid/$FS_UUID"
    ln -s ../../vda1 "$OUT/dev/disk/by-partuuid/$PART_UUID"

    in_chroot() {
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive chroot "$OUT" "$@"
    }

    in_chroot systemctl enable hopboot-marker.service
    say "update-initramfs -u -k all (in the chroot)"
    in_chroot update-initramfs -u -k all

    say "grub-mkconfig -o /boot/grub/grub.cfg (in the chroot, stand-in grub-probe)"
    in_chroot dpkg-divert --quiet --local --rename --add /usr/sbin/grub-probe
    cat >"$OUT/usr/sbin/grub-probe" <<PROBE
#!/bin/sh
# Stand-in for grub-probe while grub-mkconfig runs in a chroot (scripts/build-distro-rootfs.sh):
# answers for the disk this tree becomes, one GPT partition /dev/vda1, ext4 $FS_UUID.
target=
while [ \$# -gt 0 ]; do
    case "\$1" in
        --target=*) target=\${1#--target=} ;;
        -t) shift; target=\${1:-} ;;
    esac
    shift
done
echo "\$target" >>/dev/grub-probe.log
case "\$target" in
    device) echo /dev/vda1 ;;
    disk) echo /dev/vda ;;
    fs) echo ext2 ;;
    fs_uuid) echo $FS_UUID ;;
    fs_label) echo ;;
    partuuid) echo $PART_UUID ;;
    partmap) echo gpt ;;
    abstraction) ;;
    drive) echo '(hd0,gpt1)' ;;
    compatibility_hint) echo hd0,gpt1 ;;
    hints_string) echo '--hint-bios=hd0,gpt1 --hint-efi=hd0,gpt1 --hint-baremetal=ahci0,gpt1 ' ;;
    *) echo "grub-probe stand-in: no answer for --target=\$target" >&2; exit 1 ;;
esac
PROBE
    chmod 0755 "$OUT/usr/sbin/grub-probe"
    mkdir -p "$OUT/boot/grub"
    status=0
    in_chroot grub-mkconfig -o /boot/grub/grub.cfg || status=$?
    rm -f "$OUT/usr/sbin/grub-probe"
    in_chroot dpkg-divert --quiet --local --rename --remove /usr/sbin/grub-probe
    [ -f "$OUT/dev/grub-probe.log" ] &&
        say "grub-probe was asked for: $(sort "$OUT/dev/grub-probe.log" | uniq -c | tr -s ' \n' ' ')"
    [ "$status" -eq 0 ] || die "grub-mkconfig failed ($status)"
    [ -x "$OUT/usr/sbin/grub-probe" ] || die "the real grub-probe was not restored"

    if [ "$BOOT" = uefi ]; then
        # systemd-boot as `bootctl install` puts it on an ESP mounted at /boot/efi.
        # bootctl wants the root of a filesystem there: a tmpfs in this namespace,
        # copied out afterwards. SYSTEMD_RELAX_ESP_CHECKS lets bootctl and
        # kernel-install take a filesystem that is not vfat on no partition, and
        # --no-variables keeps bootctl away from any EFI variable.
        kver=$(basename "$(ls -d "$OUT"/lib/modules/* | head -n1)")
        mkdir -p "$OUT/boot/efi"
        mount -t tmpfs -o mode=0755 hopboot-esp "$OUT/boot/efi"
        say "bootctl install --no-variables --esp-path=/boot/efi (in the chroot)"
        in_chroot env SYSTEMD_RELAX_ESP_CHECKS=1 bootctl install --no-variables --esp-path=/boot/efi ||
            die "bootctl install failed"
        say "kernel-install add $kver (in the chroot)"
        in_chroot env SYSTEMD_RELAX_ESP_CHECKS=1 kernel-install --verbose add "$kver" \
            "/boot/vmlinuz-$kver" "/boot/initrd.img-$kver" || die "kernel-install add failed"
        ls "$OUT"/boot/efi/loader/entries/*.conf >/dev/null 2>&1 ||
            die "kernel-install wrote no entry to /boot/efi/loader/entries"
        for f in "$OUT"/boot/efi/loader/loader.conf "$OUT"/boot/efi/loader/entries/*.conf; do
            say "$f:"
            sed 's/^/    /' "$f" >&2
        done
        rm -rf "$OUT/boot/efi.tmp"
        cp -a "$OUT/boot/efi/." "$OUT/boot/efi.tmp"
        umount "$OUT/boot/efi"
        rmdir "$OUT/boot/efi"
        mv "$OUT/boot/efi.tmp" "$OUT/boot/efi"
        say "ESP tree: $(cd "$OUT/boot/efi" && find . -type f | sort | tr '\n' ' ')"
    fi
    exit 0
fi

[ $# -ge 4 ] && [ $# -le 6 ] || die "usage: $0 CACHE_DIR OUT_DIR FS_UUID PART_UUID [bios|uefi [stable|backports]]"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot)"
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ||
    die "debootstrap is missing (scripts/install-deps.sh as root installs it)"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
CACHE=$(realpath -m "$1")
OUT=$(realpath -m "$2")
FS_UUID=$3
PART_UUID=$4
BOOT=${5:-bios}
case "$BOOT" in
    bios) ;;
    uefi) INCLUDE=$INCLUDE,$UEFI_INCLUDE ;;
    *) die "BOOT must be bios or uefi, not $BOOT" ;;
esac
SYSTEMD=${6:-stable}
case "$SYSTEMD" in
    stable | backports) ;;
    *) die "SYSTEMD must be stable or backports, not $SYSTEMD" ;;
esac
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
[[ $FS_UUID =~ $uuid_re ]] || die "FS_UUID $FS_UUID is not a lowercase UUID"
[[ $PART_UUID =~ $uuid_re ]] || die "PART_UUID $PART_UUID is not a lowercase UUID"
case "$OUT" in
    / | /usr | /etc | /boot | "$CACHE") die "refusing OUT_DIR $OUT" ;;
esac
SELF=$(realpath "$0")
mkdir -p "$CACHE/debs"
exec 9>"$CACHE/.lock"
flock 9

mirror=${HOPBOOT_DISTRO_MIRROR:-}
if [ -z "$mirror" ]; then
    # The mirror apt already uses for the main archive (as scripts/install-deps.sh does).
    mirror=$(grep -rhs -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ |
        grep -Eo 'https?://[^ ]*debian/?' | grep -v security | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
fi

# ---- stage 1: the debootstrapped base, cached as a tarball --------------------------
key=$(printf '%s\n' "$SUITE" "$VARIANT" "$INCLUDE" "$BASE_REV" | sha256sum | cut -c1-12)
[ "$SYSTEMD" = stable ] || key=$key-systemd-$SYSTEMD
BASE=$CACHE/base-$SUITE-$key.tar
if [ ! -f "$BASE" ]; then
    started=$(date +%s)
    work=$CACHE/base.tmp
    rm -rf "$work"
    say "debootstrap --variant=$VARIANT $SUITE from $mirror (debs cached in $CACHE/debs)"
    # debootstrap mounts /proc and /sys in the target; the namespace drops them on any exit.
    unshare --mount --propagation private \
        debootstrap --variant="$VARIANT" --include="$INCLUDE" --cache-dir="$CACHE/debs" \
        "$SUITE" "$work" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
        die "debootstrap failed; last lines of $CACHE/debootstrap.log:
$(tail -n 30 "$CACHE/debootstrap.log")"
    if [ "$SYSTEMD" = backports ]; then
        say "systemd from bookworm-backports (apt in the base's chroot)"
        unshare --mount --propagation private "$SELF" --backports "$work" "$mirror" \
            >"$CACHE/backports.log" 2>&1 ||
            die "installing systemd from backports failed; last lines of $CACHE/backports.log:
$(tail -n 30 "$CACHE/backports.log")"
        say "$(grep -E '^(systemd|udev|libsystemd0)\s' "$CACHE/backports.log" | tr '\t\n' '  ')"
    fi
    rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/* "$work"/tmp/*
    tar -C "$work" --numeric-owner --xattrs --xattrs-include='*' -cf "$BASE.tmp" .
    mv "$BASE.tmp" "$BASE"
    rm -rf "$work"
    say "base ready in $(($(date +%s) - started))s: $BASE ($(du -h "$BASE" | cut -f1))"
fi

# ---- stage 2: the installed system ----------------------------------------------------
started=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT"
tar -C "$OUT" --numeric-owner --xattrs --xattrs-include='*' -xf "$BASE"

cat >"$OUT/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$FS_UUID / ext4 errors=remount-ro 0 1
EOF
if [ "$BOOT" = uefi ]; then
    # What kernel-install puts in the entry's `options` (else it copies /proc/cmdline:
    # the host's): the same as GRUB_CMDLINE_LINUX below, with the root.
    mkdir -p "$OUT/etc/kernel"
    echo "root=UUID=$FS_UUID ro console=ttyS0,115200n8" >"$OUT/etc/kernel/cmdline"
fi
echo hopboot-distro >"$OUT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thopboot-distro\n' >"$OUT/etc/hosts"

# initramfs-tools: every storage driver (MODULES=most has virtio), ext4 and its fsck
# for the root filesystem, zstd.
cat >"$OUT/etc/initramfs-tools/conf.d/hopboot-distro.conf" <<'EOF'
MODULES=most
FSTYPE=ext4
COMPRESS=zstd
EOF

# /etc/default/grub as Debian ships it (grub-pc's postinst copies this template), edited
# as a user who wants the serial console would.
template=$OUT/usr/share/grub/default/grub
[ -f "$template" ] || die "$template is missing (grub2-common not installed?)"
sed -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=3/' \
    -e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=""/' \
    -e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"/' \
    -e 's/^#\?GRUB_TERMINAL=.*/GRUB_TERMINAL="console serial"/' \
    "$template" >"$OUT/etc/default/grub"
echo 'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' >>"$OUT/etc/default/grub"
grep -q '^GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"$' "$OUT/etc/default/grub" ||
    die "editing /etc/default/grub failed"

# The proof that the installed system came up: systemd runs this in multi-user.target.
cat >"$OUT/usr/local/sbin/hopboot-marker" <<'EOF'
#!/bin/sh
# Run by hopboot-marker.service once the installed system reached multi-user.target.
# Kernel messages share ttyS0 and could land inside a line: keep them off the console.
dmesg -n 1 || true
{
    echo "HOPBOOT-DISTRO-ROOT $(findmnt -n -o SOURCE,FSTYPE,OPTIONS /)"
    echo "HOPBOOT-DISTRO-FAILED-UNITS [$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')]"
    echo "HOPBOOT-DISTRO-MARKER $(uname -r) $(cat /proc/cmdline)"
} >/dev/ttyS0
exec systemctl --no-block poweroff
EOF
chmod 0755 "$OUT/usr/local/sbin/hopboot-marker"
cat >"$OUT/etc/systemd/system/hopboot-marker.service" <<'EOF'
[Unit]
Description=hopboot distro test: print the marker and power off
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hopboot-marker

[Install]
WantedBy=multi-user.target
EOF

unshare --mount --propagation private "$SELF" --in-namespace "$OUT" "$FS_UUID" "$PART_UUID" "$BOOT"

cfg=$OUT/boot/grub/grub.cfg
grep -q "^menuentry 'Debian GNU/Linux'" "$cfg" || die "$cfg has no 'Debian GNU/Linux' entry"
grep -q "root=UUID=$FS_UUID " "$cfg" || die "$cfg does not boot root=UUID=$FS_UUID"
# tests/tests/distro.rs reads entry 0 as the default: no grubenv with a saved/next entry.
[ ! -e "$OUT/boot/grub/grubenv" ] || die "unexpected $OUT/boot/grub/grubenv"
rm -rf "$OUT"/tmp/* "$OUT"/var/tmp/*
say "installed system ready in $(($(date +%s) - started))s: $OUT ($(du -sh "$OUT" | cut -f1))"
