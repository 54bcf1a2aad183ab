#!/bin/bash
# Builds this case's UKIs into a copy of the case: $1 holds roots/. Each ukis/NAME/
# (os-release, cmdline, uname) becomes roots/1-esp/EFI/Linux/NAME.efi through
# scripts/build-uki.sh (systemd's EFI stub, placeholder kernel and initrd).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for d in "$here"/ukis/*/; do
    n=$(basename "$d")
    "$here/../../../scripts/build-uki.sh" "$d" "$1/roots/1-esp/EFI/Linux/$n.efi"
done
