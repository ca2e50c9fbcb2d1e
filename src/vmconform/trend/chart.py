"""``vmconform trend``'s output: a chart per transition (PNG, matplotlib) and an HTML page with the table."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from .rules import MIN_RUNS, SLOWDOWN_FACTOR, WINDOW, Entry, median, p90, series, slowdowns

# the order the lab does them in; transitions other features add come after, alphabetically
TRANSITION_ORDER = ("start", "stop", "pause", "unpause", "restart", "migration")


@dataclass(frozen=True)
class Row:
    transition: str
    behaviour: str
    title: str
    runs: int
    median: float
    p90: float
    latest: float
    slower: bool


def transitions_of(entries: list[Entry]) -> list[str]:
    names = {n for e in entries for t in (e.get("transitions") or {}).values() for n in t}
    return [n for n in TRANSITION_ORDER if n in names] + sorted(names - set(TRANSITION_ORDER))


def _titles(entries: list[Entry]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for e in entries:
        titles.update(e.get("titles") or {})
    return titles


def table(entries: list[Entry]) -> list[Row]:
    """Per transition and behaviour: median and p90 over the kept runs, the latest run, and the rule's note."""
    titles = _titles(entries)
    flagged = {(s.behaviour, s.transition) for s in slowdowns(entries[:-1], entries[-1])} if entries else set()
    rows = []
    for name in transitions_of(entries):
        behaviours = sorted({b for e in entries for b, t in (e.get("transitions") or {}).items() if name in t})
        for b in behaviours:
            values = series(entries, b, name)
            latest = (entries[-1].get("transitions") or {}).get(b, {}).get(name)
            rows.append(Row(name, b, titles.get(b, b), len(values), median(values), p90(values),
                            float(latest) if latest is not None else float("nan"), (b, name) in flagged))
    return rows


def render_table(rows: list[Row]) -> list[str]:
    out = [f"{'transition':<10}  {'runs':>4}  {'median':>8}  {'p90':>8}  {'latest':>8}  behaviour"]
    for r in rows:
        note = "  ← slower than usual" if r.slower else ""
        out.append(f"{r.transition:<10}  {r.runs:>4}  {r.median:>7.2f}s  {r.p90:>7.2f}s  "
                   f"{r.latest:>7.2f}s  {r.title}{note}")
    return out


def draw(entries: list[Entry], transition: str, path: Path, cluster: str) -> Path:
    """One chart: the transition's seconds per run, a line per behaviour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = _titles(entries)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    behaviours = sorted({b for e in entries for b, t in (e.get("transitions") or {}).items() if transition in t})
    slow = {s.behaviour: s for s in slowdowns(entries[:-1], entries[-1]) if s.transition == transition} \
        if entries else {}
    for b in behaviours:
        xs = [i + 1 for i, e in enumerate(entries) if transition in (e.get("transitions") or {}).get(b, {})]
        ys = [float(entries[i - 1]["transitions"][b][transition]) for i in xs]
        title = titles.get(b, b)
        (line,) = ax.plot(xs, ys, marker="o", label=title if len(title) <= 70 else title[:69] + "…")
        if b in slow:  # the rule's threshold, and the latest run above it
            s = slow[b]
            ax.axhline(SLOWDOWN_FACTOR * s.median, color=line.get_color(), linestyle="--", linewidth=1,
                       label=f"{SLOWDOWN_FACTOR:g}× median of the last {s.runs} runs")
            ax.plot([len(entries)], [s.seconds], marker="o", markersize=11, color="red", linestyle="none",
                    label="slower than usual")
    ax.set_title(f"{transition}: seconds per run ({cluster})")
    ax.set_xlabel("run (oldest → latest)")
    ax.set_ylabel("seconds")
    ax.set_ylim(bottom=0)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def write_page(entries: list[Entry], out_dir: Path, cluster: str) -> Path:
    """``index.html`` (the table, the rule, every chart) and ``<transition>.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = [draw(entries, name, out_dir / f"{name}.png", cluster) for name in transitions_of(entries)]
    rows = table(entries)
    cells = "".join(
        f"<tr{' class=slow' if r.slower else ''}><td>{html.escape(r.transition)}</td><td>{html.escape(r.title)}</td>"
        f"<td>{r.runs}</td><td>{r.median:.2f}</td><td>{r.p90:.2f}</td><td>{r.latest:.2f}</td>"
        f"<td>{'slower than usual' if r.slower else ''}</td></tr>" for r in rows)
    images = "".join(f'<h2>{html.escape(p.stem)}</h2><img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
                     for p in charts)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vmconform trends — {html.escape(cluster)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .6em;border-bottom:1px solid #ddd}}
td:nth-child(n+3){{text-align:right}}tr.slow{{background:#fde2e1}}img{{max-width:100%}}</style></head><body>
<h1>vmconform transition times — {html.escape(cluster)}</h1>
<p>{len(entries)} runs. A transition is <b>slower than usual</b> when the latest run took more than
{SLOWDOWN_FACTOR:g}× the median of the same behaviour's transition over the last {WINDOW} earlier runs, with at
least {MIN_RUNS} such runs (a note, not a violation; <code>--fail-on-slowdown</code> exits 1).</p>
<table><tr><th>transition</th><th>behaviour</th><th>runs</th><th>median (s)</th><th>p90 (s)</th>
<th>latest (s)</th><th></th></tr>{cells}</table>
{images}
</body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page)
    return index
