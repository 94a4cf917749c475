#!/usr/bin/env bash
# LD_PRELOAD=librfuse.so turns unmodified libfuse3 binaries into RFUSE ones:
# a low-level program (memfs-fuse) and a high-level fuse_main() program
# (hello_hl, built against libfuse3 only). Each must mount as type rfuse.*
# and serve I/O. Run through run_rfuse_test.sh (needs rfuse.ko).
# usage: preload_test.sh LIBRFUSE MEMFS_FUSE HELLO_HL
set -euo pipefail
lib=$1 memfs=$2 hello=$3
root=$(mktemp -d "${TMPDIR:-/tmp}/rfuse-preload.XXXXXX")
pid=""
cleanup() {
	umount -l "$root/mnt" 2>/dev/null || true
	[[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
	rm -rf "$root"
}
trap cleanup EXIT
mkdir -p "$root/mnt"

# Starts "$@" under LD_PRELOAD in the foreground (-f), waits for the mount.
mount_preloaded() {
	LD_PRELOAD=$lib RFUSE_TRANSPORT=rfuse "$@" -f "$root/mnt" 2>"$root/daemon.log" &
	pid=$!
	for _ in $(seq 200); do
		grep -q " $root/mnt " /proc/self/mounts && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: $* did not mount under LD_PRELOAD:" >&2
	cat "$root/daemon.log" >&2
	exit 1
}

# The mount's type, and that it really is RFUSE.
expect_type() {
	local type
	type=$(awk -v mp="$root/mnt" '$2 == mp {print $3}' /proc/self/mounts)
	[[ "$type" == "$1" ]] || { echo "FAIL: mount type '$type', expected '$1'" >&2; exit 1; }
}

unmount_and_reap() {
	umount "$root/mnt"
	wait "$pid"
	pid=""
}

mount_preloaded "$memfs"
expect_type rfuse.memfs
printf 'through RFUSE\n' >"$root/mnt/f"
[[ "$(cat "$root/mnt/f")" == "through RFUSE" ]] || { echo "FAIL: memfs content" >&2; exit 1; }
unmount_and_reap

mount_preloaded "$hello"
expect_type rfuse.hello_hl
[[ "$(cat "$root/mnt/hello")" == "hello from a fuse_main() filesystem" ]] ||
	{ echo "FAIL: hello_hl content" >&2; exit 1; }
unmount_and_reap
echo "preload: memfs-fuse and hello_hl served over RFUSE"
