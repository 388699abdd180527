#!/bin/sh
# /sbin/init of the busybox root served by rootfarm. rootfarm.e2e=test (default) runs the
# self-test and powers off; rootfarm.e2e=demo gives an interactive shell on the console and
# powers off when it exits.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -e /dev/console ] || mount -t devtmpfs devtmpfs /dev
hostname -F /etc/hostname

mode=test
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rootfarm.e2e=*) mode="${arg#rootfarm.e2e=}" ;;
    esac
done

if [ "$mode" = demo ]; then
    echo "rootfarm demo: this shell's root is served over NFSv3 by rootfarm"
    setsid cttyhack sh -l
else
    /e2e/selftest.sh
fi
sync
poweroff -f
