"""What the window says, as pure functions of a snapshot (no Qt): number formats, the launch strip's steps,
the status bar's tiles. Tested without a display.

Units: ``*_ns`` engine-clock nanoseconds (Asia/Seoul wall time of the engine), ``*_ms`` milliseconds,
money KRW, edges per share.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.clock import kst_datetime
from core.operator_view import DeskView
from protocol.operator import BridgeView, OperatorSnapshot

__all__ = ["LaunchStep", "Tile", "arm_allowed", "fmt_int", "fmt_krw", "fmt_ms", "fmt_time", "launch_steps",
           "latency_tiles", "server_label", "throttle_of"]

#: Orders/s utilisation from which the gauge turns red (the auto-pause threshold, seed 003).
RED_BAND = 0.8


def fmt_time(t_ns: int | None, ms: bool = False) -> str:
    """``HH:MM:SS`` (``.mmm`` with ``ms``) of an engine time in Asia/Seoul; ``-`` when unknown."""
    if not t_ns:
        return "-"
    d = kst_datetime(int(t_ns))
    return d.strftime("%H:%M:%S.%f")[:-3] if ms else d.strftime("%H:%M:%S")


def fmt_int(v: Any) -> str:
    """Thousands-separated integer; ``-`` for None/0-less unknowns."""
    if v is None:
        return "-"
    return f"{int(v):,}"


def fmt_krw(v: Any, sign: bool = True) -> str:
    """Money in KRW (whole won, signed by default)."""
    if v is None:
        return "-"
    return f"{float(v):+,.0f}" if sign else f"{float(v):,.0f}"


def fmt_ms(v: Any) -> str:
    """Milliseconds with one decimal below 10 ms."""
    if v is None:
        return "-"
    f = float(v)
    return f"{f:.1f}" if abs(f) < 10 else f"{f:,.0f}"


def server_label(server: str) -> str:
    """The broker server as the operator knows it: 모의투자 (mock) or 실서버 (real)."""
    return {"mock": "모의투자", "real": "실서버"}.get(server, server or "-")


def throttle_of(snap: OperatorSnapshot) -> dict[str, Any]:
    """The Throttler's heartbeat detail of ``snap`` as a dict."""
    return dict(snap.throttle)


@dataclass(frozen=True)
class LaunchStep:
    """One step of the launch strip: ``done``, whether its control is ``enabled`` now, and what it says."""

    name: str
    done: bool
    enabled: bool
    text: str


def arm_allowed(desk: DeskView | None, finished: bool) -> tuple[bool, str]:
    """Whether the Arm control may be used now: inside the guard window of the engine's day, not finished."""
    if desk is None or not desk.t_ns:
        return False, "no engine clock yet"
    if finished:
        return False, "the run has finished"
    if not desk.guard_start_ns:
        return False, "not a trading day"
    if desk.t_ns < desk.guard_start_ns:
        return False, f"guard window opens at {fmt_time(desk.guard_start_ns)}"
    if desk.t_ns >= desk.guard_end_ns:
        return False, f"guard window closed at {fmt_time(desk.guard_end_ns)}"
    return True, f"guard window {fmt_time(desk.guard_start_ns)}–{fmt_time(desk.guard_end_ns)}"


def launch_steps(snap: OperatorSnapshot | None, attached: bool) -> tuple[LaunchStep, LaunchStep, LaunchStep]:
    """Connect → Register feeds → Arm, each enabled only once the one before is done (the seed's strip).

    Connect is done when the window is attached and the bridge is logged in; Register feeds when every
    market-data screen has a shard and the engine steps; Arm when the engine may open pairs. Arm's control is
    enabled only after both and inside the guard window.
    """
    br: BridgeView | None = snap.bridge if snap is not None else None
    desk = snap.desk if snap is not None else None
    connected = attached and br is not None and br.connected
    if not attached:
        c_text = "attaching to the engine…"
    elif br is None:
        c_text = "attached; waiting for the bridge"
    elif not br.connected:
        c_text = "Kiwoom login in progress (CommConnect)…"
    else:
        c_text = f"logged in ✓ {server_label(br.server)} · acct {br.account or '-'}"
    connect = LaunchStep("Connect", connected, not attached, c_text)

    feeds_done = connected and br is not None and br.started and br.screens_needed > 0 \
        and br.screens_registered >= br.screens_needed
    if not connected or br is None:
        f_text = "after Connect"
    else:
        f_text = (f"{br.screens_registered}/{br.screens_needed} screens · {br.shards} shard(s) online"
                  + ("" if br.started else " · waiting"))
    feeds = LaunchStep("Register feeds", feeds_done, connected and not feeds_done, f_text)

    finished = bool(snap is not None and snap.finished)
    ok, why = arm_allowed(desk, finished)
    armed = attached and desk is not None and desk.armed and not finished
    if not feeds_done:
        a_text = "after Register feeds"
    elif armed:
        a_text = "ARMED ✓ " + why
    elif desk is not None and desk.disarmed_reason:
        a_text = f"disarmed: {desk.disarmed_reason} · {why}"
    elif desk is not None:
        a_text = f"not armed: {desk.arm_reason} · {why}"
    else:
        a_text = why
    arm = LaunchStep("Arm", armed, feeds_done and ok and not armed, a_text)
    return connect, feeds, arm


@dataclass(frozen=True)
class Tile:
    """A status-bar latency tile: measured p95 against its target (``ok`` None when nothing measured)."""

    label: str
    p95_ms: float | None
    target_ms: float
    ok: bool | None

    @property
    def text(self) -> str:
        return f"{self.label} p95 {fmt_ms(self.p95_ms)} / {self.target_ms:g} ms"


def latency_tiles(snap: OperatorSnapshot) -> tuple[Tile, ...]:
    """Tick→Signal, Signal→Send and Send→Ack p95 against ``telemetry.slo_targets_ms``."""
    p95 = (snap.figures or {}).get("latency_p95_ms") or {}
    slo = snap.config.telemetry.slo_targets_ms if snap.config is not None else None
    targets = {"tick_to_signal": slo.tick_to_signal_p95 if slo else 25,
               "signal_to_send": slo.signal_to_send_p95 if slo else 15,
               "send_to_ack": slo.send_to_ack_p95 if slo else 150}
    labels = {"tick_to_signal": "Tick→Signal", "signal_to_send": "Signal→Send", "send_to_ack": "Send→Ack"}
    out = []
    for key, label in labels.items():
        v = p95.get(key)
        out.append(Tile(label, v, float(targets[key]), None if v is None else bool(v <= targets[key])))
    return tuple(out)
