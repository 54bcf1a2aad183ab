#!/usr/bin/env bash
# Builds hopboot_<version>_amd64.deb with dpkg-deb alone (`make deb` runs it after
# building the binaries; it never runs cargo itself).
#
#   scripts/build-deb.sh [--out DIR]        (default target/deb)
#
# Contents: /usr/bin/hopboot, /usr/bin/hopboot-image-build and /usr/bin/hopboot-sign (the static musl
# release binaries), the units of dist/systemd/ under /lib/systemd/system/ (not
# enabled), hopboot(8) and hopboot-image-build(1) and the bash completion, all
# three generated from the binaries' own --help by hopboot-helpdoc, the
# copyright (dist/debian/copyright.in, with dist/debian/static-crates), a
# changelog.Debian.gz and lintian overrides; control and maintainer scripts from
# dist/debian/.
#
# Reproducible: every mtime is $SOURCE_DATE_EPOCH (default: the last commit's
# time), owners are root:root (--root-owner-group), dpkg-deb sorts the tar
# members, gzip runs with -n, xz with one thread. The same tree and binaries give
# the same bytes. DEB_MAINTAINER overrides the Maintainer (default: the author of
# the last commit to dist/debian/).
set -euo pipefail
umask 022
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET/deb
while [ $# -gt 0 ]; do
    case $1 in
        --out) OUT=$2; shift 2 ;;
        *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
    esac
done

MUSL=$TARGET/x86_64-unknown-linux-musl/release
HOPBOOT=$MUSL/hopboot
IMAGE_BUILD=$MUSL/hopboot-image-build
HELPDOC=$TARGET/debug/hopboot-helpdoc
for f in "$HOPBOOT" "$IMAGE_BUILD" "$HELPDOC"; do
    [ -x "$f" ] || { echo "build-deb: $f is missing: run make deb (it builds it)" >&2; exit 1; }
done

upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
[ -n "$upstream" ] || { echo "build-deb: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
# Debian revision 1: not a native package (the source is not Debian's), hence
# changelog.Debian.gz.
version=$upstream-1
shown=$("$HOPBOOT" --version)
[ "$shown" = "hopboot $upstream" ] || {
    echo "build-deb: $HOPBOOT --version says '$shown', Cargo.toml says $upstream: rebuild it" >&2
    exit 1
}

commit=$(git -C "$ROOT" log -1 --format=%h 2>/dev/null || echo unknown)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)
fi
export SOURCE_DATE_EPOCH
# The author of the last change to the packaging, not of whatever merge came last.
maintainer=${DEB_MAINTAINER:-$(git -C "$ROOT" log -1 --format='%an <%ae>' -- dist/debian 2>/dev/null || true)}
if [ -z "$maintainer" ] || [ -z "$SOURCE_DATE_EPOCH" ]; then
    echo "build-deb: outside a git checkout, set DEB_MAINTAINER and SOURCE_DATE_EPOCH" >&2
    exit 1
fi

mkdir -p "$OUT"
work=$(mktemp -d "$TARGET/deb-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
pkg=$work/hopboot
doc=$pkg/usr/share/doc/hopboot
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/lib/systemd/system" \
    "$pkg/usr/share/man/man8" "$pkg/usr/share/man/man1" \
    "$pkg/usr/share/bash-completion/completions" "$doc"

install -m 0755 "$HOPBOOT" "$pkg/usr/bin/hopboot"
install -m 0755 "$IMAGE_BUILD" "$pkg/usr/bin/hopboot-image-build"
install -m 0755 "$MUSL/hopboot-sign" "$pkg/usr/bin/hopboot-sign"
install -m 0644 "$ROOT"/dist/systemd/hopboot-kexec.service "$ROOT"/dist/systemd/hopboot-kexec@.service \
    "$pkg/lib/systemd/system/"

# Documentation from the packaged binaries' own --help.
"$HELPDOC" man --binary "$pkg/usr/bin/hopboot" --style commands \
    --template "$ROOT/dist/man/hopboot.8.in" --version "$upstream" --output "$work/hopboot.8"
"$HELPDOC" man --binary "$pkg/usr/bin/hopboot-image-build" --style options \
    --template "$ROOT/dist/man/hopboot-image-build.1.in" --version "$upstream" \
    --output "$work/hopboot-image-build.1"
"$HELPDOC" bash-completion --binary "$pkg/usr/bin/hopboot" --version "$upstream" \
    --output "$pkg/usr/share/bash-completion/completions/hopboot"
chmod 0644 "$pkg/usr/share/bash-completion/completions/hopboot"
gzip -9n <"$work/hopboot.8" >"$pkg/usr/share/man/man8/hopboot.8.gz"
gzip -9n <"$work/hopboot-image-build.1" >"$pkg/usr/share/man/man1/hopboot-image-build.1.gz"

year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
crates=$(sed -e '/^#/d' -e '/^$/d' -e 's/^/  /' "$ROOT/dist/debian/static-crates")
awk -v year="$year" -v crates="$crates" '
    $0 == "@CRATES@" { print crates; next }
    { gsub(/@YEAR@/, year); print }' "$ROOT/dist/debian/copyright.in" >"$doc/copyright"
{
    echo "hopboot ($version) unstable; urgency=medium"
    echo
    echo "  * Built by make deb from git commit $commit."
    echo
    echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
chmod 0644 "$doc/copyright" "$doc/changelog.Debian.gz"

install -d "$pkg/usr/share/lintian/overrides"
install -m 0644 "$ROOT/dist/debian/lintian-overrides" "$pkg/usr/share/lintian/overrides/hopboot"

install -m 0755 "$ROOT"/dist/debian/postinst "$ROOT"/dist/debian/prerm "$ROOT"/dist/debian/postrm "$pkg/DEBIAN/"
# md5sums of every file outside DEBIAN/, sorted.
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
# Installed-Size: KiB, as dpkg-gencontrol counts (each file rounded up; directories 1).
size=$(cd "$pkg" && find . -path ./DEBIAN -prune -o \( -type f -printf '%s\n' \) -o \( -type d -printf 'd\n' \) |
    awk '$1 == "d" { kib += 1; next } { kib += int(($1 + 1023) / 1024) } END { print kib }')
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" -e "s|@MAINTAINER@|$maintainer|" \
    "$ROOT/dist/debian/control.in" >"$pkg/DEBIAN/control"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$OUT/hopboot_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$pkg" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
echo "build-deb: $deb ($(stat -c %s "$deb") bytes, Installed-Size $size KiB)"
