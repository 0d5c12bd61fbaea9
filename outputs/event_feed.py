"""The operator's event feed: every execution event as one numbered line, kept in a bounded ring (pure).

Telemetry feeds it every observation (:meth:`EventFeed.consume`); the lines the operator reads are the
seed's feed vocabulary (``BUY_FILL``, ``SELL_FILL``, ``PAIR_DONE``, ``REJECT``, ``CANCEL_SENT``,
``CANCEL_ACK``, ``AUTO-PAUSE ON``/``OFF``, ``HEDGE TIMEOUT``, ``REJECT SPIKE``) plus sends, acks, kill
switches, arming, operator commands and errors. Routine counters (ticks, tokens, latencies, signals)
are not lines. :meth:`EventFeed.since` hands out the lines after a cursor, so an attached window
receives each line once.
"""
from __future__ import annotations

from collections import deque

from core.clock import kst_datetime
from core.enums import Side
from core.observations import (
    AuditEvent,
    AutoPauseChanged,
    ErrorRaised,
    FillBooked,
    HedgeTimedOut,
    KillSwitchTripped,
    Observation,
    OperatorActed,
    OrderAudited,
    PairClosed,
    RejectSpike,
    SessionChanged,
)
from core.operator_view import FeedEntry

__all__ = ["FEED_CAPACITY", "EventFeed", "feed_line"]

#: Lines kept (the newest); a window attaching later sees at most this many of the past.
FEED_CAPACITY = 5_000

_ORDER_KINDS: dict[AuditEvent, tuple[str, str]] = {
    AuditEvent.SEND: ("SEND", "info"),
    AuditEvent.ACK: ("ACK", "info"),
    AuditEvent.CANCEL_SEND: ("CANCEL_SENT", "info"),
    AuditEvent.CANCEL_CONFIRMED: ("CANCEL_ACK", "info"),
    AuditEvent.REJECT: ("REJECT", "warn"),
    AuditEvent.SEND_REFUSED: ("SEND_REFUSED", "warn"),
    AuditEvent.TIMEOUT: ("TIMEOUT", "warn"),
    AuditEvent.DENIED: ("DENIED", "info"),
}


def _hhmmss(t_ns: int | None) -> str:
    return kst_datetime(t_ns).strftime("%H:%M:%S") if t_ns else "-"


def _order_text(obs: OrderAudited) -> str:
    parts = [p for p in (str(obs.role) if obs.role else "", str(obs.side) if obs.side else "",
                         obs.code + (f"@{obs.venue}" if obs.venue else "")) if p]
    if obs.qty is not None:
        parts.append(f"qty {obs.qty}")
    if obs.style is not None:
        parts.append(str(obs.style))
    if obs.price:
        parts.append(f"px {obs.price:,}")
    if obs.order_no:
        parts.append(f"no {obs.order_no}")
    if obs.message:
        parts.append(f"— {obs.message}")
    return " ".join(parts)


def feed_line(obs: Observation) -> tuple[str, str, str, str, str] | None:
    """``(kind, code, pair_id, text, level)`` of the feed line for ``obs``, or None when it is not a line."""
    if isinstance(obs, OrderAudited):
        if obs.event is AuditEvent.FILL:
            kind = "BUY_FILL" if obs.side is Side.BUY else "SELL_FILL"
            venue = f"@{obs.venue}" if obs.venue else ""
            text = f"{kind} {obs.code}{venue} qty {obs.fill_qty} px {obs.fill_px or 0:,} ({obs.role or 'order'})"
            return kind, obs.code, obs.pair_id, text, "info"
        if obs.event in _ORDER_KINDS:
            kind, level = _ORDER_KINDS[obs.event]
            if obs.event is AuditEvent.SEND and obs.wire_code not in (None, 0):
                kind, level = "SEND_REFUSED", "warn"
            # a cancel's audit row names the order it cancels, not the code: the pair id begins with it
            code = obs.code or (obs.pair_id.split("-", 1)[0] if obs.pair_id else "")
            text = _order_text(obs) if obs.code else f"{code} {_order_text(obs)} (pair {obs.pair_id})".strip()
            return kind, code, obs.pair_id, f"{kind} {text}", level
        return None           # accepted, broker messages: the audit log has them
    if isinstance(obs, PairClosed):
        cash = obs.cash
        bps = cash.net_bps
        money = f"net {cash.net_krw:+,.0f} KRW" + (f" ({bps:+.1f} bps)" if bps is not None else "")
        if obs.done:
            kind = "PAIR_DONE"
            text = f"PAIR_DONE {obs.code} {money}" + (" escalated" if obs.escalated else "")
            return kind, obs.code, obs.pair_id, text, "info"
        return "PAIR_FAILED", obs.code, obs.pair_id, f"PAIR_FAILED {obs.code} {obs.reason} {money}", "error"
    if isinstance(obs, HedgeTimedOut):
        return ("HEDGE TIMEOUT", obs.code, obs.pair_id,
                f"HEDGE TIMEOUT {obs.code}: {obs.t_hedge_ms} ms elapsed → cancel post, hedge IOC", "warn")
    if isinstance(obs, RejectSpike):
        frozen = f" → frozen {obs.freeze_s} s" if obs.frozen else ""
        return ("REJECT SPIKE", obs.code, "", f"REJECT SPIKE {obs.rejects} rejects/{obs.window_s}s on "
                f"{obs.code}{frozen}", "error")
    if isinstance(obs, AutoPauseChanged):
        kind = "AUTO-PAUSE ON" if obs.on else "AUTO-PAUSE OFF"
        return kind, "", "", f"{kind} (orders/s at {obs.utilisation:.0%} of the cap)", "warn" if obs.on else "info"
    if isinstance(obs, KillSwitchTripped):
        what = f"{obs.code} frozen until {_hhmmss(obs.until_ns)}" if obs.code else "engine DISARMED"
        return "KILL SWITCH", obs.code, "", f"KILL SWITCH {obs.kind}: {what} — {obs.reason}", "error"
    if isinstance(obs, SessionChanged):
        if obs.operation is not None:
            text = f"MARKET {obs.operation.value} (code {obs.raw!r})" + ("" if obs.known else " UNKNOWN")
            return "MARKET", "", "", text, "info" if obs.known else "warn"
        return ("ARMED" if obs.armed else "DISARMED", "", "",
                f"{'ARMED' if obs.armed else 'DISARMED'}: {obs.reason}", "info")
    if isinstance(obs, OperatorActed):
        action = obs.action.value if obs.action is not None else "CONFIG"
        who = f" [{obs.source}]" if obs.source else ""
        return "OPERATOR", obs.code, "", f"OPERATOR {action}{who}: {obs.message}", "info" if obs.applied else "warn"
    if isinstance(obs, ErrorRaised):
        pair = obs.source[5:] if obs.source.startswith("pair ") else ""
        return "ERROR", "", pair, f"ERROR {obs.source}: {obs.message}", "error"
    if isinstance(obs, FillBooked):
        return None           # the audit row of the same fill is the line
    return None


class EventFeed:
    """The bounded, numbered feed (see the module docstring)."""

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        self._lines: deque[FeedEntry] = deque(maxlen=capacity)
        self.seq = 0

    def consume(self, obs: Observation) -> FeedEntry | None:
        """Add the line of ``obs`` (if it is one) and return it."""
        line = feed_line(obs)
        if line is None:
            return None
        self.seq += 1
        kind, code, pair_id, text, level = line
        entry = FeedEntry(self.seq, int(obs.t_ns), kind, code, pair_id, text, level)
        self._lines.append(entry)
        return entry

    def since(self, seq: int, limit: int = 1_000) -> tuple[FeedEntry, ...]:
        """The lines numbered above ``seq``, oldest first, at most the newest ``limit`` of them."""
        if not self._lines or self._lines[-1].seq <= seq:
            return ()
        out: list[FeedEntry] = []
        for e in reversed(self._lines):
            if e.seq <= seq or len(out) >= limit:
                break
            out.append(e)
        out.reverse()
        return tuple(out)

    def __len__(self) -> int:
        return len(self._lines)
