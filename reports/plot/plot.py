#!/usr/bin/python3
"""Draws the paper's figures from an rfuse-bench report and writes index.md.

  /usr/bin/python3 reports/plot/plot.py RUN_DIR

RUN_DIR holds report.json (reports/schema/report.schema.json). For each group
of the spec it draws <group>.png: one panel per workload; a group measured at
one thread count (Fig. 8) as bars, one bar per filesystem/transport; a group
measured at several (Fig. 10, 11) as lines over the thread count. Bars and
points are medians over the repetitions, error bars span min..max. The figure
is fio bandwidth (MiB/s) for fio workloads, works/s for the metadata ones and
flowops/s for the macro ones. Each transport has one colour and marker in
every figure (STYLE) and each figure one legend; a transport without a value
says why (skipped, failed). Series that differ 10-100x stay readable by a row
of ratios to FUSE under each panel (Figs. 8, 10, 12) or a log y axis (Fig.
11): READABILITY says which and why. Titles name the kernel.
Latency groups: one panel per operation, a bar
per transport at the median p50, whiskers to p90 and p99 (us, log scale).
Breakdown groups (Figs. 2/7): one stacked bar per transport, a segment per
stage (median, us); a black tick marks the median syscall latency and a
hatched segment what a transport cannot trace.
index.md starts with what the kernel offers each transport, then the paper's
claims and the RFUSE vs FUSE over io_uring table (claims.py) when the report
has points of the paper's figures, then gets a table per group with every
point: status, median, stddev, and the reason of every failed or skipped
point; latency groups add their percentiles, breakdown groups a table of
stages.
"""
import json
import os
import sys

import matplotlib

import claims  # reports/plot/claims.py: the paper's claims, checked

matplotlib.use("Agg")
import matplotlib.lines  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def save_figure(fig, out_dir, name, drawn, tight=True, **savefig_args):
    """Writes <out_dir>/<name>.png when anything was drawn; returns its path or
    None. tight: let tight_layout place the axes (else the figure did)."""
    if tight:
        fig.tight_layout()
    path = os.path.join(out_dir, "%s.png" % name)
    if drawn:
        fig.savefig(path, dpi=110, **savefig_args)
    plt.close(fig)
    return path if drawn else None


def headline(point, key=None):
    """(metric name, summary) that a figure shows for this point, or None:
    the figure claims.py compares (claims.headline_key), or `key`'s."""
    key = key or claims.headline_key(point)
    summary = point.get("summary", {})
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


TRANSPORTS = ["native", "fuse", "rfuse", "uring", "fuse-passthrough"]


def series_of(points):
    """(series names, {series: its first point}): filesystem by filesystem,
    each in TRANSPORTS' order."""
    first = {}
    for p in points:
        first.setdefault(series_name(p, points), p)

    def key(s):
        c = first[s]["config"]
        return c["filesystem"], TRANSPORTS.index(c["transport"]) if c["transport"] in TRANSPORTS else 99, s
    return sorted(first, key=key), first

# One colour and marker per transport, the same in every figure (and in the
# latency bars): the in-kernel filesystem gray, FUSE blue, RFUSE red, FUSE over
# io_uring green, FUSE passthrough purple.
STYLE = {
    "native": {"color": "dimgray", "marker": "s"},
    "fuse": {"color": "tab:blue", "marker": "o"},
    "rfuse": {"color": "tab:red", "marker": "^"},
    "uring": {"color": "tab:green", "marker": "D"},
    "fuse-passthrough": {"color": "tab:purple", "marker": "v"},
}
# Where a group has several filesystems, each has its own line style / bar hatch.
FS_LINES = ["-", "--", ":", "-."]
FS_HATCHES = ["", "//", "..", "xx"]

# How a figure stays readable when its series differ 10-100x (ext4 above the
# FUSE transports): "ratio" adds a row under each panel with every series'
# median over FUSE's at the same point (FUSE = the 1.0 line); "log" draws the
# values on a log y axis.
READABILITY = {
    # Bars at all CPUs; the claims are ratios to FUSE (RFUSE > FUSE, close to
    # ext4), so the row reads them off directly; bar heights on a log axis
    # mislead the eye.
    "8": "ratio",
    "12": "ratio",
    # fio over threads: the transports stay within a few x of each other, so
    # the values keep a linear axis; the ratio row shows whether RFUSE's (and
    # uring's) gain over FUSE grows with the threads, i.e. "scales better".
    "10": "ratio",
    # fxmark metadata: ext4 works 10-100x faster than any FUSE transport
    # (dcache, no daemon), which flattens the FUSE lines on a linear axis and
    # would squash a ratio row too; on a log axis every line keeps its shape
    # and equal speed-ups draw parallel lines, which is what "scales better"
    # is about.
    "11": "log",
}


class Plain(matplotlib.ticker.LogFormatterSciNotation):
    """Labels the ticks a log axis labels by default, as 1000 or 0.5x, not 10^3."""

    def __init__(self, suffix=""):
        super().__init__()
        self.suffix = suffix

    def __call__(self, x, pos=None):
        v = float("%.2g" % x)
        text = "%d" % v if v >= 1 and v == int(v) else "%g" % v
        return text + self.suffix if super().__call__(x, pos) else ""


def plain_log(axis, suffix=""):
    """A log axis labelled in plain numbers (minor ticks too, where the axis
    spans less than a decade or two)."""
    axis.set_major_formatter(Plain(suffix))
    axis.set_minor_formatter(Plain(suffix))


def readability(figure, points):
    """'ratio', 'log' or None for a group's figure: READABILITY by the
    paper's figure; another group gets a ratio row when it has FUSE and
    something to compare with it."""
    if figure in READABILITY:
        return READABILITY[figure]
    trs = {p["config"]["transport"] for p in points}
    return "ratio" if "fuse" in trs and len(trs) > 1 else None


def look(point, group_points):
    """Matplotlib keywords that draw this point's series: its transport's
    colour and marker, its filesystem's line style and hatch."""
    fss = sorted({p["config"]["filesystem"] for p in group_points})
    k = fss.index(point["config"]["filesystem"]) % len(FS_LINES)
    st = STYLE.get(point["config"]["transport"], {"color": "black", "marker": "x"})
    return dict(st, linestyle=FS_LINES[k], hatch=FS_HATCHES[k])


def missing_note(status_by_t, partial):
    """Why a series has no value: 'skipped' (at every point), or with partial
    (it has values at other thread counts) 't1 skipped, t4 failed'."""
    if partial:
        return ", ".join("t%d %s" % kv for kv in sorted(status_by_t.items()))
    return "/".join(sorted(set(status_by_t.values())))


def panel(wl_points, points, key=None):
    """({series: {threads: summary}}, {series: {threads: status}}, unit) of
    one workload: the values drawn (the headline, or `key`'s metric) and the
    points without one."""
    vals, missing, unit = {}, {}, ""
    for p in wl_points:
        s, h = series_name(p, points), headline(p, key)
        if h:
            vals.setdefault(s, {})[p["config"]["threads"]] = h[1]
            unit = unit or h[1]["unit"]
        else:
            missing.setdefault(s, {})[p["config"]["threads"]] = p["status"]
    return vals, missing, unit


def ratio_axis(rax, ratios):
    """FUSE = 1.0 line; a log axis where the ratios span more than 10x (ext4
    over a FUSE transport), else linear from 0."""
    rax.axhline(1.0, color=STYLE["fuse"]["color"], linewidth=1.2, linestyle="--")
    rax.set_ylabel("ratio to FUSE")
    finite = [r for r in ratios if 0 < r < float("inf")]
    if finite and max(finite + [1.0]) / min(finite + [1.0]) > 10:
        rax.set_yscale("log")
        plain_log(rax.yaxis, "x")
    else:
        rax.set_ylim(0, max(finite + [1.0]) * 1.25)
        rax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%gx" % v))
    rax.grid(axis="y", alpha=0.3)


def plot_group(name, points, out_dir, note="", key=None, file_name=None):
    fig, drawn = draw_group(name, points, note, key)
    return save_figure(fig, out_dir, file_name or name, drawn, tight=False, bbox_inches="tight")


# The CPU figure of a group (<group>-cpu.png): operations per second of busy
# CPU for throughput workloads, CPU time per operation for latencies.
CPU_KEYS = {"latency": ("cpu.us_per_op", "CPU time per operation (all CPUs' busy time, lower is better)")}
CPU_DEFAULT = ("cpu.ops_per_cpu_s", "operations per CPU-second (all CPUs' busy time, higher is better)")


def plot_cpu(name, points, out_dir, note=""):
    """<group>-cpu.png, the group's figure drawn by its CPU cost, or None
    where no point measured one (breakdown groups, reports from before)."""
    key, what = CPU_KEYS.get(group_kind(points), CPU_DEFAULT)
    if not any(key in p.get("summary", {}) for p in points):
        return None
    return plot_group(name, points, out_dir, " - %s%s" % (what, note), key, name + "-cpu")


def draw_group(name, points, note="", key=None):
    """(figure, anything drawn): one panel per workload, bars at one thread
    count, else lines over the threads; under each, per readability(), a row
    of ratios to FUSE, or a log y axis. One legend for the figure, a style per
    transport (STYLE). `key`: draw that metric instead of the headline."""
    workloads = list(dict.fromkeys(p["config"]["workload"]["name"] for p in points))
    threads = sorted({p["config"]["threads"] for p in points})
    # The group's own figure, not that of points it borrows (claims.BORROWED).
    own = [p for p in points if p["config"].get("group") == name] or points
    figure = own[0]["config"].get("figure", "")
    series, first = series_of(points)
    g = {"series": series, "looks": {s: look(first[s], points) for s in series}, "threads": threads,
         "bars": len(threads) == 1, "mode": readability(figure, points), "first": first,
         # The FUSE series each series is compared with: FUSE on its filesystem.
         "fuse_of": {first[s]["config"]["filesystem"]: s for s in series if first[s]["config"]["transport"] == "fuse"},
         "key": key}
    per = 2 if g["mode"] == "ratio" else 1
    cols = min(len(workloads), 3)
    rows = (len(workloads) + cols - 1) // cols
    fss = {p["config"]["filesystem"] for p in points}
    entries = len(legend_transports(g)) + (len(fss) if len(fss) > 1 else 0) + (per - 1)
    fig, axes, ncol = panel_grid(rows, cols, per == 2, g["bars"], entries)
    shown = set()  # series with a value somewhere in the figure
    for i, wl in enumerate(workloads):
        ax = axes[(i // cols) * per][i % cols]
        rax = axes[(i // cols) * per + 1][i % cols] if per == 2 else None
        shown |= draw_panel(ax, rax, wl, [p for p in points if p["config"]["workload"]["name"] == wl], points, g)
    for k in range(len(workloads), rows * cols):
        for r in range(per):
            axes[(k // cols) * per + r][k % cols].axis("off")
    fig.suptitle("%s%s%s" % (name, " (paper Fig. %s)" % figure if figure else "", note),
                 y=1 - 0.15 / fig.get_figheight(), va="top")
    handles = legend_handles(g, shown, points)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()),
               ncol=ncol, fontsize="small", frameon=False)
    return fig, bool(shown)


def draw_panel(ax, rax, wl, wl_points, points, g):
    """One workload: its values on ax, their ratios to FUSE on rax (None:
    no ratio row). Returns the series drawn."""
    series, bars = g["series"], g["bars"]
    vals, missing, unit = panel(wl_points, points, g.get("key"))
    ratios, notes = [], []
    for j, s in enumerate(series):
        st = g["looks"][s]
        if s in missing:
            notes.append("%s: %s" % (s, missing_note(missing[s], s in vals)))
            if bars:  # keep the slot, say why it is empty
                ax.text(j, 0.02, " " + missing_note(missing[s], False), rotation=90, ha="center", va="bottom",
                        fontsize="small", color="gray", transform=ax.get_xaxis_transform())
        mine = vals.get(s, {})
        if not mine:
            continue
        xs = sorted(mine)
        med = [mine[t]["median"] for t in xs]
        err = [[m - mine[t]["min"] for m, t in zip(med, xs)], [mine[t]["max"] - m for m, t in zip(med, xs)]]
        if bars:
            ax.bar([j], med, yerr=err, capsize=3, color=st["color"], hatch=st["hatch"], edgecolor="white")
        else:
            ax.errorbar(xs, med, yerr=err, capsize=3, color=st["color"], marker=st["marker"],
                        linestyle=st["linestyle"])
        if rax is None:
            continue
        if s in g["fuse_of"].values():
            if bars:
                rax.text(j, 1.0, "1x", ha="center", va="bottom", fontsize="small", color=st["color"])
            continue
        ref = vals.get(g["fuse_of"].get(g["first"][s]["config"]["filesystem"]), {})
        pairs = [(t, mine[t]["median"] / ref[t]["median"]) for t in xs if t in ref and ref[t]["median"]]
        ratios += [r for _, r in pairs]
        if pairs and bars:
            rax.bar([j], [pairs[0][1]], color=st["color"], hatch=st["hatch"], edgecolor="white")
            rax.text(j, pairs[0][1], "%.2fx" % pairs[0][1], ha="center", va="bottom", fontsize="small")
        elif pairs:
            rax.plot([t for t, _ in pairs], [r for _, r in pairs], color=st["color"], marker=st["marker"],
                     linestyle=st["linestyle"])
    ax.set_title(wl)
    ax.set_ylabel(unit)
    if g["mode"] == "log" and vals:
        ax.set_yscale("log")
        ax.set_ylabel("%s (log scale)" % unit)
        plain_log(ax.yaxis)
        ax.grid(axis="y", which="both", alpha=0.3)
    else:
        ax.set_ylim(bottom=0)
    if notes and not bars:  # beside the title, clear of the lines
        ax.set_title("")
        ax.set_title(wl, loc="left")
        ax.set_title("\n".join(notes), loc="right", fontsize="x-small", color="gray")
    bottom = ax
    if rax is not None:  # the ratio axes shares the x axis, and labels it
        bottom = rax
        ax.tick_params(labelbottom=False)
        ratio_axis(rax, ratios)
        if not ratios:
            rax.text(0.5, 0.5, "no ratio: no FUSE value to compare with", transform=rax.transAxes,
                     ha="center", va="center", fontsize="small", color="gray")
    if bars:
        bottom.set_xlim(-0.6, len(series) - 0.4)
        bottom.set_xticks(range(len(series)))
        bottom.set_xticklabels(series, rotation=30, ha="right")
        bottom.set_xlabel("%d thread(s)" % g["threads"][0])
    else:  # 1, 2, 4, ... threads: evenly spaced
        bottom.set_xscale("log", base=2)
        bottom.set_xticks(g["threads"])
        bottom.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
        bottom.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        bottom.set_xlabel("threads (one per CPU)")
    return set(vals)


def legend_handles(g, shown, points):
    """One entry per transport in its colour and marker (a transport with no
    value anywhere in the figure says why: skipped, failed); where the group
    has several filesystems, one per filesystem in its line style / hatch;
    the FUSE = 1.0 line of the ratio rows."""
    handles = []
    fss = sorted({p["config"]["filesystem"] for p in points})
    for tr in legend_transports(g):
        mine = [s for s in g["series"] if g["first"][s]["config"]["transport"] == tr]
        label = mine[0] if len(fss) == 1 else tr
        if not set(mine) & shown:
            label += " (%s)" % "/".join(sorted({p["status"] for p in points if series_name(p, points) in mine}))
        st = dict(STYLE.get(tr, {"color": "black", "marker": "x"}), linestyle="-", hatch="")
        handles.append(legend_entry(g["bars"], st, label))
    for k, fs in enumerate(fss if len(fss) > 1 else []):
        st = {"color": "white" if g["bars"] else "black", "marker": "", "linestyle": FS_LINES[k % len(FS_LINES)],
              "hatch": FS_HATCHES[k % len(FS_HATCHES)]}
        handles.append(legend_entry(g["bars"], st, fs, edge="black"))
    if g["mode"] == "ratio":
        handles.append(matplotlib.lines.Line2D([], [], color=STYLE["fuse"]["color"], linestyle="--",
                                               label="FUSE = 1.0 (ratio rows)"))
    return handles


def legend_transports(g):
    return list(dict.fromkeys(g["first"][s]["config"]["transport"] for s in g["series"]))


def legend_entry(bars, st, label, edge="white"):
    if bars:
        return matplotlib.patches.Patch(facecolor=st["color"], hatch=st["hatch"], edgecolor=edge, label=label)
    return matplotlib.lines.Line2D([], [], color=st["color"], marker=st["marker"], linestyle=st["linestyle"],
                                   label=label)


def panel_grid(rows, cols, ratio_rows, bars, legend_entries):
    """(figure, axes[row][col], legend columns) for rows x cols workload
    panels; with ratio_rows each panel is a value axes over a shorter ratio
    axes, close together, so that axes has 2 * rows rows. Margins in inches:
    the title and the legend above, tick labels (slanted series names under
    bars) below."""
    panel_w, value_h, ratio_h, inner = 4.2, 2.6, 1.3, 0.12
    wgap, left, right = 0.9, 0.75, 0.25
    below = 1.25 if bars else 0.65  # tick labels and the x label under a panel
    gap = below + 0.35  # ... and the next panel's title
    panel_h = value_h + (inner + ratio_h if ratio_rows else 0)
    width = left + cols * panel_w + (cols - 1) * wgap + right
    legend_rows = -(-legend_entries // max(1, int(width / 1.5)))  # an entry takes about 1.5 in
    ncol = -(-legend_entries // legend_rows)
    top = 0.75 + 0.25 * legend_rows  # the title, the legend's rows, the panels' titles
    height = top + rows * panel_h + (rows - 1) * gap + below
    fig = plt.figure(figsize=(width, height))
    outer = fig.add_gridspec(rows, cols, left=left / width, right=1 - right / width, top=1 - top / height,
                             bottom=below / height, wspace=wgap / panel_w, hspace=gap / panel_h)
    axes = [[None] * cols for _ in range((2 if ratio_rows else 1) * rows)]
    for r in range(rows):
        for c in range(cols):
            if not ratio_rows:
                axes[r][c] = fig.add_subplot(outer[r, c])
                continue
            inner_gs = outer[r, c].subgridspec(2, 1, height_ratios=[value_h, ratio_h],
                                               hspace=inner / ((value_h + ratio_h) / 2))
            axes[2 * r][c] = fig.add_subplot(inner_gs[0])
            axes[2 * r + 1][c] = fig.add_subplot(inner_gs[1], sharex=axes[2 * r][c])
    return fig, axes, ncol


def group_kind(points):
    kinds = {p["config"]["workload"]["kind"] for p in points}
    return kinds.pop() if len(kinds) == 1 else None


def med(point, key):
    s = point.get("summary", {}).get(key)
    return s["median"] if s else None


def plot_latency(name, points, out_dir, note=""):
    """Bars at p50 with whiskers to p90 and p99, one panel per operation."""
    workloads = []
    for p in points:
        if p["config"]["workload"]["name"] not in workloads:
            workloads.append(p["config"]["workload"]["name"])
    series = series_of(points)[0]
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
            ax.bar([j], [p50], color=look(p, points)["color"], hatch=look(p, points)["hatch"], label=s)
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
    fig.suptitle("%s: per-operation latency%s%s" % (name, " (%s)" % figure if figure and figure != "latency" else "",
                                                     note))
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


def plot_breakdown(name, points, out_dir, note=""):
    """One stacked bar per transport: a segment per stage (median, us)."""
    series, first = series_of(points)
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
            # Stages in pastels: the transports' colours (STYLE) mean transports.
            ax.barh([j], [v], left=left, color=plt.get_cmap("Pastel2")(k), edgecolor="gray", linewidth=0.5,
                    label=label if label not in labelled else None)
            labelled.add(label)
            left += v
        if total is not None:
            ax.plot([total, total], [j - 0.45, j + 0.45], color="black", linewidth=2,
                    label="median syscall latency" if "tot" not in labelled else None)
            labelled.add("tot")
        drawn = True
    ax.set_yticks(range(len(series)))
    ax.set_yticklabels(series)
    for s, tick in zip(series, ax.get_yticklabels()):
        tick.set_color(look(first[s], points)["color"])
    ax.set_xlabel("us (medians per stage)")
    ax.set_xlim(left=0)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    figure = points[0]["config"].get("figure", "")
    op = points[0]["config"]["workload"].get("op", "")
    fig.suptitle("%s: latency breakdown of one %s() on %s%s%s" % (
        name, op, points[0]["config"]["filesystem"], " (paper Fig. %s)" % figure if figure else "", note))
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


def kernel_offers(env):
    """index.md's header line on what the kernel offers each transport
    (environment.kernel_features), or nothing for an older report."""
    f = env.get("kernel_features")
    if not f:
        return []
    yes = {True: "yes", False: "no"}
    return ["- kernel %s offers: FUSE over io_uring %s (enable_uring %s), FUSE passthrough %s (expected from the "
            "release), /dev/rfuse %s (rfuse.ko %s), tracepoints fuse %s / rfuse %s" % (
                env["kernel"]["release"], yes[f["fuse_over_io_uring"]["present"]],
                f["fuse_over_io_uring"]["enable_uring"], yes[f["fuse_passthrough"]["expected"]],
                yes[f["rfuse"]["dev_rfuse"]], "loaded" if f["rfuse"]["module_loaded"] else "not loaded",
                yes[f["tracepoints"]["fuse"]], yes[f["tracepoints"]["rfuse"]])]


def cpu_cell(point):
    """'total (app / daemon / other)' CPU microseconds per operation, medians."""
    total = med(point, "cpu.us_per_op")
    if total is None:
        return ""
    parts = [med(point, "cpu.%s_us_per_op" % k) for k in ("app", "daemon", "other")]
    return "%s (%s)" % (fmt(total), " / ".join(fmt(v) if v is not None else "-" for v in parts))


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
    ] + kernel_offers(env) + [
        "",
        "Figures are medians over the repetitions; ± is the sample standard deviation.",
        "",
    ]
    # Every figure's title names the kernel: ratios never span two environments.
    note = ", kernel %s (%s)" % (env["kernel"]["release"], env["virtualization"]["kind"])
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
            png = plot_latency(g, points, run_dir, note)
        elif kind == "breakdown":
            png = plot_breakdown(g, points, run_dir, note)
        else:
            png = plot_group(g, points, run_dir, note)
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
        cpu_png = plot_cpu(g, points, run_dir, note) if kind != "breakdown" else None
        if cpu_png:
            lines.append("Its CPU cost (`cpu` in the report: the timed part's busy time of every CPU, "
                         "split into the application, the daemon and the rest):")
            lines.append("")
            lines.append("![%s CPU](%s)" % (g, os.path.basename(cpu_png)))
            lines.append("")
        lines.append("| filesystem | transport | workload | threads | status | metric | median | ± | reps "
                     "| CPU µs/op (app / daemon / other) | ops per CPU-s |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for p in points:
            c = p["config"]
            h = headline(p)
            metric = median = sd = n = ""
            if h:
                metric = "%s (%s)" % (h[0], h[1]["unit"])
                median, sd, n = fmt(h[1]["median"]), fmt(h[1]["stddev"]), str(h[1]["n"])
            status = p["status"] if p["status"] == "ok" else "%s: %s" % (
                p["status"], p.get("reason", "").replace("|", "/").replace("\n", " ")[:160])
            lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                c["filesystem"], c["transport"], c["workload"]["name"], c["threads"], status, metric, median, sd, n,
                cpu_cell(p), fmt(med(p, "cpu.ops_per_cpu_s")) if med(p, "cpu.ops_per_cpu_s") is not None else ""))
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
