#!/bin/bash
# End-to-end checks of rfuse-gate's exit codes.
#   gate_check.sh class RFUSE_GATE     exit 2, naming both classes, for a baseline
#                                      of another machine class or none at all
#   gate_check.sh slowdown RFUSE_GATE  against a baseline recorded here and now:
#                                      unchanged -> exit 0; nullfs with an injected
#                                      delay -> exit 1 naming the NullFS metrics,
#                                      confirmed against the reference build
#   gate_check.sh machine RFUSE_GATE   a stored baseline 3x better than this box
#                                      is today (the machine changed, not the
#                                      code): the screen flags, the confirmation
#                                      against the reference build clears it
#                                      (exit 0); with --no-confirm exit 1
#   gate_check.sh builder RFUSE_GATE   build-reference.sh refuses a commit that
#                                      is not in the history, and so does the gate
# The checks use a reduced set (NullFS, fuse, 5 x 0.3 s) and a threshold of
# 100%: they check the gate's mechanics on a loaded box, where the injected
# 1 ms per operation is a 20-100x slowdown. The reference build is this
# build's own bin directory (same code: only the injected delay differs).
set -u
mode=$1 gate=$2
bin=${RFUSE_BIN_DIR:-$(dirname "$gate")}
builder=$(dirname "$0")/../../harness/gate/build-reference.sh
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
slowdown | machine)
	common=(--baseline "$tmp/base.json" --metrics getattr,randread --transports fuse --reps 5
		--duration 0.3 --threshold 1.0 --scratch "$tmp" --bin-dir "$bin" --reference-bin-dir "$bin"
		--confirm-reps 5)
	run 0 "$tmp/out" --update-baseline "${common[@]}"
	[[ -s "$tmp/base.json" ]] || fail "no baseline written"
	if [[ $mode == slowdown ]]; then
		run 0 "$tmp/out" "${common[@]}" --json "$tmp/pass.json"
		[[ $(jq -r .result "$tmp/pass.json") == pass ]] || fail "report does not say pass"
		run 1 "$tmp/out" "${common[@]}" --json "$tmp/fail.json" --inject-delay-us 1000
		for m in nullfs_getattr_latency/fuse/t1 nullfs_randread_4k/fuse/t1; do
			grep -q "REGRESSION in.*$m" "$tmp/out" || fail "regression of $m not named"
		done
		[[ $(jq -r .result "$tmp/fail.json") == regressed ]] || fail "report does not say regressed"
		[[ $(jq -r .confirmation.ran "$tmp/fail.json") == true ]] || fail "the regression was not confirmed"
		[[ $(jq -r '[.confirmation.comparison[] | select(.verdict | ascii_downcase == "regressed")] | length' \
			"$tmp/fail.json") -ge 2 ]] || fail "the confirmation did not find both NullFS metrics worse"
	else
		# The stored numbers 3x better than today's box: every row looks regressed.
		jq '.samples |= with_entries(.value |= (.higher_is_better as $h |
			.values |= map(if $h then . * 3 else . / 3 end)))' "$tmp/base.json" >"$tmp/fast.json"
		fast=("${common[@]}")
		fast[1]=$tmp/fast.json
		run 1 "$tmp/out" "${fast[@]}" --json "$tmp/screen.json" --no-confirm
		grep -q "REGRESSION in.*nullfs_getattr_latency/fuse/t1" "$tmp/out" || fail "the screen did not flag"
		[[ $(jq -r .confirmation.ran "$tmp/screen.json") == false ]] || fail "--no-confirm confirmed"
		run 0 "$tmp/out" "${fast[@]}" --json "$tmp/cleared.json"
		grep -q "REGRESSED" "$tmp/out" || fail "the screen's flags are not shown"
		grep -q "^confirmation:" "$tmp/out" || fail "no confirmation table"
		grep -q "not than the baseline's code measured now" "$tmp/out" || fail "the pass is not explained"
		[[ $(jq -r .result "$tmp/cleared.json") == pass ]] || fail "report does not say pass"
		[[ $(jq -r .confirmation.ran "$tmp/cleared.json") == true ]] || fail "report has no confirmation"
	fi
	;;
builder)
	out=$("$builder" 0123456789abcdef0123456789abcdef01234567 "$tmp/ref" 2>&1) && fail "builder accepted a bogus commit"
	grep -q "is not in the history" <<<"$out" || fail "builder did not say why: $out"
	# The gate with a baseline naming that commit: the flag stands, unconfirmed, and says why.
	common=(--baseline "$tmp/base.json" --metrics getattr --transports fuse --reps 5
		--duration 0.3 --threshold 1.0 --scratch "$tmp" --bin-dir "$bin")
	run 0 "$tmp/out" --update-baseline "${common[@]}"
	jq '.environment.git.commit = "0123456789abcdef0123456789abcdef01234567"' "$tmp/base.json" >"$tmp/b2.json"
	common[1]=$tmp/b2.json
	run 1 "$tmp/out" "${common[@]}" --json "$tmp/r.json" --inject-delay-us 1000 \
		--reference-builder "$builder" --reference-out "$tmp/ref"
	grep -q "not confirmed: building the baseline's commit failed" "$tmp/out" || fail "unconfirmed flag not explained"
	[[ $(jq -r .result "$tmp/r.json") == regressed ]] || fail "report does not say regressed"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
echo PASS
