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
REFUSAL STORM  ``REFUSAL STORM 12 order-rate refusals (-308) in 10 s (40 today)`` ``reject_spike``
KILL SWITCH    ``KILL SWITCH disconnect: bridge disconnected (…) → disarmed``   ``kill_switch``
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
    RefusalStorm,
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
              "kill_switch", "reconcile_mismatch", "flatten_failed")
_STOP = object()
#: Engine-wide disarms that are not a KILL SWITCH alert: the operator's own stop, and the ones whose own
#: alert already says it (RECONCILE MISMATCH, FLATTEN FAILED).
_OWN_ALERTS = frozenset({"operator", "reconcile_mismatch", "flatten_failed"})


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
    freeze (the escalated hedge timeout); a reject spike; a refusal storm; an engine-wide kill switch.
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
    if isinstance(obs, KillSwitchTripped) and not obs.code and obs.kind not in _OWN_ALERTS:
        return "kill_switch", f"KILL SWITCH {obs.kind}: {obs.reason} → disarmed"
    if isinstance(obs, RefusalStorm):
        return "reject_spike", (f"REFUSAL STORM {_plain(obs.refusals)} order-rate refusals (-308) in "
                                f"{_plain(obs.window_s)} s ({_plain(obs.total)} today)")
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
    """Posts alert texts to a Slack incoming webhook from a background thread, within Slack's limits.

    Slack accepts about one message per second per webhook (short bursts allowed) and answers HTTP 429 with
    ``Retry-After`` beyond (https://api.slack.com/docs/rate-limits). So the worker **coalesces**: the alerts
    that arrive while it must wait go out together as one multi-line post, at most one post per
    ``min_interval_s``, at most ``max_lines`` alerts per post (the rest in the next). A 429 keeps the alerts and
    waits ``Retry-After`` (at most ``max_retry_after_s``) before the next try; any other failure loses that
    post's alerts. Nothing here ever blocks the caller: :meth:`send` only queues.

    Counted (:meth:`stats`, the report's ``extra.alerts``): ``posts`` delivered and the ``delivered`` alerts in
    them, ``failures`` (posts that failed), ``rate_limited`` (429 answers), ``undelivered`` alerts (queue full,
    failed posts, still waiting at :meth:`close`), ``last_error``.

    Args:
      slack_cfg: ``config.alerts.slack`` (``webhook_env`` and ``send_on`` flags); None = defaults.
      env: Where to read the URL (default ``os.environ``); only the variable named by ``webhook_env``.
      client: A webhook client to use instead of ``slack_sdk.webhook.WebhookClient`` (tests, proxies).
        Giving one enables the alerter even without a URL.
      context: Numbers quoted in the texts (:meth:`AlertContext.from_config`).
      queue_size: Alerts waiting for the worker at most; beyond, new alerts are dropped and counted.
      timeout_s: HTTP timeout (s) of the default client.
      min_interval_s: Least time between two posts (s).
      max_lines: Most alerts in one post.
      max_retry_after_s: The longest ``Retry-After`` honoured (s); a longer one is cut to this.
      max_pending: Alerts the worker holds while Slack makes it wait; beyond, the oldest are given up (counted).
    """

    def __init__(self, slack_cfg: Any = None, env: Mapping[str, str] | None = None, *,
                 client: WebhookLike | None = None, context: AlertContext | None = None,
                 queue_size: int = 256, timeout_s: float = 5.0, min_interval_s: float = 1.0, max_lines: int = 40,
                 max_retry_after_s: float = 60.0, max_pending: int = 2_000) -> None:
        env = os.environ if env is None else env
        self.webhook_env = str(getattr(slack_cfg, "webhook_env", None) or "SLACK_WEBHOOK_URL")
        send_on = getattr(slack_cfg, "send_on", None)
        self.scope = {cat: bool(getattr(send_on, cat, True)) for cat in CATEGORIES}
        self.context = context or AlertContext()
        self.min_interval_s = max(0.0, float(min_interval_s))
        self.max_lines = max(1, int(max_lines))
        self.max_retry_after_s = max(0.0, float(max_retry_after_s))
        self.max_pending = max(1, int(max_pending))
        self.queued = 0
        self.posts = 0
        self.delivered = 0
        self.failures = 0
        self.rate_limited = 0
        self.undelivered = 0
        self.dropped = 0
        self.suppressed = 0
        self.last_error = ""
        self.closed = False
        self._pending: list[str] = []           # the worker's: taken from the queue, not delivered yet
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

            # the client's own logger would log the URL (a secret) at DEBUG and every failure a second time
            quiet = logging.getLogger("arb.alerts.slack_sdk")
            quiet.setLevel(logging.CRITICAL + 1)
            quiet.propagate = False
            self._client = WebhookClient(url, timeout=max(1, int(round(timeout_s))), logger=quiet)
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
            self.undelivered += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("Slack alert queue full (%d dropped so far) for %s", self.dropped, self.masked_url)
            return False
        self.queued += 1
        return True

    def stats(self) -> dict[str, Any]:
        """Delivery counters (see the class docstring), and ``waiting``: alerts not delivered yet."""
        waiting = self._queue.qsize() + len(self._pending)
        return {"enabled": self.enabled, "queued": self.queued, "posts": self.posts, "delivered": self.delivered,
                "failures": self.failures, "rate_limited": self.rate_limited, "undelivered": self.undelivered,
                "dropped": self.dropped, "suppressed": self.suppressed, "waiting": waiting,
                "last_error": self.last_error}

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop accepting alerts and let the worker post what it holds for at most ``timeout_s``; what is
        still waiting then counts as undelivered. A hanging webhook cannot hold this up longer than
        ``timeout_s`` (the worker is a daemon thread)."""
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
        if self._thread.is_alive():
            # stuck in the client: everything it holds or has not taken yet is lost
            left = len(self._pending) + sum(1 for item in list(self._queue.queue) if item is not _STOP)
            self.undelivered += left
            self._pending = []
        if self.undelivered:
            log.warning("Slack alerter closed: %d alert(s) undelivered, %d post(s) failed, %d answered 429 (%s)",
                        self.undelivered, self.failures, self.rate_limited, self.masked_url)

    def __repr__(self) -> str:
        return f"SlackAlerter(url={self.masked_url!r}, enabled={self.enabled}, posts={self.posts}, " \
               f"delivered={self.delivered}, undelivered={self.undelivered})"

    # -- delivery ----------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-alerts", daemon=True)
                self._thread.start()

    def _take(self, timeout: float | None) -> bool:
        """Move queued alerts into the worker's pending list (waiting up to ``timeout`` for the first; None =
        until one comes); False once the stop marker was taken."""
        try:
            item = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return True
        while True:
            if item is _STOP:
                return False
            self._pending.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        excess = len(self._pending) - self.max_pending
        if excess > 0:                      # Slack keeps us waiting longer than alerts come: give up the oldest
            del self._pending[:excess]
            self.undelivered += excess
        return True

    def _run(self) -> None:
        next_post = 0.0
        running = True
        while not self._stop.is_set():
            now = time.monotonic()
            if running:
                wait = None if not self._pending else max(0.0, next_post - now)
                running = self._take(wait)
                now = time.monotonic()
            if not self._pending:
                if running:
                    continue
                return
            if now < next_post:
                if running:
                    continue
                if self._stop.wait(next_post - now):    # closing: wait for Slack's pace, up to close()'s bound
                    break
            next_post = self._post_batch()
        self.undelivered += len(self._pending)
        self._pending = []

    def _post_batch(self) -> float:
        """Post the oldest pending alerts as one message; the earliest time the next post may go."""
        assert self._client is not None
        batch = self._pending[:self.max_lines]
        try:
            response = self._client.send(text="\n".join(batch))
        except Exception as exc:  # noqa: BLE001 - any client failure must stay in this thread
            self._failed(len(batch), f"{type(exc).__name__}: {_scrub(str(exc), self._url)}")
            return time.monotonic() + self.min_interval_s
        status = getattr(response, "status_code", 200)
        if status == 200:
            del self._pending[:len(batch)]
            self.posts += 1
            self.delivered += len(batch)
            return time.monotonic() + self.min_interval_s
        if status == 429:
            self.rate_limited += 1
            headers = getattr(response, "headers", None) or {}
            try:
                wait = float(headers.get("Retry-After") or headers.get("retry-after") or 1)
            except (TypeError, ValueError):
                wait = 1.0
            if self.rate_limited == 1 or self.rate_limited % 100 == 0:
                log.warning("Slack answered 429 (%d so far): waiting %.1f s, alerts are kept and coalesced (%s)",
                            self.rate_limited, wait, self.masked_url)
            return time.monotonic() + min(max(wait, self.min_interval_s), self.max_retry_after_s)
        body = _scrub(str(getattr(response, "body", ""))[:200], self._url)
        self._failed(len(batch), f"HTTP {status} {body}".strip())
        return time.monotonic() + self.min_interval_s

    def _failed(self, alerts: int, why: str) -> None:
        del self._pending[:alerts]
        self.failures += 1
        self.undelivered += alerts
        self.last_error = why
        if self.failures == 1 or self.failures % 100 == 0:     # once, then every 100th: one line per failure
            log.warning("Slack post failed (%d so far, %d alert(s) undelivered): %s (%s)", self.failures,
                        self.undelivered, why, self.masked_url)
