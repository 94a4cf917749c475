#!/usr/bin/env bash
# A forced FUSE_FORGET (no reply expected; fuse.ko sends one for a
# READDIRPLUS entry it cannot link) must not keep getdents() waiting: over
# each TRANSPORT, forced_forget_fs runs under LD_PRELOAD=librfuse.so and
# `ls` of its root must return within 10 s (a hang bound, not a speed
# check), and the daemon must have seen the FORGET. Over /dev/fuse the
# kernel ends the request when the daemon reads it; over slots (rfuse) and
# ring entries (uring) librfuse must end it itself.
# usage: forced_forget_test.sh LIBRFUSE FORCED_FORGET_FS TRANSPORT...
set -uo pipefail
lib=$1 fs=$2
shift 2
# In the VM guest the build tree is read-only: its own /tmp there.
base=${RFUSE_TEST_ROOT:-${TMPDIR:-/tmp}}
[[ ${RFUSE_VM:-0} == 1 ]] && base=/tmp
root=$(mktemp -d "$base/rfuse-forget.XXXXXX") || { echo "FAIL: mktemp in $base" >&2; exit 1; }
daemon="" ls_pid="" rc=0
cleanup() {
	[[ -n $daemon ]] && { kill -9 "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; }
	[[ -n $ls_pid ]] && wait "$ls_pid" 2>/dev/null
	umount "$root/mnt" 2>/dev/null || umount -l "$root/mnt" 2>/dev/null
	rm -rf "$root"
}
trap cleanup EXIT
mkdir -p "$root/mnt"
for t in "$@"; do
	[[ $t == uring && -f /sys/module/fuse/parameters/enable_uring ]] && echo Y >/sys/module/fuse/parameters/enable_uring
	RFUSE_TRANSPORT=$t LD_PRELOAD=$lib "$fs" -f "$root/mnt" 2>"$root/daemon.log" &
	daemon=$!
	for _ in $(seq 200); do grep -q " $root/mnt " /proc/self/mounts && break; sleep 0.05; done
	ls "$root/mnt" >/dev/null 2>&1 &
	ls_pid=$!
	for _ in $(seq 100); do kill -0 "$ls_pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$ls_pid" 2>/dev/null; then
		echo "FAIL: $t: ls is still waiting 10 s later:" >&2
		cat "/proc/$ls_pid/stack" >&2
		rc=1
	else
		echo "ok: $t: ls returned"
	fi
	kill -9 "$daemon"
	wait "$daemon" 2>/dev/null
	daemon=""
	wait "$ls_pid" 2>/dev/null
	ls_pid=""
	umount "$root/mnt" 2>/dev/null || umount -l "$root/mnt"
	grep -q FORGET "$root/daemon.log" || { echo "FAIL: $t: the daemon got no FORGET" >&2; rc=1; }
done
exit $rc
