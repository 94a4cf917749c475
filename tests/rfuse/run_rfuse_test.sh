#!/usr/bin/env bash
# Runs an RFUSE test program where rfuse.ko is loaded: here when /dev/rfuse
# exists, else inside one of Debian's kernels under qemu (./run.sh vm; the
# line RFUSE_KERNEL names, default the newest), where it
# then unloads the module to prove nothing holds it (the rig itself fails
# the run on any oops or WARNING in the guest's console). With
# RFUSE_KMOD_PARAMS the guest reloads rfuse.ko with those parameters first
# (always in the VM: a native module is left alone).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [[ "${RFUSE_VM:-0}" == 1 ]]; then
	# inside the guest
	echo "run_rfuse_test: on kernel $(uname -r)" >&2
	if [[ "${RFUSE_VM_RFUSE:-}" != loaded ]]; then
		echo "run_rfuse_test: rfuse.ko was not loaded in the VM (${RFUSE_VM_RFUSE:-unknown}); build it with ./run.sh build" >&2
		exit 1
	fi
	if [[ -n "${RFUSE_KMOD_PARAMS:-}" ]]; then
		# e.g. tiny rings, to drive requests through the full-ring paths
		rmmod rfuse && insmod "$RFUSE_BUILD_DIR/rfuse-kmod/$(uname -r)/rfuse.ko" $RFUSE_KMOD_PARAMS || {
			echo "run_rfuse_test: cannot reload rfuse.ko with $RFUSE_KMOD_PARAMS" >&2
			exit 1
		}
	fi
	"$@"
	rc=$?
	if ! rmmod rfuse; then
		echo "run_rfuse_test: rmmod rfuse failed after the test" >&2
		lsmod | grep -E '^(rfuse|fuse)' >&2
		exit 1
	fi
	exit $rc
fi

if [[ -e /dev/rfuse && -z "${RFUSE_KMOD_PARAMS:-}" ]]; then
	exec "$@"
fi
build=${RFUSE_BUILD_DIR:-$ROOT/build}
abi=$("$ROOT/harness/kernels/kernels.sh" abi) || exit 1
if [[ ! -f "$build/rfuse-kmod/$abi/rfuse.ko" ]]; then
	echo "run_rfuse_test: $build/rfuse-kmod/$abi/rfuse.ko is missing and this kernel has no /dev/rfuse: run ./run.sh build" >&2
	exit 1
fi
exec "$ROOT/run.sh" vm -- "$ROOT/tests/rfuse/run_rfuse_test.sh" "$@"
