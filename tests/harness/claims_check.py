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
    print("claims_check: ok (%d claims)" % len(vm_cs))


if __name__ == "__main__":
    main()
