"""A run's report files: JSON (SPEC §5), self-contained HTML with SVG plots, flat CSV and an XLSX workbook.

:func:`write_run_report` writes them into the run directory (each atomically: a temporary file renamed
over the target), :func:`load_run` reads a run's ``report.json`` back, :func:`summarise` renders the
multi-line summary printed by ``arbctl report RUN_DIR`` (:func:`report_command`) and at the end of a
``launch.py`` run.

The HTML needs no plotting library: latency percentile bars and the cumulative PnL curve are plain SVG.
The PnL curve comes from the audit log's fills when the audit log is given (gross KRW, booked each time
a pair is flat again), otherwise from the report's ``extra.pnl_timeline`` (net KRW per completed pair).
"""
from __future__ import annotations

import csv
import html
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.clock import kst_datetime

__all__ = [
    "REPORT_FILES",
    "flatten",
    "load_run",
    "pnl_curve_from_audit",
    "render_html",
    "summarise",
    "write_run_report",
]

#: The files :func:`write_run_report` writes, in order.
REPORT_FILES = ("report.json", "report.html", "report.csv", "report.xlsx")
_CORE_LATENCIES = ("tick_to_signal", "signal_to_send", "send_to_ack", "unhedged")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(allow_nan=False)`` accepts (numpy → Python, NaN → None)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted ``(key, value)`` pairs of a nested dict/list (list items by index); scalars as they are."""
    out: list[tuple[str, Any]] = []
    if isinstance(obj, Mapping):
        if not obj and prefix:
            out.append((prefix, ""))
        for key, value in obj.items():
            out.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(obj, (list, tuple)):
        if not obj and prefix:
            out.append((prefix, ""))
        for i, value in enumerate(obj):
            out.extend(flatten(value, f"{prefix}.{i}"))
    else:
        out.append((prefix, "" if obj is None else obj))
    return out


def _fmt_num(value: Any, digits: int = 0, sign: bool = False) -> str:
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:{'+' if sign else ''},.{digits}f}"
    return text


def _fmt_ms(value: Any) -> str:
    if value is None:
        return "–"
    number = float(value)
    return f"{number:.2f}" if number < 100 else f"{number:,.0f}"


def _ts(t_ns: Any) -> str:
    try:
        return kst_datetime(int(t_ns)).strftime("%H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


# ------------------------------------------------------------------------------------------------
# PnL curve from the audit log
# ------------------------------------------------------------------------------------------------
def _side(value: Any) -> str | None:
    text = str(value).strip().upper()
    if text in ("BUY", "B", "1", "+매수", "매수", "+BUY"):
        return "BUY"
    if text in ("SELL", "S", "2", "-매도", "매도", "-SELL"):
        return "SELL"
    return None


def pnl_curve_from_audit(audit_path: str | os.PathLike[str]) -> list[tuple[int, float]]:
    """Cumulative gross PnL (KRW, before fees and tax) from the audit log's ``fill`` rows.

    Fills are grouped by ``pair_id`` (by ``symbol`` when there is none); each time a group's bought and
    sold quantities are equal again its cash flow (sell − buy) is booked. Returns ``[(t_ns, cum_krw)]``
    in time order; empty when the log has no usable fills.

    Raises:
      FileNotFoundError: If there is no audit log at ``audit_path``.
    """
    from outputs.audit import read_audit

    df = read_audit(audit_path)
    if df.empty or "event_type" not in df.columns:
        return []
    fills = df[df["event_type"].astype(str) == "fill"]
    groups: dict[str, list[float]] = {}      # key → [buy_qty, sell_qty, cash]
    curve: list[tuple[int, float]] = []
    cum = 0.0
    rows = []
    for rec in fills.to_dict("records"):
        side = _side(rec.get("side"))
        qty = _number(rec.get("fill_qty"))
        qty = _number(rec.get("qty")) if qty is None else qty
        px = _number(rec.get("fill_px"))
        px = _number(rec.get("price")) if px is None else px
        t_ns = _whole(rec.get("t_ns"))
        if side is None or not qty or px is None or t_ns is None:
            continue
        key = str(rec.get("pair_id") or "") or f"symbol:{rec.get('symbol')}"
        rows.append((int(t_ns), side, qty, px, key))
    rows.sort(key=lambda r: r[0])
    for t_ns, side, qty, px, key in rows:
        g = groups.setdefault(key, [0.0, 0.0, 0.0])
        if side == "BUY":
            g[0] += qty
            g[2] -= qty * px
        else:
            g[1] += qty
            g[2] += qty * px
        if g[0] == g[1] and g[0] > 0:
            cum += g[2]
            curve.append((t_ns, cum))
            groups[key] = [0.0, 0.0, 0.0]
    return curve


def _whole(value: Any) -> int | None:
    """An exact int from a cell (int or integral text; ns timestamps exceed float precision), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        number = _number(value)
        return int(number) if number is not None and number.is_integer() else None


def _number(value: Any) -> float | None:
    """A finite float from a cell (int, float, numeric text), or None for empty, NA and text."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------------------------------------
# SVG plots
# ------------------------------------------------------------------------------------------------
_COLORS = {"p50": "#4c78a8", "p95": "#f58518", "p99": "#e45756"}


def _svg_latency(report: Mapping[str, Any]) -> str:
    lat = dict(report.get("latency_ms") or {})
    extra_lat = (report.get("extra") or {}).get("latency_ms") or {}
    lat.update({k: v for k, v in extra_lat.items() if k not in lat})
    slo = (report.get("extra") or {}).get("slo") or {}
    rows = [(name, s) for name, s in lat.items() if isinstance(s, Mapping) and s.get("n")]
    if not rows:
        return "<p class='muted'>No latency samples.</p>"
    vmax = max(max(float(s.get(p) or 0) for p in ("p50", "p95", "p99")) for _, s in rows)
    for name, _ in rows:
        target = (slo.get(name) or {}).get("target_p95_ms")
        if target:
            vmax = max(vmax, float(target))
    vmax = vmax or 1.0
    label_w, bar_w, bar_h, gap = 130, 420, 12, 10
    height = len(rows) * (3 * bar_h + gap) + 30
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 90}' height='{height}' "
             f"role='img' aria-label='latency percentiles'>"]
    y = 10
    for name, s in rows:
        parts.append(f"<text x='0' y='{y + 1.5 * bar_h + 4}' font-size='12'>{html.escape(name)}</text>")
        for i, p in enumerate(("p50", "p95", "p99")):
            v = float(s.get(p) or 0)
            w = max(1.0, bar_w * v / vmax)
            yy = y + i * bar_h
            parts.append(f"<rect x='{label_w}' y='{yy}' width='{w:.1f}' height='{bar_h - 2}' "
                         f"fill='{_COLORS[p]}'><title>{name} {p} {v:.3f} ms</title></rect>")
            parts.append(f"<text x='{label_w + w + 4:.1f}' y='{yy + bar_h - 3}' font-size='10'>"
                         f"{p} {_fmt_ms(v)}</text>")
        target = (slo.get(name) or {}).get("target_p95_ms")
        if target:
            x = label_w + bar_w * float(target) / vmax
            parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y - 2}' y2='{y + 3 * bar_h}' stroke='#333' "
                         f"stroke-dasharray='3,2'><title>p95 target {target} ms</title></line>")
        y += 3 * bar_h + gap
    parts.append(f"<text x='{label_w}' y='{height - 6}' font-size='10' fill='#666'>ms (scale 0–{_fmt_ms(vmax)}); "
                 f"dashed line = p95 target</text></svg>")
    return "".join(parts)


def _svg_pnl(series: Sequence[tuple[int, float]], label: str) -> str:
    if not series:
        return "<p class='muted'>No completed pairs with fills.</p>"
    w, h, pad_l, pad_b, pad_t = 640, 220, 70, 30, 10
    base_ns = min(int(t) for t, _ in series)
    ts = [(int(t) - base_ns) / 1e9 for t, _ in series]      # seconds since the first point
    vs = [float(v) for _, v in series]
    t0, t1 = min(ts), max(ts)
    lo, hi = min(0.0, min(vs)), max(0.0, max(vs))
    if hi == lo:
        hi = lo + 1.0
    if t1 == t0:
        t1 = t0 + 1.0

    def x(t: float) -> float:
        return pad_l + (w - pad_l - 10) * (t - t0) / (t1 - t0)

    def y(v: float) -> float:
        return pad_t + (h - pad_t - pad_b) * (hi - v) / (hi - lo)

    points = [(x(ts[0]), y(0.0))]
    prev = 0.0
    for t, v in zip(ts, vs, strict=True):
        points.append((x(t), y(prev)))
        points.append((x(t), y(v)))
        prev = v
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    color = "#2ca02c" if vs[-1] >= 0 else "#d62728"
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' "
            f"aria-label='cumulative PnL'>"
            f"<line x1='{pad_l}' x2='{w - 10}' y1='{y(0):.1f}' y2='{y(0):.1f}' stroke='#999'/>"
            f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{path}'/>"
            f"<text x='{pad_l - 6}' y='{y(hi) + 10:.1f}' font-size='10' text-anchor='end'>{_fmt_num(hi)}</text>"
            f"<text x='{pad_l - 6}' y='{y(lo):.1f}' font-size='10' text-anchor='end'>{_fmt_num(lo)}</text>"
            f"<text x='{pad_l - 6}' y='{y(0) + 4:.1f}' font-size='10' text-anchor='end'>0</text>"
            f"<text x='{pad_l}' y='{h - 8}' font-size='10'>{_ts(base_ns)}</text>"
            f"<text x='{w - 10}' y='{h - 8}' font-size='10' text-anchor='end'>"
            f"{_ts(base_ns + round(max(ts) * 1e9))}</text>"
            f"<text x='{(w + pad_l) / 2:.0f}' y='{h - 8}' font-size='10' text-anchor='middle' fill='#666'>"
            f"{html.escape(label)} (KRW, Asia/Seoul time)</text></svg>")


# ------------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = "" if cell is None else str(cell)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        return "<p class='muted'>None.</p>"
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Mapping[str, Any], pnl_series: Sequence[tuple[int, float]] | None = None,
                pnl_label: str = "cumulative PnL") -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no external resources)."""
    extra = report.get("extra") or {}
    pairs = report.get("pairs") or {}
    orders = report.get("orders") or {}
    pnl = report.get("pnl_krw") or {}
    period = extra.get("period") or {}
    net_pos = report.get("net_position") or {}
    not_flat = {c: q for c, q in net_pos.items() if q}
    esc = html.escape

    summary_rows = [
        ("Backend", report.get("backend")), ("Symbols", report.get("symbols")),
        ("Period", f"{period.get('first_ts') or '–'} → {period.get('last_ts') or '–'}"),
        ("Ticks", _fmt_num(report.get("ticks"))), ("Signals", _fmt_num(report.get("signals"))),
        ("Pairs done / failed / escalated",
         f"{pairs.get('done', 0)} / {pairs.get('failed', 0)} / {pairs.get('escalated', 0)}"),
        ("Orders sent / cancels / rejects / timeouts",
         f"{orders.get('sent', 0)} / {orders.get('cancels', 0)} / {orders.get('rejects', 0)} / "
         f"{orders.get('timeouts', 0)}"),
        ("Max orders in any 1 s", orders.get("max_in_any_1s")),
        ("PnL gross / fees / tax / net (KRW)",
         f"{_fmt_num(pnl.get('gross'), sign=True)} / {_fmt_num(pnl.get('fees'))} / {_fmt_num(pnl.get('tax'))} / "
         f"{_fmt_num(pnl.get('net'), sign=True)}"
         + (f" (open shares at their last fill; cash flows alone {_fmt_num(pnl.get('cash_net'), sign=True)})"
            if pnl.get("marked_at_last_fill") else "")),
        ("End position", "flat" if not not_flat
         else "NOT FLAT: " + ", ".join(f"{c} {q:+d}" for c, q in not_flat.items())),
    ]
    slo = extra.get("slo") or {}
    lat_rows = []
    all_lat = dict(report.get("latency_ms") or {})
    all_lat.update({k: v for k, v in (extra.get("latency_ms") or {}).items() if k not in all_lat})
    for name, s in all_lat.items():
        target = (slo.get(name) or {}).get("target_p95_ms")
        met = (slo.get(name) or {}).get("met")
        lat_rows.append((name, _fmt_ms(s.get("p50")), _fmt_ms(s.get("p95")), _fmt_ms(s.get("p99")), s.get("n", 0),
                         target if target is not None else "", "" if met is None else ("✓" if met else "✗")))
    sym_rows = [(r.get("code"), r.get("signals"), r.get("pairs_done"), r.get("pairs_failed"), r.get("fills"),
                 r.get("net_position"), _fmt_num(r.get("gross_krw"), sign=True), _fmt_num(r.get("fees_krw")),
                 _fmt_num(r.get("tax_krw")), _fmt_num(r.get("net_krw"), sign=True),
                 _fmt_num(r.get("avg_net_bps"), 2, sign=True), r.get("rejects"), r.get("timeouts"),
                 _fmt_ms(r.get("unhedged_p95_ms")))
                for r in extra.get("symbols_table") or []]
    ks_rows = [(e.get("ts"), e.get("kind"), e.get("code"), e.get("reason"))
               for e in report.get("kill_switch_events") or []]
    err_rows = [(e.get("ts"), e.get("source"), e.get("message")) for e in report.get("errors") or []]
    ap = extra.get("auto_pause") or {}
    ap_rows = [(e.get("start"), e.get("end"), f"{e.get('duration_s', 0):.1f}", _fmt_num(e.get("peak_utilisation"), 2))
               for e in ap.get("episodes") or []]
    tokens = extra.get("tokens") or {}
    ord_x = extra.get("orders") or {}
    bottleneck_rows = [
        ("Time at ≥ auto-pause threshold (s)", _fmt_num(tokens.get("time_at_or_above_threshold_s"), 1)),
        ("Auto-pause episodes / total (s)", f"{ap.get('count', 0)} / {_fmt_num(ap.get('total_s'), 1)}"),
        ("Tokens free: min / mean", f"{_fmt_num(tokens.get('min_free'))} / {_fmt_num(tokens.get('mean_free'), 2)}"),
        ("Max orders utilisation", _fmt_num(tokens.get("max_utilisation"), 2)),
        ("Reject rate / timeout rate (of attempts)",
         f"{_fmt_num((ord_x.get('reject_rate') or 0) * 100, 2)} % / "
         f"{_fmt_num((ord_x.get('timeout_rate') or 0) * 100, 2)} %"),
        ("Orders refused by SendOrder / denied by the throttler",
         f"{ord_x.get('refused', 0)} / {ord_x.get('denied', 0)}"),
    ]
    series = list(pnl_series) if pnl_series else [tuple(p) for p in extra.get("pnl_timeline") or []]
    label = pnl_label if pnl_series else "cumulative net PnL per completed pair"
    flat_cls = "ok" if not not_flat else "bad"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>KRX↔NXT run report — {esc(str(report.get('backend', '')))}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans KR",sans-serif;margin:24px;color:#222}}
h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;margin:8px 0;font-size:13px}}
th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}} th{{background:#f4f4f4}}
td:first-child,th:first-child{{text-align:left}} .muted{{color:#777}}
.ok{{color:#2ca02c;font-weight:600}} .bad{{color:#d62728;font-weight:600}}
</style></head><body>
<h1>KRX↔NXT arbitrage — run report</h1>
<p class="{flat_cls}">{'Ended flat.' if not not_flat else 'NOT FLAT at the end of the run.'}</p>
<h2>Summary</h2>{_table(("", ""), summary_rows)}
<h2>Latency (ms)</h2>{_table(("stage", "p50", "p95", "p99", "n", "p95 target", "met"), lat_rows)}
{_svg_latency(report)}
<h2>Cumulative PnL</h2>{_svg_pnl(series, label)}
<h2>Per-symbol league table</h2>
{_table(("code", "signals", "done", "failed", "fills", "net pos", "gross", "fees", "tax", "net", "avg bps",
         "rejects", "timeouts", "unhedged p95 ms"), sym_rows)}
{_account_html(report)}
<h2>Bottlenecks</h2>{_table(("", ""), bottleneck_rows)}
<h2>Auto-pause episodes</h2>{_table(("start", "end", "seconds", "peak utilisation"), ap_rows)}
<h2>Kill-switch events</h2>{_table(("time", "kind", "code", "reason"), ks_rows)}
<h2>Errors</h2>{_table(("time", "source", "message"), err_rows)}
</body></html>
"""


def _account_html(report: Mapping[str, Any]) -> str:
    """The account sections of the HTML report: inventory, reconciliation, FLATTEN FAILED, broker costs."""
    extra = report.get("extra") or {}
    acct = extra.get("account") or {}
    inv = report.get("inventory") or {}
    inv_rows = [(c, r.get("start"), r.get("end"), r.get("net"), r.get("unexplained")) for c, r in sorted(inv.items())
                if r.get("start") != r.get("end") or r.get("net") or r.get("unexplained")]
    acct_rows = [("Cash start / end (KRW)", f"{_fmt_num(acct.get('cash_start_krw'))} / "
                                            f"{_fmt_num(acct.get('cash_end_krw'))}"),
                 ("Codes held / untradeable", f"{acct.get('held_codes', 0)} / {acct.get('untradeable_count', 0)}"),
                 ("Untradeable codes (never tried)", ", ".join(acct.get("untradeable") or []) or "none"),
                 ("Signals refused by the account", ", ".join(f"{k} {v}" for k, v in
                                                              (acct.get("refused_signals") or {}).items()) or "none"),
                 ("Broker reports", acct.get("reports")), ("Codes unchanged", sum(
                     1 for r in inv.values() if r.get("start") == r.get("end")))]
    rec = extra.get("reconcile") or {}
    mm_rows = [(m.get("ts"), m.get("code"), m.get("expected"), m.get("broker"), m.get("delta"), m.get("source"))
               for m in rec.get("mismatches") or []]
    ff_rows = [(f.get("ts"), f.get("pair_id"), f.get("code"), f.get("venue"), f.get("open_shares"))
               for f in extra.get("flatten_failed") or []]
    bc = extra.get("broker_costs") or {}
    diff_rows = [(d.get("ts"), d.get("pair_id"), d.get("code"), d.get("side"), d.get("qty"), d.get("price"),
                  d.get("fee_ours"), d.get("fee_broker"), d.get("tax_ours"), d.get("tax_broker"))
                 for d in (bc.get("differences") or [])[:200]]
    ours, broker = bc.get("ours") or {}, bc.get("broker") or {}
    return (f"<h2>Account</h2>{_table(('', ''), acct_rows)}"
            f"<h2>Inventory (codes that moved)</h2>"
            f"{_table(('code', 'start', 'end', 'engine net', 'unexplained'), inv_rows)}"
            f"<h2>RECONCILE MISMATCH</h2>{_table(('time', 'code', 'expected', 'broker', 'delta', 'source'), mm_rows)}"
            f"<h2>FLATTEN FAILED</h2>{_table(('time', 'pair', 'code', 'venue', 'open shares'), ff_rows)}"
            f"<h2>Broker fee and tax vs ours</h2><p>{bc.get('fills_compared', 0)} fills compared: fees "
            f"{_fmt_num(broker.get('fees'))} (broker) vs {_fmt_num(ours.get('fees'))} (ours), tax "
            f"{_fmt_num(broker.get('tax'))} vs {_fmt_num(ours.get('tax'))} KRW; fills by tax year "
            f"{html.escape(str(bc.get('fills_by_tax_year')))}.</p>"
            + _table(("time", "pair", "code", "side", "qty", "price", "fee ours", "fee broker", "tax ours",
                      "tax broker"), diff_rows))


# ------------------------------------------------------------------------------------------------
# XLSX
# ------------------------------------------------------------------------------------------------
def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _write_xlsx(report: Mapping[str, Any], path: Path) -> None:
    from openpyxl import Workbook

    extra = report.get("extra") or {}
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws.append(["key", "value"])
    core = {k: v for k, v in report.items() if k not in ("extra", "kill_switch_events", "errors")}
    for key, value in flatten(core):
        ws.append([key, _xlsx_value(value)])
    ws.append(["kill_switch_events", len(report.get("kill_switch_events") or [])])
    ws.append(["errors", len(report.get("errors") or [])])
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 18

    sym = wb.create_sheet("Symbols")
    table = list(extra.get("symbols_table") or [])
    columns = list(table[0].keys()) if table else ["code", "net_position"]
    sym.append(columns)
    if table:
        for row in table:
            sym.append([_xlsx_value(row.get(c)) for c in columns])
    else:
        for code, qty in (report.get("net_position") or {}).items():
            sym.append([code, qty])

    lat = wb.create_sheet("Latency")
    lat.append(["stage", "p50_ms", "p95_ms", "p99_ms", "n", "p95_target_ms"])
    slo = extra.get("slo") or {}
    all_lat = dict(report.get("latency_ms") or {})
    all_lat.update({k: v for k, v in (extra.get("latency_ms") or {}).items() if k not in all_lat})
    for name, s in all_lat.items():
        lat.append([name, s.get("p50"), s.get("p95"), s.get("p99"), s.get("n"),
                    (slo.get(name) or {}).get("target_p95_ms")])

    ev = wb.create_sheet("Events")
    ev.append(["type", "time", "kind/source", "code", "reason/message"])
    for e in report.get("kill_switch_events") or []:
        ev.append(["kill_switch", e.get("ts"), e.get("kind"), e.get("code"), e.get("reason")])
    for e in report.get("errors") or []:
        ev.append(["error", e.get("ts"), e.get("source"), "", e.get("message")])
    for e in (extra.get("auto_pause") or {}).get("episodes") or []:
        ev.append(["auto_pause", e.get("start"), f"{e.get('duration_s', 0):.1f} s", "",
                   f"peak utilisation {e.get('peak_utilisation')}"])

    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------
def write_run_report(report: Mapping[str, Any], run_dir: str | os.PathLike[str],
                     audit_path: str | os.PathLike[str] | None = None) -> list[str]:
    """Write ``report.json``, ``report.html``, ``report.csv`` and ``report.xlsx`` into ``run_dir``.

    Args:
      report: The SPEC §5 report (:meth:`outputs.telemetry_book.TelemetryBook.report`).
      run_dir: The run directory (created if missing).
      audit_path: The run's audit log; when it exists its fills draw the PnL curve.

    Returns:
      The paths written, in :data:`REPORT_FILES` order.

    Raises:
      OSError: If a file cannot be written.
    """
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean = _jsonable(report)
    paths = [out / name for name in REPORT_FILES]

    _atomic_write(paths[0], (json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"))

    series: list[tuple[int, float]] = []
    if audit_path is not None and Path(audit_path).exists():
        series = pnl_curve_from_audit(audit_path)
    html_text = render_html(clean, series or None, "cumulative gross PnL from the audit log's fills")
    _atomic_write(paths[1], html_text.encode("utf-8"))

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "value"])
    for key, value in flatten(clean):
        writer.writerow([key, value])
    _atomic_write(paths[2], buf.getvalue().encode("utf-8"))

    _write_xlsx(clean, paths[3])
    return [str(p) for p in paths]


def export_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> str:
    """Write ``report`` as one CSV (``key,value`` rows) or XLSX workbook (summary, symbols, latency, events)
    at ``path``, chosen by its suffix (the operator window's export of a live or final report).

    Raises:
      ValueError: if the suffix is neither ``.csv`` nor ``.xlsx``.
      OSError: if the file cannot be written.
    """
    target = Path(path)
    clean = _jsonable(report)
    suffix = target.suffix.lower()
    if suffix == ".xlsx":
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_xlsx(clean, target)
    elif suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["key", "value"])
        for key, value in flatten(clean):
            writer.writerow([key, value])
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, buf.getvalue().encode("utf-8"))
    else:
        raise ValueError(f"{target.name}: export as .csv or .xlsx")
    return str(target)


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``report.json`` of a run directory (or the path of a report JSON file itself).

    Raises:
      FileNotFoundError: If there is no report.json there.
      ValueError: If the file is not a JSON object.
    """
    p = Path(run_dir)
    target = p if p.is_file() else p / "report.json"
    if not target.is_file():
        raise FileNotFoundError(f"no report.json in {p}")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{target} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{target} holds a {type(data).__name__}, expected a JSON object")
    return data


def _account_lines(report: Mapping[str, Any]) -> list[str]:
    """The account part of the summary: inventory, untradeable codes, refusals, mismatches, FLATTEN FAILED,
    the broker's fees against ours."""
    extra = report.get("extra") or {}
    acct = extra.get("account")
    inv = report.get("inventory") or {}
    lines: list[str] = []
    if acct:
        moved = {c: r for c, r in inv.items() if r.get("start") != r.get("end") or r.get("net")}
        unexplained = {c: r["unexplained"] for c, r in inv.items() if r.get("unexplained")}
        lines.append(f"  Account: {acct.get('held_codes', 0)} code(s) held, {acct.get('untradeable_count', 0)} "
                     f"untradeable (no sellable shares: never tried); cash {_fmt_num(acct.get('cash_start_krw'))} → "
                     f"{_fmt_num(acct.get('cash_end_krw'))} KRW; reports {acct.get('reports')}")
        untradeable = acct.get("untradeable") or []
        if untradeable and len(untradeable) <= 12:
            lines.append(f"    untradeable: {', '.join(untradeable)}")
        refused = acct.get("refused_signals") or {}
        if refused:
            lines.append("    signals the account refused: " + ", ".join(f"{k} {v}" for k, v in refused.items()))
        lines.append(f"  Inventory: {len(inv)} code(s); start = end for "
                     f"{sum(1 for r in inv.values() if r.get('start') == r.get('end'))}"
                     + ("; changed: " + ", ".join(f"{c} {r['start']}→{r['end']}" for c, r in sorted(moved.items())[:8])
                        if moved else ""))
        if unexplained:
            lines.append("    not explained by the engine's fills: "
                         + ", ".join(f"{c} {q:+d}" for c, q in sorted(unexplained.items())))
    else:
        lines.append("  Account: never reported by the broker (no pair could start)")
    rec = extra.get("reconcile") or {}
    for m in (rec.get("mismatches") or [])[:5]:
        lines.append(f"  RECONCILE MISMATCH {m.get('ts', '')} {m.get('code')}: broker {m.get('broker')}, "
                     f"expected {m.get('expected')} ({m.get('delta'):+d}, {m.get('source')}) → frozen until re-armed")
    for f in (extra.get("flatten_failed") or [])[:5]:
        lines.append(f"  FLATTEN FAILED {f.get('ts', '')} {f.get('code')}: {f.get('open_shares'):+d} shares open "
                     f"({f.get('pair_id')})")
    bc = extra.get("broker_costs") or {}
    if bc.get("fills_compared") or bc.get("fills_not_reported"):
        ours, broker = bc.get("ours") or {}, bc.get("broker") or {}
        diffs = len(bc.get("differences") or []) + int(bc.get("differences_not_listed") or 0)
        lines.append(f"  Broker fee/tax vs ours: {bc.get('fills_compared', 0)} fill(s) compared: fees "
                     f"{_fmt_num(broker.get('fees'))} vs {_fmt_num(ours.get('fees'))}, tax "
                     f"{_fmt_num(broker.get('tax'))} vs {_fmt_num(ours.get('tax'))} KRW; {diffs} fill(s) differ"
                     + (f"; {bc['fills_not_reported']} without the broker's figures" if bc.get("fills_not_reported")
                        else "") + f"; tax years {bc.get('fills_by_tax_year')}")
    return lines


def _shard_lines(shards: Mapping[str, Any]) -> list[str]:
    """The shards' line of the summary: only when a shard ran on a shard host, moved, or the book check failed."""
    systems = shards.get("systems") or {}
    hosted = sorted({s for s in systems.values() if s != "local"})
    moves = shards.get("moves") or []
    check = shards.get("book_check") or {}
    if not (hosted or moves or check.get("mismatched")):
        return []
    text = f"  Shards: {len(systems)} at the end" + (f" ({', '.join(hosted)} hosting some)" if hosted else "")
    if moves:
        text += (f"; {len(moves)} moved to the leader ("
                 + "; ".join(f"{m.get('shard')} from {m.get('from')}: {m.get('why')}" for m in moves[:5]) + ")"
                 + f", {shards.get('gap_steps') or 0} step(s) evaluated without a shard")
    if check:
        text += (f"; book check: {check.get('mismatched', 0)} of {check.get('symbols', 0)} symbols differ from the "
                 f"bridge's last quote")
    return [text]


def summarise(report: Mapping[str, Any]) -> str:
    """A multi-line human summary of a run report (pairs, orders, PnL, position, latency, incidents)."""
    extra = report.get("extra") or {}
    period = extra.get("period") or {}
    pairs = report.get("pairs") or {}
    orders = report.get("orders") or {}
    pnl = report.get("pnl_krw") or {}
    net_pos = report.get("net_position") or {}
    lines = []
    head = f"Run report: backend {report.get('backend', '?')}, {report.get('symbols', 0)} symbols"
    if period.get("first_ts"):
        head += f", {period['first_ts']} → {period.get('last_ts')} ({_fmt_num(period.get('duration_s'), 1)} s)"
    lines.append(head)
    if extra.get("telemetry_lost"):
        lines.append("  TELEMETRY LOST: the counters below cover nothing; only the position is known (see errors)")
    elif extra.get("partial"):
        lines.append("  PARTIAL: the run had not finished when this report was made")
    replay = extra.get("replay")
    if replay:
        lines.append(f"  Replay: {replay.get('description', '')}")
        lines.extend(f"    note: {n}" for n in replay.get("notes") or () if n != replay.get("description"))
    lines.append(f"  Ticks {_fmt_num(report.get('ticks', 0))} · signals {_fmt_num(report.get('signals', 0))}")
    hit = (extra.get("pairs") or {}).get("hit_rate")
    avg_bps = (extra.get("pairs") or {}).get("avg_net_bps")
    pair_line = (f"  Pairs: {pairs.get('done', 0)} done, {pairs.get('failed', 0)} failed, "
                 f"{pairs.get('escalated', 0)} escalated")
    if hit is not None:
        pair_line += f" (hit rate {hit * 100:.1f} %"
        pair_line += f", avg net {avg_bps:+.2f} bps)" if avg_bps is not None else ")"
    lines.append(pair_line)
    ox = extra.get("orders") or {}
    kinds = ox.get("rejects_by_kind") or {}
    reject_text = f"{orders.get('rejects', 0)} rejects"
    if kinds and orders.get("rejects"):
        reject_text += (f" ({kinds.get('broker', 0)} by the broker, {kinds.get('rate_limited', 0)} refused for the "
                        f"order rate (-308), {kinds.get('lost', 0)} lost without ack)")
    lines.append(f"  Orders: {orders.get('sent', 0)} sent, {orders.get('cancels', 0)} cancels, {reject_text}, "
                 f"{orders.get('timeouts', 0)} timeouts, max {orders.get('max_in_any_1s', 0)} in any 1 s"
                 + (f", {ox['denied']} takes denied by the throttler" if ox.get("denied") else ""))
    storms = ox.get("refusal_storms") or []
    if storms:
        first = storms[0]
        lines.append(f"  REFUSAL STORM: {len(storms)} episode(s), the first at {first.get('ts', '')} "
                     f"({first.get('refusals')} refusals in {first.get('window_s')} s); {ox.get('refused', 0)} sends "
                     f"refused for the order rate (-308) in all")
    vi = extra.get("vi") or {}
    if report.get("vi_events") or vi.get("signals_held"):
        held = vi.get("signals_held") or {}
        lines.append(f"  Volatility interruptions: {report.get('vi_events', 0)} started"
                     + (f"; signals held by the market: {', '.join(f'{k} {v}' for k, v in sorted(held.items()))}"
                        if held else "")
                     + (f"; still in VI at the end: {', '.join(vi['in_vi_at_end'])}" if vi.get("in_vi_at_end") else ""))
    conn = extra.get("connection") or {}
    if conn.get("disconnects"):
        lines.append(f"  Connection: {conn['disconnects']} disconnect(s), {conn.get('reconnects', 0)} reconnect(s)")
    alerts = extra.get("alerts") or {}
    if alerts.get("undelivered") or alerts.get("failures"):
        lines.append(f"  Slack: {alerts.get('delivered', 0)} alert(s) delivered in {alerts.get('posts', 0)} post(s), "
                     f"{alerts.get('undelivered', 0)} undelivered, {alerts.get('failures', 0)} failed post(s), "
                     f"{alerts.get('rate_limited', 0)} answered 429"
                     + (f" (last: {alerts['last_error']})" if alerts.get("last_error") else ""))
    lines.extend(_shard_lines(extra.get("shards") or {}))
    lines.append(f"  PnL KRW: gross {_fmt_num(pnl.get('gross'), sign=True)} · fees {_fmt_num(pnl.get('fees'))} · "
                 f"tax {_fmt_num(pnl.get('tax'))} · net {_fmt_num(pnl.get('net'), sign=True)}"
                 + (" (open shares valued at their last fill; cash flows alone "
                    f"{_fmt_num(pnl.get('cash_net'), sign=True)})" if pnl.get("marked_at_last_fill") else ""))
    not_flat = {c: q for c, q in net_pos.items() if q}
    if not_flat:
        lines.append("  Position: NOT FLAT: " + ", ".join(f"{c} {int(q):+d}" for c, q in sorted(not_flat.items())))
    else:
        lines.append(f"  Position: flat ({len(net_pos)} code(s) traded)")
    lines.extend(_account_lines(report))
    lines.append("  Latency ms (p50 / p95 / p99, n):")
    slo = extra.get("slo") or {}
    lat = report.get("latency_ms") or {}
    for name in list(_CORE_LATENCIES) + [k for k in lat if k not in _CORE_LATENCIES]:
        s = lat.get(name)
        if not isinstance(s, Mapping):
            continue
        line = (f"    {name:<15} {_fmt_ms(s.get('p50')):>8} / {_fmt_ms(s.get('p95')):>8} / "
                f"{_fmt_ms(s.get('p99')):>8}  n={s.get('n', 0)}")
        target = (slo.get(name) or {}).get("target_p95_ms")
        met = (slo.get(name) or {}).get("met")
        if target is not None:
            line += f"  p95 target {target}" + ("" if met is None else (" ok" if met else " MISSED"))
        lines.append(line)
    ks = report.get("kill_switch_events") or []
    errs = report.get("errors") or []
    lines.append(f"  Kill-switch events: {len(ks)} · errors: {len(errs)}")
    for e in ks[:5]:
        lines.append(f"    {e.get('ts', '')} {e.get('kind', '')} {e.get('code', '')} {e.get('reason', '')}".rstrip())
    for e in errs[:5]:
        lines.append(f"    {e.get('ts', '')} [{e.get('source', '')}] {e.get('message', '')}".rstrip())
    ap = extra.get("auto_pause") or {}
    if ap.get("count"):
        lines.append(f"  Auto-pause: {ap['count']} episode(s), {_fmt_num(ap.get('total_s'), 1)} s in total")
    return "\n".join(lines)
