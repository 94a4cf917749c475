#!/usr/bin/env bash
# run.sh refuses bad commands and flags with one line naming what is valid,
# exit status 2, before it installs, builds, boots or writes anything.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN=$ROOT/run.sh
fail() { echo "FAIL: $*" >&2; exit 1; }

scratch=$(mktemp -d "${RFUSE_TEST_ROOT:-${TMPDIR:-/tmp}}/runsh-cli.XXXXXX") || fail "mktemp"
trap 'rm -rf "$scratch"' EXIT
runs_before=$(ls "$ROOT/reports/runs" 2>/dev/null | wc -l)

# refused PATTERN ARGS...: run.sh ARGS exits 2 and says PATTERN on one line
# of stderr ("run.sh: ..." or, for kernel names, "kernels: ..."), writing
# nothing to --out.
refused() {
	local pat=$1 err rc
	shift
	err=$(cd "$scratch" && "$RUN" "$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc == 2 ]] || fail "run.sh $* exited $rc, expected 2 ($err)"
	[[ $(wc -l <<<"$err") == 1 ]] || fail "run.sh $* said more than one line: $err"
	[[ $err == "$pat"* ]] || fail "run.sh $* said '$err', expected '$pat...'"
	echo "ok: run.sh $* -> $err"
}

refused "run.sh: unknown command 'frobnicate' (setup, build, test, vm" frobnicate
refused "run.sh: full-suite: unknown option '--bogus' (--profile" full-suite --bogus
refused "run.sh: full-suite: unknown profile 'huge' (valid: quick standard paper)" full-suite --profile huge
refused "run.sh: full-suite: unknown profile 'huge'" full-suite --profile=huge --out "$scratch/out"
refused "run.sh: full-suite: --profile needs a value" full-suite --profile
refused "run.sh: full-suite: --fs needs a value" full-suite --fs
refused "run.sh: full-suite: --filter needs a value" full-suite --filter
refused "run.sh: full-suite: no spec file $scratch/missing.json" full-suite --spec "$scratch/missing.json" --out "$scratch/out"
refused "run.sh: fuzz: unknown option '--fast'" fuzz --fast
refused "run.sh: fuzz: --replies and --kills take numbers" fuzz --replies many
refused "run.sh: fuzz: --replies and --kills take numbers" fuzz --kills -3
refused "run.sh: fuzz: --seed takes a number" fuzz --seed 0x10
refused "run.sh: fuzz: --kernel needs a value" fuzz --kernel
refused "kernels: unsupported kernel '5.10'" vm-image --kernel 5.10
[[ ! -e $scratch/out ]] || fail "a refused full-suite wrote $scratch/out"
[[ $(ls "$ROOT/reports/runs" 2>/dev/null | wc -l) == "$runs_before" ]] || fail "a refused run wrote into reports/runs"
echo "ok: nothing written"
