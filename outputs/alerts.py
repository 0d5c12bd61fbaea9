"""Slack alerts through an incoming webhook: fills and the few major red flags, never in trading's way.

Scope (seed 003, the user's choice "only major red flags and buy and sell"; SPEC §5), each gated by its
``alerts.slack.send_on`` flag:

============== ================================================================ =================
category       text                                                             flag
============== ================================================================ =================
BUY_FILL       ``BUY_FILL 005930@KRX qty 1 px 72,300 (pair P1)``                 ``buy_fill``
SELL_FILL      ``SELL_FILL 005930@NXT qty 1 px 72,400 (pair P1)``                ``sell_fill``
PAIR_DONE      ``PAIR_DONE 005930 net +0.7 bps (+₩12)``                          ``pair_done``
AUTO-PAUSE     ``AUTO-PAUSE ON (orders ≥80% for 5 s)`` / ``AUTO-PAUSE OFF``      ``auto_pause_on``
HEDGE TIMEOUT  ``HEDGE TIMEOUT 005930 1000 ms → cancel→IOC``                     ``hedge_timeout``
REJECT SPIKE   ``REJECT SPIKE 3 rejects/60 s on 035420 → frozen 60 s``           ``reject_spike``
RECONCILE      ``RECONCILE MISMATCH 005930: broker 15, expected 10 (+5) → frozen`` ``reconcile_mismatch``
FLATTEN FAILED ``FLATTEN FAILED 005930: -1 shares open on KRX → disarmed``       ``flatten_failed``
============== ================================================================ =================

The webhook URL is a secret: it is read only from the environment variable named by
``alerts.slack.webhook_env`` (``SLACK_WEBHOOK_URL``), never from a file, and appears in logs and reprs
only through :func:`mask_secret`. Without it the alerter is disabled and says so once.

Delivery runs on one background thread fed by a bounded queue. :meth:`SlackAlerter.send` never blocks
and never raises: a full queue, a failing or a hanging webhook are counted and logged (masked), and the
trading path carries on.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from core.observations import (
    AutoPauseChanged,
    FillBooked,
    FlattenFailed,
    HedgeTimedOut,
    KillSwitchTripped,
    Observation,
    PairClosed,
    ReconcileMismatch,
    RejectSpike,
)

__all__ = [
    "CATEGORIES",
    "AlertContext",
    "SlackAlerter",
    "WebhookLike",
    "alert_for_event",
    "format_alert",
    "mask_secret",
]

log = logging.getLogger("arb.alerts")

#: Alert categories, named like the ``alerts.slack.send_on`` flag that gates each.
CATEGORIES = ("buy_fill", "sell_fill", "pair_done", "auto_pause_on", "hedge_timeout", "reject_spike",
              "reconcile_mismatch", "flatten_failed")
_STOP = object()


def mask_secret(secret: str | None) -> str:
    """A secret URL for logs: scheme and host, then ``…/`` and only its last 4 characters.

    ``mask_secret("https://hooks.slack.com/services/T0/B0/abcdWXYZ")`` → ``"https://hooks.slack.com/…/WXYZ"``.
    Secrets of 8 characters or fewer show no characters at all.
    """
    if not secret:
        return "<unset>"
    text = str(secret).strip()
    tail = text[-4:] if len(text) > 8 else ""
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        host, port, parts = "", None, None
    if parts is not None and parts.scheme and host:
        return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…/{tail}"
    return f"…{tail}"


def _scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by its mask."""
    return text.replace(secret, mask_secret(secret)) if secret else text


@dataclass(frozen=True, slots=True)
class AlertContext:
    """The configuration numbers the alert texts quote.

    Args:
      t_hedge_ms: Hedge deadline (ms) quoted by HEDGE TIMEOUT when the event carries none.
      unhedged_grace_ms: Extra time (ms) before the unhedged-exposure kill switch.
      autopause_threshold: Orders utilisation (0..1) that starts an auto-pause.
      autopause_sustain_s: How long (s) it must hold.
      reject_count: Rejects that make a spike ...
      reject_window_s: ... within this window (s).
      freeze_s: How long (s) a spiking symbol is frozen when kill switches are on.
    """

    t_hedge_ms: int = 1000
    unhedged_grace_ms: int = 1000
    autopause_threshold: float = 0.8
    autopause_sustain_s: float = 5.0
    reject_count: int = 3
    reject_window_s: int = 60
    freeze_s: int = 60

    @classmethod
    def from_config(cls, config: Any) -> AlertContext:
        """Take the numbers from an :class:`~config.schema.EngineConfig` (defaults where None)."""
        if config is None:
            return cls()
        ap = config.telemetry.orders_utilization_autopause
        rf = config.risk.reject_freeze
        return cls(t_hedge_ms=int(config.execution.t_hedge_ms), unhedged_grace_ms=int(config.risk.unhedged_grace_ms),
                   autopause_threshold=float(ap.threshold), autopause_sustain_s=float(ap.sustain_seconds),
                   reject_count=int(rf.rejects), reject_window_s=int(rf.window_s), freeze_s=int(rf.freeze_s))


def _qty(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,}"


def _plain(value: Any) -> str:
    """A number without thousands separators (durations: "1000 ms", "5 s")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.0f}" if number.is_integer() else f"{number:g}"


def format_alert(obs: Observation, ctx: AlertContext | None = None) -> tuple[str, str] | None:
    """``(category, text)`` for an alert-worthy observation, else None. Scope flags are not applied here.

    Alert-worthy: a booked fill; a pair closed done; an auto-pause change; a hedge timeout; an unhedged
    freeze (the escalated hedge timeout); a reject spike.
    """
    ctx = ctx or AlertContext()
    if isinstance(obs, FillBooked):
        side = obs.side.value
        text = f"{side}_FILL {obs.code}@{obs.venue.value} qty {_qty(obs.qty)} px {_qty(obs.price)}"
        if obs.pair_id:
            text += f" (pair {obs.pair_id})"
        return ("buy_fill" if side == "BUY" else "sell_fill"), text
    if isinstance(obs, PairClosed):
        if not obs.done:
            return None
        if obs.cash.fills:
            net, bps = obs.cash.net_krw, obs.cash.net_bps
            sign = "+" if float(net) >= 0 else "-"
            bps_text = f"{float(bps):+.1f} bps " if bps is not None else ""
            text = f"PAIR_DONE {obs.code} net {bps_text}({sign}₩{abs(float(net)):,.0f})"
        else:
            text = f"PAIR_DONE {obs.code} (pair {obs.pair_id})"
        if obs.escalated:
            text += " · escalated"
        return "pair_done", text
    if isinstance(obs, AutoPauseChanged):
        if obs.on:
            return "auto_pause_on", (f"AUTO-PAUSE ON (orders ≥{ctx.autopause_threshold * 100:.0f}% for "
                                     f"{_plain(ctx.autopause_sustain_s)} s)")
        return "auto_pause_on", "AUTO-PAUSE OFF"
    if isinstance(obs, HedgeTimedOut):
        return "hedge_timeout", f"HEDGE TIMEOUT {obs.code} {_plain(obs.t_hedge_ms)} ms → cancel→IOC"
    if isinstance(obs, KillSwitchTripped) and obs.kind == "unhedged_freeze":
        ms = ctx.t_hedge_ms + ctx.unhedged_grace_ms
        return "hedge_timeout", f"HEDGE TIMEOUT {obs.code} unhedged {_plain(ms)} ms → forced IOC, frozen"
    if isinstance(obs, ReconcileMismatch):
        delta = obs.broker_qty - obs.expected_qty
        return "reconcile_mismatch", (f"RECONCILE MISMATCH {obs.code}: broker {_qty(obs.broker_qty)}, expected "
                                      f"{_qty(obs.expected_qty)} ({delta:+d}) → frozen until re-armed")
    if isinstance(obs, FlattenFailed):
        return "flatten_failed", (f"FLATTEN FAILED {obs.code}: {obs.open_shares:+d} shares open on {obs.venue.value} "
                                  f"({obs.pair_id}) → frozen, engine disarmed")
    if isinstance(obs, RejectSpike):
        tail = f"frozen {_plain(obs.freeze_s)} s" if obs.frozen else "not frozen (kill switches off)"
        return "reject_spike", (f"REJECT SPIKE {_plain(obs.rejects)} rejects/{_plain(obs.window_s)} s on {obs.code} "
                                f"→ {tail}")
    return None


def alert_for_event(obs: Observation, ctx: AlertContext | None = None) -> str | None:
    """The alert text for ``obs`` (no scope flags applied), or None when it is not alert-worthy."""
    found = format_alert(obs, ctx)
    return found[1] if found else None


class WebhookLike(Protocol):
    """What the alerter needs of a webhook client: ``slack_sdk.webhook.WebhookClient.send(text=...)``."""

    def send(self, *, text: str) -> Any:  # returns an object with ``status_code`` (and ``headers``)
        ...


class SlackAlerter:
    """Posts alert texts to a Slack incoming webhook from a background thread.

    Args:
      slack_cfg: ``config.alerts.slack`` (``webhook_env`` and ``send_on`` flags); None = defaults.
      env: Where to read the URL (default ``os.environ``); only the variable named by ``webhook_env``.
      client: A webhook client to use instead of ``slack_sdk.webhook.WebhookClient`` (tests, proxies).
        Giving one enables the alerter even without a URL.
      context: Numbers quoted in the texts (:meth:`AlertContext.from_config`).
      queue_size: Alerts waiting for delivery at most; beyond, new alerts are dropped and counted.
      timeout_s: HTTP timeout (s) of the default client.
      max_retry_after_s: On HTTP 429 the alert is retried once after Slack's ``Retry-After``, capped here (s).
    """

    def __init__(self, slack_cfg: Any = None, env: Mapping[str, str] | None = None, *,
                 client: WebhookLike | None = None, context: AlertContext | None = None,
                 queue_size: int = 256, timeout_s: float = 5.0, max_retry_after_s: float = 5.0) -> None:
        env = os.environ if env is None else env
        self.webhook_env = str(getattr(slack_cfg, "webhook_env", None) or "SLACK_WEBHOOK_URL")
        send_on = getattr(slack_cfg, "send_on", None)
        self.scope = {cat: bool(getattr(send_on, cat, True)) for cat in CATEGORIES}
        self.context = context or AlertContext()
        self.max_retry_after_s = float(max_retry_after_s)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.suppressed = 0
        self.closed = False
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, int(queue_size)))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        url = str(env.get(self.webhook_env, "") or "").strip()
        self._url = url
        self.masked_url = mask_secret(url) if url else "<unset>"
        if url and not url.lower().startswith(("https://", "http://")):
            log.warning("Slack alerts disabled: %s is not an http(s) URL (%s)", self.webhook_env, self.masked_url)
            url = ""
            self._url = ""
        if client is not None:
            self._client: WebhookLike | None = client
        elif url:
            from slack_sdk.webhook import WebhookClient

            self._client = WebhookClient(url, timeout=max(1, int(round(timeout_s))))
        else:
            self._client = None
        self.enabled = self._client is not None
        if not self.enabled:
            log.info("Slack alerts disabled: environment variable %s is not set", self.webhook_env)

    # -- public ------------------------------------------------------------------------------
    def alert_for_event(self, obs: Observation) -> str | None:
        """The text to post for ``obs``, or None when it is out of scope (flag off) or not an alert."""
        found = format_alert(obs, self.context)
        if found is None:
            return None
        category, text = found
        if not self.scope.get(category, False):
            return None
        return text

    def alert(self, obs: Observation) -> str | None:
        """Queue the alert for ``obs`` if it is one in scope. Never blocks, never raises.

        Returns:
          The text queued (or that would have been queued if disabled), else None.
        """
        try:
            text = self.alert_for_event(obs)
        except (TypeError, ValueError, AttributeError) as exc:
            log.warning("Slack alert for a %s not formatted: %s", type(obs).__name__, exc)
            return None
        if text is not None:
            self.send(text)
        return text

    def send(self, text: str) -> bool:
        """Queue ``text`` for delivery. Never blocks, never raises.

        Returns:
          True if queued; False when disabled, closed or the queue is full (counted in ``dropped``).
        """
        if not self.enabled or self.closed:
            self.suppressed += 1
            return False
        self._ensure_worker()
        try:
            self._queue.put_nowait(str(text))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("Slack alert queue full (%d dropped so far) for %s", self.dropped, self.masked_url)
            return False
        return True

    def stats(self) -> dict[str, Any]:
        """Delivery counters: ``enabled``, ``sent``, ``failed``, ``dropped``, ``suppressed``, ``queued``."""
        return {"enabled": self.enabled, "sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "suppressed": self.suppressed, "queued": self._queue.qsize()}

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop accepting alerts, let the worker deliver what is queued for at most ``timeout_s``.

        A hanging webhook cannot hold this up longer than ``timeout_s`` (the worker is a daemon thread).
        """
        if self.closed:
            return
        self.closed = True
        if self._thread is None:
            return
        deadline = time.monotonic() + max(0.0, timeout_s)
        try:
            self._queue.put(_STOP, timeout=max(0.0, timeout_s))
        except queue.Full:
            self._stop.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        remaining = self._queue.qsize()
        if self._thread.is_alive() or remaining:
            log.warning("Slack alerter closed with %d alert(s) undelivered (%s)", remaining, self.masked_url)

    def __repr__(self) -> str:
        return f"SlackAlerter(url={self.masked_url!r}, enabled={self.enabled}, sent={self.sent}, " \
               f"failed={self.failed}, dropped={self.dropped})"

    # -- delivery ----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is _STOP:
                return
            self._deliver(item)

    def _deliver(self, text: str) -> None:
        assert self._client is not None
        for attempt in (1, 2):
            try:
                response = self._client.send(text=text)
            except Exception as exc:  # noqa: BLE001 - any client failure must stay in this thread
                self.failed += 1
                log.warning("Slack alert failed (%s): %s: %s", self.masked_url, type(exc).__name__,
                            _scrub(str(exc), self._url))
                return
            status = getattr(response, "status_code", 200)
            if status == 200:
                self.sent += 1
                return
            if status == 429 and attempt == 1 and not self._stop.is_set():
                headers = getattr(response, "headers", None) or {}
                try:
                    wait = float(headers.get("Retry-After") or headers.get("retry-after") or 1)
                except (TypeError, ValueError):
                    wait = 1.0
                self._stop.wait(min(max(wait, 0.0), self.max_retry_after_s))
                continue
            self.failed += 1
            body = _scrub(str(getattr(response, "body", ""))[:200], self._url)
            log.warning("Slack alert rejected (%s): HTTP %s %s", self.masked_url, status, body)
            return
