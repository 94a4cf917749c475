#!/bin/bash
# End-to-end checks of rfuse-gate's exit codes.
#   gate_check.sh class RFUSE_GATE     exit 2, naming both classes, for a baseline
#                                      of another machine class or none at all
#   gate_check.sh slowdown RFUSE_GATE  against a baseline recorded here and now:
#                                      unchanged -> exit 0; nullfs with an injected
#                                      delay -> exit 1 naming the NullFS metrics
# The slowdown check uses a reduced set (NullFS, fuse, 5 x 0.3 s) and a
# threshold of 100%: it checks the gate's mechanics on a loaded box, where
# the injected 1 ms per operation is a 20-100x slowdown.
set -u
mode=$1 gate=$2
root=${RFUSE_TEST_ROOT:-/tmp}
mkdir -p "$root"
tmp=$(mktemp -d "$root/gate-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

run() { # run EXPECTED_RC OUTFILE ARGS...
	local want=$1 out=$2 rc=0
	shift 2
	"$gate" "$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	[[ $rc -eq $want ]] || fail "rfuse-gate $* exited $rc, expected $want"
}

case "$mode" in
class)
	# A baseline of a class no machine has.
	cat >"$tmp/other.json" <<'JSON'
{"schema": "rfuse-gate-baseline/1", "machine_class": "64cpu-native-9.9",
 "environment": {}, "samples": {},
 "settings": {"duration_s": 1.0, "repetitions": 5, "metrics": [], "transports": ["fuse"],
              "thread_counts": [1], "inject_delay_us": 0}}
JSON
	run 2 "$tmp/out" --baseline "$tmp/other.json" --json "$tmp/report.json"
	grep -q "machine class '64cpu-native-9.9'" "$tmp/out" || fail "message does not name the baseline's class"
	grep -q "but this machine is '[0-9]*cpu-" "$tmp/out" || fail "message does not name this machine's class"
	[[ ! -e "$tmp/report.json" ]] || fail "a refused gate wrote a report"
	# No baseline for this class at all.
	run 2 "$tmp/out" --source-dir "$tmp" --json "$tmp/report.json"
	grep -q "no baseline .* for this machine class" "$tmp/out" || fail "missing baseline not explained"
	# A test-only slowdown must never become a baseline.
	run 2 "$tmp/out" --update-baseline --baseline "$tmp/b.json" --inject-delay-us 10
	[[ ! -e "$tmp/b.json" ]] || fail "baseline written with an injected delay"
	;;
slowdown)
	common=(--baseline "$tmp/base.json" --metrics getattr,randread --transports fuse --reps 5
		--duration 0.3 --threshold 1.0 --scratch "$tmp")
	[[ -n "${RFUSE_BIN_DIR:-}" ]] && common+=(--bin-dir "$RFUSE_BIN_DIR")
	run 0 "$tmp/out" --update-baseline "${common[@]}"
	[[ -s "$tmp/base.json" ]] || fail "no baseline written"
	run 0 "$tmp/out" "${common[@]}" --json "$tmp/pass.json"
	grep -q '"result": "pass"' "$tmp/pass.json" || fail "report does not say pass"
	run 1 "$tmp/out" "${common[@]}" --json "$tmp/fail.json" --inject-delay-us 1000
	for m in nullfs_getattr_latency/fuse/t1 nullfs_randread_4k/fuse/t1; do
		grep -q "REGRESSION in.*$m" "$tmp/out" || fail "regression of $m not named"
	done
	grep -q '"result": "regressed"' "$tmp/fail.json" || fail "report does not say regressed"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
echo PASS
