"""The report's figures: pure functions from numbers to inline SVG strings (no scripts, nothing
fetched). Every piece of text drawn is escaped here, so the templates may mark the result safe."""

from __future__ import annotations

import html
import math

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def line_chart(chart_id: str, title: str, xs: list, series: list, marks: list,
               width: int = 420, height: int = 240) -> str:
    """One chart of `series` ([(label, ys)], ys aligned with `xs`; missing or infinite values
    skipped) with dashed vertical `marks` ([(x, tooltip)]); "" when there is nothing to draw."""
    values = [v for _, ys in series for v in ys if finite(v)]
    if not xs or not values:
        return ""
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = _range(values)
    sx, sy = _scale(x0, x1, 50, width - 10), _scale(y1, y0, 28, height - 30)
    lines, legend = [], []
    for i, (label, ys) in enumerate(series):
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if finite(y))
        if not points:
            continue
        color = COLORS[i % len(COLORS)]
        lines.append(f"<polyline points='{points}' fill='none' stroke='{color}' stroke-width='2'/>")
        legend.append(f"<text x='{60 + 130 * len(legend)}' y='14' fill='{color}' font-size='12'>"
                      f"{_e(label)}</text>")
    for x, label in marks:
        if x is not None and x0 <= x <= x1:
            lines.append(f"<line x1='{sx(x):.1f}' x2='{sx(x):.1f}' y1='28' y2='{height - 30}' stroke='#555' "
                         f"stroke-dasharray='3'><title>{_e(label)}</title></line>")
    flat = min(values) == max(values)  # a constant learning rate: one tick at its value, not a spread
    axes = _axes(x0, x1, y0, y1, sx, sy, width, height, "epoch",
                 xticks=nice_ticks(x0, x1, integer=all(float(x).is_integer() for x in xs)),
                 yticks=[values[0]] if flat else None)
    return (f"<figure><svg id='{_e(chart_id)}' class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>{axes}{''.join(lines)}"
            f"{''.join(legend)}</svg><figcaption>{_e(title)}</figcaption></figure>")


def residual_plot(pairs: list, width: int = 520, height: int = 260) -> str:
    """Prediction minus label against the label, for [(label, prediction)] pairs."""
    labels = [p[0] for p in pairs]
    residuals = [p[1] - p[0] for p in pairs]
    x0, x1 = _range(labels)
    y0, y1 = _range(residuals + [0.0])
    sx, sy = _scale(x0, x1, 50, width - 10), _scale(y1, y0, 10, height - 30)
    dots = "".join(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2' fill='{COLORS[0]}' fill-opacity='0.6'/>"
                   for x, y in zip(labels, residuals))
    axes = _axes(x0, x1, y0, y1, sx, sy, width, height, "label")
    zero = (f"<line x1='50' x2='{width - 10}' y1='{sy(0):.1f}' y2='{sy(0):.1f}' stroke='#888' "
            "stroke-dasharray='4'/>")
    return (f"<svg id='residual-plot' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"xmlns='http://www.w3.org/2000/svg'>{axes}{zero}{dots}</svg>")


def intervals(chart_id: str, rows: list, width: int = 560) -> str:
    """A forest plot: per row (label, difference, [low, high] or None, ok) a dot at the
    difference (candidate - serving) and a bar over its 95% interval, and a dashed line at 0;
    red where the row failed. "" when no row has a finite difference."""
    rows = [r for r in rows if finite(r[1])]
    if not rows:
        return ""
    ends = [v for r in rows for v in ([r[1], *(r[2] or [])]) if finite(v)] + [0.0]
    x0, x1 = _range(ends)
    left, step = 190, 18
    height = 30 + step * len(rows)
    sx = _scale(x0, x1, left, width - 10)
    out = [(f"<line x1='{sx(0):.1f}' x2='{sx(0):.1f}' y1='4' y2='{height - 22}' stroke='#888' "
            "stroke-dasharray='4'/>")]
    for i, (label, diff, interval, ok) in enumerate(rows):
        y, color = 14 + step * i, COLORS[0] if ok else COLORS[1]
        out.append(f"<text x='{left - 6}' y='{y + 4}' text-anchor='end' font-size='11'>{_e(label)}</text>")
        if interval and all(finite(v) for v in interval):
            out.append(f"<line x1='{sx(interval[0]):.1f}' x2='{sx(interval[1]):.1f}' y1='{y}' y2='{y}' "
                       f"stroke='{color}' stroke-width='3'/>")
        out.append(f"<circle cx='{sx(diff):.1f}' cy='{y}' r='4' fill='{color}'><title>{_e(label)}: "
                   f"{fmt(diff)}</title></circle>")
    for x in nice_ticks(x0, x1):
        out.append(f"<text x='{sx(x):.1f}' y='{height - 8}' text-anchor='middle' font-size='10'>"
                   f"{fmt(x)}</text>")
    return (f"<figure><svg id='{_e(chart_id)}' class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>{''.join(out)}</svg>"
            "<figcaption>candidate - serving model, with the bootstrap's 95% interval</figcaption></figure>")


def bars(counts: list[float], width: int = 120, height: int = 28) -> str:
    """A small histogram (one bar a bucket), for a table cell; "" when every count is 0."""
    if not counts or max(counts) <= 0:
        return ""
    step, top = width / len(counts), max(counts)
    rects = "".join(f"<rect x='{i * step:.1f}' y='{height - height * c / top:.1f}' "
                    f"width='{max(step - 1, 1):.1f}' height='{height * c / top:.1f}' fill='{COLORS[0]}'/>"
                    for i, c in enumerate(counts))
    return f"<svg class='bars' width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>{rects}</svg>"


def fmt(v) -> str:
    """A number as the report shows it: integers whole, others to 4 significant digits; "-" for
    anything else (a metric that is absent)."""
    if not isinstance(v, (int, float)):
        return "-"
    if isinstance(v, int) or (math.isfinite(v) and v == int(v) and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.4g}"


def finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round tick values inside [lo, hi]: steps of 1, 2 or 5 times a power of ten
    (0.2, 0.5, 10, ...), whole numbers only when `integer` (epochs: never 3.25)."""
    if not (finite(lo) and finite(hi)) or hi <= lo:
        return [lo] if finite(lo) else []
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = power * next((m for limit, m in ((1.5, 1), (3.5, 2), (7.5, 5)) if raw / power < limit), 10)
    if integer:
        step = max(1.0, round(step))
    digits = max(0, -math.floor(math.log10(step)) + 1)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    while (first + len(ticks)) * step <= hi + step * 1e-9:
        ticks.append(round((first + len(ticks)) * step, digits))
    return ticks


def _axes(x0, x1, y0, y1, sx, sy, width, height, xlabel, xticks=None, yticks=None) -> str:
    out = [(f"<rect x='50' y='{sy(y1):.1f}' width='{width - 60}' height='{sy(y0) - sy(y1):.1f}' "
            "fill='#fafafa' stroke='#ccc'/>")]
    for y in nice_ticks(y0, y1) if yticks is None else yticks:
        out.append(f"<text x='46' y='{sy(y) + 4:.1f}' text-anchor='end' font-size='10'>{fmt(y)}</text>")
    for x in nice_ticks(x0, x1) if xticks is None else xticks:
        out.append(f"<text x='{sx(x):.1f}' y='{height - 16}' text-anchor='middle' font-size='10'>"
                   f"{fmt(x)}</text>")
    out.append(f"<text x='{(50 + width) / 2:.0f}' y='{height - 2}' text-anchor='middle' font-size='11'>"
               f"{_e(xlabel)}</text>")
    return "".join(out)


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:  # a flat line (a constant learning rate): 10 % either side
        lo, hi = lo - (abs(lo) * 0.1 or 1), hi + (abs(hi) * 0.1 or 1)
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _scale(a: float, b: float, lo: float, hi: float):
    return lambda v: lo + (v - a) / (b - a) * (hi - lo)


def _e(text) -> str:
    return html.escape(str(text), quote=True)
