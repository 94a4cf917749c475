#!/usr/bin/env bash
# One entry point for everything: setup, build, test, the VM rig, the suite.
#   ./run.sh setup           install every Debian package the project needs (idempotent)
#   ./run.sh build           build userspace (CMake) and the kernel module (Kbuild)
#   ./run.sh test            setup + build + every test (CTest)
#   ./run.sh vm -- CMD...    run CMD inside Debian's 6.1 kernel under qemu
#   ./run.sh full-suite      the evaluation suite (see README)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${RFUSE_BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 2; }

# Debian 12's 6.1 kernel ABI we build and test rfuse.ko against: the newest one
# whose headers and unsigned image the archive has, unless RFUSE_KVER says.
kernel_abi() {
	if [[ -n "${RFUSE_KVER:-}" ]]; then echo "$RFUSE_KVER"; return; fi
	local cached="$BUILD/.kver"
	if [[ -s "$cached" ]] && dpkg-query -W -f='${Status}' "linux-headers-$(cat "$cached")" 2>/dev/null | grep -q 'ok installed'; then
		cat "$cached"; return
	fi
	local v
	v=$(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
		awk '{print $1}' | sed 's/^linux-headers-//' | sort -t- -k3,3n | tail -1)
	[[ -n "$v" ]] || v=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -t- -k3,3n | tail -1)
	[[ -n "$v" ]] || return 1
	mkdir -p "$BUILD" && echo "$v" > "$cached"
	echo "$v"
}

PACKAGES=(
	build-essential cmake ninja-build pkg-config
	fuse3 libfuse3-dev
	libgtest-dev libgmock-dev googletest libbenchmark-dev
	nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev liburing-dev
	fio attr acl util-linux e2fsprogs procps psmisc
	qemu-system-x86 busybox-static kmod cpio
	python3 python3-matplotlib python3-jsonschema python3-pandas
)

cmd_setup() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	local kver=""
	kver=$(kernel_abi 2>/dev/null || true)
	if [[ -z "$kver" ]]; then
		say "setup: refreshing the package lists"
		apt-get update -qq
		kver=$(kernel_abi) || die "no linux-headers-6.1.0-*-amd64 in the Debian archive"
	fi
	dpkg-query -W -f='${Status}' "linux-headers-$kver" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("linux-headers-$kver")
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

# Out-of-tree Kbuild writes next to its sources: build a copy under $BUILD.
build_kmod() {
	local kver kdir
	kver=$(kernel_abi) || die "no 6.1 kernel headers: run ./run.sh setup"
	kdir=/usr/src/linux-headers-$kver
	[[ -d "$kdir" ]] || die "missing $kdir: run ./run.sh setup"
	mkdir -p "$BUILD/rfuse-kmod"
	cp -u "$ROOT"/rfuse-kmod/{Kbuild,*.c,*.h} "$BUILD/rfuse-kmod/" 2>/dev/null || true
	[[ -d "$ROOT/rfuse-kmod/include" ]] && cp -ru "$ROOT/rfuse-kmod/include" "$BUILD/rfuse-kmod/"
	make -s -C "$kdir" M="$BUILD/rfuse-kmod" modules >&2
}

cmd_test() {
	cmd_setup
	cmd_build
	local rc=0
	ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" "$@" || rc=$?
	return $rc
}

cmd_vm() {
	[[ "${1:-}" == "--" ]] && shift
	exec "$ROOT/harness/vm/vm.sh" "$@"
}

cmd_full_suite() {
	die "full-suite: the evaluation suite has not landed yet (issue 4); ./run.sh test runs what exists today"
}

main() {
	local sub=${1:-}
	[[ -n "$sub" ]] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
	shift
	case "$sub" in
	setup) cmd_setup "$@" ;;
	build) cmd_setup; cmd_build "$@" ;;
	test) cmd_test "$@" ;;
	vm) cmd_vm "$@" ;;
	full-suite) cmd_full_suite "$@" ;;
	kver) kernel_abi ;;
	*) die "unknown command '$sub' (setup, build, test, vm, full-suite)" ;;
	esac
}

main "$@"
