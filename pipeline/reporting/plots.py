"""Small inline SVG charts for the HTML reports: no plotting library, no JavaScript.

Each function returns one ``<svg>`` element, sized in CSS pixels, so a report stays a single
self-contained file that opens anywhere. Every text and attribute taken from a caller (titles,
labels, series names, colours, counts) is escaped with ``_e`` where it is written and every other
value is a number formatted here, which is why ``_svg`` may mark the result as safe markup for
the page templates: that is the one place it happens.  The charts are the
ones a model report needs: curves in the unit square (ROC, precision-recall, calibration), a
2x2 confusion matrix, and a "forest" of intervals (one metric per slice with its 95% interval)
for binary models; a k x k confusion grid for multiclass models; and for regression models,
lines and points on the data's own scale (predicted against actual with the y = x line, mean
actual by decile of prediction) and a histogram of residuals.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

PALETTE = ("#1f5fa8", "#d9822b", "#2e7d32", "#8e24aa")
"""Series colours: challenger blue, champion orange, then green and purple."""

_W, _H = 340, 300  # chart size
_L, _R, _T, _B = 46, 12, 28, 40  # margins: left, right, top, bottom


@dataclass(frozen=True)
class Series:
    """One line (or set of points) in a unit-square chart."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str = PALETTE[0]
    dashed: bool = False
    markers: bool = False
    line: bool = True  # False: points only (a scatter)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg(parts: list[str]) -> Markup:
    """Close an ``<svg>`` element built from escaped parts and mark it safe for the templates."""
    return Markup("".join(parts) + "</svg>")


def _px(x: float, y: float) -> tuple[float, float]:
    """Unit-square coordinates to pixels (y grows upwards)."""
    return _L + x * (_W - _L - _R), _H - _B - y * (_H - _T - _B)


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    """Axes, ticks at 0, 0.5 and 1, grid lines and labels of a unit-square chart."""
    x0, y0 = _px(0, 0)
    x1, y1 = _px(1, 1)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
            f'role="img" aria-label="{_e(title)}" style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{_W / 2:.0f}" y="16" text-anchor="middle" font-weight="600">{_e(title)}</text>',
        f'<rect x="{x0:.1f}" y="{y1:.1f}" width="{x1 - x0:.1f}" height="{y0 - y1:.1f}" fill="none" stroke="#999"/>',
    ]
    for t in (0.25, 0.5, 0.75):
        gx, _ = _px(t, 0)
        _, gy = _px(0, t)
        parts.append(f'<line x1="{gx:.1f}" y1="{y1:.1f}" x2="{gx:.1f}" y2="{y0:.1f}" stroke="#eee"/>')
        parts.append(f'<line x1="{x0:.1f}" y1="{gy:.1f}" x2="{x1:.1f}" y2="{gy:.1f}" stroke="#eee"/>')
    for t in (0.0, 0.5, 1.0):
        tx, _ = _px(t, 0)
        _, ty = _px(0, t)
        parts.append(f'<text x="{tx:.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{x0 - 6:.1f}" y="{ty + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{_H - 8}" text-anchor="middle">{_e(x_label)}</text>')
    parts.append(
        f'<text x="12" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(y0 + y1) / 2:.1f})">{_e(y_label)}</text>'
    )
    return parts


def _clip(v: float) -> float:
    return min(1.0, max(0.0, float(v)))


def unit_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    reference: str | float | None = None,
    legend: str = "bottom-right",
) -> Markup:
    """Lines in the unit square, with an optional reference: ``"diagonal"`` or a horizontal level.

    ``legend`` is ``"bottom-right"`` or ``"bottom-left"``: put it where the curves are not
    (bottom right for ROC and calibration, bottom left for precision-recall).
    """
    parts = _frame(title, x_label, y_label)
    if reference == "diagonal":
        (ax, ay), (bx, by) = _px(0, 0), _px(1, 1)
        parts.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    elif isinstance(reference, (int, float)):
        (ax, ay), (bx, _) = _px(0, _clip(reference)), _px(1, _clip(reference))
        parts.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{ay:.1f}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, s in enumerate(series):
        points = [_px(_clip(x), _clip(y)) for x, y in zip(s.x, s.y)]
        if not points:
            continue
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        if s.line:
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{_e(s.color)}" stroke-width="2"{dash}>'
                f"<title>{_e(s.name)}</title></polyline>"
            )
        if s.markers:
            parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{_e(s.color)}"/>' for px, py in points)
        lx = _W - _R - 110 if legend == "bottom-right" else _L + 8
        ly = _H - _B - 10 - 14 * (len(series) - 1 - i)
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{_e(s.color)}" '
            f'stroke-width="2"{dash}/><text x="{lx + 20}" y="{ly}">{_e(s.name)}</text>'
        )
    return _svg(parts)


def confusion_svg(tp: int, fp: int, tn: int, fn: int, threshold: float) -> Markup:
    """The 2x2 confusion matrix (rows: actual, columns: predicted), cells shaded by count."""
    cells = [
        ("actual 1", "predicted 1", tp, "TP"),
        ("actual 1", "predicted 0", fn, "FN"),
        ("actual 0", "predicted 1", fp, "FP"),
        ("actual 0", "predicted 0", tn, "TN"),
    ]
    most = max(tp, fp, tn, fn, 1)
    size, left, top = 90, 70, 44
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + 2 * size + 10}" '
            f'height="{top + 2 * size + 10}" role="img" aria-label="confusion matrix" '
            'style="font:11px system-ui,sans-serif">'
        ),
        (
            f'<text x="{left + size}" y="14" text-anchor="middle" font-weight="600">'
            f"Confusion matrix (threshold {threshold:g})</text>"
        ),
        f'<text x="{left + size / 2}" y="{top - 8}" text-anchor="middle">predicted 1</text>',
        f'<text x="{left + 1.5 * size}" y="{top - 8}" text-anchor="middle">predicted 0</text>',
        f'<text x="{left - 6}" y="{top + size / 2 + 4}" text-anchor="end">actual 1</text>',
        f'<text x="{left - 6}" y="{top + 1.5 * size + 4}" text-anchor="end">actual 0</text>',
    ]
    for k, (_, _, count, tag) in enumerate(cells):
        x, y = left + (k % 2) * size, top + (k // 2) * size
        shade = 0.12 + 0.6 * count / most
        good = tag in ("TP", "TN")
        colour = f"rgba(46,125,50,{shade:.2f})" if good else f"rgba(198,40,40,{shade:.2f})"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{colour}" stroke="#fff"/>'
            f'<text x="{x + size / 2}" y="{y + size / 2}" text-anchor="middle" font-size="15">{_e(count)}</text>'
            f'<text x="{x + size / 2}" y="{y + size / 2 + 16}" text-anchor="middle">{tag}</text>'
        )
    return _svg(parts)


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot: a label, a value and its interval (None: undefined)."""

    label: str
    value: float | None
    lower: float | None
    upper: float | None
    muted: bool = False  # e.g. a small slice: drawn grey


def forest_svg(title: str, rows: Sequence[Interval], reference: float | None = None) -> Markup:
    """Intervals on a shared axis, one row each, with an optional vertical reference line."""
    known = [v for r in rows for v in (r.value, r.lower, r.upper) if v is not None]
    if reference is not None:
        known.append(reference)
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad
    label_w, plot_w, row_h, top = 170, 300, 20, 32
    height = top + row_h * len(rows) + 26

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 20}" height="{height}" '
            f'role="img" aria-label="{_e(title)}" style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{label_w + plot_w / 2}" y="16" text-anchor="middle" font-weight="600">{_e(title)}</text>',
    ]
    if reference is not None:
        x = sx(reference)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 22}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour = "#999" if r.muted else PALETTE[0]
        parts.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end">{_e(r.label)}</text>')
        if r.lower is not None and r.upper is not None:
            parts.append(
                f'<line x1="{sx(r.lower):.1f}" y1="{y:.1f}" x2="{sx(r.upper):.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        if r.value is not None:
            parts.append(
                f'<circle cx="{sx(r.value):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                f"<title>{_e(r.label)}: {r.value:.4g}</title></circle>"
            )
    for v in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(f'<text x="{sx(v):.1f}" y="{height - 8}" text-anchor="middle">{v:.3g}</text>')
    return _svg(parts)


# -- charts on the data's own scale (regression) and the k x k confusion grid (multiclass) ----------

_XW, _XL, _XR = 360, 62, 24  # width, left and right margins on the data's scale (room for long tick labels)


def _finite(value: object) -> bool:
    """Whether a value from stored evidence is a number that can be drawn (None: undefined)."""
    try:
        return value is not None and not isinstance(value, bool) and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _extent(values: Sequence[float]) -> tuple[float, float]:
    """The range of ``values`` padded by 5% on each side (one repeated value gets a range around it)."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or abs(lo) * 0.05 or 0.5
    return lo - pad, hi + pad


def _nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round values within [lo, hi] to put ticks at: steps of 1, 2 or 5 times a power of ten."""
    raw = (hi - lo) / most
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks, t = [], math.ceil(lo / step) * step
    while t <= hi + step * 1e-9:
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return ticks


def _tick(value: float) -> str:
    """A tick label: 4 significant digits, large values in full (12000, not 1.2e+04)."""
    return f"{value:.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"


def _short(text: object, most: int) -> str:
    """``text`` cut to ``most`` characters with an ellipsis (the full text goes in a ``<title>``)."""
    text = str(text)
    return text if len(text) <= most else text[: max(most - 1, 1)] + "…"


def _axes(
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int = _XW,
    height: int = _H,
    whole_x: bool = False,
) -> tuple[list[str], Callable[[float, float], tuple[float, float]]]:
    """The frame of a chart on the data's scale: axes, round ticks, grid and labels, and the
    mapping from data coordinates to pixels (y grows upwards). ``whole_x`` labels only whole x
    values (version numbers, say) and draws no vertical grid."""
    (xlo, xhi), (ylo, yhi) = x_range, y_range

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            _XL + (x - xlo) / (xhi - xlo) * (width - _XL - _XR),
            height - _B - (y - ylo) / (yhi - ylo) * (height - _T - _B),
        )

    (x0, y0), (x1, y1) = px(xlo, ylo), px(xhi, yhi)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" '
            'style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="600">{_e(title)}</text>',
        f'<rect x="{x0:.1f}" y="{y1:.1f}" width="{x1 - x0:.1f}" height="{y0 - y1:.1f}" fill="none" stroke="#999"/>',
    ]
    for t in _nice_ticks(xlo, xhi, most=8 if whole_x else 5):
        if whole_x and t != int(t):
            continue
        tx, _ = px(t, ylo)
        if not whole_x:
            parts.append(f'<line x1="{tx:.1f}" y1="{y1:.1f}" x2="{tx:.1f}" y2="{y0:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{tx:.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{_tick(t)}</text>')
    for t in _nice_ticks(ylo, yhi):
        _, ty = px(xlo, t)
        parts.append(f'<line x1="{x0:.1f}" y1="{ty:.1f}" x2="{x1:.1f}" y2="{ty:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 - 5:.1f}" y="{ty + 4:.1f}" text-anchor="end">{_tick(t)}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 8}" text-anchor="middle">{_e(x_label)}</text>')
    parts.append(
        f'<text x="12" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(y0 + y1) / 2:.1f})">{_e(y_label)}</text>'
    )
    return parts, px


def xy_chart(title: str, x_label: str, y_label: str, series: Sequence[Series], diagonal: bool = False) -> Markup:
    """Lines and/or points on the data's own scale; undefined points (None, NaN) are left out.

    With ``diagonal`` both axes share one range and the dashed y = x line is drawn, so points on
    it are predictions equal to what happened (predicted against actual, calibration by decile).
    """
    points = [[(float(x), float(y)) for x, y in zip(s.x, s.y) if _finite(x) and _finite(y)] for s in series]
    xs = [x for ps in points for x, _ in ps]
    ys = [y for ps in points for _, y in ps]
    if diagonal:
        x_range = y_range = _extent(xs + ys)
    else:
        x_range, y_range = _extent(xs), _extent(ys)
    parts, px = _axes(title, x_label, y_label, x_range, y_range)
    if diagonal:
        (ax, ay), (bx, by) = px(x_range[0], x_range[0]), px(x_range[1], x_range[1])
        parts.append(
            f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#888" '
            'stroke-dasharray="4 3"><title>y = x</title></line>'
        )
    for i, (s, ps) in enumerate(zip(series, points)):
        drawn = [px(x, y) for x, y in ps]
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        if s.line and drawn:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in drawn)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{_e(s.color)}" stroke-width="2"{dash}>'
                f"<title>{_e(s.name)}</title></polyline>"
            )
        if s.markers:
            look = 'r="3"' if s.line else 'r="2" fill-opacity="0.45"'  # a scatter: small, see-through
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" {look} fill="{_e(s.color)}"/>' for x, y in drawn)
        lx, ly = _XW - _XR - 110, _H - _B - 10 - 14 * (len(series) - 1 - i)
        key = (
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" '
            f'stroke="{_e(s.color)}" stroke-width="2"{dash}/>'
            if s.line
            else f'<circle cx="{lx + 8}" cy="{ly - 4}" r="3" fill="{_e(s.color)}"/>'
        )
        parts.append(f'{key}<text x="{lx + 20}" y="{ly}">{_e(s.name)}</text>')
    return _svg(parts)


def histogram_svg(
    title: str,
    x_label: str,
    bin_edges: Sequence[float],
    counts: Sequence[int],
    reference: float | None = None,
    y_label: str = "rows",
) -> Markup:
    """Bars of ``counts`` between consecutive ``bin_edges``, with an optional dashed vertical line."""
    bins = [
        (float(a), float(b), int(n)) for a, b, n in zip(bin_edges, bin_edges[1:], counts) if _finite(a) and _finite(b)
    ]
    x_range = (bins[0][0], bins[-1][1]) if bins and bins[-1][1] > bins[0][0] else _extent([b[0] for b in bins])
    y_range = (0.0, max([n for *_, n in bins] + [1]) * 1.05)
    parts, px = _axes(title, x_label, y_label, x_range, y_range)
    for a, b, n in bins:
        (xa, y_top), (xb, y_base) = px(a, n), px(b, 0.0)
        parts.append(
            f'<rect x="{xa:.1f}" y="{y_top:.1f}" width="{max(xb - xa - 1, 0.5):.1f}" height="{y_base - y_top:.1f}" '
            f'fill="{PALETTE[0]}" fill-opacity="0.75"><title>{a:.4g} to {b:.4g}: {n} rows</title></rect>'
        )
    if reference is not None and x_range[0] <= reference <= x_range[1]:
        (rx, ry0), (_, ry1) = px(reference, 0.0), px(reference, y_range[1])
        parts.append(
            f'<line x1="{rx:.1f}" y1="{ry0:.1f}" x2="{rx:.1f}" y2="{ry1:.1f}" stroke="#333" stroke-dasharray="4 3"/>'
        )
    return _svg(parts)


def confusion_grid_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> Markup:
    """The k x k confusion matrix of a multiclass model (rows: actual class, columns: predicted).

    Each cell shows its count and its share of the row (of the rows of that actual class), and is
    shaded by that share, so a class that is often taken for another stands out whatever its size;
    the diagonal (correct predictions) is outlined.
    """
    k = len(labels)
    cell = max(40, min(84, 480 // max(k, 1)))
    left, top = 128, 62
    width, height = max(left + k * cell + 12, 400), top + k * cell + 12
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="confusion matrix" '
            'style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="600">'
        "Confusion matrix (share of each actual class)</text>",
        f'<text x="{left + k * cell / 2:.0f}" y="{top - 26}" text-anchor="middle" fill="#555">predicted</text>',
        f'<text x="{left - 6}" y="{top - 8}" text-anchor="end" fill="#555">actual</text>',
    ]
    chars = max(3, cell // 7)
    for j, name in enumerate(labels):
        parts.append(
            f'<text x="{left + j * cell + cell / 2:.0f}" y="{top - 8}" text-anchor="middle">'
            f"<title>predicted {_e(name)}</title>{_e(_short(name, chars))}</text>"
        )
    for i, (name, row) in enumerate(zip(labels, matrix)):
        y = top + i * cell
        total = sum(int(n) for n in row)
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.0f}" text-anchor="end">'
            f"<title>actual {_e(name)}</title>{_e(_short(name, 18))}</text>"
        )
        for j, n in enumerate(row):
            x, count = left + j * cell, int(n)
            share = count / total if total else 0.0
            edge = 'stroke="#2e7d32" stroke-width="2"' if i == j else 'stroke="#ccc"'
            ink = "#fff" if share > 0.55 else "#222"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{PALETTE[0]}" '
                f'fill-opacity="{share:.3f}" {edge}><title>actual {_e(name)}, predicted {_e(labels[j])}: '
                f"{count} rows ({share:.1%} of actual {_e(name)})</title></rect>"
            )
            parts.append(
                f'<text x="{x + cell / 2:.0f}" y="{y + cell / 2 - 1:.0f}" text-anchor="middle" font-weight="600" '
                f'fill="{ink}">{count}</text>'
            )
            parts.append(
                f'<text x="{x + cell / 2:.0f}" y="{y + cell / 2 + 12:.0f}" text-anchor="middle" fill="{ink}">'
                f"{share:.0%}</text>"
            )
    return _svg(parts)


# -- a metric across model versions (the console's models page) ------------------------------------


@dataclass(frozen=True)
class VersionPoint:
    """One model version on a metric history chart: its number, value and interval (None: undefined)."""

    version: int
    value: float | None
    lower: float | None = None
    upper: float | None = None
    highlight: bool = False  # e.g. the champion: drawn larger, in its own colour, and labelled


def version_history_svg(title: str, y_label: str, points: Sequence[VersionPoint], width: int = 640) -> Markup:
    """A metric per model version (x: version number) with its interval as a whisker.

    Versions whose value is undefined are left out; a highlighted version is drawn in orange and
    labelled ``v<n>``. Many versions stay readable: whiskers and dots get thinner as versions
    crowd, and the x ticks are round version numbers.
    """

    def num(value: object) -> float | None:
        return float(value) if _finite(value) else None  # type: ignore[arg-type]

    drawn = sorted(
        ((p.version, v, num(p.lower), num(p.upper), p.highlight) for p in points if (v := num(p.value)) is not None),
        key=lambda d: d[0],
    )
    ys = [v for d in drawn for v in d[1:4] if v is not None]
    ylo, yhi = _extent(ys)
    xlo, xhi = (drawn[0][0] - 0.6, drawn[-1][0] + 0.6) if drawn else (0.0, 1.0)  # half a version of room
    parts, px = _axes(title, "version", y_label, (xlo, xhi), (ylo, yhi), width=width, height=260, whole_x=True)
    (x0, _), (x1, _) = px(xlo, ylo), px(xhi, yhi)
    slot = (x1 - x0) / max(len(drawn), 1)
    stroke, radius = (2.0 if slot >= 6 else 1.0), (3.5 if slot >= 8 else 2.0)
    if len(drawn) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(float(d[0]), d[1]) for d in drawn))
        parts.append(f'<polyline points="{path}" fill="none" stroke="#c9d1d9" stroke-width="1"/>')
    for version, value, lower, upper, highlight in sorted(drawn, key=lambda d: d[4]):  # highlighted on top
        colour = PALETTE[1] if highlight else PALETTE[0]
        cx, cy = px(float(version), value)
        interval = ""
        if lower is not None and upper is not None:
            (_, ly), (_, uy) = px(xlo, lower), px(xlo, upper)
            parts.append(
                f'<line x1="{cx:.1f}" y1="{ly:.1f}" x2="{cx:.1f}" y2="{uy:.1f}" stroke="{colour}" '
                f'stroke-width="{stroke}"/>'
            )
            interval = f" ({_tick(lower)} – {_tick(upper)})"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius + 1.5 if highlight else radius}" fill="{colour}">'
            f"<title>v{version}: {_tick(value)}{interval}</title></circle>"
        )
        if highlight:
            parts.append(
                f'<text x="{cx + 6:.1f}" y="{max(cy - 8, _T + 10):.1f}" fill="{colour}" font-weight="600" '
                f'stroke="#fff" stroke-width="3" paint-order="stroke">v{version}</text>'
            )
    return _svg(parts)


# -- reference against current, small enough for a table cell (drift overlays) ---------------------

REFERENCE_COLOUR, CURRENT_COLOUR = "#8c959f", "#0969da"
"""Reference grey and current blue, as the console's stylesheet names them (``--ref``, ``--cur``)."""

_OW, _OH, _OL, _OR, _OT, _OB = 260, 112, 8, 8, 18, 18  # overlay size and margins


def _overlay_key(reference_rows: int, current_rows: int) -> list[str]:
    """The legend line of an overlay: the two colours and how many rows each side has."""
    return [
        f'<rect x="{_OL}" y="4" width="9" height="9" fill="{REFERENCE_COLOUR}" fill-opacity="0.6"/>',
        f'<text x="{_OL + 13}" y="12">reference (n={reference_rows:,})</text>',
        f'<rect x="{_OW / 2 + 6:.0f}" y="4" width="9" height="9" fill="none" stroke="{CURRENT_COLOUR}" '
        'stroke-width="2"/>',
        f'<text x="{_OW / 2 + 19:.0f}" y="12">current (n={current_rows:,})</text>',
    ]


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(title)}" style="font:10px system-ui,sans-serif"><title>{_e(title)}</title>'
    )


def overlay_histogram_svg(
    title: str,
    bin_edges: Sequence[float],
    reference_shares: Sequence[float],
    current_shares: Sequence[float],
    reference_rows: int,
    current_rows: int,
) -> Markup:
    """Two histograms on the same bins: the reference as grey bars, the current data as a blue outline.

    Heights are shares of each side's rows, so samples of different sizes compare directly; each
    bin's ``<title>`` gives both shares.
    """
    edges = [float(e) for e in bin_edges]
    lo, hi = (edges[0], edges[-1]) if len(edges) > 1 and edges[-1] > edges[0] else (0.0, 1.0)
    top = max([*reference_shares, *current_shares, 1e-9]) * 1.08
    x0, x1, y0, y1 = _OL, _OW - _OR, _OH - _OB, _OT

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    def sy(share: float) -> float:
        return y0 - share / top * (y0 - y1)

    parts = [_open(title, _OW, _OH), *_overlay_key(reference_rows, current_rows)]
    step: list[str] = []
    for a, b, ref, cur in zip(edges, edges[1:], reference_shares, current_shares):
        xa, xb = sx(a), sx(b)
        parts.append(
            f'<rect x="{xa:.1f}" y="{sy(ref):.1f}" width="{max(xb - xa - 0.5, 0.5):.1f}" '
            f'height="{y0 - sy(ref):.1f}" fill="{REFERENCE_COLOUR}" fill-opacity="0.6">'
            f"<title>{a:.4g} to {b:.4g}: reference {ref:.1%}, current {cur:.1%}</title></rect>"
        )
        step.append(f"{xa:.1f},{sy(cur):.1f} {xb:.1f},{sy(cur):.1f}")
    if step:
        parts.append(
            f'<polyline points="{sx(lo):.1f},{y0:.1f} {" ".join(step)} {sx(hi):.1f},{y0:.1f}" fill="none" '
            f'stroke="{CURRENT_COLOUR}" stroke-width="1.6"/>'
        )
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>')
    ticks = [t for t in _nice_ticks(lo, hi, 4) if lo <= t <= hi] if hi > lo else []
    for t in ticks:
        parts.append(f'<text x="{sx(t):.1f}" y="{y0 + 12}" text-anchor="middle">{_tick(t)}</text>')
    return _svg(parts)


def category_bars_svg(
    title: str,
    levels: Sequence[str],
    reference_shares: Sequence[float],
    current_shares: Sequence[float],
    reference_rows: int,
    current_rows: int,
) -> Markup:
    """Per level two bars side by side, the reference's share (grey) over the current one (blue),
    and both shares in words at the end of the row."""
    row, label_w, bar_w = 18, 92, _OW - 92 - 64
    height = _OT + 4 + row * len(levels)
    top = max([*reference_shares, *current_shares, 1e-9])
    parts = [_open(title, _OW, height), *_overlay_key(reference_rows, current_rows)]
    for i, (level, ref, cur) in enumerate(zip(levels, reference_shares, current_shares)):
        y = _OT + 4 + i * row
        tip = f"<title>{_e(level)}: reference {ref:.1%}, current {cur:.1%}</title>"
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{tip}{_e(_short(level, 16))}</text>')
        for j, (share, colour) in enumerate(((ref, REFERENCE_COLOUR), (cur, CURRENT_COLOUR))):
            w = max(share / top * bar_w, 0.5)
            parts.append(
                f'<rect x="{label_w}" y="{y + 1 + j * 7}" width="{w:.1f}" height="6" fill="{colour}">{tip}</rect>'
            )
        parts.append(f'<text x="{label_w + bar_w + 4}" y="{y + 11}" fill="#555">{ref:.0%} → {cur:.0%}</text>')
    return _svg(parts)


# -- live monitoring: windows over time and drift share per batch ------------------------------------


@dataclass(frozen=True)
class WindowPoint:
    """One live window on the monitoring chart: the metric with its interval and the level tolerated then."""

    label: str
    value: float
    lower: float | None
    upper: float | None
    level: float | None
    """The tolerated level for the version that scored it (None: unknown)."""
    color: str = PALETTE[0]
    muted: bool = False
    """Drawn grey: e.g. a window with too few rows to count."""
    tick: str = ""
    """The short text under the window (default: ``label``)."""


def _legend(parts: list[str], x: float, y: float, legend: Sequence[tuple[str, str]]) -> None:
    """Coloured keys in a row from (x, y): (name, colour) pairs."""
    for name, colour in legend:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10" fill="{_e(colour)}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 1:.1f}">{_e(name)}</text>'
        )
        x += 22 + 6.5 * len(name)


def live_windows_svg(
    title: str,
    y_label: str,
    points: Sequence[WindowPoint],
    higher_is_better: bool = True,
    legend: Sequence[tuple[str, str]] = (),
) -> Markup:
    """The metric of each live window, oldest on the left, with its 95% interval as a whisker and the
    tolerated level as a dashed red step (a line while the champion stays the same).

    A window whose whole interval lies beyond the level (below it, or above it for an error metric)
    is drawn red: that is what counts towards a performance drop.
    """
    n = len(points)
    width = max(440, _XL + _XR + 40 * n)
    ys = [float(v) for p in points for v in (p.value, p.lower, p.upper, p.level) if v is not None and _finite(v)]
    ylo, yhi = _extent(ys)
    top, bottom = _T + 14, _H - _B
    slot = (width - _XL - _XR) / max(n, 1)

    def sy(v: float) -> float:
        return bottom - (v - ylo) / (yhi - ylo) * (bottom - top)

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{_H}" viewBox="0 0 {width:.0f} {_H}" '
            f'role="img" aria-label="{_e(title)}" style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="600">{_e(title)}</text>',
        f'<rect x="{_XL}" y="{top}" width="{width - _XL - _XR:.1f}" height="{bottom - top}" '
        'fill="none" stroke="#999"/>',
    ]
    _legend(parts, _XL, top - 6, [*legend, ("tolerated level", "#cf222e")])
    for t in _nice_ticks(ylo, yhi):
        ty = sy(t)
        parts.append(f'<line x1="{_XL}" y1="{ty:.1f}" x2="{width - _XR:.1f}" y2="{ty:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{_XL - 5}" y="{ty + 4:.1f}" text-anchor="end">{_tick(t)}</text>')
    parts.append(
        f'<text x="12" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(top + bottom) / 2:.1f})">{_e(y_label)}</text>'
    )
    parts.append(
        f'<text x="{(_XL + width - _XR) / 2:.1f}" y="{_H - 8}" text-anchor="middle">live windows, oldest first</text>'
    )
    for i, p in enumerate(points):
        cx = _XL + slot * (i + 0.5)
        if p.level is not None and _finite(p.level):
            ly = sy(float(p.level))
            parts.append(
                f'<line x1="{_XL + slot * i:.1f}" y1="{ly:.1f}" x2="{_XL + slot * (i + 1):.1f}" y2="{ly:.1f}" '
                f'stroke="#cf222e" stroke-dasharray="5 3"><title>tolerated level {p.level:.4g}</title></line>'
            )
        beyond = (
            p.level is not None
            and p.lower is not None
            and p.upper is not None
            and ((p.upper < p.level) if higher_is_better else (p.lower > p.level))
        )
        colour = "#999" if p.muted else "#cf222e" if beyond else p.color
        if p.lower is not None and p.upper is not None and _finite(p.lower) and _finite(p.upper):
            y0, y1 = sy(float(p.lower)), sy(float(p.upper))
            parts.append(
                f'<line x1="{cx:.1f}" y1="{y0:.1f}" x2="{cx:.1f}" y2="{y1:.1f}" '
                f'stroke="{_e(colour)}" stroke-width="2"/>'
                f'<line x1="{cx - 5:.1f}" y1="{y0:.1f}" x2="{cx + 5:.1f}" y2="{y0:.1f}" stroke="{_e(colour)}"/>'
                f'<line x1="{cx - 5:.1f}" y1="{y1:.1f}" x2="{cx + 5:.1f}" y2="{y1:.1f}" stroke="{_e(colour)}"/>'
            )
        if _finite(p.value):
            interval = f" [{p.lower:.4g}, {p.upper:.4g}]" if p.lower is not None and p.upper is not None else ""
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{sy(float(p.value)):.1f}" r="4" fill="{_e(colour)}">'
                f"<title>{_e(p.label)}: {p.value:.4g}{interval}</title></circle>"
            )
        if n <= 24:
            parts.append(
                f'<text x="{cx:.1f}" y="{bottom + 14}" text-anchor="middle"><title>{_e(p.label)}</title>'
                f"{_e(_short(p.tick or p.label, max(3, int(slot // 6.5))))}</text>"
            )
    return _svg(parts)


@dataclass(frozen=True)
class Bar:
    """One bar of a share chart (a share between 0 and 1)."""

    label: str
    share: float
    color: str = PALETTE[0]
    tick: str = ""
    """The short text under the bar (default: ``label``)."""


def share_bars_svg(
    title: str, bars: Sequence[Bar], threshold: float | None = None, legend: Sequence[tuple[str, str]] = ()
) -> Markup:
    """Vertical bars of shares (0 to 100%), oldest on the left, with an optional dashed threshold;
    bars at or above it are drawn red."""
    n = len(bars)
    width = max(440, _XL + _XR + 40 * n)
    top, bottom = _T + 14, _H - _B
    slot = (width - _XL - _XR) / max(n, 1)

    def sy(v: float) -> float:
        return bottom - min(max(v, 0.0), 1.0) * (bottom - top)

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{_H}" viewBox="0 0 {width:.0f} {_H}" '
            f'role="img" aria-label="{_e(title)}" style="font:11px system-ui,sans-serif">'
        ),
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="600">{_e(title)}</text>',
        f'<rect x="{_XL}" y="{top}" width="{width - _XL - _XR:.1f}" height="{bottom - top}" '
        'fill="none" stroke="#999"/>',
    ]
    _legend(
        parts, _XL, top - 6, [*legend, *((("at or over the threshold", "#cf222e"),) if threshold is not None else ())]
    )
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        ty = sy(t)
        parts.append(f'<line x1="{_XL}" y1="{ty:.1f}" x2="{width - _XR:.1f}" y2="{ty:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{_XL - 5}" y="{ty + 4:.1f}" text-anchor="end">{t:.0%}</text>')
    for i, b in enumerate(bars):
        x = _XL + slot * i + slot * 0.15
        share = float(b.share) if _finite(b.share) else 0.0
        red = threshold is not None and share >= threshold
        y = sy(share)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{max(bottom - y, 0.5):.1f}" '
            f'fill="{"#cf222e" if red else _e(b.color)}" fill-opacity="0.8"><title>{_e(b.label)}: '
            f"{share:.0%} of features drifted</title></rect>"
        )
        if n <= 24:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{bottom + 14}" text-anchor="middle"><title>{_e(b.label)}</title>'
                f"{_e(_short(b.tick or b.label, max(3, int(slot // 6.5))))}</text>"
            )
    if threshold is not None:
        ty = sy(threshold)
        parts.append(
            f'<line x1="{_XL}" y1="{ty:.1f}" x2="{width - _XR:.1f}" y2="{ty:.1f}" stroke="#333" stroke-dasharray="5 3">'
            f"<title>retrain on drift at {threshold:.0%}</title></line>"
        )
    parts.append(
        f'<text x="{(_XL + width - _XR) / 2:.1f}" y="{_H - 8}" text-anchor="middle">batches, oldest first</text>'
    )
    return _svg(parts)


# -- the threshold view and feature importance (binary threshold metrics; any task's importance) ----


def threshold_svg(
    title: str,
    thresholds: Sequence[float],
    lines: Sequence[tuple[str, Sequence[float | None]]],
    marked: float | None = None,
) -> Markup:
    """Metrics in [0, 1] against the decision threshold, one line per ``(name, values)``, with the
    threshold in use marked by a dashed vertical line; an undefined value (None) breaks its line."""
    parts = _frame(title, "decision threshold", "value")
    if marked is not None:
        (mx, my0), (_, my1) = _px(_clip(marked), 0.0), _px(_clip(marked), 1.0)
        parts.append(
            f'<line x1="{mx:.1f}" y1="{my0:.1f}" x2="{mx:.1f}" y2="{my1:.1f}" stroke="#333" stroke-dasharray="4 3">'
            f"<title>decision threshold {marked:g}</title></line>"
            f'<text x="{mx + 3:.1f}" y="{my1 + 10:.1f}" fill="#333">{marked:g}</text>'
        )
    dashes = ("", ' stroke-dasharray="6 3"', ' stroke-dasharray="2 2"', ' stroke-dasharray="8 2 2 2"')
    for i, (name, values) in enumerate(lines):
        colour, dash = PALETTE[i % len(PALETTE)], dashes[i % len(dashes)]
        run: list[tuple[float, float]] = []
        runs = [run]
        for t, v in zip(thresholds, values):
            if _finite(t) and _finite(v):
                run.append(_px(_clip(float(t)), _clip(float(v))))  # type: ignore[arg-type]
            elif run:
                run = []
                runs.append(run)
        for points in (r for r in runs if r):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}>'
                f"<title>{_e(name)}</title></polyline>"
            )
        lx, ly = (_L + _W - _R) // 2 - 30, _H - _B - 10 - 14 * (len(lines) - 1 - i)  # bottom centre: the
        # metrics meet low there only when the model is poor
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
            f'<text x="{lx + 20}" y="{ly}">{_e(name)}</text>'
        )
    return _svg(parts)
