#!/usr/bin/env bash
# kernels_test.sh cli|built: see CMakeLists.txt. Prints what it checked;
# exits 1 on the first failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K=$ROOT/harness/kernels/kernels.sh
DATA=$ROOT/rfuse-kmod/kernels.json
BUILD=${RFUSE_BUILD_DIR:-$ROOT/build}
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# expect_refusal STATUS PATTERN CMD...: CMD exits STATUS and says PATTERN on stderr.
expect_refusal() {
	local want=$1 pat=$2 err rc
	shift 2
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc == "$want" ]] || fail "$* exited $rc, expected $want ($err)"
	[[ $err == *$pat* ]] || fail "$* said '$err', expected it to mention '$pat'"
}

case_cli() {
	local lines want l abi
	lines=$("$K" lines | tr '\n' ' ')
	want=$(jq -r '.lines | keys_unsorted | join(" ")' "$DATA")
	[[ $lines == "$want " ]] || fail "lines: '$lines', kernels.json has '$want'"
	[[ "$("$K" line)" == "$(jq -r .default "$DATA")" ]] || fail "the default line is not kernels.json's default"
	for l in $("$K" lines); do
		abi=$(jq -r --arg l "$l" '.lines[$l].abi' "$DATA")
		[[ "$("$K" abi "$l")" == "$abi" ]] || fail "abi $l"
		[[ "$("$K" line "$abi")" == "$l" ]] || fail "the ABI $abi does not name line $l"
		[[ "$(RFUSE_KERNEL=$l "$K" abi)" == "$abi" ]] || fail "RFUSE_KERNEL=$l"
		# A version prefix of the ABI ("7.3" for 7.3.4+deb13-amd64) names the line.
		[[ "$("$K" line "$(cut -d. -f1,2 <<<"${abi%%[-+]*}")")" == "$l" ]] || fail "version prefix of $abi"
	done
	ok "lines, defaults, ABIs and version prefixes resolve"
	expect_refusal 2 "supported are $lines" "$K" abi 5.10
	expect_refusal 2 "unsupported kernel '6'" env RFUSE_KERNEL=6 "$K" line
	expect_refusal 2 "unsupported kernel" "$ROOT/run.sh" vm-image --kernel 4.19
	expect_refusal 125 "unsupported kernel" "$ROOT/harness/vm/vm.sh" --kernel 6.2 -- true
	ok "unsupported kernel names are refused with the supported list (kernels.sh 2, run.sh 2, vm.sh 125)"
	if "$K" abi-of-running >/dev/null; then
		echo "skip: this machine runs a supported kernel ($(uname -r)): no refusal to check"
	else
		local msg
		msg=$("$ROOT/run.sh" kmod-native 2>&1)
		[[ $? == 2 ]] || fail "kmod-native on $(uname -r) did not exit 2"
		for l in $("$K" lines); do
			[[ $msg == *"$("$K" abi "$l")"* ]] || fail "kmod-native's refusal does not name $("$K" abi "$l"): $msg"
		done
		ok "kmod-native refuses Linux $(uname -r) and names every supported kernel"
	fi
}

case_built() {
	local l abi ver ko vm src
	for l in $("$K" lines); do
		abi=$("$K" abi "$l")
		ver=$("$K" get "$l" version)
		ko=$BUILD/rfuse-kmod/$abi/rfuse.ko
		[[ -f $ko ]] || fail "no $ko (./run.sh build makes one per line)"
		vm=$(modinfo -F vermagic "$ko" | awk '{print $1}')
		[[ $vm == "$abi" ]] || fail "$ko has vermagic $vm, not $abi"
		src=$(cat "$BUILD/rfuse-kmod/$abi/fuse-internal/VERSION" 2>/dev/null)
		[[ $src == "$ver" ]] || fail "$ko was built with fs/fuse headers of '$src', not $ver"
		ok "$l: $ko is built for $abi with fuse_i.h of linux-source $ver"
	done
}

"case_${1:?cli or built}"
echo "1 passed, 0 failed"
