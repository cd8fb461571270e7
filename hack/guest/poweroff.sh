#!/bin/sh
# busybox acpid runs this on the ACPI power button (PWRF/00000080): a graceful poweroff.
echo GUEST-POWEROFF >/dev/console
umount /mnt/root 2>/dev/null
sync
poweroff -f
