#!/usr/bin/env bash
# LD_PRELOAD=librfuse.so turns unmodified libfuse3 binaries into RFUSE ones:
# a low-level program (memfs-fuse) and a high-level fuse_main() program
# (hello_hl, built against libfuse3 only). Each must mount as type rfuse.*
# and serve I/O; hello_hl also asking for the splice capabilities in init,
# its 1 MiB file read through librfuse's splice hook. A program that runs its
# own receive loop (own_loop_fs) is refused with the reason and leaves no
# mount. Run through run_rfuse_test.sh (needs rfuse.ko).
# usage: preload_test.sh LIBRFUSE MEMFS_FUSE HELLO_HL OWN_LOOP_FS
set -euo pipefail
lib=$1 memfs=$2 hello=$3 own_loop=$4
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

# Splice capabilities asked for unconditionally: served, and the pattern
# file (byte i = i * 7 + i / 4096, as hello_hl.c writes it) comes through
# libfuse's splice path into the slots.
export RFUSE_STATS_FILE=$root/stats.json
mount_preloaded "$hello" -o want_caps=0x380
python3 - "$root/mnt/pattern" <<'PY' || { echo "FAIL: hello_hl pattern over splice" >&2; exit 1; }
import sys
data = open(sys.argv[1], "rb").read()
want = bytes((i * 7 + i // 4096) & 0xff for i in range(1024 * 1024 + 123))
sys.exit(0 if data == want else 1)
PY
unmount_and_reap
python3 - "$root/stats.json" <<'PY' || { echo "FAIL: no spliced replies over RFUSE" >&2; cat "$root/stats.json" >&2; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["transport_used"] == "rfuse" and s["splice"]["replies"] > 0 and s["error"] == "" else 1)
PY
unset RFUSE_STATS_FILE

# Its own receive loop: refused with the reason, exit status non-zero, no mount left.
rc=0
LD_PRELOAD=$lib RFUSE_TRANSPORT=rfuse timeout 60 "$own_loop" -f "$root/mnt" 2>"$root/daemon.log" || rc=$?
if [[ $rc == 0 || $rc == 124 ]] || ! grep -q "reads requests itself" "$root/daemon.log" ||
	grep -q " $root/mnt " /proc/self/mounts; then
	echo "FAIL: own_loop_fs over RFUSE: status $rc" >&2
	cat "$root/daemon.log" >&2
	exit 1
fi
echo "preload: memfs-fuse and hello_hl (splice too) served over RFUSE; own_loop_fs refused"
