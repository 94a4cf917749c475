#!/usr/bin/python3
"""The RFUSE paper's claims (/work/shared/design/PAPER.md), checked against one report.

  /usr/bin/python3 reports/plot/claims.py REPORT.json   print the claims section
  /usr/bin/python3 reports/plot/claims.py index OUT     write OUT/index.md over the
                                                        environments OUT/*/report.json

plot.py puts markdown(report) into each run's index.md. Every claim gets a
verdict (reproduced, not reproduced, not measurable here), the numbers it rests
on and its rule; the thresholds are stated once, in RULES. After the claims,
uring_markdown() compares RFUSE with FUSE over io_uring at every point where
both have a value (ahead / behind / tie by the same EQUAL), or says why
nothing compares here.

A report is one environment (native or the VM rig). Every number of a claim
comes from the one report given: nothing here looks at another report, so no
ratio ever spans two environments. `index` lists each environment's folder and
repeats the claims of the one where RFUSE ran, evaluated on its report alone.
"""
import json
import os
import sys

# "about equal": the largest median is at most EQUAL above the smallest; "X
# higher / shorter than Y", "scales better": more than that (ratio > 1 + EQUAL).
EQUAL = 0.10
# "close to ext4": at least (1 - CLOSE) of the in-kernel filesystem's median;
# a ratio compared with the paper's: within CLOSE of it either way.
CLOSE = 0.20

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURABLE = "not measurable here"

RULES = (
    "Rules (every figure is the median over a point's repetitions; thresholds fixed in reports/plot/claims.py): "
    "**about equal** = the largest median is at most {eq:.0%} above the smallest; "
    "**higher** (throughput), **shorter** (a latency stage) and **scales better** = more than that, a ratio above "
    "{up:.2f}; **close to ext4** = at least {close_lo:.0%} of the in-kernel filesystem's median; "
    "**speed-up** = median at N threads / median at 1 thread, N = the most threads measured here "
    "(one thread per CPU, so N = this environment's CPU count where the spec scales to all CPUs; "
    "the paper went to 32 jobs in Fig. 10 and 40 cores in Fig. 11); **RFUSE scales better** = RFUSE's speed-up "
    "above {up:.2f} x FUSE's; a **ratio measured on the paper's machine** is reproduced when ours is within "
    "{close:.0%} of it either way, at the same thread count only. A claim whose points are missing, skipped or failed "
    "is **not measurable here**, with the reason. uring and fuse-passthrough figures are context, not claims; RFUSE vs "
    "FUSE over io_uring is compared point by point in the table after the claims."
).format(eq=EQUAL, up=1 + EQUAL, close_lo=1 - CLOSE, close=CLOSE)

# ops/s FUSE -> RFUSE and the ratio PAPER.md gives, on the paper's machine
# (StackFS, fxmark logs of the artifact).
PAPER_RATIOS = [
    ("MWUL", 1, 31.1e3, 38.7e3, 1.25),
    ("MWUL", 20, 92.2e3, 128.4e3, 1.39),
    ("MWUL", 40, 95.3e3, 99.6e3, 1.04),
    ("MWUM", 1, 24.9e3, 38.7e3, 1.55),
    ("MWUM", 40, 22.6e3, 30.5e3, 1.35),
]

FIG8_SEQ = ["fio-seqwrite-128k", "fio-seqread-128k"]
FIG8_RAND = ["fio-randwrite-4k", "fio-randread-4k"]
FIG10 = ["fio-seqwrite-128k", "fio-seqread-128k", "fio-randwrite-4k-fdatasync", "fio-randread-4k"]
FIG10_MOST = "fio-randread-4k"
FIG11_SCALING = ["MWCL", "MWCM", "MRDL", "MRDM", "MWUL", "MWUM"]
FIG11_PATHS = ["MRPL", "MRPM", "MRPH"]
FIG12 = ["fileserver", "webserver", "varmail"]
STAGES = [("queueing", "queueing (syscall entry -> request queued)"),
          ("wakeup", "wake-up (reply seen by kernel -> caller woken)")]
# The filesystem each figure ran on in the paper, preferred when a report has several.
PAPER_FS = {"2/7": "nullfs", "8": "stackfs", "10": "stackfs", "11": "stackfs", "12": "stackfs"}
CONTEXT_TRANSPORTS = ["uring", "fuse-passthrough"]
# Fig. 8 is Fig. 10's workloads at all CPUs: the suite measures those once, in
# Fig. 10's points, and Fig. 8 takes them from there; fio-randwrite-4k
# (Fig. 10 has its fdatasync variant) is Fig. 8's own.
BORROWED = {"8": ("10", ["fio-seqwrite-128k", "fio-seqread-128k", "fio-randread-4k"])}


def figure_points(points, figure):
    """A figure's points: its own, then those it borrows (BORROWED) from
    another figure at the own points' thread count (else that figure's
    largest), where it has none of the same filesystem, transport and
    workload."""
    def key(p):
        c = p["config"]
        return c["filesystem"], c["transport"], c["workload"]["name"]

    own = [p for p in points if p["config"].get("figure") == figure]
    if figure not in BORROWED:
        return own
    src, workloads = BORROWED[figure]
    theirs = [p for p in points if p["config"].get("figure") == src and p["config"]["workload"]["name"] in workloads]
    if not theirs:
        return own
    t = max(p["config"]["threads"] for p in (own or theirs))
    have = {key(p) for p in own}
    return own + [p for p in theirs if p["config"]["threads"] == t and key(p) not in have]


class Missing(Exception):
    """A point a claim needs is not there, or did not give its figure."""


def fmt(v):
    return "%.0f" % v if abs(v) >= 1000 else "%.4g" % v


def ratio(a, b):
    return a / b if b else float("inf")


class Environment:
    """The points of one report, looked up by (figure, transport, workload, threads)."""

    def __init__(self, report):
        self.report = report
        env = report.get("environment", {})
        self.kind = env.get("virtualization", {}).get("kind", "?")
        self.kernel = env.get("kernel", {}).get("release", "?")
        self.cpus = env.get("cpu", {}).get("usable")
        self.dev_rfuse = bool(env.get("devices", {}).get("dev_rfuse") or
                              env.get("kernel_features", {}).get("rfuse", {}).get("dev_rfuse"))
        self.points = report.get("points", [])

    def label(self):
        env = self.report.get("environment", {})
        where = {"native": "native", "vm": "VM rig (qemu)", "vm-guest": "native (itself a guest of another hypervisor)"}
        return "%s: kernel %s, %s, %s CPUs" % (where.get(self.kind, self.kind), self.kernel,
                                                 env.get("cpu", {}).get("model", "?"), self.cpus)

    def figure_points(self, figure):
        return figure_points(self.points, figure)

    def threads(self, figure):
        """Thread counts of a figure's points (any status), ascending."""
        return sorted({p["config"]["threads"] for p in self.figure_points(figure)})

    def find(self, figure, transport, workload, threads):
        mine = [p for p in self.figure_points(figure) if p["config"]["transport"] == transport and
                p["config"]["workload"]["name"] == workload and p["config"]["threads"] == threads]
        if not mine:
            return None
        preferred = [p for p in mine if p["config"]["filesystem"] == PAPER_FS.get(figure)]
        return (preferred or mine)[0]

    def name(self, transport, figure=None):
        if transport != "native":
            return {"fuse": "FUSE", "rfuse": "RFUSE"}.get(transport, transport)
        backs = {p["config"].get("backing") for p in self.figure_points(figure)
                 if p["config"]["transport"] == "native"} if figure else set()
        backs.discard(None)
        return "/".join(sorted(backs)) if backs else "in-kernel"

    def value(self, figure, transport, workload, threads, metric=None):
        """(median, unit) of a point's figure; Missing says why there is none."""
        p = self.find(figure, transport, workload, threads)
        what = "Fig. %s %s %s t%d" % (figure, self.name(transport, figure), workload, threads)
        if p is None:
            if transport == "rfuse" and not any(q["config"]["transport"] == "rfuse" for q in self.points):
                raise Missing("RFUSE does not run in this environment (%s; kernel %s)" % (
                    "no /dev/rfuse" if not self.dev_rfuse else "no RFUSE point in this report", self.kernel))
            raise Missing("%s: no such point in this report (filtered out or not in the spec)" % what)
        if p["status"] != "ok":
            raise Missing("%s %s: %s" % (what, p["status"], p.get("reason", "no reason given")))
        key = metric or headline_key(p)
        s = p.get("summary", {}).get(key) if key else None
        if s is None:
            why = stage_reason(p, key) if key and key.startswith("stage.") else ""
            raise Missing("%s has no %s%s" % (what, key or "figure", ": " + why if why else ""))
        return s["median"], s["unit"]


# Workload kinds whose figure is a time: lower is better.
LOWER_IS_BETTER = ("latency", "breakdown")


def headline_key(point):
    """The summary key a point is compared (and drawn) by: the workload's own
    fio direction, works/s for metadata, flowops/s for macro workloads, the
    median p50 of a latency workload, the median syscall total of a breakdown."""
    wl = point["config"]["workload"]
    kind = wl["kind"]
    summary = point.get("summary", {})
    if kind == "metadata":
        return "works_per_sec"
    if kind == "macro":
        return "ops_per_sec"
    if kind == "latency":
        return "p50"
    if kind == "breakdown":
        return "total"
    if kind == "fio":
        for d in ("read", "write"):
            if d in wl["name"] and "%s.bandwidth" % d in summary:
                return "%s.bandwidth" % d
        keys = sorted(k for k in summary if k.endswith(".bandwidth"))
        return keys[0] if keys else None
    return None


def stage_reason(point, key):
    for rep in point.get("repetitions", []):
        for st in rep.get("raw", {}).get("stages", []):
            if "stage." + st.get("name", "") == key and st.get("reason"):
                return st["reason"]
    return ""


def claim(figure, text, rule):
    return {"figure": figure, "claim": text, "rule": rule, "verdict": NOT_MEASURABLE, "numbers": "", "context": "",
            "reason": ""}


def not_measurable(c, why, numbers=""):
    c["verdict"] = NOT_MEASURABLE
    c["reason"] = str(why)
    c["numbers"] = (numbers + "; " if numbers else "") + "not measurable: " + str(why)
    return c


def context(env, figure, workload, threads, fuse=None, metric=None):
    """The other transports at the same point, as figures and ratios to FUSE."""
    out = []
    for tr in CONTEXT_TRANSPORTS:
        p = env.find(figure, tr, workload, threads)
        if p is None:
            continue
        try:
            v, unit = env.value(figure, tr, workload, threads, metric)
        except Missing:
            out.append("%s %s" % (tr, p["status"]))
            continue
        out.append("%s %s %s%s" % (tr, fmt(v), unit, " (%.2fx FUSE)" % ratio(v, fuse) if fuse else ""))
    return "; ".join(out)


def scaling_context(env, figure, workload, t1, tn):
    out = []
    for tr in CONTEXT_TRANSPORTS:
        if env.find(figure, tr, workload, t1) is None:
            continue
        try:
            a, _ = env.value(figure, tr, workload, t1)
            b, unit = env.value(figure, tr, workload, tn)
            out.append("%s %s -> %s %s (speed-up %.2fx)" % (tr, fmt(a), fmt(b), unit, ratio(b, a)))
        except Missing:
            bad = [env.find(figure, tr, workload, t) for t in (t1, tn)]
            out.append("%s %s" % (tr, "/".join(sorted({p["status"] if p else "not run" for p in bad} - {"ok"}))))
    return "; ".join(out)


def fig2_7(env):
    out = []
    for stage, label in STAGES:
        c = claim("2/7", "RFUSE's %s stage of creat() on NullFS is shorter than FUSE's" % label,
                  "FUSE/RFUSE stage median > %.2f" % (1 + EQUAL))
        key = "stage." + stage
        c["context"] = context(env, "2/7", "breakdown-creat", 1, metric=key)
        try:
            got = values(env, "2/7", ["fuse", "rfuse"], "breakdown-creat", [1], key)
        except Missing as e:
            out.append(not_measurable(c, e))
            continue
        (f, unit), (r, _) = got[("fuse", 1)], got[("rfuse", 1)]
        c["numbers"] = "FUSE %s %s, RFUSE %s %s: FUSE/RFUSE %.2fx" % (fmt(f), unit, fmt(r), unit, ratio(f, r))
        c["verdict"] = REPRODUCED if ratio(f, r) > 1 + EQUAL else NOT_REPRODUCED
        out.append(c)
    return out


def most_threads(env, figure):
    ts = env.threads(figure)
    return ts[-1] if ts else None


def values(env, figure, transports, workload, ts, metric=None):
    """{(transport, threads): (median, unit)}; Missing says why a point is
    missing (RFUSE's reason first) and lists the figures of the others."""
    out, missing = {}, []
    for t in ts:
        for tr in transports:
            try:
                out[(tr, t)] = env.value(figure, tr, workload, t, metric)
            except Missing as e:
                missing.append((tr != "rfuse", str(e)))
    if missing:
        measured = "; ".join("t%d %s" % (t, listing(env, figure, {tr: v for (tr, tt), v in out.items() if tt == t}))
                             for t in ts if any(tt == t for _, tt in out))
        raise Missing("%s%s" % (min(missing)[1], " (measured: %s)" % measured if measured else ""))
    return out


def listing(env, figure, vals):
    unit = next(iter(vals.values()))[1]
    return ", ".join("%s %s" % (env.name(tr, figure), fmt(v)) for tr, (v, _) in vals.items()) + " " + unit


def all_equal_claim(env, figure, text, workload, ts):
    c = claim(figure, text, "ext4, FUSE and RFUSE about equal (largest/smallest <= %.2f)%s" % (
        1 + EQUAL, " at 1 and at N threads" if len(ts) > 1 else ""))
    if not ts:
        return not_measurable(c, "no Fig. %s point in this report" % figure)
    c["context"] = "; ".join(filter(None, (context(env, figure, workload, t, vals_fuse(env, figure, workload, t))
                                           for t in ts)))
    try:
        got = values(env, figure, ["native", "fuse", "rfuse"], workload, ts)
    except Missing as e:
        return not_measurable(c, e)
    parts, worst = [], 0.0
    for t in ts:
        vals = {tr: v for (tr, tt), v in got.items() if tt == t}
        meds = [v for v, _ in vals.values()]
        spread = ratio(max(meds), min(meds))
        worst = max(worst, spread)
        parts.append("t%d: %s (largest/smallest %.2fx)" % (t, listing(env, figure, vals), spread))
    c["numbers"] = "; ".join(parts)
    c["verdict"] = REPRODUCED if worst <= 1 + EQUAL else NOT_REPRODUCED
    return c


def vals_fuse(env, figure, workload, t):
    try:
        return env.value(figure, "fuse", workload, t)[0]
    except Missing:
        return None


def better_and_close_claim(env, figure, text, workload, t):
    c = claim(figure, text, "RFUSE/FUSE > %.2f and RFUSE/ext4 >= %.2f" % (1 + EQUAL, 1 - CLOSE))
    if t is None:
        return not_measurable(c, "no Fig. %s point in this report" % figure)
    c["context"] = context(env, figure, workload, t, vals_fuse(env, figure, workload, t))
    try:
        got = values(env, figure, ["native", "fuse", "rfuse"], workload, [t])
    except Missing as e:
        return not_measurable(c, e)
    vals = {tr: v for (tr, _), v in got.items()}
    e4, f, r = vals["native"][0], vals["fuse"][0], vals["rfuse"][0]
    c["numbers"] = "t%d: %s; RFUSE/FUSE %.2fx, RFUSE/%s %.2fx" % (
        t, listing(env, figure, vals), ratio(r, f), env.name("native", figure), ratio(r, e4))
    ok = ratio(r, f) > 1 + EQUAL and ratio(r, e4) >= 1 - CLOSE
    c["verdict"] = REPRODUCED if ok else NOT_REPRODUCED
    return c


def fig8(env):
    t = most_threads(env, "8")
    out = []
    for wl in FIG8_SEQ:
        out.append(all_equal_claim(env, "8", "%s: ext4, FUSE and RFUSE about equal (page cache)" % wl, wl,
                                   [t] if t else []))
    for wl in FIG8_RAND:
        out.append(better_and_close_claim(env, "8", "%s: RFUSE higher than FUSE and close to ext4" % wl, wl, t))
    return out


def speedups(env, figure, workload, t1, tn):
    """{transport: (at 1, at N, unit)} of FUSE and RFUSE."""
    got = values(env, figure, ["fuse", "rfuse"], workload, [t1, tn])
    return {tr: (got[(tr, t1)][0], got[(tr, tn)][0], got[(tr, tn)][1]) for tr in ("fuse", "rfuse")}


def scaling_claim(env, figure, workload, text):
    """(claim, advantage or None): RFUSE's speed-up over FUSE's from 1 to N threads."""
    c = claim(figure, text, "RFUSE speed-up / FUSE speed-up > %.2f, 1 -> N threads" % (1 + EQUAL))
    ts = env.threads(figure)
    if not ts:
        return not_measurable(c, "no Fig. %s point in this report" % figure), None
    t1, tn = ts[0], ts[-1]
    if t1 != 1 or tn == 1:
        return not_measurable(c, "needs points at 1 thread and at more; this report has threads %s (%s CPUs here)" % (
            ts, env.cpus)), None
    c["context"] = scaling_context(env, figure, workload, t1, tn)
    try:
        s = speedups(env, figure, workload, t1, tn)
    except Missing as e:
        return not_measurable(c, e), None
    (fa, fb, unit), (ra, rb, _) = s["fuse"], s["rfuse"]
    sf, sr = ratio(fb, fa), ratio(rb, ra)
    adv = ratio(sr, sf)
    c["numbers"] = ("1 -> %d threads: FUSE %s -> %s (speed-up %.2fx), RFUSE %s -> %s (%.2fx) %s; "
                    "RFUSE/FUSE speed-up %.2fx; RFUSE/FUSE at %d threads %.2fx") % (
        tn, fmt(fa), fmt(fb), sf, fmt(ra), fmt(rb), sr, unit, adv, tn, ratio(rb, fb))
    c["verdict"] = REPRODUCED if adv > 1 + EQUAL else NOT_REPRODUCED
    return c, adv


def fig10(env):
    out, advs, why = [], {}, {}
    for wl in FIG10:
        c, adv = scaling_claim(env, "10", wl, "%s: RFUSE scales better than FUSE" % wl)
        out.append(c)
        if adv is None:
            why[wl] = c["reason"]
        else:
            advs[wl] = adv
    c = claim("10", "RFUSE's scaling gain over FUSE is largest on rand read (%s)" % FIG10_MOST,
              "the RFUSE/FUSE speed-up of %s is above %.2f and the largest of the workloads measured here" % (
                  FIG10_MOST, 1 + EQUAL))
    listed = ", ".join("%s %.2fx" % (wl, a) for wl, a in advs.items())
    if FIG10_MOST not in advs:
        out.append(not_measurable(c, "%s: %s" % (FIG10_MOST, why.get(FIG10_MOST, "no point")), listed))
    elif len(advs) < 2:
        out.append(not_measurable(c, "no other workload to compare with (%s)" % "; ".join(
            "%s: %s" % kv for kv in why.items()), listed))
    else:
        c["numbers"] = "RFUSE/FUSE speed-up: " + listed
        best = max(advs, key=advs.get)
        c["verdict"] = REPRODUCED if best == FIG10_MOST and advs[best] > 1 + EQUAL else NOT_REPRODUCED
        if len(advs) < len(FIG10):
            c["numbers"] += " (not measurable: %s)" % ", ".join(wl for wl in FIG10 if wl not in advs)
        out.append(c)
    return out


def fig11(env):
    out = []
    for wl in FIG11_SCALING:
        out.append(scaling_claim(env, "11", wl, "%s: RFUSE scales better than FUSE" % wl)[0])
    ts = env.threads("11")
    for wl in FIG11_PATHS:
        out.append(all_equal_claim(env, "11", "%s (path lookup, dcache): ext4, FUSE and RFUSE about equal" % wl,
                                   wl, sorted({ts[0], ts[-1]}) if ts else []))
    return out


def paper_ratios(env):
    out = []
    ts = env.threads("11")
    for wl, t, f_paper, r_paper, theirs in PAPER_RATIOS:
        c = claim("11", "%s at %d core%s: RFUSE/FUSE %.2fx on the paper's machine (%.1fK -> %.1fK ops/s)" % (
            wl, t, "s" if t > 1 else "", theirs, f_paper / 1e3, r_paper / 1e3),
            "our RFUSE/FUSE within %.0f%% of %.2f, at %d thread%s" % (CLOSE * 100, theirs, t, "s" if t > 1 else ""))
        if t not in ts:
            most = ts[-1] if ts else 0
            why = ("this environment has %s CPUs (Fig. 11 measured here up to %d threads)" % (env.cpus, most)
                   if t > most else "no Fig. 11 point at %d threads in this report" % t)
            out.append(not_measurable(c, why))
            continue
        c["context"] = context(env, "11", wl, t, vals_fuse(env, "11", wl, t))
        try:
            got = values(env, "11", ["fuse", "rfuse"], wl, [t])
        except Missing as e:
            out.append(not_measurable(c, e))
            continue
        (f, unit), (r, _) = got[("fuse", t)], got[("rfuse", t)]
        ours = ratio(r, f)
        c["numbers"] = "ours: FUSE %s, RFUSE %s %s: %.2fx (ours/paper %.2f)" % (fmt(f), fmt(r), unit, ours,
                                                                               ours / theirs)
        c["verdict"] = REPRODUCED if abs(ours / theirs - 1) <= CLOSE else NOT_REPRODUCED
        out.append(c)
    return out


def fig12(env):
    t = most_threads(env, "12")
    return [better_and_close_claim(env, "12", "%s: RFUSE higher than FUSE and close to ext4" % wl, wl, t)
            for wl in FIG12]


def evaluate(report):
    """Every claim, evaluated on this one report."""
    env = Environment(report)
    return fig2_7(env) + fig8(env) + fig10(env) + fig11(env) + paper_ratios(env) + fig12(env)


# RFUSE vs FUSE over io_uring, point by point: not a claim of the paper but
# the question a user of either has. Verdicts by the "about equal" rule (EQUAL).
AHEAD, BEHIND, TIE = "ahead", "behind", "tie"


def versus(oriented):
    """ahead / behind / tie of a ratio oriented so that > 1 means RFUSE better:
    tie while the better of the two is at most EQUAL above the other."""
    if oriented > 1 + EQUAL:
        return AHEAD
    if ratio(1, oriented) > 1 + EQUAL:
        return BEHIND
    return TIE


def point_value(point):
    """(summary key, median, unit) of an ok point's headline figure, or None."""
    if point["status"] != "ok":
        return None
    key = headline_key(point)
    s = point.get("summary", {}).get(key) if key else None
    return (key, s["median"], s["unit"]) if s else None


def pair_key(point):
    """What RFUSE's and uring's points of one comparison share."""
    c = point["config"]
    return c.get("figure", ""), c["group"], c["filesystem"], c["workload"]["name"], c["threads"]


def uring_rows(report):
    """[row] for every point (figure, group, filesystem, workload, threads)
    where both rfuse and uring have a value, in the report's order; each row
    has the two values, the ratio oriented so that > 1 means RFUSE better
    (uring/RFUSE for a latency, RFUSE/uring otherwise) and the verdict."""
    uring = {pair_key(p): p for p in report.get("points", []) if p["config"]["transport"] == "uring"}
    rows = []
    for p in report.get("points", []):
        q = uring.get(pair_key(p))
        if p["config"]["transport"] != "rfuse" or q is None:
            continue
        a, b = point_value(p), point_value(q)
        if a is None or b is None or a[0] != b[0]:
            continue
        lower = p["config"]["workload"]["kind"] in LOWER_IS_BETTER
        oriented = 1.0 if a[1] == b[1] else ratio(b[1], a[1]) if lower else ratio(a[1], b[1])
        c = p["config"]
        rows.append({"figure": c.get("figure") or c["group"], "workload": c["workload"]["name"],
                     "filesystem": c["filesystem"], "threads": c["threads"], "metric": a[0], "unit": a[2],
                     "rfuse": a[1], "uring": b[1], "lower_is_better": lower, "ratio": oriented,
                     "verdict": versus(oriented)})
    return rows


def uring_missing(report):
    """Why points have no RFUSE-vs-uring comparison: {transport: {why: count}}
    over the points where one of the two has a value and the other none."""
    pts = {(p["config"]["transport"], pair_key(p)): p for p in report.get("points", [])}
    out = {"uring": {}, "rfuse": {}}
    for (tr, k), p in pts.items():
        other = "uring" if tr == "rfuse" else "rfuse" if tr == "uring" else None
        if other is None or point_value(p) is None:
            continue
        q = pts.get((other, k))
        if q is not None and point_value(q) is not None:
            continue
        why = "no %s point" % other if q is None else status_why(q)
        out[other][why] = out[other].get(why, 0) + 1
    return out


def uring_markdown(report, heading="## RFUSE vs FUSE over io_uring"):
    """index.md's section: every point where both RFUSE and uring have a
    value, the verdicts counted, or why nothing can be compared here."""
    env = Environment(report)
    lines = [heading, ""]
    rows = uring_rows(report)
    if not rows:
        return lines + [uring_not_measurable(report, env), ""]
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in (AHEAD, BEHIND, TIE)}
    lines += ["%d ahead, %d behind, %d tie (RFUSE against FUSE over io_uring, at the %d points where both have a "
              "value; environment: %s)." % (counts[AHEAD], counts[BEHIND], counts[TIE], len(rows), env.label()), "",
              "RFUSE/uring is oriented so that above 1 means RFUSE better: RFUSE's median / uring's for throughput "
              "(MiB/s, works/s, flowops/s), uring's / RFUSE's for a latency (us). **ahead** = above %.2f, "
              "**behind** = uring better by more than %.0f%% (below %.3f), **tie** otherwise: the paper claims' "
              "\"about equal\" rule (reports/plot/claims.py EQUAL)." % (1 + EQUAL, EQUAL * 100, 1 / (1 + EQUAL)), "",
              "| Fig. | workload | filesystem | threads | metric | RFUSE | uring | unit | RFUSE/uring | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %d | %s%s | %s | %s | %s | %.2fx | %s |" % (
            cell(r["figure"]), cell(r["workload"]), cell(r["filesystem"]), r["threads"], cell(r["metric"]),
            " (lower is better)" if r["lower_is_better"] else "", fmt(r["rfuse"]), fmt(r["uring"]), cell(r["unit"]),
            r["ratio"], r["verdict"] if r["verdict"] == TIE else "**%s**" % r["verdict"]))
    lines.append("")
    missing = uring_missing(report)
    for tr, has, lacks in (("uring", "RFUSE", "uring"), ("rfuse", "uring", "RFUSE")):
        n = sum(missing[tr].values())
        if n:
            lines.append("Not compared: %d point%s where %s has a value and %s none (%s)." % (
                n, "s" if n > 1 else "", has, lacks, why_list(missing[tr])))
    return lines + ([""] if any(missing.values()) else [])


def status_why(point):
    """'skipped: <reason>' of a point without a value."""
    return "%s%s" % (point["status"], ": " + point["reason"] if point.get("reason") else "")


def why_list(whys):
    return "; ".join("%s%s" % (cell(w), " (%d points)" % n if n > 1 else "") for w, n in sorted(whys.items()))


def uring_not_measurable(report, env):
    """The one sentence that says why RFUSE and uring cannot be compared here."""
    points = report.get("points", [])
    feats = report.get("environment", {}).get("kernel_features", {}).get("fuse_over_io_uring", {})
    kernel = "kernel %s%s" % (env.kernel,
                              ", enable_uring %s" % feats["enable_uring"] if "enable_uring" in feats else "")
    if not ran_rfuse(report):
        why = "RFUSE does not run here (%s; %s)" % ("no /dev/rfuse" if not env.dev_rfuse else "no ok RFUSE point",
                                                   kernel)
    elif not any(p["config"]["transport"] == "uring" for p in points):
        why = "the report has no uring point (not in the spec, or filtered out; %s)" % kernel
    else:
        whys = {}
        for p in points:
            if p["config"]["transport"] == "uring" and point_value(p) is None:
                whys[status_why(p)] = whys.get(status_why(p), 0) + 1
        if any(point_value(p) for p in points if p["config"]["transport"] == "uring"):
            why = "no point has a value for both (uring: %s)" % (why_list(whys) or "no value where RFUSE has one")
        else:
            why = "FUSE over io_uring has no value at any point (%s; %s; it needs Linux 6.14+ with the fuse module's " \
                  "enable_uring on)" % (why_list(whys), kernel)
    return "RFUSE vs FUSE over io_uring is not measurable in this environment: %s." % why


def relevant(report):
    """Whether the report measured any of the paper's figures."""
    return any(p["config"].get("figure") in PAPER_FS for p in report.get("points", []))


def cell(text):
    return str(text).replace("|", "/").replace("\n", " ")


def table(claims):
    counts = {v: sum(1 for c in claims if c["verdict"] == v) for v in (REPRODUCED, NOT_REPRODUCED, NOT_MEASURABLE)}
    lines = ["%d reproduced, %d not reproduced, %d not measurable here (of %d claims)." % (
        counts[REPRODUCED], counts[NOT_REPRODUCED], counts[NOT_MEASURABLE], len(claims)), "",
        "| Fig. | claim | verdict | numbers (medians) | rule | context (not a claim) |",
        "|---|---|---|---|---|---|"]
    for c in claims:
        verdict = c["verdict"] if c["verdict"] == NOT_MEASURABLE else "**%s**" % c["verdict"]
        lines.append("| %s | %s | %s | %s | %s | %s |" % tuple(cell(x) for x in (
            c["figure"], c["claim"], verdict, c["numbers"], c["rule"], c["context"])))
    return lines + [""]


def markdown(report, heading="## Paper claims (PAPER.md)", uring_heading="## RFUSE vs FUSE over io_uring"):
    """The claims section of a run's index.md, then RFUSE vs uring."""
    env = Environment(report)
    lines = [heading, "",
             "Environment: %s. Every number below comes from this report alone (one environment)." % env.label(), ""]
    if not ran_rfuse(report):
        lines += ["RFUSE did not run in this environment, so no claim is measurable here. Where this machine "
                  "cannot load rfuse.ko, `./run.sh full-suite` measures the whole comparison in the VM rig as a "
                  "separate run (`../vm/` beside this folder; `../index.md` lists its claims).", ""]
    return lines + [RULES, ""] + table(evaluate(report)) + uring_markdown(report, uring_heading)


def load(path):
    with open(path) as f:
        return json.load(f)


def environments(out_dir):
    """[(folder name, report or None)]: vm first, native second, any other after."""
    subs = sorted(d for d in os.listdir(out_dir) if os.path.isdir(os.path.join(out_dir, d)))
    subs.sort(key=lambda d: {"vm": 0, "native": 1}.get(d, 2))
    out = []
    for d in subs:
        path = os.path.join(out_dir, d, "report.json")
        if os.path.exists(path):
            out.append((d, load(path)))
        elif d in ("vm", "native"):
            out.append((d, None))
    return out


def ran_rfuse(report):
    return any(p["config"]["transport"] == "rfuse" and p["status"] == "ok" for p in report["points"])


def write_index(out_dir):
    """OUT/index.md over the environments of one full-suite run."""
    envs = environments(out_dir)
    lines = ["# RFUSE evaluation suite: %s" % os.path.basename(os.path.abspath(out_dir)), "",
             "Each environment below is a run of its own, with its own report.json, figures and index.md. "
             "Points from different environments never share a chart or a ratio. Where this machine cannot load "
             "rfuse.ko, `vm/` holds the whole suite run inside the VM rig (qemu, the rig's Debian kernel, rfuse.ko "
             "loaded; ext4 and FUSE measured there too) and `native/` every point but RFUSE's, run on this machine.",
             "",
             "| folder | environment | transports that ran (ok points) | points ok / failed / skipped | report |",
             "|---|---|---|---|---|"]
    for d, rep in envs:
        if rep is None:
            lines.append("| `%s/` | - | - | - | no report.json: this part did not run or did not finish "
                         "(see run.sh's output) |" % d)
            continue
        env = Environment(rep)
        order = ["native", "fuse", "rfuse", "uring", "fuse-passthrough"]
        trs = sorted({p["config"]["transport"] for p in rep["points"] if p["status"] == "ok"},
                     key=lambda t: (order.index(t) if t in order else len(order), t))
        t = rep["totals"]
        lines.append("| `%s/` | %s | %s | %d / %d / %d | [%s/index.md](%s/index.md), profile %s, status %s |" % (
            d, cell(env.label()), ", ".join(trs) or "none", t["ok"], t["failed"], t["skipped"], d, d,
            rep["profile"]["name"], rep["status"]))
    lines.append("")
    with_rfuse = [(d, r) for d, r in envs if r is not None and ran_rfuse(r)]
    if with_rfuse:
        d, rep = with_rfuse[0]
        lines += markdown(rep, "## Paper claims, from `%s/` (the environment where RFUSE ran)" % d,
                          "## RFUSE vs FUSE over io_uring, from `%s/`" % d)
        lines += ["The other environments' index.md list the same claims on their own points; there RFUSE does "
                  "not run, so they are not measurable.", ""]
    else:
        lines += ["## Paper claims", "",
                  "No environment ran RFUSE (no ok rfuse point): every claim compares RFUSE, so none is measurable. "
                  "Each environment's index.md says why, point by point.", ""]
    path = os.path.join(out_dir, "index.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def main(argv):
    if len(argv) == 3 and argv[1] == "index":
        print("claims.py: wrote %s" % write_index(argv[2]))
    elif len(argv) == 2:
        print("\n".join(markdown(load(argv[1]))))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
