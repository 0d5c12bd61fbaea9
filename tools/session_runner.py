"""The one run loop of a session, shared by ``launch.py`` and ``arbctl replay``.

:func:`run_session` starts the engine (:class:`actors.runtime.EngineRuntime`), follows it until it has
finished, shows a live status line, says once what a replayed recording holds, fetches the run report and
always shuts every process down. Stopping:

* **Ctrl-C or SIGTERM** (the first): the orderly stop — disarm, let in-flight pairs finish (bounded), report,
  exit. A second one is only acknowledged.
* **The third**: stop waiting. A partial report is still fetched and written (marked partial), every open
  leg it knows is printed loudly, and the actor system is shut down.
* **The launcher killed outright** (SIGKILL): the Supervisor notices that its launcher is gone and does the
  orderly stop by itself, writes the report and shuts its actor system down (see ``actors/supervisor.py``).

What the caller does with the outcome (print, write, exit code) is its own business; :attr:`SessionOutcome.exit_code`
says 0 only for a run that finished cleanly and flat.
"""
from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from actors.runtime import EngineRuntime, replay_notice
from core.clock import kst_datetime
from protocol.control import RunReport, StatusReport

__all__ = ["ENGINE_SILENT_LIMIT_S", "EXIT_FAILED", "EXIT_INVALID", "EXIT_OK", "SessionOutcome", "open_legs",
           "run_session", "status_text"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
#: The run loop gives up when the engine answers no status for this long (seconds of wall time).
ENGINE_SILENT_LIMIT_S = 60.0
#: How long a partial report may take after the operator stopped waiting (seconds).
PARTIAL_REPORT_TIMEOUT_S = 10.0
_POLL_S = 0.2


@dataclass(frozen=True)
class SessionOutcome:
    """How a session ended: its ``report`` (None when there is none), or ``failed`` saying why the engine
    could not start or stopped answering; ``interrupted`` when the operator stopped it, ``abandoned`` when
    the operator stopped waiting for the orderly stop (the report is then partial)."""

    report: RunReport | None
    failed: str = ""
    interrupted: bool = False
    abandoned: bool = False

    @property
    def finished_cleanly(self) -> bool:
        """The engine reported the run finished (not abandoned, not partial, not cut short by a dead actor,
        no finishing error)."""
        if self.report is None or self.failed or self.abandoned:
            return False
        extra = self.report.report.get("extra") or {}
        finished = extra.get("finished") or {}
        return not extra.get("partial") and not finished.get("error") and not finished.get("aborted")

    @property
    def flat(self) -> bool:
        """Every position the report knows of is zero."""
        return self.report is not None and not open_legs(self.report.report)

    @property
    def exit_code(self) -> int:
        """0 = finished cleanly and flat; 1 = anything else (a failure, an abandoned run, not flat)."""
        return EXIT_OK if self.finished_cleanly and self.flat else EXIT_FAILED


def open_legs(report: dict[str, object]) -> dict[str, int]:
    """``{code: shares}`` of every non-zero position in ``report``'s ``net_position``."""
    positions = report.get("net_position") or {}
    assert isinstance(positions, dict)
    return {str(c): int(q) for c, q in positions.items() if q}


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


class _Stops:
    """Counts stop requests (Ctrl-C, SIGTERM): the first asks for an orderly stop, the third gives up."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 2:
            raise KeyboardInterrupt


def _install(handler: Callable[[int, FrameType | None], None]) -> dict[int, object]:
    old: dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, handler)
    return old


def run_session(rt: EngineRuntime, console: Console, *, headline: str, show_status: bool = True,
                replay: bool = False) -> SessionOutcome:
    """Run the engine of ``rt`` to its end (see the module docstring); ``headline`` is printed once it started.

    Raises:
      EngineStartError: the engine could not start (nothing is left running).
    """
    stops = _Stops()
    old = _install(stops)
    live: Live | None = None
    failed = ""
    stopping = False
    try:
        rt.start()
        console.print(headline, highlight=False, soft_wrap=True)
        if rt.in_process:
            console.print("lockstep backtest: every actor runs in this process (no admin port, so arbctl status/stop "
                          "and the window cannot reach it; Ctrl-C stops it in order)", style="dim", highlight=False,
                          soft_wrap=True)
        said_replay = not replay
        last_answer = last_line = time.monotonic()
        every = 1.0 if console.is_terminal else 5.0
        if show_status and console.is_terminal:
            live = Live(Text("starting…"), console=console, refresh_per_second=4, transient=False)
            live.start()
        while True:
            if stops.count and not stopping:
                console.print("stop requested: disarming, finishing in-flight pairs… (press Ctrl-C twice more to "
                              "stop waiting)", style="yellow", soft_wrap=True)
                rt.stop("operator stop (Ctrl-C or SIGTERM)")
                stopping = True
            st = rt.status()
            now = time.monotonic()
            if st is None:
                if now - last_answer > ENGINE_SILENT_LIMIT_S:
                    failed = f"the engine stopped answering for {ENGINE_SILENT_LIMIT_S:g} s"
                    break
                rt.idle(_POLL_S)
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
            rt.idle(_POLL_S)
        if live is not None:
            live.stop()
            live = None
        report = None if failed else rt.report()
        if not said_replay and report is not None:
            # a fast lockstep replay can finish before a status showed the bridge's notice: say it from the report
            desc = ((report.report.get("extra") or {}).get("replay") or {}).get("description")
            if desc:
                console.print(f"replay: {desc}", highlight=False, soft_wrap=True)
        return SessionOutcome(report, failed, interrupted=stops.count > 0)
    except KeyboardInterrupt:
        if live is not None:
            live.stop()
            live = None
        return _abandon(rt, console)
    finally:
        if live is not None:
            live.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        rt.shutdown()


def _abandon(rt: EngineRuntime, console: Console) -> SessionOutcome:
    """The operator stopped waiting: fetch what the engine knows now (a partial report, its files written),
    print every open leg loudly, and let the caller shut everything down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # one more Ctrl-C must not cut the partial report short
    console.print("stopped waiting for the engine: fetching a PARTIAL report…", style="bold red", soft_wrap=True)
    report: RunReport | None = None
    active = 0
    try:
        st = rt.status()
        active = st.active_pairs if st is not None else 0
        report = rt.report(timeout_s=PARTIAL_REPORT_TIMEOUT_S, partial=True)
    except Exception as exc:  # noqa: BLE001 - the engine may be wedged: say so, still shut down
        console.print(f"no partial report: {type(exc).__name__}: {exc}", style="bold red", soft_wrap=True)
    legs = open_legs(report.report) if report is not None else {}
    if legs or active:
        text = ", ".join(f"{c} {q:+d}" for c, q in sorted(legs.items())) or "unknown"
        print(f"\nOPEN LEGS — FLATTEN BY HAND: {text}; {active} pair(s) were still active. Orders may still "
              f"be working at the broker: check them now.", file=sys.stderr, flush=True)
    elif report is None:
        print("\nOPEN LEGS UNKNOWN: the engine gave no report. Check the broker's positions and working orders.",
              file=sys.stderr, flush=True)
    return SessionOutcome(report, "" if report is not None else "abandoned without a report",
                          interrupted=True, abandoned=True)

