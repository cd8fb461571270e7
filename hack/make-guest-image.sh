#!/usr/bin/env bash
# make-guest-image.sh OUT_DIR: build Ferrite's small bootable Linux test guest from Debian packages.
#
#   OUT_DIR/vmlinuz    Debian's cloud kernel
#   OUT_DIR/initrd.gz  a busybox initramfs whose init is hack/guest/init
#   OUT_DIR/root.raw   a 16 MiB ext2 disk (label ferrite-root) holding /ferrite-root; it becomes the
#                      image's root disk, so the copy-on-write overlay path is exercised
#   OUT_DIR/cmdline    the kernel command line ("console=ttyS0 guest.shell quiet no_timer_check"; drop quiet to
#                      see the kernel's messages, which slow a TCG boot by several seconds)
#
# What the guest prints on ttyS0 is described in hack/guest/init. Boot it by hand with
#   qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot -kernel OUT_DIR/vmlinuz \
#     -initrd OUT_DIR/initrd.gz -append "$(cat OUT_DIR/cmdline)" -nic user,model=virtio \
#     -drive file=OUT_DIR/root.raw,format=raw,if=virtio,snapshot=on
# or check it with hack/guest-boot-check.sh.
#
# Needs Debian's busybox-static, cpio, kmod and e2fsprogs (installed when missing and run as
# root); downloads the linux-image-*-cloud-amd64 package with apt-get.
set -euo pipefail
out=${1:?usage: make-guest-image.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)

need=()
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "make-guest-image.sh: missing ${need[*]}; install them (Debian) or run as root" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$out"; out=$(cd "$out" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"

# The newest cloud kernel Debian offers; the metapackage names it.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$kpkg" ]; then
  apt-get update -qq
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
apt-get -o APT::Sandbox::User=root download "$kpkg" >/dev/null
dpkg-deb -x ./"$kpkg"_*.deb kernel
ver=$(ls kernel/lib/modules)
depmod -b kernel "$ver"

# The initramfs: busybox, the modules the init loads (with their dependencies), the init.
root=initramfs
mkdir -p $root/{bin,dev,proc,sys,tmp,run,mnt,etc/acpi/PWRF} $root/lib/modules/"$ver"
cp /bin/busybox $root/bin/busybox
cp kernel/lib/modules/"$ver"/modules.{order,builtin,builtin.modinfo} $root/lib/modules/"$ver"/ 2>/dev/null || true
modules="virtio_pci virtio_net virtio_blk virtio_scsi qemu_fw_cfg isofs ext4 button evdev ata_piix ahci sr_mod"
for m in $modules; do
  # Built-in modules print "builtin"; missing ones are skipped: the init tries them all.
  { modprobe -d kernel -S "$ver" --show-depends "$m" 2>/dev/null || true; } | awk '$1 == "insmod" {print $2}'
done | sort -u | while read -r f; do
  rel=${f#"$work"/kernel/}
  mkdir -p "$root/$(dirname "$rel")"
  cp "$f" "$root/$rel"
done
depmod -b $root "$ver"
install -m 0755 "$here/guest/init" $root/init
install -m 0755 "$here/guest/udhcpc.sh" $root/etc/udhcpc.sh
install -m 0755 "$here/guest/poweroff.sh" $root/etc/acpi/PWRF/00000080
(cd $root && find . | cpio -o -H newc --quiet | gzip -9 > "$work/initrd.gz")

# The root disk: ext2 with a marker file, populated without mounting.
mkdir -p rootfs
echo FERRITE-ROOTDISK > rootfs/ferrite-root
truncate -s 16M root.raw
mke2fs -q -t ext2 -L ferrite-root -d rootfs root.raw

cp kernel/boot/vmlinuz-"$ver" "$work/vmlinuz"
# no_timer_check: on a starved TCG host the kernel's IO-APIC timer check fails and panics.
echo "console=ttyS0 guest.shell quiet no_timer_check" > "$work/cmdline"
# Each output appears whole or not at all.
for f in vmlinuz initrd.gz root.raw cmdline; do
  cp "$work/$f" "$out/.$f.tmp" && chmod 0644 "$out/.$f.tmp" && mv "$out/.$f.tmp" "$out/$f"
done
echo "guest $ver: $out/{vmlinuz,initrd.gz,root.raw,cmdline}"
