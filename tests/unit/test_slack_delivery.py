"""Slack delivery with the real ``slack_sdk`` webhook client against a local receiver that rate-limits like
Slack (about one post per second per webhook, HTTP 429 with ``Retry-After`` beyond).

A burst of alerts must reach the receiver coalesced into few multi-line posts, in order, none lost; a 429 is
honoured (the alerts are kept and posted after ``Retry-After``); a receiver that keeps failing leaves every
alert counted as undelivered, in the alerter's counts and in the report's summary.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from outputs.alerts import SlackAlerter
from outputs.report import summarise
from outputs.telemetry_book import TelemetryBook


class Receiver:
    """A local incoming-webhook receiver. ``spacing_s``: a post sooner than this after the last accepted one
    is answered 429 with ``Retry-After: retry_after_s``; ``fail``: answer every post 500."""

    def __init__(self, spacing_s: float = 1.0, retry_after_s: int = 1, fail: bool = False) -> None:
        self.spacing_s = spacing_s
        self.retry_after_s = retry_after_s
        self.fail = fail
        self.accepted: list[str] = []
        self.answered_429 = 0
        self.last_accept = -1e9
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                import json
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    now = time.monotonic()
                    if receiver.fail:
                        status, headers = 500, {}
                    elif now - receiver.last_accept < receiver.spacing_s:
                        receiver.answered_429 += 1
                        status, headers = 429, {"Retry-After": str(receiver.retry_after_s)}
                    else:
                        receiver.last_accept = now
                        receiver.accepted.append(json.loads(body)["text"])
                        status, headers = 200, {}
                payload = b"ok" if status == 200 else b"rate_limited" if status == 429 else b"server_error"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretTOKENabcd"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def lines(self) -> list[str]:
        return [line for post in self.accepted for line in post.split("\n")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()


def test_a_burst_is_coalesced_into_few_posts_in_order_and_none_is_lost(receiver: Receiver) -> None:
    alerter = SlackAlerter(None, env={"SLACK_WEBHOOK_URL": receiver.url})
    texts = [f"BUY_FILL 0059{i:02d}@KRX qty 1 px 72,300" for i in range(60)]
    for i, text in enumerate(texts):
        assert alerter.send(text)
        if i % 20 == 19:
            time.sleep(0.4)                     # three bursts over about a second
    alerter.close(timeout_s=15)
    assert receiver.lines() == texts            # every alert, in order
    stats = alerter.stats()
    assert stats["delivered"] == 60 and stats["undelivered"] == 0 and stats["failures"] == 0
    assert stats["posts"] == len(receiver.accepted) < 10      # coalesced: a handful of posts, not 60
    assert receiver.answered_429 == stats["rate_limited"] == 0  # paced by itself: Slack never had to refuse


def test_a_429_is_honoured_and_the_alerts_are_kept() -> None:
    strict = Receiver(spacing_s=2.0, retry_after_s=2)      # stricter than the alerter's own pace
    strict.thread.start()
    try:
        alerter = SlackAlerter(None, env={"SLACK_WEBHOOK_URL": strict.url})
        alerter.send("one")
        time.sleep(1.2)                          # the next post comes after 1 s: too soon for this receiver
        alerter.send("two")
        alerter.send("three")
        alerter.close(timeout_s=15)
        assert strict.lines() == ["one", "two", "three"]
        assert strict.answered_429 >= 1 and alerter.rate_limited == strict.answered_429
        assert alerter.undelivered == 0
    finally:
        strict.server.shutdown()


def test_a_failing_receiver_leaves_every_alert_counted_as_undelivered_and_reported() -> None:
    broken = Receiver(fail=True)
    broken.thread.start()
    try:
        alerter = SlackAlerter(None, env={"SLACK_WEBHOOK_URL": broken.url})
        for i in range(5):
            alerter.send(f"PAIR_DONE 00593{i}")
        alerter.close(timeout_s=10)
        stats = alerter.stats()
        assert stats["undelivered"] == 5 and stats["delivered"] == 0 and stats["failures"] >= 1
        assert "HTTP 500" in stats["last_error"] and "secretTOKEN" not in stats["last_error"]
        book = TelemetryBook(None, "sim", 1)
        book.alert_delivery = stats
        text = summarise(book.report())
        assert "Slack: 0 alert(s) delivered" in text and "5 undelivered" in text
    finally:
        broken.server.shutdown()
