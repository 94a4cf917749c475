#!/usr/bin/env bash
# One entry point for everything: setup, build, test, the VM rig, the suite.
#   ./run.sh setup           install every Debian package the project needs (idempotent)
#   ./run.sh build           build userspace (CMake) and the kernel module (Kbuild)
#   ./run.sh test            setup + build + every test (CTest)
#   ./run.sh vm [--kernel 6.1|6.12|7] -- CMD...
#                            run CMD inside one of Debian's kernels under qemu (vm --help)
#   ./run.sh vm-image [--kernel K]  fetch and prepare that kernel and initramfs (vm does it too)
#   ./run.sh kernels         the supported kernel lines and their Debian packages
#   ./run.sh kmod-native     build rfuse.ko for the running kernel, on this machine (a test
#                            machine running one of the supported kernels; see README)
#   ./run.sh full-suite      the evaluation suite: here and, without /dev/rfuse, also in the VM (see README)
#   ./run.sh gate [--quick]  the performance regression gate, RFUSE in the VM (0 pass, 1 regressed, 2 cannot run)
#   ./run.sh fuzz [--kernel LINE|all] [--replies N] [--seed S] [--kills N]
#                            the hostile-daemon fuzzer on rfuse.ko, and SIGKILL of daemons under load
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${RFUSE_BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 2; }

# The Debian kernels rfuse.ko is built and tested for: rfuse-kmod/kernels.json,
# handled by harness/kernels/kernels.sh. RFUSE_KERNEL (6.1, 6.12 or 7; default
# the newest, 7) picks the one the VM rig boots; RFUSE_KERNELS the ones
# `build` makes rfuse.ko for (default: all).
KERNELS=$ROOT/harness/kernels/kernels.sh
kernel_abi() { "$KERNELS" abi "$@"; }

PACKAGES=(
	build-essential cmake ninja-build pkg-config
	fuse3 libfuse3-dev
	libgtest-dev libgmock-dev googletest libbenchmark-dev
	nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev liburing-dev
	fio attr acl util-linux e2fsprogs procps psmisc jq
	qemu-system-x86 busybox-static kmod cpio mmdebstrap xz-utils zstd
	python3 python3-matplotlib python3-jsonschema python3-pandas
	# tests/compat: third-party libfuse3 filesystems and what they serve
	squashfuse squashfs-tools fuse-overlayfs ostree libnbd-bin qemu-utils
)

cmd_setup() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "setup: installing ${missing[*]}"
		[[ $(id -u) -eq 0 ]] || die "setup needs root to install packages"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
			apt-get update -qq
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
		fi
	fi
	# FUSE needs its device; a container may lack the node.
	[[ -e /dev/fuse ]] || { modprobe fuse 2>/dev/null || true; }
	[[ -e /dev/fuse ]] || mknod -m 666 /dev/fuse c 10 229 2>/dev/null || true
}

cmd_build() {
	cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
		${CMAKE_ARGS:-} >/dev/null
	cmake --build "$BUILD" -j "$JOBS"
	if [[ -f "$ROOT/rfuse-kmod/Kbuild" ]]; then
		build_kmod
	fi
}

# rfuse.ko for every kernel line of rfuse-kmod/kernels.json (or those in
# RFUSE_KERNELS), each in $BUILD/rfuse-kmod/<ABI>/: kbuild runs in a chroot of
# the line's Debian release with its linux-headers, and fs/fuse's internal
# headers come from linux-source of exactly that version (harness/kernels/).
build_kmod() {
	local line abi
	for line in ${RFUSE_KERNELS:-$("$KERNELS" lines)}; do
		abi=$("$KERNELS" abi "$line") || exit 2
		say "build: rfuse.ko for $abi (kernel line $line)"
		"$KERNELS" build "$line" "$ROOT/rfuse-kmod" "$BUILD/rfuse-kmod/$abi" ||
			die "build: rfuse.ko for $abi failed"
	done
}

cmd_test() {
	cmd_setup
	cmd_build
	local rc=0
	ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" "$@" || rc=$?
	return $rc
}

cmd_vm() {
	exec "$ROOT/harness/vm/vm.sh" "$@"
}

# take_kernel_option ARGS...: sets KERNEL_ARGS to ARGS without --kernel K,
# and exports RFUSE_KERNEL=K (checked) when it is there.
take_kernel_option() {
	KERNEL_ARGS=()
	while (($#)); do
		case "$1" in
		--kernel) [[ $# -ge 2 ]] || die "--kernel needs a value ($("$KERNELS" lines | tr '\n' ' '))"
			RFUSE_KERNEL=$2; shift 2 ;;
		--kernel=*) RFUSE_KERNEL=${1#*=}; shift ;;
		--) KERNEL_ARGS+=("$@"); break ;;
		*) KERNEL_ARGS+=("$1"); shift ;;
		esac
	done
	if [[ -n ${RFUSE_KERNEL:-} ]]; then
		RFUSE_KERNEL=$("$KERNELS" line "$RFUSE_KERNEL") || exit 2
		export RFUSE_KERNEL
	fi
}

# rfuse.ko for the kernel this machine runs, built here with the installed
# linux-headers and Debian's linux-source of the same version (a user's test
# machine). Any kernel but the lines of rfuse-kmod/kernels.json is refused.
cmd_kmod_native() {
	local abi line ver src major kdir out have
	abi=$(uname -r)
	if ! line=$("$KERNELS" abi-of-running); then
		die "kmod-native: this machine runs Linux $abi; rfuse.ko supports exactly these Debian kernels: $(for l in $("$KERNELS" lines); do printf '%s (%s) ' "$("$KERNELS" abi "$l")" "$("$KERNELS" get "$l" version)"; done)(rfuse.ko plugs under fuse.ko's internals, which change between releases)"
	fi
	ver=$("$KERNELS" get "$line" version)
	src=$("$KERNELS" get "$line" source)
	major=${src#linux-source-}
	kdir=/lib/modules/$abi/build
	[[ -f $kdir/Makefile ]] || die "kmod-native: no kernel headers at $kdir: apt-get install linux-headers-$abi"
	have=$(dpkg-query -W -f='${Version}' "$src" 2>/dev/null || true)
	[[ $have == "$ver" && -f /usr/src/linux-source-$major.tar.xz ]] ||
		die "kmod-native: rfuse.ko needs fs/fuse's internal headers from $src of exactly $ver (installed: ${have:-none}): apt-get install $src=$ver"
	out=$BUILD/rfuse-kmod/$abi
	mkdir -p "$out"
	if [[ "$(cat "$out/fuse-internal/VERSION" 2>/dev/null)" != "$ver" ]]; then
		rm -rf "$out/fuse-internal" "$out/.src" && mkdir -p "$out/.src"
		tar -xJf "/usr/src/linux-source-$major.tar.xz" -C "$out/.src" --strip-components=1 --wildcards '*/fs/fuse/*.h' ||
			die "kmod-native: cannot extract fs/fuse from /usr/src/linux-source-$major.tar.xz"
		mv "$out/.src/fs/fuse" "$out/fuse-internal" && rm -rf "$out/.src"
		echo "$ver" >"$out/fuse-internal/VERSION"
	fi
	cp -u "$ROOT"/rfuse-kmod/{Kbuild,*.c,*.h} "$out/" && cp -ru "$ROOT/rfuse-kmod/include" "$out/"
	make -s -C "$kdir" M="$out" modules >&2 || die "kmod-native: building rfuse.ko failed"
	say "kmod-native: built $out/rfuse.ko for $abi; load it with: modprobe fuse && insmod $out/rfuse.ko"
}

cmd_kernels() {
	local l
	for l in $("$KERNELS" lines); do
		printf '%-5s %-22s %-20s %s\n' "$l" "$("$KERNELS" abi "$l")" "$("$KERNELS" get "$l" version)" \
			"$("$KERNELS" get "$l" archive)"
	done
	say "default: $("$KERNELS" line) (RFUSE_KERNEL or --kernel picks another)"
}

# ./run.sh full-suite [--profile quick|standard|paper] [--filter GLOB]... [--fs NAME]... [--spec FILE] [--out DIR]
#                     [--vm-only | --native-only]
# Runs workloads/suites/paper.json (or --spec) under the profile (standard by
# default) with build/bin/rfuse-bench, draws the plots and writes index.md with
# the paper's claims (reports/plot/). Output in DIR, by default
# reports/runs/<UTC time>-<profile>/. Where RFUSE can run decides the layout:
#   /dev/rfuse exists: one run on this machine, in DIR.
#   otherwise: two environments, each a run of its own (report.json, plots,
#   index.md), never compared with each other: DIR/vm/, every point inside the
#   VM rig (./run.sh vm), where rfuse.ko loads; DIR/native/, every point but the
#   rfuse ones on this machine. DIR/index.md says which is which and lists the
#   claims of the run that has RFUSE.
# --vm-only (or --vm): only the VM run, in DIR. --native-only: only this
# machine, in DIR (rfuse points recorded as skipped where /dev/rfuse is missing).
# RFUSE_VM_MEM (default 12G) and RFUSE_VM_TIMEOUT (default 172800 s) go to the rig.
# Exit: 0 every point ok or skipped, 3 some failed, 130 interrupted, else a
# part could not run (its status; the other part still runs).
cmd_full_suite() {
	local profile=standard spec="$ROOT/workloads/suites/paper.json" out="" mode=auto args=()
	while (($#)); do
		case "$1" in
		--profile) [[ $# -ge 2 ]] || die "full-suite: --profile needs a value"; profile=$2; shift 2 ;;
		--profile=*) profile=${1#*=}; shift ;;
		--filter) [[ $# -ge 2 ]] || die "full-suite: --filter needs a value"; args+=(--filter "$2"); shift 2 ;;
		--filter=*) args+=(--filter "${1#*=}"); shift ;;
		--fs) [[ $# -ge 2 ]] || die "full-suite: --fs needs a value"; args+=(--fs "$2"); shift 2 ;;
		--fs=*) args+=(--fs "${1#*=}"); shift ;;
		--spec) [[ $# -ge 2 ]] || die "full-suite: --spec needs a value"; spec=$(realpath -m "$2"); shift 2 ;;
		--out) [[ $# -ge 2 ]] || die "full-suite: --out needs a value"; out=$(realpath -m "$2"); shift 2 ;;
		--vm | --vm-only) mode=vm; shift ;;
		--native-only) mode=native; shift ;;
		*) die "full-suite: unknown option '$1' (--profile quick|standard|paper, --filter GLOB, --fs NAME, --spec FILE, --out DIR, --vm-only, --native-only)" ;;
		esac
	done
	# Refuse a bad profile before minutes of setup and build.
	local profiles
	profiles=$(sed -n 's/^    "\([a-z0-9_-]*\)": {$/\1/p' "$ROOT/workloads/profiles.json" | tr '\n' ' ')
	[[ " $profiles" == *" $profile "* ]] || die "full-suite: unknown profile '$profile' (valid: ${profiles% })"
	[[ -f "$spec" ]] || die "full-suite: no spec file $spec"
	out=${out:-$ROOT/reports/runs/$(date -u +%Y%m%dT%H%M%SZ)-$profile}
	cmd_setup
	cmd_build
	local bench=("$BUILD/bin/rfuse-bench" run --profile "$profile" "${args[@]}")
	# A filter that matches nothing fails here, before a VM boots.
	"${bench[@]}" --spec "$spec" --dry-run >/dev/null || die "full-suite: rfuse-bench refuses these arguments"
	if [[ $mode == auto ]]; then
		if [[ -c /dev/rfuse ]]; then mode=native; else mode=both; fi
	fi
	# The parts: where each runs, its folder and its spec.
	local wheres=() dirs=() specs=()
	case $mode in
	native) wheres=(native) dirs=("$out") specs=("$spec") ;;
	vm) wheres=(vm) dirs=("$out") specs=("$spec") ;;
	both)
		say "full-suite: no /dev/rfuse here (rfuse.ko cannot load on this kernel): the whole suite runs in the VM rig" \
			"($out/vm), and every point but RFUSE's also on this machine ($out/native)"
		wheres=(vm) dirs=("$out/vm") specs=("$spec")
		# This machine's spec: the same groups without the rfuse transport.
		mkdir -p "$out/native"
		jq '.description += " (full-suite: without rfuse, which runs in the VM part)"
			| .groups |= (map(.transports -= ["rfuse"]) | map(select(.transports | length > 0)))' \
			"$spec" >"$out/native/spec.json" || die "full-suite: cannot derive the native spec from $spec"
		if "${bench[@]}" --spec "$out/native/spec.json" --dry-run >/dev/null 2>&1; then
			wheres+=(native) dirs+=("$out/native") specs+=("$out/native/spec.json")
		else
			say "full-suite: every point of the filter is an rfuse one: nothing runs on this machine"
			rm -f "$out/native/spec.json"
			rmdir "$out/native" 2>/dev/null || true
		fi
		;;
	esac
	local i rc=0 prc
	for i in "${!wheres[@]}"; do
		local dir=${dirs[$i]} run=("${bench[@]}" --spec "${specs[$i]}" --out "${dirs[$i]}")
		prc=0
		if [[ ${wheres[$i]} == vm ]]; then
			say "full-suite: inside the VM rig -> $dir"
			# The guest sees the host read-only; $dir is its writable share.
			mkdir -p "$dir"
			RFUSE_VM_OUT=$dir RFUSE_VM_MEM=${RFUSE_VM_MEM:-12G} RFUSE_VM_TIMEOUT=${RFUSE_VM_TIMEOUT:-172800} \
				"$ROOT/harness/vm/vm.sh" -- \
				/bin/sh -c 'f=/sys/module/fuse/parameters/enable_uring; [ -f $f ] && echo Y > $f; exec "$@"' sh \
				"${run[@]}" || prc=$?
		else
			say "full-suite: on this machine -> $dir"
			# The uring points need FUSE over io_uring switched on (the kernel
			# reads it at mount time); put it back as it was afterwards.
			local uring=/sys/module/fuse/parameters/enable_uring uring_was=""
			if [[ -f $uring ]]; then
				uring_was=$(cat "$uring")
				[[ $uring_was == Y ]] || { echo Y >"$uring"; } 2>/dev/null || say "full-suite: cannot enable $uring"
			fi
			"${run[@]}" || prc=$?
			if [[ -n $uring_was && $uring_was != Y ]]; then { echo "$uring_was" >"$uring"; } 2>/dev/null || true; fi
		fi
		# 0: all points ok or skipped; 3: some failed (recorded in the report).
		if [[ $prc -eq 0 || $prc -eq 3 ]]; then
			/usr/bin/python3 "$ROOT/reports/plot/plot.py" "$dir" || say "full-suite: plotting $dir failed"
			say "full-suite: report in $dir/report.json"
		else
			say "full-suite: the ${wheres[$i]} part ended with status $prc"
		fi
		((prc == 130)) && return 130
		# The first part that could not run wins over failed points.
		if ((prc != 0 && prc != 3)); then
			((rc != 0 && rc != 3)) || rc=$prc
		elif ((prc == 3 && rc == 0)); then
			rc=3
		fi
	done
	if [[ $mode == both ]]; then
		/usr/bin/python3 "$ROOT/reports/plot/claims.py" index "$out" || say "full-suite: writing $out/index.md failed"
	fi
	if ((rc == 3)); then say "full-suite: some points failed (see 'reason' in the report)"; fi
	[[ ! -f $out/index.md ]] || say "full-suite: see $out/index.md"
	return $rc
}

# ./run.sh gate [--quick] [--host-only|--vm-only] [--update-baseline [--append]] [rfuse-gate options]
# The CI performance regression gate (harness/gate/README.md): measures a fixed
# short set of metrics and compares them with reports/baselines/<machine class>.json.
# Part 1, on this machine: fuse and uring (and rfuse where /dev/rfuse exists).
# Part 2, where this kernel cannot load rfuse.ko: fuse and rfuse inside the VM
# rig, against the baseline of the class <cpus>cpu-vm-<6.1>.
# Exit 0 pass, 1 regression, 2 could not run (no baseline for this class, ...).
cmd_gate() {
	local part=both args=() rc_host=0 rc_vm=0
	while (($#)); do
		case "$1" in
		--host-only) part=host ;;
		--vm-only) part=vm ;;
		*) args+=("$1") ;;
		esac
		shift
	done
	{ cmd_setup && cmd_build; } >&2 || die "gate: build failed"
	if [[ $part != vm ]]; then
		say "gate: part 1, this machine"
		"$BUILD/bin/rfuse-gate" --json "$BUILD/gate/report.json" "${args[@]}" || rc_host=$?
	fi
	if [[ $part != host ]]; then
		if [[ -c /dev/rfuse ]]; then
			say "gate: /dev/rfuse exists here, so part 1 measured RFUSE natively; no VM part"
		else
			say "gate: part 2, RFUSE inside the VM rig"
			gate_vm "${args[@]}" || rc_vm=$?
		fi
	fi
	# A regression anywhere wins; then "could not run"; then anything else.
	if ((rc_host == 1 || rc_vm == 1)); then return 1; fi
	if ((rc_host == 2 || rc_vm == 2)); then return 2; fi
	return $((rc_host ? rc_host : rc_vm))
}

# The VM part of the gate. The guest sees the host read-only: baselines and
# the report go through $RFUSE_VM_OUT, and the reference build a confirmation
# needs (the baseline's commit) is built here first, since the guest cannot.
gate_vm() {
	local out=$BUILD/gate/vm update=0 a cls base commit ref=""
	for a in "$@"; do [[ $a == --update-baseline ]] && update=1; done
	local ko
	ko=$BUILD/rfuse-kmod/$(kernel_abi)/rfuse.ko
	[[ -f $ko ]] || { say "gate: no $ko: cannot measure RFUSE"; return 2; }
	cls="$(nproc)cpu-vm-$(kernel_abi | cut -d. -f1,2)"
	rm -rf "$out"
	mkdir -p "$out/baselines"
	cp "$ROOT"/reports/baselines/*.json "$out/baselines/" 2>/dev/null || true
	base=$out/baselines/$cls.json
	if ((!update)) && [[ -f $base ]]; then
		commit=$(jq -r '.environment.git.commit // empty' "$base")
		if [[ -n $commit ]]; then
			ref=$("$ROOT/harness/gate/build-reference.sh" "$commit" "$BUILD/gate-ref" 2>"$out/reference-build.log") ||
				{ say "gate: cannot build the VM baseline's commit $commit (see $out/reference-build.log): a flag will stand unconfirmed"; ref=""; }
		fi
	fi
	local rc=0
	RFUSE_VM_OUT=$out "$ROOT/harness/vm/vm.sh" -- "$BUILD/bin/rfuse-gate" --baseline-dir "$out/baselines" \
		--json "$out/report.json" --scratch /tmp --reference-builder "" ${ref:+--reference-bin-dir "$ref"} \
		"$@" || rc=$?
	[[ -f $out/report.json ]] && cp "$out/report.json" "$BUILD/gate/report-vm.json"
	if ((update && rc == 0)); then
		cp "$base" "$ROOT/reports/baselines/$cls.json" || return 2
		say "gate: VM baseline written to reports/baselines/$cls.json"
	fi
	return $rc
}

# ./run.sh fuzz [--kernel LINE|all] [--replies N] [--seed S] [--kills N]
# The long forms of rfuse.Fuzz and kill.*: tests/rfuse/rfuse_fuzz (a hostile
# daemon answering N replies, default 1,000,000, half of its mounts with tiny
# rings) in the VM on each kernel line (all by default), then, with --kills N,
# tests/sigkill/daemon_kill: N SIGKILLs of the daemon under load per
# transport, rfuse (and uring where the guest has it) in the VM on each line,
# fuse and uring on this machine. --replies 0 skips the fuzzer. Each run's
# summary (replies/s, counts) lands in $BUILD/fuzz/. RFUSE_VM_TIMEOUT
# (default 86400 s) bounds each VM run. Exit 0 when every run passed, else 1.
cmd_fuzz() {
	local kernels="" replies=1000000 seed="" kills=0 line out rc=0 t start
	while (($#)); do
		case "$1" in
		--kernel) [[ $# -ge 2 ]] || die "fuzz: --kernel needs a value"; kernels=$2; shift 2 ;;
		--kernel=*) kernels=${1#*=}; shift ;;
		--replies) [[ $# -ge 2 ]] || die "fuzz: --replies needs a value"; replies=$2; shift 2 ;;
		--replies=*) replies=${1#*=}; shift ;;
		--seed) [[ $# -ge 2 ]] || die "fuzz: --seed needs a value"; seed=$2; shift 2 ;;
		--seed=*) seed=${1#*=}; shift ;;
		--kills) [[ $# -ge 2 ]] || die "fuzz: --kills needs a value"; kills=$2; shift 2 ;;
		--kills=*) kills=${1#*=}; shift ;;
		*) die "fuzz: unknown option '$1' (--kernel LINE|all, --replies N, --seed S, --kills N)" ;;
		esac
	done
	[[ $replies =~ ^[0-9]+$ && $kills =~ ^[0-9]+$ ]] || die "fuzz: --replies and --kills take numbers"
	[[ -z $seed || $seed =~ ^[0-9]+$ ]] || die "fuzz: --seed takes a number"
	if [[ -z $kernels || $kernels == all ]]; then
		kernels=$("$KERNELS" lines)
	else
		kernels=$("$KERNELS" line "$kernels") || exit 2
	fi
	cmd_setup
	cmd_build
	out=$BUILD/fuzz
	mkdir -p "$out"
	export RFUSE_BUILD_DIR=$BUILD RFUSE_VM_TIMEOUT=${RFUSE_VM_TIMEOUT:-86400}
	# fuzz_job NAME CMD...: one job, its log in $out/NAME.log, its verdict said
	fuzz_job() {
		local name=$1 prc=0
		shift
		say "fuzz: $name"
		start=$SECONDS
		"$@" >"$out/$name.log" 2>&1 || prc=$?
		say "fuzz: $name: $( ((prc == 0)) && echo passed || echo "FAILED (status $prc)") in $((SECONDS - start)) s"
		grep -E '^(rfuse_fuzz: seed .*replies/s|daemon_kill: .*kills passed)' "$out/$name.log" >&2 || true
		((prc == 0 || prc == 77)) || rc=1
	}
	for line in $kernels; do
		if ((replies > 0)); then
			RFUSE_KERNEL=$line fuzz_job "rfuse_fuzz@$line" "$ROOT/tests/rfuse/run_rfuse_test.sh" \
				"$BUILD/bin/rfuse_fuzz" --replies "$replies" ${seed:+--seed "$seed"} \
				--kmod-params "|ring_slots=2 arg_slots=1 max_pages=4"
		fi
		if ((kills > 0)); then
			t=rfuse
			[[ $("$KERNELS" get "$line" fuse_io_uring 2>/dev/null) == true ]] && t=rfuse,uring
			RFUSE_KERNEL=$line RFUSE_KILLS=$kills fuzz_job "kill.guest@$line" "$ROOT/tests/rfuse/run_rfuse_test.sh" \
				"$BUILD/bin/daemon_kill" --transport "$t" --bound-s 30 ${seed:+--seed "$seed"}
		fi
	done
	if ((kills > 0)); then
		for t in fuse uring; do
			RFUSE_KILLS=$kills fuzz_job "kill.$t" "$BUILD/bin/daemon_kill" --transport "$t" ${seed:+--seed "$seed"}
		done
	fi
	say "fuzz: logs in $out/"
	return $rc
}

main() {
	local sub=${1:-}
	[[ -n "$sub" ]] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
	shift
	case "$sub" in
	setup) cmd_setup "$@" ;;
	build) cmd_setup; cmd_build "$@" ;;
	test) cmd_test "$@" ;;
	vm) cmd_vm "$@" ;;
	vm-image) take_kernel_option "$@"; cmd_setup; exec "$ROOT/harness/vm/vm-image.sh" ;;
	full-suite) take_kernel_option "$@"; cmd_full_suite "${KERNEL_ARGS[@]}" ;;
	gate) take_kernel_option "$@"; cmd_gate "${KERNEL_ARGS[@]}" ;;
	fuzz) cmd_fuzz "$@" ;;
	kver) kernel_abi "$@" ;;
	kernels) cmd_kernels ;;
	kmod-native) cmd_kmod_native ;;
	*) die "unknown command '$sub' (setup, build, test, vm, vm-image, full-suite, gate, fuzz, kver, kernels, kmod-native)" ;;
	esac
}

main "$@"
