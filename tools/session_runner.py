"""The one run loop of a session, shared by ``launch.py`` and ``arbctl replay``.

:func:`run_session` starts the engine (:class:`actors.runtime.EngineRuntime`), follows it until it has
finished, shows a live status line, says once what a replayed recording holds, turns Ctrl-C into an
orderly stop (a third Ctrl-C gives up waiting), fetches the run report and always shuts every process
down. What the caller does with the report (print, write, exit code) is its own business.
"""
from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from actors.runtime import EngineRuntime, EngineStartError, replay_notice
from core.clock import kst_datetime
from protocol.control import RunReport, StatusReport

__all__ = ["ENGINE_SILENT_LIMIT_S", "SessionOutcome", "run_session", "status_text"]

#: The run loop gives up when the engine answers no status for this long (seconds of wall time).
ENGINE_SILENT_LIMIT_S = 60.0
_POLL_S = 0.2


@dataclass(frozen=True)
class SessionOutcome:
    """How a session ended: its ``report`` (None when there is none), or ``failed`` saying why the engine
    could not start or stopped answering; ``interrupted`` when the operator stopped it."""

    report: RunReport | None
    failed: str = ""
    interrupted: bool = False


def status_text(st: StatusReport) -> Text:
    """The live status line: engine clock (Asia/Seoul), session, armed, ticks/s, tokens, pairs, PnL."""
    clock = kst_datetime(st.t_ns).strftime("%H:%M:%S") if st.t_ns else "--:--:--"
    line = Text()
    line.append(f"{clock} ", style="bold")
    line.append(f"{st.session:<10} ")
    line.append("ARMED   " if st.armed else "disarmed", style="green" if st.armed else "yellow")
    if st.paused:
        line.append(" AUTO-PAUSE", style="bold red")
    line.append(f"  ticks/s {st.ticks_per_s:8,.0f}  tokens {st.tokens_free}  pairs active {st.active_pairs} "
                f"done {st.pairs_done}  ")
    line.append(f"PnL {st.pnl_net_krw:+,.0f} KRW", style="green" if st.pnl_net_krw >= 0 else "red")
    return line


class _Interrupts:
    """Counts Ctrl-C: the first asks for an orderly stop, the third stops waiting for it."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 2:
            raise KeyboardInterrupt


def run_session(rt: EngineRuntime, console: Console, *, headline: str, show_status: bool = True,
                replay: bool = False) -> SessionOutcome:
    """Run the engine of ``rt`` to its end (see the module docstring); ``headline`` is printed once it started.

    Raises:
      EngineStartError: the engine could not start (nothing is left running).
    """
    interrupts = _Interrupts()
    old = signal.signal(signal.SIGINT, interrupts)
    live: Live | None = None
    failed = ""
    stopping = False
    try:
        rt.start()
        console.print(headline, highlight=False, soft_wrap=True)
        said_replay = not replay
        last_answer = last_line = time.monotonic()
        every = 1.0 if console.is_terminal else 5.0
        if show_status and console.is_terminal:
            live = Live(Text("starting…"), console=console, refresh_per_second=4, transient=False)
            live.start()
        while True:
            if interrupts.count and not stopping:
                console.print("stop requested: disarming, finishing in-flight pairs…", style="yellow")
                rt.stop("operator interrupt (Ctrl-C)")
                stopping = True
            st = rt.status()
            now = time.monotonic()
            if st is None:
                if now - last_answer > ENGINE_SILENT_LIMIT_S:
                    failed = f"the engine stopped answering for {ENGINE_SILENT_LIMIT_S:g} s"
                    break
                time.sleep(_POLL_S)
                continue
            last_answer = now
            if not said_replay:
                notice = replay_notice(st)
                if notice:
                    console.print(notice, highlight=False, soft_wrap=True)   # once: what the recording holds
                    said_replay = True
            if st.finished:
                break
            detail = dict(st.detail)
            if detail.get("bridge.error") and not detail.get("bridge.started"):
                failed = str(detail["bridge.error"])               # no step will ever run
                break
            if show_status:
                if live is not None:
                    live.update(status_text(st))
                elif now - last_line >= every:
                    console.print(status_text(st), highlight=False, soft_wrap=True)  # a line every few s into a log
                    last_line = now
            time.sleep(_POLL_S)
        if live is not None:
            live.stop()
            live = None
        report = None if failed else rt.report()
        return SessionOutcome(report, failed, interrupted=interrupts.count > 0)
    except EngineStartError:
        raise
    except KeyboardInterrupt:
        print("\nstopped without waiting for the engine to finish: check open positions", file=sys.stderr)
        return SessionOutcome(None, "interrupted three times", interrupted=True)
    finally:
        if live is not None:
            live.stop()
        signal.signal(signal.SIGINT, old)
        rt.shutdown()
