#!/bin/bash
# Runs inside the VM rig's guest, chrooted into the host's / (see init.sh): loads
# the kernel modules the project needs, then runs the job vm.sh wrote, with its
# stdout, stderr and exit status going to the control share for vm.sh to return.
set -u
CTL=/run/rfuse-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec 3>>"$CTL/guest.log"
note() { printf '%s\n' "$*" >&3; }

# Defines VM_CMD, VM_ENV, VM_CWD, VM_BUILD, VM_OUT, VM_NO_RFUSE, VM_RFUSE_PARAMS.
# shellcheck source=/dev/null
. "$CTL/job.sh"

# init.sh loaded fuse, loop and ext4 from the initramfs.
[[ -c /dev/fuse ]] || note "no /dev/fuse in the guest"

# rfuse.ko from this build tree, when it has been built for this kernel.
rfuse=absent
ko=$VM_BUILD/rfuse-kmod/$(uname -r)/rfuse.ko
if [[ "$VM_NO_RFUSE" == 1 ]]; then
	rfuse=skipped
elif [[ -f "$ko" ]]; then
	for dep in $(modinfo -F depends "$ko" 2>/dev/null | tr , ' '); do
		modprobe "$dep" 2>&3 || note "modprobe $dep (needed by rfuse.ko) failed"
	done
	# shellcheck disable=SC2086 # the parameters are words: "poll_us=0 ring_slots=128"
	if err=$(insmod "$ko" $VM_RFUSE_PARAMS 2>&1); then
		rfuse=loaded
	else
		rfuse=failed
		{
			printf 'insmod %s %s: %s\n' "$ko" "$VM_RFUSE_PARAMS" "$err"
			dmesg | tail -n 5
		} >"$CTL/rfuse.err"
	fi
fi
echo "$rfuse" >"$CTL/rfuse"
note "rfuse.ko: $rfuse"

home=/tmp/home
mkdir "$home"
cd "$VM_CWD" 2>/dev/null || { note "no $VM_CWD in the guest: running in /"; cd /; }

# A clean environment: the caller's RFUSE_* variables and the rig's own.
env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	HOME="$home" USER=root LOGNAME=root SHELL=/bin/bash TERM=dumb LANG=C.UTF-8
	HOSTNAME="$HOSTNAME" "${VM_ENV[@]}"
	RFUSE_VM=1 RFUSE_VM_OUT="$VM_OUT" RFUSE_BUILD_DIR="$VM_BUILD" RFUSE_VM_RFUSE="$rfuse")

read -r uptime _ </proc/uptime
echo "$uptime" >"$CTL/started"
env -i "${env[@]}" "${VM_CMD[@]}" >"$CTL/stdout" 2>"$CTL/stderr" </dev/null
status=$?
read -r uptime _ </proc/uptime
echo "$uptime" >"$CTL/finished"
# The kernel's log as the kernel has it: newer kernels print to the serial
# console from a thread, so a warning logged just before poweroff may never
# reach the console log; vm.sh reads both.
dmesg >"$CTL/dmesg" 2>/dev/null || note "dmesg failed"
sync
# Written last: its presence tells vm.sh that the command ran to its end.
echo "$status" >"$CTL/status"
