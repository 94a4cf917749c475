#!/usr/bin/python3
"""Draws the paper's figures from an rfuse-bench report and writes index.md.

  /usr/bin/python3 reports/plot/plot.py RUN_DIR

RUN_DIR holds report.json (reports/schema/report.schema.json). For each group
of the spec it draws <group>.png: one panel per workload; a group measured at
one thread count (Fig. 8) as bars, one bar per filesystem/transport; a group
measured at several (Fig. 10, 11) as lines over the thread count. Bars and
points are medians over the repetitions, error bars span min..max. The figure
is fio bandwidth (MiB/s) for fio workloads, works/s for the metadata ones and
flowops/s for the macro ones. Latency groups: one panel per operation, a bar
per transport at the median p50, whiskers to p90 and p99 (us, log scale).
Breakdown groups (Figs. 2/7): one stacked bar per transport, a segment per
stage (median, us); a black tick marks the median syscall latency and a
hatched segment what a transport cannot trace.
index.md starts with the paper's claims (claims.py) when the report has
points of the paper's figures, then gets a table per group with every point: status, median, stddev,
and the reason of every failed or skipped point; latency groups add their
percentiles, breakdown groups a table of stages.
"""
import json
import os
import sys

import matplotlib

import claims  # reports/plot/claims.py: the paper's claims, checked

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, out_dir, name, drawn, **savefig_args):
    """Writes <out_dir>/<name>.png when anything was drawn; returns its path or None."""
    fig.tight_layout()
    path = os.path.join(out_dir, "%s.png" % name)
    if drawn:
        fig.savefig(path, dpi=110, **savefig_args)
    plt.close(fig)
    return path if drawn else None


def headline(point):
    """(metric name, summary) that a figure shows for this point, or None."""
    summary = point.get("summary", {})
    kind = point["config"]["workload"]["kind"]
    if kind == "latency":
        key = "p50"
    elif kind == "breakdown":
        key = "total"
    elif kind == "metadata":
        key = "works_per_sec"
    elif kind == "macro":
        key = "ops_per_sec"
    else:
        keys = [k for k in summary if k.endswith(".bandwidth")]
        key = "read.bandwidth" if "read.bandwidth" in keys else (keys[0] if keys else None)
    if key is None or key not in summary:
        return None
    return key, summary[key]


def series_name(point, group_points):
    """transport, or fs/transport when the group has several filesystems;
    native says what it ran on (ext4, tmpfs)."""
    fss = {p["config"]["filesystem"] for p in group_points}
    c = point["config"]
    tr = c["transport"] if c["transport"] != "native" else "native (%s)" % c["backing"]
    return tr if len(fss) == 1 else "%s/%s" % (c["filesystem"], tr)


def ordered(values, order):
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


TRANSPORT_ORDER = ["native (ext4)", "native (tmpfs)", "fuse", "rfuse", "uring"]


def plot_group(name, points, out_dir):
    workloads = []
    for p in points:
        if p["config"]["workload"]["name"] not in workloads:
            workloads.append(p["config"]["workload"]["name"])
    threads = sorted({p["config"]["threads"] for p in points})
    series = []
    for p in points:
        s = series_name(p, points)
        if s not in series:
            series.append(s)
    series = ordered(series, TRANSPORT_ORDER)
    cols = min(len(workloads), 3)
    rows = (len(workloads) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    drawn = False
    for i, wl in enumerate(workloads):
        ax = axes[i // cols][i % cols]
        wl_points = [p for p in points if p["config"]["workload"]["name"] == wl]
        unit = ""
        for j, s in enumerate(series):
            mine = sorted((p for p in wl_points if series_name(p, points) == s and headline(p)),
                          key=lambda p: p["config"]["threads"])
            if not mine:
                if len(threads) == 1:  # keep the slot, say why it is empty
                    why = {p["status"] for p in wl_points if series_name(p, points) == s} or {"not run"}
                    ax.text(j, 0, " " + "/".join(sorted(why)), rotation=90, ha="center", va="bottom",
                            fontsize="small", color="gray")
                continue
            xs = [p["config"]["threads"] for p in mine]
            sums = [headline(p)[1] for p in mine]
            unit = sums[0]["unit"]
            med = [x["median"] for x in sums]
            err = [[m - x["min"] for m, x in zip(med, sums)], [x["max"] - m for m, x in zip(med, sums)]]
            if len(threads) == 1:
                ax.bar([j], med, yerr=err, capsize=3, label=s, color="C%d" % j)
            else:
                ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=s, color="C%d" % j)
            drawn = True
        ax.set_title(wl)
        ax.set_ylabel(unit)
        if len(threads) == 1:
            ax.set_xticks(range(len(series)))
            ax.set_xticklabels(series, rotation=30, ha="right")
            ax.set_xlabel("%d thread(s)" % threads[0])
        else:
            ax.set_xlabel("threads (one per CPU)")
            ax.set_xticks(threads)
            ax.legend(fontsize="small")
        ax.set_ylim(bottom=0)
    for k in range(len(workloads), rows * cols):
        axes[k // cols][k % cols].axis("off")
    # The group's own figure, not that of points it borrows (claims.BORROWED).
    own = [p for p in points if p["config"].get("group") == name] or points
    figure = own[0]["config"].get("figure", "")
    fig.suptitle("%s%s" % (name, " (paper Fig. %s)" % figure if figure else ""))
    return save_figure(fig, out_dir, name, drawn)


def group_kind(points):
    kinds = {p["config"]["workload"]["kind"] for p in points}
    return kinds.pop() if len(kinds) == 1 else None


def med(point, key):
    s = point.get("summary", {}).get(key)
    return s["median"] if s else None


def plot_latency(name, points, out_dir):
    """Bars at p50 with whiskers to p90 and p99, one panel per operation."""
    workloads = []
    for p in points:
        if p["config"]["workload"]["name"] not in workloads:
            workloads.append(p["config"]["workload"]["name"])
    series = ordered(list(dict.fromkeys(series_name(p, points) for p in points)), TRANSPORT_ORDER)
    cols = min(len(workloads), 3)
    rows = (len(workloads) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    drawn = False
    for i, wl in enumerate(workloads):
        ax = axes[i // cols][i % cols]
        for j, s in enumerate(series):
            mine = [p for p in points if p["config"]["workload"]["name"] == wl and series_name(p, points) == s]
            ok = [p for p in mine if p["status"] == "ok" and med(p, "p50") is not None]
            if not ok:
                why = "/".join(sorted({p["status"] for p in mine})) or "not run"
                ax.text(j, 0.02, " " + why, rotation=90, ha="center", va="bottom", fontsize="small", color="gray",
                        transform=ax.get_xaxis_transform())
                continue
            p = ok[0]
            p50, p90, p99 = med(p, "p50"), med(p, "p90"), med(p, "p99")
            ax.bar([j], [p50], color="C%d" % j, label=s)
            ax.errorbar([j], [p50], yerr=[[0], [p99 - p50]], color="black", capsize=4)
            ax.plot([j], [p90], marker="_", color="black", markersize=12)
            drawn = True
        ax.set_yscale("log")
        ax.set_title(wl)
        ax.set_ylabel("latency (us): p50, - p90, whisker p99")
        ax.set_xticks(range(len(series)))
        ax.set_xticklabels(series, rotation=30, ha="right")
    for k in range(len(workloads), rows * cols):
        axes[k // cols][k % cols].axis("off")
    figure = points[0]["config"].get("figure", "")
    fig.suptitle("%s: per-operation latency%s" % (name, " (%s)" % figure if figure and figure != "latency" else ""))
    return save_figure(fig, out_dir, name, drawn)


def breakdown_stages(point):
    """[(name, label, median us or None, reason)] of an ok breakdown point."""
    reps = [r for r in point.get("repetitions", []) if r.get("status") == "ok"]
    if not reps:
        return []
    out = []
    for st in reps[0]["raw"]["stages"]:
        out.append((st["name"], st["label"], med(point, "stage." + st["name"]), st.get("reason", "")))
    return out


def plot_breakdown(name, points, out_dir):
    """One stacked bar per transport: a segment per stage (median, us)."""
    series = ordered(list(dict.fromkeys(series_name(p, points) for p in points)), TRANSPORT_ORDER)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.8 * len(series)))
    drawn = False
    labelled = set()
    for j, s in enumerate(series):
        mine = [p for p in points if series_name(p, points) == s]
        ok = [p for p in mine if p["status"] == "ok" and breakdown_stages(p)]
        if not ok:
            why = "; ".join(sorted({"%s: %s" % (p["status"], p.get("reason", "")[:70]) for p in mine})) or "not run"
            ax.text(0, j, " " + why, va="center", fontsize="small", color="gray")
            continue
        stages = breakdown_stages(ok[0])
        total = med(ok[0], "total")
        # What the missing stages took together, drawn where they belong.
        gap = max(0.0, (total or 0) - sum(v for _, _, v, _ in stages if v is not None))
        left = 0.0
        for k, (st, label, v, _) in enumerate(stages):
            if v is None:
                if gap > 0:
                    ax.barh([j], [gap], left=left, color="white", edgecolor="gray", hatch="//",
                            label="not traced here" if "nt" not in labelled else None)
                    labelled.add("nt")
                    left += gap
                    gap = 0
                continue
            ax.barh([j], [v], left=left, color="C%d" % k, label=label if label not in labelled else None)
            labelled.add(label)
            left += v
        if total is not None:
            ax.plot([total, total], [j - 0.45, j + 0.45], color="black", linewidth=2,
                    label="median syscall latency" if "tot" not in labelled else None)
            labelled.add("tot")
        drawn = True
    ax.set_yticks(range(len(series)))
    ax.set_yticklabels(series)
    ax.set_xlabel("us (medians per stage)")
    ax.set_xlim(left=0)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    figure = points[0]["config"].get("figure", "")
    op = points[0]["config"]["workload"].get("op", "")
    fig.suptitle("%s: latency breakdown of one %s() on %s%s" % (
        name, op, points[0]["config"]["filesystem"], " (paper Fig. %s)" % figure if figure else ""))
    return save_figure(fig, out_dir, name, drawn, bbox_inches="tight")


def latency_table(points):
    lines = ["Per-operation latency (us; medians over the repetitions):", "",
             "| filesystem | transport | workload | p50 | p90 | p99 | p99.9 | mean | samples |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        if p["status"] != "ok":
            continue
        c = p["config"]
        vals = ["" if v is None else fmt(v) for v in (med(p, k) for k in ("p50", "p90", "p99", "p99_9", "mean"))]
        n = med(p, "samples")
        vals.append("" if n is None else "%d" % n)
        lines.append("| %s | %s | %s | %s |" % (c["filesystem"], c["transport"], c["workload"]["name"], " | ".join(vals)))
    return lines + [""]


def breakdown_table(points):
    ok = [p for p in points if p["status"] == "ok" and breakdown_stages(p)]
    if not ok:
        return []
    names = [series_name(p, points) for p in ok]
    lines = ["Latency breakdown (median us per stage over the traced calls; n/a: not traceable here):", "",
             "| stage | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    reasons = []
    for k, (st, label, _, _) in enumerate(breakdown_stages(ok[0])):
        cells = []
        for p in ok:
            entry = breakdown_stages(p)[k]
            if entry[2] is None:
                cells.append("n/a")
                reasons.append("- %s, %s: %s" % (series_name(p, points), st, entry[3]))
            else:
                cells.append(fmt(entry[2]))
        lines.append("| %s (%s) | %s |" % (st, label, " | ".join(cells)))
    lines.append("| **syscall total** | %s |" % " | ".join(fmt(med(p, "total")) for p in ok))
    lines.append("| requests per call | %s |" % " | ".join(fmt(med(p, "requests_per_call")) for p in ok))
    return lines + [""] + reasons + ([""] if reasons else [])


def fmt(v):
    return "%.4g" % v


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    with open(os.path.join(run_dir, "report.json")) as f:
        rep = json.load(f)
    groups = []
    for p in rep["points"]:
        if p["config"]["group"] not in groups:
            groups.append(p["config"]["group"])
    env = rep["environment"]
    t = rep["totals"]
    lines = [
        "# rfuse-bench run %s" % rep["run_id"],
        "",
        "- spec `%s`, profile `%s`, status **%s**" % (rep["command"]["spec"], rep["profile"]["name"], rep["status"]),
        "- points: %d ok, %d failed, %d skipped, %d not run (of %d)" % (
            t["ok"], t["failed"], t["skipped"], t["not_run"], t["points"]),
        "- machine: %s, %d CPUs (order %s), %.1f GiB, kernel %s, %s" % (
            env["cpu"]["model"], env["cpu"]["usable"], env["cpu"]["order"], env["memory_bytes"] / 2**30,
            env["kernel"]["release"], env["virtualization"]["kind"]),
        "- fio %s, libfuse %s, %s, git %s%s" % (
            env["tools"]["fio"], env["tools"]["libfuse"], env["tools"]["compiler"], env["git"]["commit"][:12],
            " (dirty)" if env["git"]["dirty"] else ""),
        "",
        "Figures are medians over the repetitions; ± is the sample standard deviation.",
        "",
    ]
    if claims.relevant(rep):
        lines += claims.markdown(rep)
    for g in groups:
        points = [p for p in rep["points"] if p["config"]["group"] == g]
        figures = {p["config"].get("figure") for p in points}
        borrowed = []
        if len(figures) == 1 and next(iter(figures)) in claims.BORROWED:
            borrowed = [p for p in claims.figure_points(rep["points"], next(iter(figures))) if p not in points]
            points += borrowed
            # Panels in the paper's order, whichever group measured them.
            order = claims.FIG8_SEQ + claims.FIG8_RAND
            points.sort(key=lambda p: order.index(p["config"]["workload"]["name"])
                        if p["config"]["workload"]["name"] in order else len(order))
        kind = group_kind(points)
        if kind == "latency":
            png = plot_latency(g, points, run_dir)
        elif kind == "breakdown":
            png = plot_breakdown(g, points, run_dir)
        else:
            png = plot_group(g, points, run_dir)
        lines.append("## %s" % g)
        lines.append("")
        if png:
            lines.append("![%s](%s)" % (g, os.path.basename(png)))
            lines.append("")
        if borrowed:
            lines.append("Also drawn here, measured once for both figures: %s at %d threads from `%s`." % (
                ", ".join(sorted({p["config"]["workload"]["name"] for p in borrowed})),
                borrowed[0]["config"]["threads"], borrowed[0]["config"]["group"]))
            lines.append("")
        lines.append("| filesystem | transport | workload | threads | status | metric | median | ± | reps |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for p in points:
            c = p["config"]
            h = headline(p)
            metric = median = sd = n = ""
            if h:
                metric = "%s (%s)" % (h[0], h[1]["unit"])
                median, sd, n = fmt(h[1]["median"]), fmt(h[1]["stddev"]), str(h[1]["n"])
            status = p["status"] if p["status"] == "ok" else "%s: %s" % (
                p["status"], p.get("reason", "").replace("|", "/").replace("\n", " ")[:160])
            lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s |" % (
                c["filesystem"], c["transport"], c["workload"]["name"], c["threads"], status, metric, median, sd, n))
        lines.append("")
        if kind == "latency":
            lines += latency_table(points)
        elif kind == "breakdown":
            lines += breakdown_table(points)
    with open(os.path.join(run_dir, "index.md"), "w") as f:
        f.write("\n".join(lines))
    print("plot.py: wrote %s" % os.path.join(run_dir, "index.md"))


if __name__ == "__main__":
    main()
