#!/usr/bin/env bash
# shellcheck disable=SC2016 # guest scripts are single-quoted: they expand there
# Tests of the VM rig, harness/vm/vm.sh: one case per CTest test.
#   tests/vm/vm_test.sh CASE [FS_BINARY]
# Needs RFUSE_BUILD_DIR (the build tree whose vm/ holds the image). Each case
# boots the guest once or twice and checks what vm.sh returns.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VM=$ROOT/harness/vm/vm.sh
: "${RFUSE_BUILD_DIR:?set RFUSE_BUILD_DIR to the build tree}"
# A hang fails through vm.sh's own timeout before CTest's.
export RFUSE_VM_TIMEOUT=${RFUSE_VM_TIMEOUT:-240}
# rfuse.ko is another part's business: its load warnings must not disturb
# the byte-exact comparisons here.
export RFUSE_VM_NO_RFUSE=1

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# Host-side scratch space. Paths the guest must read go under the build tree:
# the guest's /tmp is its own tmpfs.
work=$(mktemp -d "$RFUSE_BUILD_DIR/vm-test.XXXXXX") || fail "mktemp"
trap 'rm -rf "$work"' EXIT

# vm CMD...: runs CMD in the guest; sets rc, out, err (files in $work).
vm() {
	"$VM" -- "$@" >"$work/out" 2>"$work/err"
	rc=$?
}

# expect_rc N: the last vm run ended with status N.
expect_rc() {
	[[ "$rc" == "$1" ]] || {
		printf -- '--- stdout\n' >&2
		cat "$work/out" >&2
		printf -- '--- stderr\n' >&2
		cat "$work/err" >&2
		fail "vm.sh exited $rc, expected $1"
	}
}

# The run folder vm.sh names in "console log kept: PATH": checks that the log
# exists and mentions $1, then removes the folder.
expect_kept_log() {
	local log
	log=$(sed -n 's/^vm\.sh: console log kept: //p' "$work/err")
	[[ -n "$log" && -f "$log" ]] || fail "no kept console log named on stderr"
	# The guest's dmesg, when it got to take one, holds what a console
	# printed from a kernel thread may have lost at poweroff.
	grep -q -- "$1" "$log" "$(dirname "$log")/ctl/dmesg" 2>/dev/null ||
		fail "console log $log (and the guest's dmesg) lack '$1'"
	rm -rf "$(dirname "$log")"
}

# Builds tests/vm/crashmod against the guest kernel's headers, in $work.
build_crashmod() {
	cp -r "$HERE/crashmod" "$work/crashmod"
	"$ROOT/harness/kernels/kernels.sh" kbuild "$work/crashmod" >"$work/make.log" 2>&1 ||
		{ cat "$work/make.log" >&2; fail "crashmod did not build"; }
}

case_status_true() {
	vm true
	expect_rc 0
}

case_status_7() {
	vm sh -c 'exit 7'
	expect_rc 7
}

# stdout and stderr come back separately and byte-exact: binary bytes, no
# final newline, and half a megabyte of lines. The same script run on the
# host gives the expected bytes.
case_output() {
	local script='printf "one\ntwo\n"; printf "\x00\x01\xff\ttail"; seq 1 80000;
		printf "err one\n" >&2; printf "\xfe no newline" >&2'
	bash -c "$script" >"$work/want.out" 2>"$work/want.err"
	vm bash -c "$script"
	expect_rc 0
	cmp "$work/want.out" "$work/out" || fail "stdout differs"
	cmp "$work/want.err" "$work/err" || fail "stderr differs"
}

case_kernel() {
	local want
	want=$("$ROOT/run.sh" kver) || fail "no kernel ABI"
	vm uname -r
	expect_rc 0
	[[ "$(cat "$work/out")" == "$want" ]] || fail "guest runs $(cat "$work/out"), expected $want"
}

# The environment COMMAND gets: RFUSE_* passed through, nothing else of the
# caller's, a writable HOME, the caller's working directory.
case_env() {
	cd "$ROOT" || fail "cd"
	RFUSE_TEST_VALUE="a 'quoted' value" OTHER_TEST_VALUE=no vm sh -c \
		'touch "$HOME/written" && echo "$RFUSE_TEST_VALUE|${OTHER_TEST_VALUE-unset}|$RFUSE_VM|$RFUSE_VM_RFUSE|$(pwd)|$(hostname)"'
	expect_rc 0
	local want="a 'quoted' value|unset|1|skipped|$ROOT|rfuse-vm"
	[[ "$(cat "$work/out")" == "$want" ]] || fail "got '$(cat "$work/out")', expected '$want'"
}

# /dev/fuse works: with a filesystem binary given, mount it inside the guest,
# write and read back a file, unmount; otherwise open the device.
case_fuse() {
	local fs=${1:-}
	RFUSE_TEST_FS=$fs vm bash -c '
		set -e
		[[ -c /dev/fuse ]]
		exec 3<>/dev/fuse
		exec 3>&-
		if [[ -n "$RFUSE_TEST_FS" ]]; then
			mnt=$(mktemp -d /tmp/fuse.XXXXXX)
			"$RFUSE_TEST_FS" -f "$mnt" &
			pid=$!
			trap "umount -l \"$mnt\" 2>/dev/null; kill $pid 2>/dev/null; wait $pid" EXIT
			for _ in $(seq 200); do
				grep -q " $mnt fuse" /proc/mounts && break
				sleep 0.05
			done
			grep -q " $mnt fuse" /proc/mounts
			echo "through fuse" >"$mnt/file"
			[[ "$(cat "$mnt/file")" == "through fuse" ]]
			umount "$mnt"
			wait $pid
			trap - EXIT
		fi
		echo fuse-ok'
	expect_rc 0
	[[ "$(cat "$work/out")" == fuse-ok ]] || fail "got '$(cat "$work/out")'"
}

# What the guest writes under RFUSE_VM_OUT arrives on the host, at the same path.
case_share() {
	local out=$work/share
	RFUSE_VM_OUT=$out vm sh -c \
		'echo "$RFUSE_VM_OUT" >"$RFUSE_VM_OUT/path" && mkdir "$RFUSE_VM_OUT/sub" &&
		 seq 1 1000 >"$RFUSE_VM_OUT/sub/numbers"'
	expect_rc 0
	[[ "$(cat "$out/path" 2>/dev/null)" == "$out" ]] || fail "path file missing or wrong"
	cmp <(seq 1 1000) "$out/sub/numbers" || fail "numbers differ"
}

# Loop devices and ext4 work in the guest (the benchmarks' disk images).
case_loop_ext4() {
	vm sh -c 'set -e; truncate -s 64M /tmp/img; mkfs.ext4 -q /tmp/img; mkdir /tmp/m
		mount -o loop /tmp/img /tmp/m; echo data >/tmp/m/f; umount /tmp/m
		mount -o loop,ro /tmp/img /tmp/m; cat /tmp/m/f; umount /tmp/m'
	expect_rc 0
	[[ "$(cat "$work/out")" == data ]] || fail "got '$(cat "$work/out")'"
}

# A kernel panic ends the run with 123, names the crash, keeps the log.
case_crash_sysrq() {
	vm sh -c 'echo before; echo c >/proc/sysrq-trigger; sleep 100; echo after'
	expect_rc 123
	grep -q '^vm\.sh: guest kernel crashed: .*sysrq triggered crash' "$work/err" ||
		{ cat "$work/err" >&2; fail "no crash message on stderr"; }
	[[ "$(cat "$work/out")" == before ]] || fail "stdout before the crash lost"
	expect_kept_log 'sysrq triggered crash'
}

# An oops in a module (what a broken rfuse.ko would do) is caught the same way.
case_oops() {
	build_crashmod
	vm insmod "$work/crashmod/crashmod.ko" what=oops
	expect_rc 123
	grep -q '^vm\.sh: guest kernel crashed: .*NULL pointer dereference' "$work/err" ||
		{ cat "$work/err" >&2; fail "no crash message on stderr"; }
	expect_kept_log 'Oops'
}

# A kernel WARNING fails a run whose command succeeded, unless allowed.
case_warn() {
	build_crashmod
	vm insmod "$work/crashmod/crashmod.ko" what=warn
	expect_rc 123
	grep -q '^vm\.sh: guest kernel warned.*crashmod' "$work/err" ||
		{ cat "$work/err" >&2; fail "no warning message on stderr"; }
	expect_kept_log 'a warning on purpose'
	RFUSE_VM_ALLOW_WARN=1 vm insmod "$work/crashmod/crashmod.ko" what=warn
	expect_rc 0
}

# A hang ends through RFUSE_VM_TIMEOUT: status 124, qemu gone, log kept.
case_timeout() {
	RFUSE_VM_TIMEOUT=30 vm sleep 1000
	expect_rc 124
	grep -q '^vm\.sh: timed out after 30 s' "$work/err" || fail "no timeout message"
	local log
	log=$(sed -n 's/^vm\.sh: console log kept: //p' "$work/err")
	! pgrep -f -- "$(dirname "$log")" >/dev/null || fail "qemu still runs"
	expect_kept_log 'Linux version'
}

# A boot that does not reach COMMAND in time is retried (at most 3 boots),
# and the last one runs COMMAND: forced here with a 1 s boot limit.
case_boot_retry() {
	RFUSE_VM_BOOT_TIMEOUT=1 vm sh -c 'echo booted; exit 5'
	expect_rc 5
	grep -q 'boot 1 of 3 stalled); booting again' "$work/err" || fail "no retry message"
	grep -q '^booted$' "$work/out" || fail "COMMAND did not run after the retries"
}

# A kernel that crashes while booting, before the rig's job begins, is
# booted again (the crash said and its log kept); three such boots fail.
case_boot_crash() {
	RFUSE_VM_TEST_CRASH_BOOTS=1 vm sh -c 'echo booted; exit 5'
	expect_rc 5
	grep -q "crashed while booting, before the rig's job began (boot 1 of 3): .*sysrq triggered crash" "$work/err" ||
		{ cat "$work/err" >&2; fail "no boot-crash message"; }
	local log
	log=$(sed -n 's/^vm\.sh:   its log: \(.*\); booting again$/\1/p' "$work/err")
	[[ -f "$log" ]] && grep -q 'sysrq triggered crash' "$log" || fail "crashed boot's log '$log' not kept"
	grep -q '^booted$' "$work/out" || fail "COMMAND did not run after the crashed boot"
	rm -rf "$(dirname "$log")"
	RFUSE_VM_TEST_CRASH_BOOTS=3 vm sh -c 'echo booted'
	expect_rc 123
	grep -q '^vm\.sh: guest kernel crashed: .*sysrq triggered crash' "$work/err" ||
		{ cat "$work/err" >&2; fail "three crashed boots not reported as a crash"; }
	! grep -q '^booted$' "$work/out" || fail "COMMAND ran although every boot crashed"
}

name=${1:-}
shift || true
declare -F "case_$name" >/dev/null || fail "unknown case '$name'"
"case_$name" "$@"
echo "PASS: $name"
