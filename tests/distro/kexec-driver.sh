#!/bin/sh
# The installed Debian system's side of tests/tests/distro.rs's kexec test, run by
# hopboot-kexec-test.service at every boot. Each boot is one step; the step number is
# kept in /var/lib/hopboot-test/step on the root filesystem, which survives kexec. Every
# line for the test starts with HOPBOOT-KT and goes to ttyS0.
set -u
state=/var/lib/hopboot-test
mkdir -p "$state"
step=$(cat "$state/step" 2>/dev/null || echo 0)
# The kernel's own lines stay on the console for `make soak` and `make bench-reboot`
# (what happened last before a reset; when the old kernel went down), else only ours.
[ -e "$state/soak" ] || [ -e "$state/bench" ] || dmesg -n 1 || true
# The layout (tests/src/installed.rs): its name, and the mount point of the boot
# filesystem step 3 unmounts (/boot, or the ESP at /boot/efi).
read -r layout bootmnt <"$state/layout" || { layout=separate-boot; bootmnt=/boot; }
# systemd-boot's one-shot variable (bootctl set-oneshot), in efivarfs.
oneshot_var=/sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
say() { echo "HOPBOOT-KT step=$step $*" >/dev/ttyS0; }
run() { # a command whose output the test sees
    say "run: $*"
    "$@" 2>&1 | sed "s/^/HOPBOOT-KT step=$step | /" >/dev/ttyS0
}
# A load the test watches QEMU's write counters around: quiet before and after, so
# the host can read them between the lines (nothing else writes then: the journal is
# in /run).
# Each partition's count of completed writes (field 5 of /sys/class/block/*/stat).
writes() {
    for p in /sys/class/block/vd[a-z][0-9]*; do
        printf '%s=%s ' "${p##*/}" "$(awk '{print $5}' "$p/stat")"
    done
}
watched() {
    sync
    say "watch begin writes: $(writes)"
    sleep 3
    run "$@"
    sync
    say "watch end writes: $(writes)"
    sleep 3
}
failed() { systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' '; }
go_on() {
    echo $(($step + 1)) >"$state/step"
    sync
    say "kexec_loaded=$(cat /sys/kernel/kexec_loaded) loaded=[$(cat /run/hopboot/loaded 2>/dev/null)]"
    say "systemctl kexec"
    if ! systemctl --no-block kexec >/dev/ttyS0 2>&1; then
        say "systemctl kexec failed"
        systemctl --no-block poweroff
    fi
}
# Wait until the boot is over (the failed-units count means something then).
systemctl is-system-running --wait >/dev/null 2>&1 || true
efi=no
[ -d /sys/firmware/efi ] && efi=yes
say "up cmdline=[$(cat /proc/cmdline)] failed=[$(failed)] boot=[$(findmnt -n -o SOURCE "$bootmnt" || echo root)] efi=[$efi]"
# `make soak`: after the first step, only kexec, as many times as the file says.
if [ -e "$state/soak" ] && [ "$step" -gt 0 ]; then
    if [ "$step" -le "$(cat "$state/soak")" ]; then
        go_on
    else
        say "done"
        systemctl --no-block poweroff
    fi
    exit 0
fi
# `make bench-reboot`: after the first step, reboot N times each way, alternating:
# odd steps through `systemctl kexec` (the unit loads the default entry at shutdown),
# even steps through `systemctl reboot` (SeaBIOS and GRUB from the disk).
if [ -e "$state/bench" ] && [ "$step" -gt 0 ]; then
    echo $(($step + 1)) >"$state/step"
    sync
    if [ "$step" -le $((2 * $(cat "$state/bench"))) ]; then
        if [ $(($step % 2)) -eq 1 ]; then kind=kexec; else kind=reboot; fi
        say "bench $kind"
        systemctl --no-block "$kind"
    else
        say "done"
        systemctl --no-block poweroff
    fi
    exit 0
fi
# A second GRUB entry: the first one's body with hopboot.test=second, in 40_custom.
grub_second() {
    run update-grub
    awk -v q="'" '
        /^menuentry / && !f { f = 1; print "menuentry " q "hopboot second" q " --id hopboot-second {"; next }
        f && /^}/ { print; exit }
        f { if ($1 == "linux") $0 = $0 " hopboot.test=second"; print }
    ' /boot/grub/grub.cfg >>/etc/grub.d/40_custom
    run update-grub
}
# A second systemd-boot entry: the one kernel-install wrote, with hopboot.test=second,
# sorted after it (sort-key), so the first stays the default.
sdboot_second() {
    entries=/boot/efi/loader/entries
    first=$(ls "$entries"/*.conf | head -n1)
    sed -e 's/^title .*/title hopboot second/' -e 's/^sort-key .*/sort-key zz-hopboot-second/' \
        -e '/^options/ s/$/ hopboot.test=second/' "$first" >"$entries/hopboot-second.conf"
    run cat "$first" "$entries/hopboot-second.conf"
}
# Sets systemd-boot's one-shot entry as `bootctl set-oneshot` does. bootctl refuses
# unless systemd-boot started this boot (LoaderInfo), and here QEMU started the
# kernel: write the variable itself (4 bytes of attributes NV|BS|RT, then the
# UTF-16LE id with its NUL), in one write(2) as efivarfs wants.
set_oneshot() {
    if ! bootctl set-oneshot "$1" 2>/dev/null; then
        { printf '\007\000\000\000'; printf '%s\000' "$1" | iconv -f ASCII -t UTF-16LE; } >/run/oneshot.var
        cat /run/oneshot.var >"$oneshot_var"
    fi
    say "oneshot=[$(oneshot)]"
}
oneshot() {
    if [ -e "$oneshot_var" ]; then
        # One read(2) of the whole variable; the ids here are ASCII.
        dd if="$oneshot_var" bs=4096 count=1 2>/dev/null | tail -c +5 | tr -d '\000'
    else
        echo unset
    fi
}
case $step in
0)
    # First boot, started by QEMU -kernel: make the boot loader's entries describe this
    # disk (the image's were written in a chroot), add a second entry, install
    # hopboot, enable the unit.
    case $layout in
    esp-grub)
        # As Debian's installer does on UEFI (no NVRAM entry: QEMU starts the kernel).
        run grub-install --target=x86_64-efi --no-nvram
        run find /boot/efi -type f
        grub_second
        ;;
    esp-systemd-boot) sdboot_second ;;
    *)
        if [ -e "$state/bench" ]; then
            # GRUB in the disk's BIOS boot partition, as Debian's installer puts it,
            # with no menu wait (the firmware reboot at its fastest).
            run grub-install --target=i386-pc /dev/vda
            run sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' /etc/default/grub
        fi
        grub_second
        ;;
    esac
    say "systemd=[$(systemctl --version | head -n1)]"
    run apt-get install -y /root/hopboot.deb
    run systemctl enable --now hopboot-kexec.service
    run hopboot list
    if [ -e "$state/bench" ]; then
        # The benchmark's boots start from the firmware, in a QEMU of their own.
        echo 1 >"$state/step"
        sync
        say "installed"
        systemctl --no-block poweroff
    else
        go_on
    fi
    ;;
1)
    # The default entry, through the unit; once more in a row.
    go_on
    ;;
2)
    case $layout in
    # The id as bootctl list shows it (with .conf).
    esp-systemd-boot) watched hopboot load --entry hopboot-second.conf ;;
    *) watched hopboot load --entry hopboot-second ;;
    esac
    go_on
    ;;
3)
    # The boot filesystem unmounted by hand: hopboot reads it from its block device.
    # (/boot on the root filesystem cannot be: the load reads it through the mount.)
    if [ "$layout" = root-boot ]; then
        say "nothing to unmount: /boot is a directory of /"
    else
        run umount "$bootmnt"
    fi
    watched hopboot load
    go_on
    ;;
4)
    case $layout in
    esp-systemd-boot)
        set_oneshot hopboot-second.conf
        run hopboot list
        run hopboot load --next
        say "oneshot=[$(oneshot)]"
        ;;
    *)
        # On UEFI, grub-mkconfig's 30_uefi-firmware adds "UEFI Firmware Settings"
        # (fwsetup) before 40_custom: name the entry by its id there.
        if [ "$layout" = esp-grub ]; then
            run grub-reboot hopboot-second
        else
            run grub-reboot 2
        fi
        run grub-editenv list
        run hopboot load --next
        run grub-editenv list
        ;;
    esac
    go_on
    ;;
5)
    # The one-shot is used up; set it again, and let the unit load it at shutdown
    # (nothing loaded by hand): it must use it up too.
    case $layout in
    esp-systemd-boot)
        say "oneshot=[$(oneshot)]"
        set_oneshot hopboot-second.conf
        ;;
    *)
        run grub-editenv list
        if [ "$layout" = esp-grub ]; then
            run grub-reboot hopboot-second
        else
            run grub-reboot 2
        fi
        run grub-editenv list
        ;;
    esac
    go_on
    ;;
*)
    case $layout in
    esp-systemd-boot) say "oneshot=[$(oneshot)]" ;;
    *) run grub-editenv list ;;
    esac
    # Any other stop of the unit unloads the placeholder it armed at boot.
    say "armed kexec_loaded=$(cat /sys/kernel/kexec_loaded) loaded=[$(cat /run/hopboot/loaded 2>/dev/null)]"
    run systemctl stop hopboot-kexec.service
    say "stopped kexec_loaded=$(cat /sys/kernel/kexec_loaded) loaded=[$(cat /run/hopboot/loaded 2>/dev/null)]"
    say "done"
    systemctl --no-block poweroff
    ;;
esac
