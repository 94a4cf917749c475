#!/usr/bin/python3
"""End-to-end checks of rfuse-bench: runs it, validates its report against
reports/schema/report.schema.json, and checks that nothing is left behind
(no mount, loop device or daemon).

  bench_check.py cli       BENCH SOURCE            refusals of bad input (exit 2)
  bench_check.py run       BENCH SOURCE SPEC [--expect GLOB=STATUS ...] [--plot] [-- ARGS]
                           (--plot: also run reports/plot/plot.py and check its output)
  bench_check.py crash     BENCH SOURCE SPEC       daemon SIGKILLed mid-point
  bench_check.py interrupt BENCH SOURCE SPEC       SIGINT mid-point
  bench_check.py mount-failure BENCH SOURCE SPEC   memfs given a bad option: its mount fails
"""
import fnmatch
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import jsonschema


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def mounts_under(path):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return found


def loops_under(path):
    found = []
    for backing in glob.glob("/sys/block/loop*/loop/backing_file"):
        with open(backing) as f:
            if f.read().strip().startswith(path + "/"):
                found.append(backing)
    return found


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Bench:
    def __init__(self, bench, source):
        self.bench = bench
        self.source = source
        root = os.environ.get("RFUSE_TEST_ROOT", "/tmp")
        os.makedirs(root, exist_ok=True)
        self.scratch = tempfile.mkdtemp(prefix="bench-", dir=root)
        self.out = os.path.join(self.scratch, "out")
        with open(os.path.join(source, "reports/schema/report.schema.json")) as f:
            self.schema = json.load(f)

    def args(self, spec, extra):
        return [self.bench, "run", "--spec", spec, "--profile", "quick", "--out", self.out,
                "--scratch", os.path.join(self.scratch, "work")] + extra

    def dry_run(self, spec, extra):
        r = subprocess.run(self.args(spec, extra) + ["--dry-run"], capture_output=True, text=True)
        if r.returncode != 0:
            fail("dry run: rc %d: %s" % (r.returncode, r.stderr))
        return r.stdout.split()

    def report(self):
        with open(os.path.join(self.out, "report.json")) as f:
            rep = json.load(f)
        try:
            jsonschema.Draft202012Validator(self.schema).validate(rep)
        except jsonschema.ValidationError as e:
            fail("report does not validate: %s at %s" % (e.message, list(e.absolute_path)))
        return rep

    def check_clean(self, rep):
        work = os.path.join(self.scratch, "work")
        if mounts_under(self.scratch):
            fail("mounts left: %s" % mounts_under(self.scratch))
        if loops_under(self.scratch):
            fail("loop devices left: %s" % loops_under(self.scratch))
        if os.path.isdir(work) and os.listdir(work):
            fail("scratch not cleaned: %s" % os.listdir(work))
        for p in rep["points"]:
            for r in p["repetitions"]:
                pid = r.get("mount", {}).get("daemon_pid")
                if pid and pid_alive(pid):
                    fail("daemon %d of %s still alive" % (pid, p["id"]))

    def cleanup(self):
        subprocess.run(["rm", "-rf", self.scratch])


def check_cli(b):
    quick = os.path.join(b.source, "workloads/suites/quick.json")
    cases = [
        (["run", "--spec", quick, "--profile", "nope"], "valid: paper, quick, standard"),
        (["run", "--spec", "/nonexistent.json", "--profile", "quick"], "cannot open"),
        (["run", "--spec", quick, "--profile", "quick", "--filter", "no-such-point"], "matches"),
        (["run", "--profile", "quick"], "spec"),
        (["run", "--spec", quick, "--profile", "quick", "--fs", "zfs"], "unknown filesystem 'zfs'"),
        (["run", "--spec", quick, "--profile", "quick", "--repetitions", "0"], "repetitions"),
        (["frobnicate"], ""),
    ]
    bad = os.path.join(b.scratch, "bad.json")
    with open(bad, "w") as f:
        json.dump({"schema_version": 1, "name": "bad", "groups": [
            {"name": "g", "filesystems": ["memfs"], "transports": ["carrier-pigeon"], "workloads": ["MWCL"]}]}, f)
    cases.append((["run", "--spec", bad, "--profile", "quick"], "valid: native, fuse, rfuse, uring"))
    for args, needle in cases:
        r = subprocess.run([b.bench] + args, capture_output=True, text=True)
        if r.returncode != 2:
            fail("%s: rc %d, want 2 (%s)" % (args, r.returncode, r.stderr))
        if needle not in r.stderr + r.stdout:
            fail("%s: %r not in %r" % (args, needle, r.stderr))
    r = subprocess.run([b.bench, "list"], capture_output=True, text=True)
    if r.returncode != 0:
        fail("list: rc %d" % r.returncode)
    for name in ["nullfs", "memfs", "stackfs", "fuse-overlayfs", "native", "fuse", "rfuse", "uring", "MWCL", "MRPH",
                 "fio-randread-4k", "quick", "standard", "paper"]:
        if name not in r.stdout:
            fail("list lacks %s" % name)
    if os.path.exists(b.out):
        fail("a refused run wrote %s" % b.out)


def check_plots(b, rep):
    r = subprocess.run(["/usr/bin/python3", os.path.join(b.source, "reports/plot/plot.py"), b.out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("plot.py: rc %d: %s" % (r.returncode, r.stderr))
    with open(os.path.join(b.out, "index.md")) as f:
        index = f.read()
    for p in rep["points"]:
        c = p["config"]
        if "| %s | %s | %s | %d |" % (c["filesystem"], c["transport"], c["workload"]["name"], c["threads"]) not in index:
            fail("index.md lacks %s" % p["id"])
    groups = {p["config"]["group"] for p in rep["points"] if p["status"] == "ok"}
    for g in groups:
        if not os.path.getsize(os.path.join(b.out, g + ".png")):
            fail("no plot for %s" % g)


def check_run(b, spec, expects, extra):
    want_ids = b.dry_run(spec, extra)
    r = subprocess.run(b.args(spec, extra), capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    rep = b.report()
    got_ids = [p["id"] for p in rep["points"]]
    if got_ids != want_ids:
        fail("points %s, want %s" % (got_ids, want_ids))
    if rep["status"] != "complete":
        fail("status %s" % rep["status"])
    counts = {s: sum(p["status"] == s for p in rep["points"]) for s in ("ok", "failed", "skipped")}
    for s, n in counts.items():
        if rep["totals"][s] != n:
            fail("totals.%s = %d, points say %d" % (s, rep["totals"][s], n))
    kf = rep["environment"]["kernel_features"]
    uring_param = "/sys/module/fuse/parameters/enable_uring"
    if kf["fuse_over_io_uring"]["present"] != os.path.exists(uring_param):
        fail("kernel_features.fuse_over_io_uring.present disagrees with %s" % uring_param)
    if kf["rfuse"]["dev_rfuse"] != os.path.exists("/dev/rfuse"):
        fail("kernel_features.rfuse.dev_rfuse disagrees with /dev/rfuse")
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    if kf["fuse_passthrough"]["expected"] != ((major, minor) >= (6, 9)):
        fail("kernel_features.fuse_passthrough.expected wrong for %s" % os.uname().release)
    want_rc = 3 if counts["failed"] else 0
    if r.returncode != want_rc:
        fail("rc %d, want %d" % (r.returncode, want_rc))
    for p in rep["points"]:
        for pattern, status in expects:
            if fnmatch.fnmatch(p["id"], pattern) and p["status"] != status:
                fail("%s is %s (%s), want %s" % (p["id"], p["status"], p.get("reason"), status))
        if p["status"] == "ok":
            s = p["summary"]
            kind = p["config"]["workload"]["kind"]
            key = {"metadata": "works_per_sec", "macro": "ops_per_sec", "latency": "p50", "breakdown": "total"}.get(kind)
            if kind == "fio":
                key = next(k for k in s if k.endswith(".bandwidth"))
            if s[key]["n"] != len(p["repetitions"]) or s[key]["median"] <= 0:
                fail("%s: bad summary %s" % (p["id"], s[key]))
            if p["config"]["cpus"] != rep["environment"]["cpu"]["order"][:p["config"]["threads"]]:
                fail("%s: cpus %s do not follow the CPU order" % (p["id"], p["config"]["cpus"]))
            for r in p["repetitions"]:
                daemon = r["mount"].get("kind") == "daemon"
                if daemon != ("daemon_threads" in r):
                    fail("%s: daemon_threads must be there exactly for daemon mounts: %s" % (p["id"], r.get("mount")))
                # Through librfuse: what it served over, as it said at the unmount.
                via = {"rfuse": "rfuse", "uring": "uring", "fuse-passthrough": "fuse"}.get(p["config"]["transport"])
                if via:
                    lr = r["mount"].get("librfuse")
                    if not lr or lr["transport_used"] != via or lr["requests"]["total"] <= 0:
                        fail("%s: librfuse's statistics do not say it served over %s: %s" % (p["id"], via, lr))
                    if "command" in r["mount"] and not r["mount"]["env"].get("LD_PRELOAD", "").endswith("/librfuse.so"):
                        fail("%s: a program of its own without LD_PRELOAD=librfuse.so: %s" % (p["id"], r["mount"]))
                if daemon:
                    dt = r["daemon_threads"]
                    tids = {t["tid"] for t in dt["threads"]}
                    if not tids or r["mount"]["daemon_pid"] not in tids:
                        fail("%s: daemon_threads misses the daemon's main thread: %s" % (p["id"], dt))
                    # It served the run's requests: its threads were switched.
                    if kind == "fio" and sum(t["voluntary_switches"] + t["involuntary_switches"]
                                             for t in dt["threads"]) <= 0:
                        fail("%s: the daemon's threads never ran during a fio run: %s" % (p["id"], dt))
            if kind == "fio":
                for r in p["repetitions"]:
                    reads = "rw=randread" in r["job"] or "rw=read\n" in r["job"]
                    if reads != ("layout" in r):
                        fail("%s: a read job must lay out first (and only a read job): %s" % (p["id"], r.get("layout")))
                    if reads and not r["layout"]["create_only_first"]:
                        fail("%s: layout not done before the timed run" % p["id"])
                    if reads:
                        with open(os.path.join(b.out, r["layout"]["job_file"])) as f:
                            lj = f.read()
                        if "bs=1M\n" not in lj or "bs=4k" in lj or "rw=" not in lj:
                            fail("%s: the layout job does not write 1 MiB blocks: %s" % (p["id"], lj))
            if kind == "latency":
                check_latency_point(p)
            if kind == "breakdown":
                check_breakdown_point(p)
    b.check_clean(rep)
    if "--plot" in sys.argv:
        check_plots(b, rep)
    return rep


def check_latency_point(p):
    """Percentiles in order, as many samples as the profile asks for."""
    for r in p["repetitions"]:
        m = {k: v["value"] for k, v in r["metrics"].items()}
        if not 0 < m["min"] <= m["p50"] <= m["p90"] <= m["p99"] <= m["max"]:
            fail("%s: percentiles out of order: %s" % (p["id"], m))
        kept = len(r["raw"].get("samples_us", [])) if "samples_us_omitted" not in r["raw"] else m["samples"]
        if m["samples"] != p["config"]["workload"]["samples"] or kept != m["samples"]:
            fail("%s: %s samples, want %d" % (p["id"], m["samples"], p["config"]["workload"]["samples"]))
        if r["raw"]["cpus"] != p["config"]["cpus"]:
            fail("%s: measured on CPUs %s, not the point's %s" % (p["id"], r["raw"]["cpus"], p["config"]["cpus"]))
        if r["raw"]["threads"] != len(p["config"]["cpus"]):
            fail("%s: %s measuring threads for %d CPUs" % (p["id"], r["raw"]["threads"], len(p["config"]["cpus"])))


def check_breakdown_point(p):
    """FUSE: every stage traced, none negative, and the stages add up to no
    more than the syscall (means: the stages partition each call)."""
    for r in p["repetitions"]:
        raw, m = r["raw"], r["metrics"]
        stages = raw["stages"]
        if [st["name"] for st in stages] != [st["name"] for st in p["config"]["workload"]["stages"]]:
            fail("%s: stages %s" % (p["id"], [st["name"] for st in stages]))
        if p["config"]["transport"] == "fuse":
            for st in stages:
                if not st["present"] or st["median_us"] < 0 or st["mean_us"] < 0:
                    fail("%s: stage %s: %s" % (p["id"], st["name"], st))
                if m["stage." + st["name"]]["value"] != st["median_us"]:
                    fail("%s: metric and raw disagree on %s" % (p["id"], st["name"]))
            total = m["mean_total"]["value"]
            mean_sum = sum(st["mean_us"] for st in stages)
            if not 0 < mean_sum <= total * (1 + 1e-9) + 1e-6:
                fail("%s: stage means add up to %.3f us, the syscall takes %.3f us" % (p["id"], mean_sum, total))
            if raw["calls_used"] < p["config"]["workload"]["calls"] * 0.9:
                fail("%s: only %d of %d calls usable" % (p["id"], raw["calls_used"], p["config"]["workload"]["calls"]))
        for st in stages:
            if not st["present"] and not st.get("reason"):
                fail("%s: stage %s missing without a reason" % (p["id"], st["name"]))


def check_crash(b, spec):
    r = subprocess.run(b.args(spec, ["--inject-daemon-kill-ms", "300"]), capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    rep = b.report()
    if r.returncode != 3:
        fail("rc %d, want 3 (some points failed)" % r.returncode)
    if rep["status"] != "complete":
        fail("the run stopped at the crash: %s" % rep["status"])
    daemon_points = [p for p in rep["points"] if p["config"]["transport"] == "fuse"]
    if not daemon_points:
        fail("spec has no fuse point")
    for p in daemon_points:
        if p["status"] != "failed" or "daemon" not in p["reason"] or "signal 9" not in p["reason"]:
            fail("%s: %s %r, want failed for the killed daemon" % (p["id"], p["status"], p.get("reason")))
        if "fault_injected" not in p["repetitions"][0]:
            fail("%s: no fault_injected" % p["id"])
    for p in rep["points"]:
        if p["config"]["transport"] == "native" and p["status"] != "ok":
            fail("%s after the crash: %s %s" % (p["id"], p["status"], p.get("reason")))
    b.check_clean(rep)


def check_interrupt(b, spec):
    proc = subprocess.Popen(b.args(spec, []), stderr=subprocess.PIPE, text=True)
    # Wait until a daemon is up, then press Ctrl-C.
    deadline = time.time() + 60
    while time.time() < deadline and not any(m for m in mounts_under(b.scratch) if "/mnt-" in m):
        time.sleep(0.05)
    if time.time() >= deadline:
        proc.kill()
        fail("no daemon mount appeared")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    sys.stderr.write(err)
    if proc.returncode != 130:
        fail("rc %d, want 130" % proc.returncode)
    rep = b.report()
    if rep["status"] != "interrupted":
        fail("status %s, want interrupted" % rep["status"])
    if rep["totals"]["not_run"] == 0:
        fail("nothing left unrun: interrupt came too late to test anything")
    last = rep["points"][-1]
    if last["status"] != "failed" or "interrupted" not in last["reason"]:
        fail("interrupted point: %s %r" % (last["status"], last.get("reason")))
    b.check_clean(rep)


def check_mount_failure(b, spec):
    workloads = os.path.join(b.scratch, "workloads")
    shutil.copytree(os.path.join(b.source, "workloads"), workloads)
    fs_path = os.path.join(workloads, "filesystems.json")
    with open(fs_path) as f:
        fss = json.load(f)
    fss["filesystems"]["memfs"]["args"] = ["-o", "no_such_option=1"]
    with open(fs_path, "w") as f:
        json.dump(fss, f)
    r = subprocess.run([b.bench, "--workloads", workloads] + b.args(spec, [])[1:], capture_output=True, text=True)
    sys.stderr.write(r.stderr)
    if r.returncode != 3:
        fail("rc %d, want 3" % r.returncode)
    rep = b.report()
    for p in rep["points"]:
        if p["config"]["transport"] == "fuse":
            if p["status"] != "failed" or "before mounting" not in p["reason"]:
                fail("%s: %s %r, want a failed mount" % (p["id"], p["status"], p.get("reason")))
        elif p["status"] != "ok":
            fail("%s: %s %r after a failed mount" % (p["id"], p["status"], p.get("reason")))
    b.check_clean(rep)


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    mode, bench, source = sys.argv[1:4]
    b = Bench(bench, source)
    try:
        if mode == "cli":
            check_cli(b)
        else:
            spec = sys.argv[4]
            rest = [a for a in sys.argv[5:] if a != "--plot"]
            extra = rest[rest.index("--") + 1:] if "--" in rest else []
            rest = rest[:rest.index("--")] if "--" in rest else rest
            expects = []
            while rest:
                if rest[0] != "--expect" or len(rest) < 2:
                    fail("bad arguments %s" % rest)
                pattern, status = rest[1].rsplit("=", 1)
                expects.append((pattern, status))
                rest = rest[2:]
            if mode == "run":
                check_run(b, spec, expects, extra)
            elif mode == "crash":
                check_crash(b, spec)
            elif mode == "interrupt":
                check_interrupt(b, spec)
            elif mode == "mount-failure":
                check_mount_failure(b, spec)
            else:
                fail("unknown mode " + mode)
    finally:
        b.cleanup()
    print("ok")


if __name__ == "__main__":
    main()
