#!/bin/busybox sh
# shellcheck shell=dash
# PID 1 of the VM rig's initramfs (busybox ash). It mounts the host's / read-only
# over 9p at /host, mounts the run's shares, then runs harness/vm/guest.sh from
# the host tree in a chroot, and powers off. It never exits: PID 1 exiting is a
# kernel panic, which the rig would report as a crash.
# Shares (set up by vm.sh): hostroot = host /, rfusectl = this run's control
# folder (params, job, outputs), rfuseout = the writable output folder.

export PATH=/bin

log() { echo "rfuse-vm-init: $*" >/dev/console; }

halt() {
	sync
	poweroff -f
	# Only reached if poweroff failed: let the host's timeout catch it.
	while :; do sleep 3600; done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# insmod_all LIST: loads the modules vm-image.sh named in /modules/LIST.
insmod_all() {
	while read -r m; do
		insmod "/modules/$m.ko" 2>/dev/null || log "insmod $m failed"
	done <"/modules/$1"
}

# fuse, loop and ext4 alongside the virtio/9p stack and the mounts: ext4 alone
# takes most of a second under TCG. A failure is only logged: crc32c-intel
# refuses CPUs without SSE4.2, and crc32c_generic stands in.
insmod_all extra.order &
extra_pid=$!
insmod_all boot.order

P9="trans=virtio,version=9p2000.L,msize=262144"
# The host tree does not change under a run's feet often, and page caching it
# makes exec-heavy commands several times faster.
mount -t 9p -o "ro,$P9,cache=loose" hostroot /host || { log "cannot mount hostroot"; halt; }
# The control share is written by both sides: no caching.
mount -t 9p -o "rw,$P9" rfusectl /ctl || { log "cannot mount rfusectl"; halt; }
# shellcheck source=/dev/null
. /ctl/params || { log "cannot read /ctl/params"; halt; }
# Test aid (RFUSE_VM_TEST_CRASH_BOOTS=N): the first N boots of a run crash
# here, before the rig's job, as a kernel crashing while it boots would.
if [ "${VM_TEST_CRASH_BOOTS:-0}" -gt 0 ]; then
	n=$(($(cat /ctl/test-boots 2>/dev/null || echo 0) + 1))
	echo "$n" >/ctl/test-boots
	if [ "$n" -le "$VM_TEST_CRASH_BOOTS" ]; then
		log "test aid: crashing boot $n on purpose"
		echo 1 >/proc/sys/kernel/sysrq
		echo c >/proc/sysrq-trigger
	fi
fi

mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /host/dev/pts
# The guest's own tmpfs goes over /tmp, /run, /var/tmp and /dev/shm; the
# repository, build tree and working directory stay visible even when they
# live there (a CI clone under /tmp): hold them aside, then put them back.
kept=""
n=0
old_ifs=$IFS
IFS=:
for p in $VM_KEEP; do
	case "$p" in
	/tmp/* | /run/* | /var/tmp/* | /dev/shm/*)
		mkdir -p "/keep/$n"
		mount --bind "/host$p" "/keep/$n" && kept="$kept$n=$p:"
		n=$((n + 1))
		;;
	esac
done
IFS=$old_ifs
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs -o mode=755 tmpfs /host/run
mount -t tmpfs -o mode=1777 tmpfs /host/var/tmp
IFS=:
for entry in $kept; do
	IFS=$old_ifs
	i=${entry%%=*}
	p=${entry#*=}
	mkdir -p "/host$p" 2>/dev/null
	mount --move "/keep/$i" "/host$p" || log "cannot keep $p visible"
	IFS=:
done
IFS=$old_ifs
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /host/sys/fs/cgroup 2>/dev/null

# The output folder appears at its host path. Under /tmp or /run it is created
# in the guest's tmpfs; elsewhere it exists on the host already.
mkdir -p "/host$VM_OUT" 2>/dev/null
mount -t 9p -o "rw,$P9" rfuseout "/host$VM_OUT" || { log "cannot mount rfuseout at $VM_OUT"; halt; }
mkdir -p /host/run/rfuse-vm
mount --move /ctl /host/run/rfuse-vm || { log "cannot move the control share"; halt; }

# The host's /lib/modules means nothing to this kernel: show the image's
# modules there so that modprobe works unchanged.
mods=/host/usr/lib/modules
[ -d "$mods" ] || mods=/host/lib/modules
mount -t tmpfs -o mode=755 tmpfs "$mods"
ln -s "$VM_MODROOT/lib/modules/$VM_KVER" "$mods/$VM_KVER"

# The kernel's module autoloading runs kernel.modprobe in PID 1's root, the
# initramfs: hand it to the host's modprobe in the chroot.
printf '#!/bin/sh\nexec chroot /host /sbin/modprobe "$@"\n' >/bin/modprobe-in-host
chmod 755 /bin/modprobe-in-host
echo /bin/modprobe-in-host >/proc/sys/kernel/modprobe

hostname "$VM_HOSTNAME"
# No network, but servers and clients on localhost work.
ip link set lo up

wait $extra_pid
chroot /host /bin/bash "$VM_REPO/harness/vm/guest.sh" </dev/null >/dev/console 2>&1 ||
	log "guest.sh failed"
halt
