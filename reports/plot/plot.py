#!/usr/bin/python3
"""Draws the paper's figures from an rfuse-bench report and writes index.md.

  /usr/bin/python3 reports/plot/plot.py RUN_DIR

RUN_DIR holds report.json (reports/schema/report.schema.json). For each group
of the spec it draws <group>.png: one panel per workload; a group measured at
one thread count (Fig. 8) as bars, one bar per filesystem/transport; a group
measured at several (Fig. 10, 11) as lines over the thread count. Bars and
points are medians over the repetitions, error bars span min..max. The figure
is fio bandwidth (MiB/s) for fio workloads, works/s for the metadata ones and
flowops/s for the macro ones.
index.md gets a table per group with every point: status, median, stddev,
and the reason of every failed or skipped point.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def headline(point):
    """(metric name, summary) that a figure shows for this point, or None."""
    summary = point.get("summary", {})
    kind = point["config"]["workload"]["kind"]
    if kind == "metadata":
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
    figure = points[0]["config"].get("figure", "")
    fig.suptitle("%s%s" % (name, " (paper Fig. %s)" % figure if figure else ""))
    fig.tight_layout()
    path = os.path.join(out_dir, "%s.png" % name)
    if drawn:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return path if drawn else None


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
    for g in groups:
        points = [p for p in rep["points"] if p["config"]["group"] == g]
        png = plot_group(g, points, run_dir)
        lines.append("## %s" % g)
        lines.append("")
        if png:
            lines.append("![%s](%s)" % (g, os.path.basename(png)))
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
    with open(os.path.join(run_dir, "index.md"), "w") as f:
        f.write("\n".join(lines))
    print("plot.py: wrote %s" % os.path.join(run_dir, "index.md"))


if __name__ == "__main__":
    main()
