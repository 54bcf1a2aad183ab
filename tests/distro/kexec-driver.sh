#!/bin/sh
# The installed Debian system's side of tests/tests/distro.rs's kexec test, run by
# hopboot-kexec-test.service at every boot. Each boot is one step; the step number is
# kept in /var/lib/hopboot-test/step on the root filesystem, which survives kexec. Every
# line for the test starts with HOPBOOT-KT and goes to ttyS0.
set -u
dmesg -n 1 || true
state=/var/lib/hopboot-test
mkdir -p "$state"
step=$(cat "$state/step" 2>/dev/null || echo 0)
say() { echo "HOPBOOT-KT step=$step $*" >/dev/ttyS0; }
run() { # a command whose output the test sees
    say "run: $*"
    "$@" 2>&1 | sed "s/^/HOPBOOT-KT step=$step | /" >/dev/ttyS0
}
# A load the test watches QEMU's write counters around: quiet before and after, so
# the host can read them between the lines (nothing else writes then: the journal is
# in /run).
watched() {
    sync
    say "watch begin"
    sleep 3
    run "$@"
    sync
    say "watch end"
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
say "up cmdline=[$(cat /proc/cmdline)] failed=[$(failed)] boot=[$(findmnt -n -o SOURCE /boot || echo root)]"
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
case $step in
0)
    # First boot, started by QEMU -kernel: make grub.cfg describe this disk (the image's
    # was written in a chroot), add a second entry, install hopboot, enable the unit.
    run update-grub
    awk -v q="'" '
        /^menuentry / && !f { f = 1; print "menuentry " q "hopboot second" q " --id hopboot-second {"; next }
        f && /^}/ { print; exit }
        f { if ($1 == "linux") $0 = $0 " hopboot.test=second"; print }
    ' /boot/grub/grub.cfg >>/etc/grub.d/40_custom
    run update-grub
    run apt-get install -y /root/hopboot.deb
    run systemctl enable --now hopboot-kexec.service
    run hopboot list
    go_on
    ;;
1)
    # The default entry, through the unit; once more in a row.
    go_on
    ;;
2)
    watched hopboot load --entry hopboot-second
    go_on
    ;;
3)
    # /boot unmounted by hand: hopboot reads it from its block device.
    run umount /boot
    watched hopboot load
    go_on
    ;;
4)
    run grub-reboot 2
    run grub-editenv list
    run hopboot load --next
    run grub-editenv list
    go_on
    ;;
*)
    run grub-editenv list
    say "done"
    systemctl --no-block poweroff
    ;;
esac
