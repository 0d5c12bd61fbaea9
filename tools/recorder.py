"""The market-data recorder (seed 004) on the engine's own bridge logic: ``arbctl record``.

:func:`record` drives a :class:`~kiwoom_bridge.bridge_core.BridgeCore` in this process (no actor system):
it logs in, registers every screen of the universe (KRX codes and the ``_NX`` codes of NXT symbols, ≤100
codes per screen) and advances the clock step by step, writing every real-data event the OpenAPI+
facade delivers as one row of seed 004's daily Parquet files (plus the true sizes ``fid_61``/``fid_71``,
see :mod:`kiwoom_bridge.recording`).

Backends are the engine's: ``sim`` (the emulator fed by the synthetic market), ``replay`` (the emulator fed
by a recording; it ends at the end of the file) and ``kiwoom`` (the real OCX, Windows 32-bit only). With
a simulated backend ``--speed max`` runs in lockstep (``spread_engine.batch_interval_ms`` quanta, jumping
over quiet stretches) and ``--speed X`` follows the wall clock × X; with the real OCX the Qt event loop is
pumped and ``duration_s`` counts wall time.

One row per event, with exactly the values the facade delivered:

* 주식호가잔량 (quote): ``fid_27``/``fid_41`` best ask price, ``fid_28``/``fid_51`` best bid price
  (41/51 are *prices* in Kiwoom's FID table), ``fid_61``/``fid_71`` best ask/bid sizes.
* 주식체결 (trade): ``fid_10`` last price, ``fid_13`` cumulative volume, ``fid_27``/``fid_28`` best
  ask/bid when the event carries them.
* ``fid_11``/``fid_12`` (change from the previous close in KRW, change rate in %) of trades, signed as
  Kiwoom sends them. Any field an event lacks is written as 0 (absent).
* VI발동/해제 (a volatility interruption): ``fid_9068`` 1 start / 2 end (SPEC §11), no price.

``timestamp`` is the engine clock of the event (:func:`~kiwoom_bridge.recording.format_timestamp`): the
simulated receive time with the emulator, which for a replay is the recorded time (replay sources add
no market-data latency), so recording a replay reproduces the file's rows.

Nothing already received is lost on Ctrl-C: :func:`record` catches ``KeyboardInterrupt``, and the writer is
closed (buffer flushed, Parquet footers written) in a ``finally``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiwoom_bridge.recording import RecordingWriter, format_timestamp
from kiwoom_bridge.types import NXT, REAL_TYPE_QUOTE, REAL_TYPE_VI, ConnectionEvent, L1Update, ViEvent

__all__ = ["RecordSummary", "RecorderError", "record", "row_from_update"]

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
#: How long before a simulated source's first event the emulator clock must start, so that the login
#: (``OnEventConnect`` comes ``login_delay_ms`` = 100 ms after ``CommConnect``) and the registration are
#: done before the first event is due (otherwise those events reach the exchange but no subscriber).
LOGIN_LEAD_NS = 1 * NS_PER_S
#: Longest single sleep of a paced (``--speed X``) recording, wall seconds (keeps Ctrl-C and flushes prompt).
MAX_SLEEP_S = 0.05
#: Wall seconds between polls of the real OCX's Qt event loop.
PUMP_S = 0.01


class RecorderError(RuntimeError):
    """The recording could not start (login failed, no screen could be registered, unsupported platform)."""


@dataclass
class RecordSummary:
    """What one :func:`record` call wrote.

    Attributes:
      backend: ``'sim'``, ``'replay'`` or ``'kiwoom'``.
      rows: Rows written (every row received; the writer is closed when this is returned).
      files: The Parquet files written, in opening order.
      first_t_ns / last_t_ns: Engine-clock time of the first and last row (0 when there was none).
      by_venue: Rows per venue (``'KRX'``, ``'NXT'``).
      by_real_type: Rows per Kiwoom real type.
      screens: Screens registered.
      stop_reason: Why recording stopped (end of the recording, duration reached, Ctrl-C).
      notes: Things the operator should know (registration problems, replay notes, disconnects).
    """

    backend: str
    rows: int = 0
    files: tuple[Path, ...] = ()
    first_t_ns: int = 0
    last_t_ns: int = 0
    by_venue: dict[str, int] = field(default_factory=dict)
    by_real_type: dict[str, int] = field(default_factory=dict)
    screens: int = 0
    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def span_s(self) -> float:
        """Engine-clock seconds between the first and the last row."""
        return (self.last_t_ns - self.first_t_ns) / NS_PER_S if self.rows else 0.0

    def text(self) -> str:
        """The multi-line summary ``arbctl record`` prints."""
        venues = ", ".join(f"{v} {n:,}" for v, n in sorted(self.by_venue.items())) or "none"
        types = ", ".join(f"{t} {n:,}" for t, n in sorted(self.by_real_type.items())) or "none"
        clock = "sim time" if self.backend != "kiwoom" else "time"
        lines = [f"recorded {self.rows:,} rows from {self.backend} ({self.screens} screens): venues {venues}; "
                 f"{types}"]
        if self.rows:
            lines.append(f"{clock} {format_timestamp(self.first_t_ns)} → {format_timestamp(self.last_t_ns)} "
                         f"({self.span_s:,.3f} s)")
        else:
            lines.append(f"{clock}: no rows")
        lines.append("files: " + (", ".join(str(f) for f in self.files) if self.files else "none"))
        lines.append(f"stopped: {self.stop_reason}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def row_from_update(u: L1Update) -> dict[str, Any]:
    """One recording row (seed 004 columns + ``fid_61``/``fid_71``) for one delivered :class:`L1Update`.

    A quote carries best ask/bid prices in ``fid_27``/``fid_28`` and ``fid_41``/``fid_51`` and sizes in
    ``fid_61``/``fid_71``; a trade carries ``fid_10``/``fid_13`` and the best ask/bid it reported in
    ``fid_27``/``fid_28``. Fields the event does not carry are 0 (absent). An empty side (limit up/down, a call)
    is written as 0 too: seed 004's schema has no way to say "empty" (0 means absent there, SPEC §6), so a replay
    of it keeps the side's last price.
    """
    quote = u.real_type == REAL_TYPE_QUOTE
    ask, bid = max(u.ask, 0), max(u.bid, 0)
    ask_qty, bid_qty = max(u.ask_qty, 0), max(u.bid_qty, 0)
    return {
        "timestamp": format_timestamp(u.t_ns),
        "symbol": u.code,
        "venue": u.venue,
        "real_type": u.real_type,
        "fid_10": u.last,
        "fid_11": u.change_krw,
        "fid_12": u.change_rate_pct,
        "fid_13": u.cum_volume,
        "fid_27": ask,
        "fid_28": bid,
        "fid_41": ask if quote else 0,
        "fid_51": bid if quote else 0,
        "fid_61": ask_qty,
        "fid_71": bid_qty,
        "raw_code": u.code + "_NX" if u.venue == NXT else u.code,
    }


def row_from_vi(v: ViEvent) -> dict[str, Any]:
    """One recording row for a VI발동/해제 notice: ``fid_9068`` its flag (1 start, 2 end; 0 when unreadable), no
    prices (the seed's schema has no column for the trigger price)."""
    flag = int(v.flag) if v.flag in ("1", "2") else 0
    return {"timestamp": format_timestamp(v.t_ns), "symbol": v.code, "venue": v.venue, "real_type": REAL_TYPE_VI,
            "fid_9068": flag, "raw_code": v.code + "_NX" if v.venue == NXT else v.code}


def _start_before_first_event(core: Any) -> int | None:
    """Start the emulator's clock :data:`LOGIN_LEAD_NS` before its market source's first event.

    A clock starting *at* the first event (the synthetic market's session start) would apply the events of
    the first ``login_delay_ms`` to the exchange while nobody is logged in or registered, and never deliver
    them as real data. Nothing is scheduled yet at this point, so moving the clock back only moves the
    login earlier. A no-op when the clock already starts early enough (BridgeCore starts a replay's clock
    before its first row) or is not simulated.

    Returns:
      The time the source starts (its first event), or None when there is no simulated source.
    """
    sched = getattr(core, "scheduler", None)
    source = getattr(core, "source", None)
    if sched is None or source is None:
        return None
    first: int | None = source.peek_time_ns()
    if first is None:
        return None
    if not len(sched) and sched.now_ns > first - LOGIN_LEAD_NS:
        sched.now_ns = first - LOGIN_LEAD_NS
        core.sim_start_ns = sched.now_ns
    return first


def _register_universe(core: Any, cfg: Any, universe: Any, summary: RecordSummary) -> None:
    """One ``BridgeCore.register`` per screen of the universe (shard 0); problems become notes."""
    from core.universe import MAX_CODES_PER_SCREEN
    sn = cfg.kiwoom.screen_numbers
    screens = universe.screens(per_screen=MAX_CODES_PER_SCREEN, base=sn.marketdata_base, explicit=sn.marketdata,
                               reserved=(sn.orders, sn.session))
    ok = 0
    for screen in screens:
        err = core.register(0, ((screen.screen_no, tuple(screen.codes)),), 0)
        if err:
            summary.notes.append(f"registration: {err}")
        else:
            ok += 1
    summary.screens = ok
    if screens and not ok:
        raise RecorderError("no screen could be registered: " + "; ".join(summary.notes))


def record(cfg: Any, universe: Any, options: Any, out_dir: str | Path, duration_s: float | None, *,
           flush_rows: int = 5000, flush_interval_s: float = 30.0,
           should_stop: Callable[[], bool] | None = None) -> RecordSummary:
    """Record real data from ``options.backend`` into daily Parquet files in ``out_dir``.

    Args:
      cfg: The :class:`config.schema.EngineConfig`.
      universe: The :class:`core.universe.Universe` to register.
      options: A :class:`protocol.wiring.RunOptions` (backend, replay_file, speed (None = max), seed).
      out_dir: Directory of the ``market_data_YYYYMMDD.parquet`` files (created if missing; an existing
        day file is never modified, see :class:`~kiwoom_bridge.recording.RecordingWriter`).
      duration_s: Stop after this much engine-clock time (simulated; wall time with the real OCX), or
        None to run until the end of a replay, ``should_stop`` or Ctrl-C.
      flush_rows / flush_interval_s: The writer's buffering (seed 004: 5,000 rows / 30 s).
      should_stop: Polled once per step; True ends the recording (e.g. a signal handler's flag).

    Returns:
      The :class:`RecordSummary` (the files are closed and complete).

    Raises:
      RecorderError: Login failed or no screen could be registered.
      kiwoom_bridge.bridge_core.BridgeError, PlatformNotSupportedError, RecordingError: From the backend
        (unknown backend, the real OCX outside 32-bit Windows, an unusable replay file).
    """
    from kiwoom_bridge.bridge_core import BridgeCore, BridgeError

    if duration_s is not None and not duration_s > 0:
        raise ValueError(f"duration_s must be > 0 seconds, got {duration_s!r}")
    if options.backend == "kiwoom":
        from PyQt5.QtWidgets import QApplication  # the OCX needs a Qt application on this thread
        _app = QApplication.instance() or QApplication([])  # noqa: F841 - kept alive while recording
    core = BridgeCore(cfg, universe, options)
    source_start_ns = _start_before_first_event(core)
    summary = RecordSummary(backend=options.backend)
    if options.backend == "replay" and core.source is not None:
        summary.notes.extend(getattr(core.source, "notes", ()))

    writer = RecordingWriter(out_dir, flush_rows=flush_rows, flush_interval_s=flush_interval_s)
    by_venue = summary.by_venue
    by_type = summary.by_real_type
    bridge_on_l1 = core.api.on_l1
    assert bridge_on_l1 is not None                  # BridgeCore wires its own handler in __init__

    def on_l1(u: L1Update) -> None:
        writer.append(row_from_update(u))
        by_venue[u.venue] = by_venue.get(u.venue, 0) + 1
        by_type[u.real_type] = by_type.get(u.real_type, 0) + 1
        if not summary.first_t_ns:
            summary.first_t_ns = u.t_ns
        summary.last_t_ns = u.t_ns
        bridge_on_l1(u)

    bridge_on_vi = core.api.on_vi

    def on_vi(v: ViEvent) -> None:
        writer.append(row_from_vi(v))
        by_venue[v.venue] = by_venue.get(v.venue, 0) + 1
        by_type[REAL_TYPE_VI] = by_type.get(REAL_TYPE_VI, 0) + 1
        if bridge_on_vi is not None:
            bridge_on_vi(v)

    core.api.on_l1 = on_l1
    core.api.on_vi = on_vi
    quantum = cfg.spread_engine.batch_interval_ms * NS_PER_MS
    speed = options.speed
    try:
        try:
            core.login()
        except BridgeError as exc:
            raise RecorderError(str(exc)) from exc
        _register_universe(core, cfg, universe, summary)
        core.start_clock()
        t = core.now_ns()
        # the duration counts from the first market event (the clock was started a little before it)
        origin = max(t, source_start_ns) if source_start_ns is not None else t
        end = origin + int(duration_s * NS_PER_S) if duration_s is not None else None
        while True:
            if should_stop is not None and should_stop():
                summary.stop_reason = "stop requested"
                break
            if core.simulated:
                if options.backend == "replay" and core.source_exhausted():
                    summary.stop_reason = "end of the recording"
                    break
                if end is not None and t >= end:
                    summary.stop_reason = f"duration {duration_s:g} s reached"
                    break
                nxt = core.next_event_ns()
                if speed is None:
                    t_next = t + quantum if nxt is None else max(nxt, t + quantum)
                else:
                    target = core.paced_target_ns()
                    due = min((c for c in (nxt, end) if c is not None), default=None)
                    if due is None or due > target:
                        wait_ns = (due - target) if due is not None else quantum
                        time.sleep(min(wait_ns / speed / NS_PER_S, MAX_SLEEP_S))
                        writer.maybe_flush()
                        continue
                    t_next = max(target, t + 1)
                if end is not None:
                    t_next = min(t_next, end)
                core.advance_to(t_next)
                t = t_next
            else:
                core.pump(PUMP_S)
                t = core.now_ns()
                if end is not None and t >= end:
                    summary.stop_reason = f"duration {duration_s:g} s reached"
                    break
            _drain(core, t, summary)
            writer.maybe_flush()
    except KeyboardInterrupt:
        summary.stop_reason = "interrupted (Ctrl-C)"
    finally:
        core.api.on_l1 = bridge_on_l1
        core.api.on_vi = bridge_on_vi
        writer.close()
        summary.rows = writer.rows_written
        summary.files = tuple(writer.files)
    return summary


def _drain(core: Any, t_ns: int, summary: RecordSummary) -> None:
    """Empty the bridge's per-step buffers (the recorder needs no steps); note connection losses."""
    out = core.take(t_ns, (0,))
    for ev in out.events:
        if isinstance(ev, ConnectionEvent) and not ev.connected:
            summary.notes.append(f"{format_timestamp(ev.t_ns)}: connection lost ({ev.code} {ev.message}); "
                                 f"no real data until it is back")
