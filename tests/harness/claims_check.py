#!/usr/bin/python3
"""Checks reports/plot/claims.py on two synthetic reports of one suite run:
data/claims-vm.json (the VM rig, RFUSE loaded; points chosen so that some
claims hold, some do not and some cannot be measured) and
data/claims-native.json (this machine: ext4, FUSE, uring, passthrough; no
RFUSE). Both validate against the report schema.

  claims_check.py SOURCE_DIR DATA_DIR
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import jsonschema


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


SOURCE, DATA = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SOURCE, "reports", "plot"))
import claims  # noqa: E402

R, N, M = claims.REPRODUCED, claims.NOT_REPRODUCED, claims.NOT_MEASURABLE


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def by_claim(cs):
    out = {c["claim"]: c for c in cs}
    check(len(out) == len(cs), "two claims share a text")
    return out


def find(cs, prefix):
    hits = [c for c in cs.values() if c["claim"].startswith(prefix)]
    check(len(hits) == 1, "expected one claim starting %r, got %d" % (prefix, len(hits)))
    return hits[0]


def expect(cs, prefix, verdict, *needles):
    c = find(cs, prefix)
    check(c["verdict"] == verdict, "%s: verdict %r, expected %r (numbers: %s)" % (
        prefix, c["verdict"], verdict, c["numbers"]))
    for n in needles:
        check(n in c["numbers"], "%s: %r not in its numbers: %s" % (prefix, n, c["numbers"]))
    check(c["rule"], "%s has no rule" % prefix)
    return c


def schema_valid():
    with open(os.path.join(SOURCE, "reports", "schema", "report.schema.json")) as f:
        schema = json.load(f)
    for name in ("claims-vm.json", "claims-native.json"):
        errs = list(jsonschema.Draft202012Validator(schema).iter_errors(load(name)))
        check(not errs, "%s does not validate: %s" % (name, errs[0].message if errs else ""))


def vm_verdicts(vm):
    cs = by_claim(claims.evaluate(vm))
    # Figs. 2/7: queueing 6.5 -> 2 us is shorter; wake-up 9 -> 8.5 us is within 10%.
    expect(cs, "RFUSE's queueing", R, "FUSE 6.5 us", "RFUSE 2 us", "3.25x")
    expect(cs, "RFUSE's wake-up", N, "1.06x")
    # Fig. 8
    expect(cs, "fio-seqwrite-128k: ext4, FUSE and RFUSE about equal", R, "ext4 1000", "1.03x")
    expect(cs, "fio-seqread-128k: ext4, FUSE and RFUSE about equal", N, "1.33x")
    expect(cs, "fio-randwrite-4k: RFUSE higher", R, "RFUSE/FUSE 1.50x", "RFUSE/ext4 0.90x")
    c = expect(cs, "fio-randread-4k: RFUSE higher", M, "failed", "daemon crash", "ext4 300", "FUSE 100")
    check("skipped" not in c["numbers"], "the failed point is described as something else")
    # Fig. 10 (1 -> 2 threads)
    expect(cs, "fio-randread-4k: RFUSE scales better", R, "1 -> 2 threads", "RFUSE/FUSE speed-up 1.27x")
    expect(cs, "fio-seqread-128k: RFUSE scales better", N, "1.03x")
    expect(cs, "fio-seqwrite-128k: RFUSE scales better", M, "no such point")
    expect(cs, "RFUSE's scaling gain over FUSE is largest on rand read", R, "fio-randread-4k 1.27x")
    # Fig. 11
    expect(cs, "MWCL: RFUSE scales better", R, "1.27x")
    expect(cs, "MWUL: RFUSE scales better", N, "0.96x")
    expect(cs, "MWUM: RFUSE scales better", N)
    expect(cs, "MRDL: RFUSE scales better", M, "no such point")
    expect(cs, "MRPL (path lookup", R, "t1: ext4 500", "t2: ext4 900")
    expect(cs, "MRPH (path lookup", M)
    # The paper's own MWUL/MWUM ratios: only 1 core is measurable on 2 CPUs.
    expect(cs, "MWUL at 1 core", R, "1.25x", "ours/paper 1.00")
    expect(cs, "MWUM at 1 core", N, "1.00x", "ours/paper 0.65")
    for prefix in ("MWUL at 20 cores", "MWUL at 40 cores", "MWUM at 40 cores"):
        expect(cs, prefix, M, "2 CPUs")
    # Fig. 12
    expect(cs, "fileserver", R, "RFUSE/FUSE 1.60x", "RFUSE/ext4 0.96x")
    expect(cs, "webserver", M, "failed", "timeout")
    expect(cs, "varmail", M)
    # uring was skipped in the VM: context, never a claim.
    check(all("uring" not in c["claim"] for c in cs.values()), "uring made a claim")
    check("uring skipped" in find(cs, "fio-seqwrite-128k: ext4")["context"], "uring's context is missing")
    return cs


def native_verdicts(native):
    cs = by_claim(claims.evaluate(native))
    for c in cs.values():
        check(c["verdict"] == M, "%s: %s without RFUSE here" % (c["claim"], c["verdict"]))
    c = find(cs, "fio-randread-4k: RFUSE higher")
    check("RFUSE does not run in this environment" in c["numbers"] and "no /dev/rfuse" in c["numbers"],
          "the reason does not say RFUSE cannot run here: " + c["numbers"])
    check("FUSE 4322" in c["numbers"], "what was measured here is not listed: " + c["numbers"])
    check("uring 4500 MiB/s (1.04x FUSE)" in c["context"] and "fuse-passthrough 5300" in c["context"],
          "uring/passthrough context missing: " + c["context"])
    c = find(cs, "MWUL at 1 core")
    check("RFUSE does not run in this environment" in c["numbers"], c["numbers"])
    return cs


# Figures present in only one of the two reports: none may show up in the other's claims.
VM_ONLY = ["RFUSE 2 us", "RFUSE 1250", "ext4 1000", "ext4 300", "ext4 500", "FUSE 6.5 us"]
NATIVE_ONLY = ["5432", "4322", "31234", "4.321", "35432", "4500", "5300"]


def no_mixing(vm_cs, native_cs):
    for c in vm_cs.values():
        for n in NATIVE_ONLY:
            check(n not in c["numbers"] + c["context"], "VM claim %r shows a native figure %s" % (c["claim"], n))
    for c in native_cs.values():
        for n in VM_ONLY:
            check(n not in c["numbers"] + c["context"], "native claim %r shows a VM figure %s" % (c["claim"], n))


def top_index(vm, native):
    with tempfile.TemporaryDirectory() as out:
        for name, rep in (("vm", vm), ("native", native)):
            os.makedirs(os.path.join(out, name))
            with open(os.path.join(out, name, "report.json"), "w") as f:
                json.dump(rep, f)
        subprocess.run([sys.executable, os.path.join(SOURCE, "reports", "plot", "claims.py"), "index", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "index.md")) as f:
            text = f.read()
    check("[vm/index.md](vm/index.md)" in text and "[native/index.md](native/index.md)" in text,
          "the top index.md does not link both environments")
    check("from `vm/` (the environment where RFUSE ran)" in text, "the claims are not said to come from vm/")
    check("VM rig (qemu)" in text and "6.18.44" in text, "the environments are not described")
    claims_part = text[text.index("## Paper claims"):]
    rows = [line for line in claims.table(claims.evaluate(vm)) if line.startswith("| ")]
    for row in rows:
        check(row in claims_part, "the top index misses the VM claim row %s" % row[:80])
    for n in NATIVE_ONLY:
        check(n not in claims_part, "a native figure (%s) is in the claims of the top index" % n)
    # Without any RFUSE point, the top index says no claim is measurable.
    with tempfile.TemporaryDirectory() as out:
        os.makedirs(os.path.join(out, "native"))
        with open(os.path.join(out, "native", "report.json"), "w") as f:
            json.dump(native, f)
        os.makedirs(os.path.join(out, "vm"))  # a VM part that left no report
        claims.write_index(out)
        with open(os.path.join(out, "index.md")) as f:
            text = f.read()
    check("No environment ran RFUSE" in text, "a top index without RFUSE claims something")
    check("`vm/` | - |" in text and "no report.json" in text, "a VM part without a report is not reported")


def one_cpu(vm):
    """On one CPU nothing scales: the scaling claims are not measurable, the
    others stand."""
    rep = copy.deepcopy(vm)
    rep["points"] = [p for p in rep["points"] if p["config"]["threads"] == 1 or p["config"]["figure"] in ("8", "12")]
    rep["environment"]["cpu"]["usable"] = 1
    cs = by_claim(claims.evaluate(rep))
    expect(cs, "MWCL: RFUSE scales better", M, "threads [1]", "1 CPUs")
    expect(cs, "fio-randread-4k: RFUSE scales better", M)
    expect(cs, "RFUSE's scaling gain", M)
    expect(cs, "MWUL at 1 core", R)
    expect(cs, "fio-randwrite-4k: RFUSE higher", R)
    # A skipped RFUSE point is not measurable, with the skip's reason.
    rep = copy.deepcopy(vm)
    for p in rep["points"]:
        if p["id"] == "fig12/stackfs/rfuse/fileserver/t2":
            p.update(status="skipped", reason="/dev/rfuse does not exist", repetitions=[])
            del p["summary"]
    expect(by_claim(claims.evaluate(rep)), "fileserver", M, "skipped", "/dev/rfuse does not exist")


def run_plot(rep):
    """plot.py over `rep` in a scratch run folder: (its index.md, the files it wrote)."""
    with tempfile.TemporaryDirectory() as run:
        with open(os.path.join(run, "report.json"), "w") as f:
            json.dump(rep, f)
        subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "reports", "plot", "plot.py"), run], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(run, "index.md")) as f:
            return f.read(), set(os.listdir(run))


def borrowed_fig8(vm):
    """Fig. 8 takes Fig. 10's points at all CPUs for the workloads they share
    (the suite measures those once): without Fig. 8's own seqread and randread
    points its claims rest on Fig. 10's t2 points; its own points win."""
    rep = copy.deepcopy(vm)
    gone = ("fio-seqread-128k", "fio-randread-4k")
    rep["points"] = [p for p in rep["points"]
                     if not (p["config"]["figure"] == "8" and p["config"]["workload"]["name"] in gone)]
    env = claims.Environment(rep)
    for wl in gone:
        for tr in ("native", "fuse", "rfuse"):
            p = env.find("8", tr, wl, 2)
            check(p is not None and p["config"]["group"] == "fig10" and p["config"]["threads"] == 2,
                  "Fig. 8 %s %s is not Fig. 10's t2 point" % (tr, wl))
    check(env.find("8", "fuse", "fio-seqread-128k", 1) is None, "Fig. 8 borrowed a 1-thread point")
    cs = by_claim(claims.evaluate(rep))
    c = find(cs, "fio-randread-4k: RFUSE higher")
    check(c["verdict"] != M, "Fig. 8 randread is not measured from Fig. 10's t2 points: %s" % c.get("reason"))
    rfuse_t2 = claims.fmt(env.value("10", "rfuse", "fio-randread-4k", 2)[0])
    check(rfuse_t2 in c["numbers"], "Fig. 8 randread does not use Fig. 10's RFUSE t2 %s: %s" % (rfuse_t2, c["numbers"]))
    # The own point wins over Fig. 10's: the fixture's failed RFUSE randread.
    check(find(by_claim(claims.evaluate(vm)), "fio-randread-4k: RFUSE higher")["verdict"] == M,
          "Fig. 8's own failed point was replaced by Fig. 10's")
    text, _ = run_plot(rep)
    check("Also drawn here, measured once for both figures: fio-randread-4k, fio-seqread-128k at 2 threads from "
          "`fig10`" in text, "index.md does not say which Fig. 8 bars come from fig10")


def plot_writes_claims(vm):
    """plot.py puts the claims into the run's own index.md."""
    text, files = run_plot(vm)
    check("fig8.png" in files, "plot.py drew no fig8.png")
    check("## Paper claims (PAPER.md)" in text, "plot.py's index.md has no claims")
    check(claims.RULES in text, "the rules are not stated in index.md")
    counts = [line for line in claims.table(claims.evaluate(vm)) if "reproduced," in line][0]
    check(counts in text, "the verdict counts differ: " + counts)


# RFUSE vs FUSE over io_uring on a kernel that has both (Debian's 7.3 in the VM
# rig): five_transports() turns the VM fixture into such a report. uring's
# value at each (figure, workload) is set from RFUSE's by the ratio oriented so
# that > 1 means RFUSE better (RFUSE/uring for throughput, uring/RFUSE for a
# latency), with the verdict the 10% rule gives it.
VERSUS = {
    ("2/7", "breakdown-creat"): (1.5, "ahead"),  # latency: uring's creat() takes 1.5x RFUSE's
    ("latency", "lat-stat"): (0.89, "behind"),  # latency: uring's p50 is 0.89x RFUSE's
    ("8", "fio-seqwrite-128k"): (1.09, "tie"),
    ("8", "fio-seqread-128k"): (1.11, "ahead"),
    ("8", "fio-randwrite-4k"): (0.89, "behind"),
    ("8", "fio-randread-4k"): (None, None),  # RFUSE failed: uring gets FUSE's value, not compared
    ("10", "fio-randread-4k"): (0.92, "tie"),  # within 10% the other way (1/0.92 = 1.087)
    ("10", "fio-seqread-128k"): (1.3, "ahead"),  # t1: uring skipped, not compared
    ("11", "MWCL"): (2.0, "ahead"),
    ("11", "MWUL"): (0.5, "behind"),
    ("11", "MWUM"): (1.0, "tie"),
    ("11", "MRPL"): (1.0, "tie"),
    ("12", "fileserver"): (1.2, "ahead"),
    ("12", "webserver"): (None, None),  # RFUSE failed (timeout)
}
URING_OFF = "FUSE over io_uring is off (/sys/module/fuse/parameters/enable_uring is N)"


def scaled(point, transport, factor):
    """A copy of `point` as `transport` measured it, every figure x factor."""
    q = copy.deepcopy(point)
    c = q["config"]
    c["transport"] = transport
    q["id"] = "%s/%s/%s/%s/t%d" % (c["group"], c["filesystem"], transport, c["workload"]["name"], c["threads"])
    for s in q.get("summary", {}).values():
        for k in ("median", "min", "max", "mean", "stddev"):
            s[k] *= factor
    return q


def latency_point(transport, p50):
    c = {"group": "latency", "figure": "latency", "filesystem": "nullfs", "transport": transport, "backing": "tmpfs",
         "workload": {"name": "lat-stat", "kind": "latency"}, "threads": 1, "cpus": [0], "repetitions": 1}
    summary = {k: {"median": p50 * f, "min": p50 * f, "max": p50 * f, "mean": p50 * f, "stddev": 0.0, "n": 1,
                   "unit": "us"} for k, f in (("p50", 1), ("p90", 1.5), ("p99", 3), ("p99_9", 5), ("mean", 1.2))}
    return {"id": "latency/nullfs/%s/lat-stat/t1" % transport, "config": c, "status": "ok", "summary": summary,
            "repetitions": []}


def five_transports(vm):
    """The VM fixture on a kernel with FUSE over io_uring: a uring point beside
    every RFUSE point (VERSUS; from FUSE's where RFUSE failed), Fig. 10's seq
    read at 1 thread skipped; fuse-passthrough beside every StackFS FUSE
    point; a latency group (lat-stat) of the four transports."""
    rep = copy.deepcopy(vm)
    rep["environment"]["kernel"]["release"] = "7.3.0-1-amd64"
    rep["environment"]["kernel_features"] = {
        "fuse_over_io_uring": {"present": True, "enable_uring": "Y"}, "fuse_passthrough": {"expected": True},
        "rfuse": {"dev_rfuse": True, "module_loaded": True, "parameters": {}},
        "tracepoints": {"fuse": True, "rfuse": True, "sched": True}}
    points = [p for p in rep["points"] if p["config"]["transport"] != "uring"]
    by = {(p["config"]["transport"], claims.pair_key(p)): p for p in points}
    out = []
    for p in points:
        out.append(p)
        c = p["config"]
        if c["transport"] == "fuse" and c["filesystem"] == "stackfs" and p["status"] == "ok":
            out.append(scaled(p, "fuse-passthrough", 1.25))
        if c["transport"] != "rfuse":
            continue
        target = VERSUS[(c["figure"], c["workload"]["name"])][0]
        if p["status"] != "ok":
            u = scaled(by[("fuse", claims.pair_key(p))], "uring", 1.0)
        else:
            lower = c["workload"]["kind"] in ("latency", "breakdown")
            u = scaled(p, "uring", target if lower else 1 / target)
        if (c["group"], c["workload"]["name"], c["threads"]) == ("fig10", "fio-seqread-128k", 1):
            u.update(status="skipped", reason=URING_OFF, repetitions=[])
            del u["summary"]
        out.append(u)
    rfuse_p50, target = 20.0, VERSUS[("latency", "lat-stat")][0]
    out += [latency_point("native", 2.0), latency_point("fuse", 30.0), latency_point("rfuse", rfuse_p50),
            latency_point("uring", rfuse_p50 * target)]
    rep["points"] = out
    return rep


def uring_section(text):
    """index.md's RFUSE vs FUSE over io_uring section."""
    check(text.count("## RFUSE vs FUSE over io_uring") == 1, "index.md has not one RFUSE vs io_uring section")
    part = text[text.index("## RFUSE vs FUSE over io_uring"):]
    nxt = part.find("\n## ", 3)
    return part if nxt < 0 else part[:nxt]


def uring_table(vm):
    """The table lists exactly the points where both RFUSE and uring have a
    value, each with the verdict of the 10% rule; one line counts them."""
    rep = five_transports(vm)
    ok = {}
    for p in rep["points"]:
        c = p["config"]
        if p["status"] == "ok" and c["transport"] in ("rfuse", "uring"):
            ok.setdefault((c["figure"], c["workload"]["name"], c["filesystem"], c["threads"]), set()).add(
                c["transport"])
    want = {k for k, trs in ok.items() if trs == {"rfuse", "uring"}}
    check(len(want) == 17, "the fixture has %d points with both, expected 17" % len(want))
    rows = claims.uring_rows(rep)
    got = [(r["figure"], r["workload"], r["filesystem"], r["threads"]) for r in rows]
    check(sorted(got) == sorted(want), "uring_rows lists %s, expected %s" % (sorted(set(got) ^ want), sorted(want)))
    for r in rows:
        target, verdict = VERSUS[(r["figure"], r["workload"])]
        check(abs(r["ratio"] - target) < 1e-9 and r["verdict"] == verdict,
              "%s %s t%d: ratio %.4f %s, expected %.2f %s" % (
                  r["figure"], r["workload"], r["threads"], r["ratio"], r["verdict"], target, verdict))
    text, _ = run_plot(rep)
    section = uring_section(text)
    lines = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| Fig.")]
    check(len(lines) == len(want), "index.md's table has %d rows, expected %d" % (len(lines), len(want)))
    for fig, wl, fs, t in want:
        hits = [line for line in lines if line.startswith("| %s | %s | %s | %d |" % (fig, wl, fs, t))]
        target, verdict = VERSUS[(fig, wl)]
        check(len(hits) == 1 and "| %.2fx |" % target in hits[0] and verdict in hits[0],
              "index.md's row of %s %s t%d: %s" % (fig, wl, t, hits))
    # The 10% rule at its edges.
    for fig, wl, verdict in (("8", "fio-seqwrite-128k", "| 1.09x | tie |"), ("8", "fio-seqread-128k",
                             "| 1.11x | **ahead** |"), ("8", "fio-randwrite-4k", "| 0.89x | **behind** |"),
                             ("10", "fio-randread-4k", "| 0.92x | tie |")):
        check(any(line.startswith("| %s | %s |" % (fig, wl)) and line.endswith(verdict) for line in lines),
              "%s %s is not %s" % (fig, wl, verdict))
    # ... symmetric, as "about equal" is: 0.905 means uring 10.5% better.
    check(claims.versus(1.09) == claims.TIE and claims.versus(1.11) == claims.AHEAD and
          claims.versus(0.89) == claims.BEHIND and claims.versus(0.92) == claims.TIE and
          claims.versus(0.905) == claims.BEHIND and claims.versus(1 / 1.09) == claims.TIE,
          "versus() misreads the 10% rule")
    n = {v: sum(1 for k in want if VERSUS[k[:2]][1] == v) for v in ("ahead", "behind", "tie")}
    check("%d ahead, %d behind, %d tie" % (n["ahead"], n["behind"], n["tie"]) in section,
          "the summary line does not count %s: %s" % (n, section[:300]))
    check("Not compared: 1 point where RFUSE has a value and uring none (skipped: %s)" % URING_OFF in section,
          "the skipped uring point is not named: " + section)
    check("where uring has a value and RFUSE none (failed: daemon crash" in section and "timeout" in section,
          "the failed RFUSE points are not named: " + section)
    check("not measurable" not in section, "a measurable comparison is called not measurable")
    check("kernel 7.3.0-1-amd64 offers: FUSE over io_uring yes (enable_uring Y)" in text,
          "index.md's header does not say what the kernel offers")
    return rep


def uring_orientation(rep):
    """> 1 means RFUSE better: for a latency uring's time over RFUSE's, for
    throughput RFUSE's over uring's."""
    rows = {(r["figure"], r["workload"], r["threads"]): r for r in claims.uring_rows(rep)}
    r = rows[("2/7", "breakdown-creat", 1)]
    check(r["lower_is_better"] and r["rfuse"] < r["uring"] and r["verdict"] == claims.AHEAD,
          "a shorter RFUSE creat() is not ahead: %s" % r)
    r = rows[("latency", "lat-stat", 1)]
    check(r["metric"] == "p50" and r["rfuse"] > r["uring"] and r["verdict"] == claims.BEHIND,
          "a longer RFUSE p50 is not behind: %s" % r)
    r = rows[("12", "fileserver", 2)]
    check(not r["lower_is_better"] and r["rfuse"] > r["uring"] and r["verdict"] == claims.AHEAD,
          "a higher RFUSE throughput is not ahead: %s" % r)
    r = rows[("11", "MWUL", 2)]
    check(r["rfuse"] < r["uring"] and r["verdict"] == claims.BEHIND, "a lower RFUSE throughput is not behind: %s" % r)


def uring_not_measurable(vm, native):
    """Without a uring value (Linux 6.1 in the VM) or without RFUSE, one
    sentence says the comparison is not measurable here, and why."""
    sentence = "RFUSE vs FUSE over io_uring is not measurable in this environment"
    text, _ = run_plot(vm)
    section = uring_section(text)
    check(section.count(sentence) == 1 and "enable_uring does not exist" in section and "6.1.0-56-amd64" in section,
          "the VM fixture's section does not say why uring cannot be compared: " + section)
    check("| Fig." not in section and "ahead" not in section, "a table without uring values: " + section)
    section = "\n".join(claims.uring_markdown(native))
    check(sentence + ": RFUSE does not run here" in section, "native: " + section)
    rep = copy.deepcopy(vm)
    rep["points"] = [p for p in rep["points"] if p["config"]["transport"] != "uring"]
    check("the report has no uring point" in "\n".join(claims.uring_markdown(rep)), "no uring point: not said")
    # The top index compares within vm/ only, never with native/'s uring.
    with tempfile.TemporaryDirectory() as out:
        for name, r in (("vm", vm), ("native", native)):
            os.makedirs(os.path.join(out, name))
            with open(os.path.join(out, name, "report.json"), "w") as f:
                json.dump(r, f)
        with open(claims.write_index(out)) as f:
            section = uring_section(f.read())
    check("## RFUSE vs FUSE over io_uring, from `vm/`" in section and sentence in section,
          "the top index's section: " + section)
    for n in NATIVE_ONLY:
        check(n not in section, "a native figure (%s) in the top index's RFUSE vs io_uring" % n)


def plot_five(vm, rep):
    """plot.py draws every transport in its own style, with the ratio rows
    (Figs. 8, 10, 12) or a log axis (Fig. 11), and labels what was skipped."""
    import matplotlib.colors
    import plot
    groups = {}
    for p in rep["points"]:
        groups.setdefault(p["config"]["group"], []).append(p)
    legend = {"native (ext4)", "fuse", "rfuse", "uring", "fuse-passthrough"}
    for g, workloads, mode in (("fig8", 4, "ratio"), ("fig10", 2, "ratio"), ("fig11", 4, "log"),
                               ("fig12", 2, "ratio")):
        fig, drawn = plot.draw_group(g, groups[g], ", kernel 7.3")
        shown = [a for a in fig.axes if a.axison]
        ratio_axes = [a for a in shown if a.get_ylabel() == "ratio to FUSE"]
        check(drawn and len(shown) == workloads * (2 if mode == "ratio" else 1) and
              len(ratio_axes) == (workloads if mode == "ratio" else 0),
              "%s: %d panels, %d ratio rows" % (g, len(shown), len(ratio_axes)))
        for a in ratio_axes:
            check(any(list(line.get_ydata()) == [1, 1] for line in a.get_lines()), "%s: no FUSE = 1.0 line" % g)
        if mode == "log":
            check(all(a.get_yscale() == "log" for a in shown), "%s: not on a log axis" % g)
        texts = {t.get_text(): t for t in fig.legends[0].get_texts()}
        check(legend <= set(texts), "%s: the legend lists %s" % (g, sorted(texts)))
        for h, t in zip(fig.legends[0].legend_handles if hasattr(fig.legends[0], "legend_handles")
                        else fig.legends[0].legendHandles, fig.legends[0].get_texts()):
            tr = {"native (ext4)": "native"}.get(t.get_text(), t.get_text())
            if tr in plot.STYLE:
                colour = h.get_facecolor() if hasattr(h, "get_facecolor") and g in ("fig8", "fig12") else h.get_color()
                check(matplotlib.colors.same_color(colour, plot.STYLE[tr]["color"]),
                      "%s: %s is not in its colour" % (g, tr))
        if g == "fig10":  # seq read: uring skipped at 1 thread only
            check("uring: t1 skipped" in [a.get_title(loc="right") for a in shown], "fig10: uring's skip not labelled")
        if g == "fig8":  # randwrite: RFUSE/FUSE 90/60, uring/FUSE 90/0.89/60
            heights = {round(b.get_height(), 3) for b in ratio_axes[2].patches}
            check({1.5, round(1.5 / 0.89, 3)} <= heights, "fig8 randwrite's ratio bars: %s" % heights)
        plot.plt.close(fig)
    # The VM fixture on 6.1: uring is skipped, and the figure says so.
    fig8 = [p for p in vm["points"] if p["config"]["group"] == "fig8"]
    fig, _ = plot.draw_group("fig8", fig8)
    check("uring (skipped)" in [t.get_text() for t in fig.legends[0].get_texts()], "fig8: uring not labelled skipped")
    check(sum(1 for a in fig.axes for t in a.texts if t.get_text().strip() == "skipped") == 4,
          "fig8: not every uring slot says skipped")
    plot.plt.close(fig)
    _, files = run_plot(rep)
    for png in ("fig8.png", "fig10.png", "fig11.png", "fig12.png", "fig2-7.png", "latency.png"):
        check(png in files, "plot.py drew no %s with five transports" % png)


def cpu_figures(five):
    """With CPU costs in the points (cpu.* metrics), plot.py draws a
    <group>-cpu.png per group by operations per CPU-second (latency groups:
    CPU us per operation) and index.md's rows carry them; a report without
    them (older ones) draws none and leaves the cells empty."""
    import plot
    rep = copy.deepcopy(five)
    per_tr = {"native": 10.0, "fuse": 40.0, "rfuse": 25.0, "uring": 30.0, "fuse-passthrough": 20.0}
    for p in rep["points"]:
        if "summary" not in p or p["config"]["workload"]["kind"] == "breakdown":
            continue
        us = per_tr[p["config"]["transport"]] * p["config"]["threads"]
        for key, v, unit in (("cpu.us_per_op", us, "us"), ("cpu.app_us_per_op", us / 2, "us"),
                             ("cpu.daemon_us_per_op", us / 4, "us"), ("cpu.other_us_per_op", us / 4, "us"),
                             ("cpu.ops_per_cpu_s", 1e6 / us, "ops/CPU-s")):
            p["summary"][key] = {"unit": unit, "n": 3, "median": v, "min": v, "max": v, "mean": v, "stddev": 0}
    text, files = run_plot(rep)
    for g in ("fig8", "fig10", "fig11", "fig12", "latency"):
        check(g + "-cpu.png" in files, "plot.py drew no %s-cpu.png" % g)
    check("fig2-7-cpu.png" not in files, "a breakdown group got a CPU figure")
    check("| stackfs | rfuse | fio-randwrite-4k | 2 | ok |" in text, "index.md lacks fig8's RFUSE row")
    row = [line for line in text.splitlines() if line.startswith("| stackfs | rfuse | fio-randwrite-4k | 2 | ok |")][0]
    check(row.endswith("| 50 (25 / 12.5 / 12.5) | 2e+04 |"), "fig8 RFUSE's CPU cells: " + row)
    fig8 = [p for p in rep["points"] if p["config"]["group"] == "fig8"]
    fig, drawn = plot.draw_group("fig8", fig8, key="cpu.ops_per_cpu_s")
    check(drawn, "fig8's CPU figure drew nothing")
    heights = {round(b.get_height()) for a in fig.axes for b in a.patches}
    check({round(1e6 / 80), round(1e6 / 50), round(1e6 / 60)} <= heights, "fig8's CPU bars: %s" % sorted(heights))
    plot.plt.close(fig)
    text, files = run_plot(five)
    check(not any(f.endswith("-cpu.png") for f in files), "CPU figures drawn for a report without CPU costs")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    schema_valid()
    vm, native = load("claims-vm.json"), load("claims-native.json")
    vm_cs = vm_verdicts(vm)
    native_cs = native_verdicts(native)
    no_mixing(vm_cs, native_cs)
    top_index(vm, native)
    one_cpu(vm)
    borrowed_fig8(vm)
    plot_writes_claims(vm)
    five = uring_table(vm)
    uring_orientation(five)
    uring_not_measurable(vm, native)
    plot_five(vm, five)
    cpu_figures(five)
    print("claims_check: ok (%d claims)" % len(vm_cs))


if __name__ == "__main__":
    main()
