#!/usr/bin/env bash
# The VM rig: runs one command inside one of Debian's kernels under qemu, with
# the host's / visible read-only, and returns the command's stdout, stderr and
# exit status. `./run.sh vm -- COMMAND...` execs this; --help says more.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# Absolute: the guest sees the same paths only from /.
BUILD=$(realpath -m "${RFUSE_BUILD_DIR:-$ROOT/build}")

# Exit statuses of the rig itself (anything else is COMMAND's own).
readonly EXIT_CRASH=123 EXIT_TIMEOUT=124 EXIT_RIG=125

usage() {
	local lines
	lines=$("$ROOT/harness/kernels/kernels.sh" lines | tr '\n' ' ')
	cat <<EOF
usage: ./run.sh vm [-v] [--kernel LINE] [--] COMMAND [ARG...]
       harness/vm/vm.sh [-v] [--kernel LINE] [--] COMMAND [ARG...]

Boots one of Debian's kernels (rfuse-kmod/kernels.json: ${lines}; default the
newest) under qemu (KVM when it works, TCG otherwise) and runs COMMAND in it
as root. The guest sees the host's / read-only
over 9p, so the repository, the build tree and every host binary are at their
usual paths; /tmp, /var/tmp, /run and /dev/shm are the guest's own tmpfs; fuse,
loop and ext4 are loaded, and rfuse.ko from \$BUILD/rfuse-kmod/<ABI>/ when it
exists for the booted kernel.
COMMAND's stdout and stderr come back byte-exact on vm.sh's stdout and stderr,
after COMMAND ends; its stdin is /dev/null; its exit status is vm.sh's. The
guest powers off when COMMAND ends (background processes it left die with it).

Options:
  --kernel LINE   the kernel to boot: ${lines}(or its ABI); default \$RFUSE_KERNEL,
                  else the newest line
  -v, --verbose   say on stderr what the rig does, and how long the boot took
  -h, --help      this text

Environment:
  RFUSE_KERNEL=LINE    as --kernel
  RFUSE_VM_OUT=DIR     a host folder the guest may write, at the same path
                       inside (created if missing). Default: a fresh folder in
                       the run folder, removed afterwards. Inside, \$RFUSE_VM_OUT
                       names it.
  RFUSE_VM_MEM=SIZE    guest memory, qemu syntax (default 4G)
  RFUSE_VM_SMP=N       guest CPUs (default: the host's, $(nproc))
  RFUSE_VM_TIMEOUT=S   seconds before a hung guest is killed (default 1800)
  RFUSE_VM_BOOT_TIMEOUT=S  seconds a boot may take to start COMMAND before it is retried (default 120, 3 boots at most);
                       a kernel that crashes while booting, before rfuse.ko and COMMAND, is booted again the same way
  RFUSE_VM_TEST_CRASH_BOOTS=N  test aid: the first N boots crash (sysrq) before the rig's job
  RFUSE_VM_ACCEL=A     kvm, tcg or auto (default: kvm when a probe boot works)
  RFUSE_VM_NO_RFUSE=1  do not load rfuse.ko
  RFUSE_VM_RFUSE_PARAMS="P=V ..."  module parameters for rfuse.ko
  RFUSE_VM_ALLOW_WARN=1  do not fail on kernel WARNINGs and RCU stalls
  RFUSE_VM_KEEP=1      keep the run folder (console log, outputs) on success
  RFUSE_VM_VERBOSE=1   as -v
  RFUSE_BUILD_DIR      build tree (default: the repository's build/); the
                       kernel image and initramfs are cached in its vm/, run
                       folders go to its vm/runs/
  RFUSE_*              every such variable is passed into COMMAND's environment

Inside, COMMAND also gets RFUSE_VM=1, RFUSE_BUILD_DIR, RFUSE_VM_OUT and
RFUSE_VM_RFUSE (loaded, failed, absent or skipped: what became of rfuse.ko),
PATH, HOME (a folder in /tmp), and the caller's working directory if the guest
has it (not under /tmp or /run), / otherwise.

Exit status: COMMAND's, or
  $EXIT_CRASH  the guest kernel crashed or complained (oops, BUG, panic, hung task,
       soft lockup, WARNING, RCU stall); stderr names it, the console log is kept
  $EXIT_TIMEOUT  RFUSE_VM_TIMEOUT passed; qemu was killed, the console log is kept
  $EXIT_RIG  the rig failed: no kernel image, qemu did not start, the guest ended
       before COMMAND did
EOF
}

say() { printf 'vm.sh: %s\n' "$*" >&2; }
verbose=0
info() { ((verbose)) && say "$@"; return 0; }
rig_fail() {
	say "$*"
	exit $EXIT_RIG
}

while (($#)); do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	-v | --verbose) verbose=1; shift ;;
	--kernel)
		[[ $# -ge 2 ]] || { say "--kernel needs a value"; exit $EXIT_RIG; }
		RFUSE_KERNEL=$2; shift 2 ;;
	--kernel=*) RFUSE_KERNEL=${1#*=}; shift ;;
	--) shift; break ;;
	-*) say "unknown option $1 (--help lists them)"; exit $EXIT_RIG ;;
	*) break ;;
	esac
done
(($#)) || { say "no COMMAND given (usage: ./run.sh vm [-v] [--] COMMAND [ARG...]; --help says more)"; exit $EXIT_RIG; }
[[ "${RFUSE_VM_VERBOSE:-0}" == 1 ]] && verbose=1

if [[ -n ${RFUSE_KERNEL:-} ]]; then
	RFUSE_KERNEL=$("$ROOT/harness/kernels/kernels.sh" line "$RFUSE_KERNEL") || exit $EXIT_RIG
	export RFUSE_KERNEL
fi

QEMU=qemu-system-x86_64
command -v "$QEMU" >/dev/null || rig_fail "$QEMU not found: run ./run.sh setup"

image=$("$HERE/vm-image.sh" --print) || rig_fail "no kernel image (see above)"
read -r kver kernel initramfs kroot <<<"$image"

mem=${RFUSE_VM_MEM:-4G}
smp=${RFUSE_VM_SMP:-$(nproc)}
timeout=${RFUSE_VM_TIMEOUT:-1800}
[[ "$smp" =~ ^[1-9][0-9]*$ ]] || rig_fail "RFUSE_VM_SMP must be a positive number, not '$smp'"
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || rig_fail "RFUSE_VM_TIMEOUT must be whole seconds, not '$timeout'"
test_crash_boots=${RFUSE_VM_TEST_CRASH_BOOTS:-0}
[[ "$test_crash_boots" =~ ^[0-9]+$ ]] || rig_fail "RFUSE_VM_TEST_CRASH_BOOTS must be a number, not '$test_crash_boots'"

mkdir -p "$BUILD/vm/runs" || rig_fail "cannot create $BUILD/vm/runs"
# Failed runs are kept for their logs; a week is long enough, and no run lasts
# that long, so nothing in use goes.
find "$BUILD/vm/runs" -mindepth 1 -maxdepth 1 -name 'run.*' -mtime +7 -exec rm -rf {} + 2>/dev/null
run=$(mktemp -d "$BUILD/vm/runs/run.XXXXXX") || rig_fail "cannot create a run folder"
ctl=$run/ctl
mkdir -p "$ctl"
if [[ -n "${RFUSE_VM_OUT:-}" ]]; then
	mkdir -p "$RFUSE_VM_OUT" || rig_fail "cannot create RFUSE_VM_OUT=$RFUSE_VM_OUT"
	out=$(realpath "$RFUSE_VM_OUT")
else
	out=$run/out
	mkdir -p "$out"
fi
console=$run/console.log

# Single quotes for busybox sh, which reads the params file.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
	echo "VM_OUT=$(sq "$out")"
	echo "VM_REPO=$(sq "$ROOT")"
	# Host paths the guest must see even where its own tmpfs covers them.
	echo "VM_KEEP=$(sq "$ROOT:$BUILD:$PWD")"
	echo "VM_MODROOT=$(sq "$kroot")"
	echo "VM_KVER=$(sq "$kver")"
	echo "VM_HOSTNAME=rfuse-vm"
	echo "VM_TEST_CRASH_BOOTS=$test_crash_boots"
} >"$ctl/params"

# The job, for guest.sh (bash, so printf %q quoting is safe).
{
	printf 'VM_CMD=('
	printf '%q ' "$@"
	printf ')\n'
	printf 'VM_ENV=()\n'
	while IFS= read -r name; do
		[[ "$name" == RFUSE_* ]] && printf 'VM_ENV+=(%q)\n' "$name=${!name}"
	done < <(compgen -e)
	printf 'VM_CWD=%q\n' "$PWD"
	printf 'VM_BUILD=%q\n' "$BUILD"
	printf 'VM_OUT=%q\n' "$out"
	printf 'VM_NO_RFUSE=%q\n' "${RFUSE_VM_NO_RFUSE:-0}"
	printf 'VM_RFUSE_PARAMS=%q\n' "${RFUSE_VM_RFUSE_PARAMS:-}"
} >"$ctl/job.sh"

# qemu option values double their commas.
qarg() { printf '%s' "${1//,/,,}"; }

# Whether KVM runs this kernel here. /dev/kvm can exist without working (no
# VT-x/AMD-V under it: qemu aborts or spins), so a probe boots the kernel
# without a root file system, which panics at once under real KVM. The verdict
# is cached per host kernel, qemu and guest kernel.
kvm_works() {
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 1
	local cache=$BUILD/vm/kvm-probe key probe verdict
	key="$(uname -r) $("$QEMU" --version | head -1) $kver"
	# One probe at a time (parallel test runs); the others read its verdict.
	exec 8>"$BUILD/vm/.kvm-lock"
	flock 8
	if [[ -f "$cache" && "$(sed -n 2p "$cache")" == "$key" ]]; then
		verdict=$(sed -n 1p "$cache")
	else
		probe=$(mktemp "$BUILD/vm/kvm-probe.XXXXXX")
		# The braces also silence bash's report of qemu's abort.
		{ timeout 20 "$QEMU" -nodefaults -no-user-config -no-reboot -display none \
			-accel kvm -cpu host -m 256 -kernel "$kernel" -append "console=ttyS0 panic=-1" \
			-serial "file:$probe" </dev/null >/dev/null 2>&1; } 2>/dev/null
		verdict=no
		grep -q 'Kernel panic' "$probe" && verdict=yes
		rm -f "$probe"
		printf '%s\n%s\n' "$verdict" "$key" >"$cache"
	fi
	exec 8>&-
	[[ "$verdict" == yes ]]
}

accel=${RFUSE_VM_ACCEL:-auto}
if [[ "$accel" == auto ]]; then
	accel=tcg
	kvm_works && accel=kvm
fi
case "$accel" in
kvm) accel_args=(-enable-kvm -cpu host) ;;
tcg) accel_args=(-accel "tcg,thread=multi" -cpu max) ;;
*) rig_fail "RFUSE_VM_ACCEL must be kvm, tcg or auto, not '$accel'" ;;
esac

# A crash must end the VM at once: oops, lockups and hung tasks panic, a panic
# reboots, and -no-reboot turns the reboot into qemu's exit.
cmdline="console=ttyS0 rdinit=/init panic=-1 oops=panic softlockup_panic=1 hung_task_panic=1"
cmdline+=" mitigations=off i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable"

qemu_args=(
	-nodefaults -no-user-config -no-reboot
	-machine pc "${accel_args[@]}" -smp "$smp" -m "$mem"
	-display none -vga none -monitor none
	-chardev "file,id=console,path=$(qarg "$console")" -serial chardev:console
	-kernel "$kernel" -initrd "$initramfs" -append "$cmdline"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$(qarg "$ctl"),mount_tag=rfusectl,security_model=none"
	-virtfs "local,path=$(qarg "$out"),mount_tag=rfuseout,security_model=none,multidevs=remap"
)

qemu_pid=
timer_pid=
stop_qemu() {
	[[ -n "$qemu_pid" ]] || return 0
	kill -TERM "$qemu_pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$qemu_pid" 2>/dev/null
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
}
stop_timer() {
	[[ -n "$timer_pid" ]] && kill "$timer_pid" 2>/dev/null && wait "$timer_pid" 2>/dev/null
	timer_pid=
}
# shellcheck disable=SC2317 # called from the traps below
on_signal() {
	stop_timer
	stop_qemu
	say "interrupted; run folder kept: $run"
	exit $((128 + $1))
}
trap 'on_signal 1' HUP
trap 'on_signal 2' INT
trap 'on_signal 15' TERM

# Under emulation a boot very rarely stalls before user space (seen here:
# the console stops during early kernel init while qemu spins). A boot that
# has not started COMMAND within RFUSE_VM_BOOT_TIMEOUT seconds is retried, at
# most twice; the stalled console logs are kept beside the run's.
# Kernel complaints that make a run fail even when COMMAND succeeded; only
# kernel lines (with a timestamp) count, not what user space wrote.
klog='^\[ *[0-9]+\.[0-9]+\] '
crash_re="$klog.*(Kernel panic|Oops|BUG:|kernel BUG at|general protection fault|INFO: task .* blocked for more than|soft lockup|hard LOCKUP)"

boot_timeout=${RFUSE_VM_BOOT_TIMEOUT:-120}
[[ "$boot_timeout" =~ ^[1-9][0-9]*$ ]] || rig_fail "RFUSE_VM_BOOT_TIMEOUT must be a positive number of seconds"
max_boots=3
for ((boot = 1; ; boot++)); do
	info "booting $kver ($accel, $smp CPUs, $mem); run folder $run"
	started_at=$(date +%s.%N)
	# The parent-death signal ends qemu (and the timer) even when vm.sh is
	# killed with SIGKILL, e.g. by a test driver's timeout.
	setpriv --pdeathsig KILL -- "$QEMU" "${qemu_args[@]}" </dev/null >"$run/qemu.log" 2>&1 &
	qemu_pid=$!
	booted=0
	for ((tick = 0; tick < boot_timeout * 10; tick++)); do
		[[ -f "$ctl/started" ]] && { booted=1; break; }
		kill -0 "$qemu_pid" 2>/dev/null || break
		sleep 0.1
	done
	# A kernel that crashed while booting, before guest.sh (the rig's job:
	# rfuse.ko, then COMMAND) began, crashed in Debian's kernel under
	# emulation, not in what the run checks (seen here, rarely: an int3 Oops
	# at 2 s while init loads Debian's modules): said, kept, booted again.
	if ((!booted && boot < max_boots)) && ! kill -0 "$qemu_pid" 2>/dev/null && [[ ! -e "$ctl/guest.log" ]]; then
		boot_crash=$(grep -a -m1 -E "$crash_re" "$console" 2>/dev/null | tr -d '\r')
		if [[ -n "$boot_crash" ]]; then
			wait "$qemu_pid" 2>/dev/null
			qemu_pid=
			cp "$console" "$run/console.crashed-boot-$boot.log" 2>/dev/null || true
			say "the guest kernel crashed while booting, before the rig's job began (boot $boot of $max_boots): $boot_crash"
			say "  its log: $run/console.crashed-boot-$boot.log; booting again"
			: >"$console"
			continue
		fi
	fi
	if ((booted || boot >= max_boots)) || ! kill -0 "$qemu_pid" 2>/dev/null; then
		break
	fi
	say "the guest did not start COMMAND within ${boot_timeout} s (boot $boot of $max_boots stalled); booting again"
	stop_qemu
	cp "$console" "$run/console.stalled-boot-$boot.log" 2>/dev/null || true
	: >"$console"
done

setpriv --pdeathsig KILL -- sleep "$timeout" &
timer_pid=$!
wait -n "$qemu_pid" "$timer_pid"
timed_out=0
if kill -0 "$qemu_pid" 2>/dev/null; then
	timed_out=1
	stop_qemu
else
	wait "$qemu_pid"
	qemu_status=$?
	qemu_pid=
fi
stop_timer
ended_at=$(date +%s.%N)

# COMMAND's output, whatever there is of it, before any verdict.
[[ -f "$ctl/stdout" ]] && cat "$ctl/stdout"
[[ -f "$ctl/stderr" ]] && cat "$ctl/stderr" >&2

if ((verbose)); then
	[[ -s "$ctl/guest.log" ]] && sed 's/^/vm.sh: guest: /' "$ctl/guest.log" >&2
	if [[ -f "$ctl/started" ]]; then
		boot_wall=$(awk -v a="$started_at" -v b="$(stat -c %.9Y "$ctl/started")" 'BEGIN {printf "%.2f", b - a}')
		say "boot to command: ${boot_wall} s wall, $(cat "$ctl/started") s guest uptime"
	fi
	say "total $(awk -v a="$started_at" -v b="$ended_at" 'BEGIN {printf "%.2f", b - a}') s in the VM"
fi
rfuse=$(cat "$ctl/rfuse" 2>/dev/null || true)
if [[ "$rfuse" == failed ]]; then
	say "warning: rfuse.ko did not load:"
	sed 's/^/vm.sh:   /' "$ctl/rfuse.err" >&2
fi

keep_run() {
	say "console log kept: $console"
	[[ -f "$ctl/dmesg" ]] && say "guest dmesg kept: $ctl/dmesg"
	return 0
}

# A WARN() reads "WARNING: CPU: 0 PID: ..." up to 6.12 and
# "WARNING: file.c:22 at func+0x2b/0xff0 [mod], CPU#0: comm/139" on 7.x.
warn_re="$klog.*(WARNING: CPU:|WARNING: .* CPU#[0-9]+: |rcu: .*detected stalls|self-detected stall)"
# The console log, and the guest's dmesg taken after COMMAND (a console
# printed from a kernel thread may lose the last lines at poweroff).
klogs=("$console")
[[ -f "$ctl/dmesg" ]] && klogs+=("$ctl/dmesg")
crash=$(cat "${klogs[@]}" 2>/dev/null | grep -a -m1 -E "$crash_re" | tr -d '\r')
warning=
[[ "${RFUSE_VM_ALLOW_WARN:-0}" == 1 ]] ||
	warning=$(cat "${klogs[@]}" 2>/dev/null | grep -a -m1 -E "$warn_re" | tr -d '\r')

if [[ -n "$crash" ]]; then
	say "guest kernel crashed: $crash"
	# The report itself (registers, call trace), so that a crash in a CI log
	# can be read without the kept console log.
	grep -a -A 45 -F -m1 -- "$crash" "$console" 2>/dev/null | tail -n +2 | tr -d '\r' | sed 's/^/vm.sh: | /' >&2
	keep_run
	exit $EXIT_CRASH
fi
if [[ -n "$warning" ]]; then
	say "guest kernel warned (RFUSE_VM_ALLOW_WARN=1 accepts this): $warning"
	keep_run
	exit $EXIT_CRASH
fi
if ((timed_out)); then
	say "timed out after ${timeout} s (RFUSE_VM_TIMEOUT); qemu killed"
	keep_run
	exit $EXIT_TIMEOUT
fi
if [[ ! -f "$ctl/status" ]]; then
	if [[ -s "$console" ]]; then
		say "the guest ended before COMMAND finished (qemu status $qemu_status)"
	else
		say "qemu failed to start (status $qemu_status)"
	fi
	[[ -s "$run/qemu.log" ]] && sed 's/^/vm.sh: qemu: /' "$run/qemu.log" >&2
	tail -n 5 "$console" 2>/dev/null | sed 's/^/vm.sh: console: /' >&2
	keep_run
	exit $EXIT_RIG
fi
status=$(cat "$ctl/status")
if [[ "${RFUSE_VM_KEEP:-0}" == 1 ]]; then
	info "run folder kept: $run"
elif compgen -G "$run/console.crashed-boot-*.log" >/dev/null; then
	say "run folder kept for its crashed boots' logs: $run"
else
	rm -rf "$run"
fi
exit "$status"
