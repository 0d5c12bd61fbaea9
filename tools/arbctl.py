"""``python -m tools.arbctl <command>``: the operator's command line.

One click group, one function per command. Commands import what they need inside their body so that
``arbctl --help`` and the light commands start fast and one command's dependencies never break another.

Exit codes: 0 = fine; 1 = the engine is unhealthy, unreachable or a run ended badly (each command's help
says exactly when); 2 = the input (config file, universe file, recording, arguments) is invalid.

``health``, ``status`` and ``scale`` join the running engine's actor system as a client (the admin port
comes from the config) and only ask its Supervisor: they never shut that system down.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from launch import speed_option

if TYPE_CHECKING:
    from config.schema import EngineConfig
    from protocol.control import HealthReport
    from tools.preflight import Preflight

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
HEALTH_TIMEOUT_S = 10.0
STATUS_TIMEOUT_S = 10.0
SCALE_TIMEOUT_S = 60.0
#: arbctl stop waits this long by default for the engine to finish and shut down (seconds).
STOP_TIMEOUT_S = 180.0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate the KRX<->NXT arbitrage engine."""


def _fail(message: str) -> NoReturn:
    """Print ``message`` to stderr and exit with :data:`EXIT_INVALID` (no traceback)."""
    click.echo(message, err=True)
    sys.exit(EXIT_INVALID)


def _print_table(headers: list[tuple[str, str]], rows: list[list[str]]) -> None:
    """A plain-text table on stdout (rich, no borders): ``headers`` are ``(title, justify)``."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    for title, justify in headers:
        table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    Console(width=400 if not sys.stdout.isatty() else None, highlight=False, soft_wrap=True).print(table)


def _plural(n: int | float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


@cli.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=str))
def check_config(path: str) -> None:
    """Validate the config file PATH (and its universe file) without starting anything.

    Prints one summary line and exits 0 when the file is good; prints the one-line problem
    ("FILE: key.path: problem") to stderr and exits 2 when it is not.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    # the same checks a launch makes before it starts anything (tools/preflight.py)
    checked = _checked(path, backend="sim")
    cfg, universe = checked.config, checked.universe
    universe_value = cfg.symbols.universe_file

    md = cfg.market_data
    shards = f"auto({md.shard_count()})" if md.shards == "auto" else str(md.shards)
    rl = cfg.kiwoom.rate_limits
    need = cfg.throttling.min_tokens_free_to_start_new_pair
    edge = cfg.spread_engine.edge_rule.min_net_ticks_after_fees
    year = dt.datetime.now(ZoneInfo(cfg.app.timezone)).year
    taxes = []
    for market in ("KOSPI", "KOSDAQ"):
        try:
            taxes.append(f"{market} {cfg.fees.tax_bps(market, year):g} bps")
        except KeyError:
            taxes.append(f"{market} none for {year}")
    click.echo(
        f"ok: {path} — universe {universe_value} ({len(universe)} symbols), shards {shards}, "
        f"orders {rl.orders_per_sec}/s ({rl.reserve_order_tokens} reserved, pair needs {need}), "
        f"t_hedge {cfg.execution.t_hedge_ms} ms, edge ≥ {_plural(edge, 'tick')} net, "
        f"tax {', '.join(taxes)} ({year})"
    )


@cli.command("symbols")
@click.argument("file", type=click.Path(path_type=str), required=False)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config file for screen numbers and market_data.shards (default: the built-in defaults).")
@click.option("--account", "account", is_flag=True,
              help="Show the running engine's universe as the account sees it: shares held, sellable, tradeable.")
def symbols(file: str | None, config_path: str | None, account: bool) -> None:
    """Validate the universe FILE (CSV or XLSX) and show its screens and shard assignment; or, with
    ``--account``, ask the running engine which codes the account can trade (a code without sellable shares
    is never tried).

    Lists every problem with its line number; exits 2 if there is any, 0 otherwise. With ``--account``:
    exits 1 when the engine is not reachable.
    """
    if account:
        _symbols_account(config_path)
        return
    if file is None:
        _fail("arbctl symbols: give a universe FILE, or --account for the running engine's account")
    from config.loader import ConfigError, load_config
    from config.universe_file import UniverseError, load_universe
    from core.universe import MAX_CODES_PER_SCREEN, ScreenAllocationError, assign_shards

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))
        return

    try:
        universe = load_universe(Path(file))
    except UniverseError as exc:
        for note in exc.notes:
            click.echo(f"note: {note}")
        _fail(str(exc))
        return

    counts = universe.count_by_market()
    n_nxt = int(universe.nxt_mask.sum())
    click.echo(f"{file}: {len(universe)} symbols (KOSPI {counts['KOSPI']}, KOSDAQ {counts['KOSDAQ']}; "
               f"NXT {n_nxt})")

    sn = cfg.kiwoom.screen_numbers
    try:
        screens = universe.screens(per_screen=MAX_CODES_PER_SCREEN, base=sn.marketdata_base,
                                   explicit=sn.marketdata, reserved=(sn.orders, sn.session, sn.account))
    except ScreenAllocationError as exc:
        for note in universe.notes:
            click.echo(f"note: {note}")
        _fail(f"1 problem in {file}:\n  screens: {exc}")
        return

    origin = "kiwoom.screen_numbers.marketdata" if sn.marketdata else f"from {sn.marketdata_base}"
    click.echo(f"screens: {len(screens)} (≤{MAX_CODES_PER_SCREEN} codes each, _NX codes included, file order, "
               f"{origin})")
    for screen in screens:
        click.echo(f"  {screen.screen_no}: {screen.wire_codes:3d} codes ({len(screen)} symbols, {screen.nx_codes} "
                   f"_NX)  {screen.codes[0]} … {screen.codes[-1]}")

    md = cfg.market_data
    n_shards = md.shard_count()
    how = f"auto → {n_shards}" if md.shards == "auto" else str(n_shards)
    shards = assign_shards(screens, n_shards)
    idle = n_shards - len(shards)
    click.echo(f"shards: {len(shards)} (market_data.shards {how}; screens dealt round-robin"
               + (f"; {idle} shard{'s' if idle != 1 else ''} would get no screen" if idle else "") + ")")
    for i, shard in enumerate(shards):
        n_syms = sum(len(s) for s in shard)
        n_codes = sum(s.wire_codes for s in shard)
        click.echo(f"  shard {i}: screens {', '.join(s.screen_no for s in shard)} ({n_syms} symbols, {n_codes} codes)")

    for note in universe.notes:
        click.echo(f"note: {note}")
    click.echo("problems: none")


def _symbols_account(config_path: str | None) -> None:
    """``arbctl symbols --account``: every code of the running engine's universe as its account sees it."""
    from protocol.control import AccountView, AccountViewRequest

    cfg, asys, supervisor = _join_engine(config_path)
    port = cfg.actor_system.admin_port
    _require_started(asys, supervisor, port, False)
    view = _ask(asys, supervisor, AccountViewRequest(), STATUS_TIMEOUT_S, port)
    if not isinstance(view, AccountView):
        _unreachable(f"unexpected answer from the engine on admin port {port}: {view!r}")
    if not view.known:
        click.echo("the broker has not reported the account yet: no pair can start")
    rows = sorted(view.rows, key=lambda r: (r[4], r[0]))
    _print_table([("code", "left"), ("held", "right"), ("sellable", "right"), ("expected", "right"),
                  ("tradeable", "left"), ("why not", "left")],
                 [[c, f"{h:,}", f"{s:,}", f"{e:,}", "yes" if ok else "NO", why] for c, h, s, e, ok, why in rows])
    n_ok = sum(1 for r in view.rows if r[4])
    click.echo(f"{n_ok} of {len(view.rows)} codes tradeable; orderable cash {view.cash_krw:,.0f} KRW")


@cli.command("arm")
@click.argument("code")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port; default: the built-in defaults).")
def arm(code: str, config_path: str | None) -> None:
    """Re-arm CODE, frozen until re-armed by a RECONCILE MISMATCH or a FLATTEN FAILED: the broker's holding is
    accepted as the truth from now on and new pairs may start on it again.

    Exit codes: 0 = the engine took the request (it applies at its next step); 1 = refused or not reachable;
    2 = bad arguments or config.
    """
    from protocol.control import ArmCode, ArmResult

    c = code.strip()
    if c.isdigit() and len(c) < 6:
        c = c.zfill(6)
    if not (len(c) == 6 and c.isdigit()):
        _fail(f"arbctl arm: {code!r} is not a 6-digit code")
    cfg, asys, supervisor = _join_engine(config_path)
    port = cfg.actor_system.admin_port
    _require_started(asys, supervisor, port, False)
    result = _ask(asys, supervisor, ArmCode(c, "operator (arbctl arm)"), STATUS_TIMEOUT_S, port)
    if not isinstance(result, ArmResult):
        _unreachable(f"unexpected answer from the Supervisor on admin port {port}: {result!r}")
    click.echo(result.message)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


# ---------------------------------------------------------------------------------- the running engine

def _load_cfg(config_path: str | None) -> EngineConfig:
    """The config (defaults when ``config_path`` is None); a bad file exits 2 with its one-line reason."""
    from config.loader import ConfigError, load_config
    try:
        return load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))


def _unreachable(message: str, as_json: bool = False) -> NoReturn:
    """Print why the engine cannot be asked (one line; JSON on stdout with ``--json``) and exit 1."""
    if as_json:
        import json
        click.echo(json.dumps({"reachable": False, "error": message}, ensure_ascii=False))
    else:
        click.echo(message, err=True)
    sys.exit(EXIT_FAILED)


def _join_engine(config_path: str | None, as_json: bool = False) -> tuple[EngineConfig, Any, Any]:
    """Join the running engine's actor system as a client: ``(cfg, asys, supervisor)``, or exit 1.

    The system is never shut down here: it is the engine's.
    """
    from actors.runtime import EngineStartError, connect, find_supervisor
    cfg = _load_cfg(config_path)
    port = cfg.actor_system.admin_port
    try:
        asys = connect(port, cfg.actor_system.base)
        supervisor = find_supervisor(asys)
    except EngineStartError as exc:
        _unreachable(str(exc), as_json)
    except Exception as exc:  # noqa: BLE001 - Thespian raises several types when the admin does not answer
        _unreachable(f"cannot join the actor system on admin port {port}: {exc}", as_json)
    return cfg, asys, supervisor


def _ask(asys: Any, supervisor: Any, message: object, timeout_s: float, port: int, as_json: bool = False) -> object:
    """``asys.ask`` that exits 1 with a clear line when the Supervisor does not answer in time."""
    try:
        reply = asys.ask(supervisor, message, timeout_s)
    except Exception as exc:  # noqa: BLE001
        _unreachable(f"asking the Supervisor on admin port {port} failed: {exc}", as_json)
    if reply is None:
        _unreachable(f"the Supervisor on admin port {port} did not answer within {timeout_s:g} s", as_json)
    return reply


def _require_started(asys: Any, supervisor: Any, port: int, as_json: bool) -> HealthReport:
    """The engine's HealthReport; exits 1 when no engine was started in that actor system."""
    from protocol.control import HealthReport, HealthRequest
    health = _ask(asys, supervisor, HealthRequest(), HEALTH_TIMEOUT_S, port, as_json)
    if not isinstance(health, HealthReport):
        _unreachable(f"unexpected answer from the Supervisor on admin port {port}: {health!r}", as_json)
    if not health.actors:
        _unreachable(f"no engine has been started in the actor system on admin port {port} "
                     f"(the Supervisor has no actors)", as_json)
    return health


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


@cli.command("health")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port; default: the built-in defaults).")
@click.option("--json", "as_json", is_flag=True, help="Print the health report as JSON.")
def health(config_path: str | None, as_json: bool) -> None:
    """Every actor of the running engine: name, pid, alive, heartbeat age, messages in/out, pending, restarts,
    and the actor system it runs in (``local``: the engine's own; a shard host's admin address otherwise).

    Exit codes: 0 = every actor is alive; 1 = an actor is unhealthy (no heartbeat for 3 intervals + 1 s,
    or dead), no engine was started, or the engine is not reachable (one line says why); 2 = bad config.
    """
    import dataclasses
    import json

    from protocol.control import HealthReport, HealthRequest

    cfg, asys, supervisor = _join_engine(config_path, as_json)
    port = cfg.actor_system.admin_port
    report = _ask(asys, supervisor, HealthRequest(), HEALTH_TIMEOUT_S, port, as_json)
    if not isinstance(report, HealthReport):
        _unreachable(f"unexpected answer from the Supervisor on admin port {port}: {report!r}", as_json)
    if as_json:
        click.echo(json.dumps({"reachable": True, "healthy": report.healthy, "t_ns": report.t_ns,
                               "actors": [dataclasses.asdict(a) for a in report.actors]},
                              ensure_ascii=False, default=str))
        sys.exit(EXIT_OK if report.healthy else EXIT_FAILED)
    if not report.actors:
        click.echo(f"no engine has been started in the actor system on admin port {port} "
                   f"(the Supervisor has no actors)", err=True)
        sys.exit(EXIT_FAILED)
    _print_table([("name", "left"), ("pid", "right"), ("alive", "left"), ("heartbeat", "right"),
                  ("msgs in", "right"), ("msgs out", "right"), ("pending", "right"), ("restarts", "right"),
                  ("system", "left")],
                 [[a.name, str(a.pid or "-"), "yes" if a.alive else "NO", _age(a.heartbeat_age_s),
                   f"{a.msgs_in:,}", f"{a.msgs_out:,}", f"{a.pending:,}", str(a.restarts), a.system]
                  for a in report.actors])
    bad = [a for a in report.actors if not a.alive]
    if bad:
        why = {a.name: ("no heartbeat yet" if a.heartbeat_age_s is None
                        else f"last heartbeat {_age(a.heartbeat_age_s)} ago") for a in bad}
        click.echo("UNHEALTHY: " + ", ".join(f"{name} ({text})" for name, text in why.items()))
        sys.exit(EXIT_FAILED)
    click.echo(f"healthy: all {len(report.actors)} actors alive (admin port {port})")


@cli.command("status")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port; default: the built-in defaults).")
@click.option("--json", "as_json", is_flag=True, help="Print the status report as JSON.")
def status(config_path: str | None, as_json: bool) -> None:
    """One-glance status: engine clock (Asia/Seoul), session, armed and why, ticks, tokens, pairs, PnL.

    Exit codes: 0 = the engine answered; 1 = no engine was started or it is not reachable (one line says
    why); 2 = bad config.
    """
    import dataclasses
    import json

    from core.clock import kst_datetime
    from protocol.control import StatusReport, StatusRequest

    cfg, asys, supervisor = _join_engine(config_path, as_json)
    port = cfg.actor_system.admin_port
    _require_started(asys, supervisor, port, as_json)
    st = _ask(asys, supervisor, StatusRequest(), STATUS_TIMEOUT_S, port, as_json)
    if not isinstance(st, StatusReport):
        _unreachable(f"unexpected answer from the Supervisor on admin port {port}: {st!r}", as_json)
    if as_json:
        d = dataclasses.asdict(st)
        d["detail"] = dict(st.detail)
        d["clock"] = kst_datetime(st.t_ns).isoformat() if st.t_ns else None
        click.echo(json.dumps({"reachable": True, **d}, ensure_ascii=False, default=str))
        return
    clock = kst_datetime(st.t_ns).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " KST" if st.t_ns else "not started"
    armed = "ARMED" if st.armed else "disarmed"
    click.echo(f"clock     {clock}  (step {st.step:,})")
    click.echo(f"session   {st.session}; {armed}" + (f" ({st.reason})" if st.reason else ""))
    click.echo(f"ticks     {st.ticks:,} ({st.ticks_per_s:,.0f}/s)")
    click.echo(f"tokens    {st.tokens_free} free")
    click.echo(f"pairs     {st.active_pairs} active, {st.pairs_done} done; book {'flat' if st.flat else 'NOT flat'}")
    click.echo(f"PnL       {st.pnl_net_krw:+,.0f} KRW net")
    click.echo(f"paused    {'yes (AUTO-PAUSE: no new pairs)' if st.paused else 'no'}")
    d = dict(st.detail)
    if "pm.account_known" in d:
        untradeable = [c for c in str(d.get("pm.untradeable") or "").split(",") if c]
        known = "reported" if d.get("pm.account_known") else "NOT reported yet (no pair can start)"
        listed = f" ({', '.join(untradeable[:10])}{' …' if len(untradeable) > 10 else ''})" if untradeable else ""
        click.echo(f"account   {known}; "
                   f"cash {float(d.get('pm.cash_krw') or 0):,.0f} KRW; {len(untradeable)} code(s) untradeable{listed}")
        if d.get("pm.frozen"):
            click.echo(f"frozen    {d['pm.frozen']} (until re-armed: arbctl arm CODE)")
        if d.get("pm.mismatched"):
            click.echo(f"RECONCILE MISMATCH on {d['pm.mismatched']}")
        if d.get("pm.refused"):
            click.echo(f"refused   {d['pm.refused']} (signals the account could not take)")
    if d.get("pm.phase_krx") or d.get("pm.phase_nxt"):
        click.echo(f"phases    {d.get('pm.phase_krx', '')}; {d.get('pm.phase_nxt', '')}")
    if "pm.in_vi" in d:
        in_vi = [c for c in str(d.get("pm.in_vi") or "").split(",") if c]
        click.echo(f"VI        {len(in_vi)} code(s) in a volatility interruption now"
                   + (f": {', '.join(in_vi)}" if in_vi else "") + f"; {int(d.get('pm.vi_events') or 0)} since the start"
                   + (f"; signals held: {d['pm.market_held']}" if d.get("pm.market_held") else ""))
    if d.get("bridge.latency_clock"):
        click.echo(f"latency   stamped on {d['bridge.latency_clock']}")
    click.echo(f"finished  {'yes' if st.finished else 'no'}")


@cli.command("stop")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port; default: the built-in defaults).")
@click.option("--reason", default="arbctl stop", show_default=True, help="Why, for the report and the audit log.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=STOP_TIMEOUT_S, show_default=True,
              metavar="SECONDS", help="How long to wait for the engine to finish and shut down.")
def stop(config_path: str | None, reason: str, timeout_s: float) -> None:
    """Stop the running engine in order, from another terminal: disarm, let in-flight pairs finish (bounded by
    the hedge timers), write the report, shut every engine process down. The same stop as Ctrl-C or SIGTERM
    in the launcher's terminal; waits until the engine's admin port is free.

    Exit codes: 0 = stopped, flat, shut down; 1 = not flat, not stopped within --timeout, no engine started or
    not reachable; 2 = bad config.
    """
    import time

    from actors.runtime import port_listening
    from outputs.report import summarise
    from protocol.control import ReportRequest, RunReport, StopEngine
    from tools.session_runner import open_legs

    cfg, asys, supervisor = _join_engine(config_path)
    port = cfg.actor_system.admin_port
    _require_started(asys, supervisor, port, False)
    asys.tell(supervisor, StopEngine(reason))
    click.echo(f"stop requested ({reason}): disarming, finishing in-flight pairs…")
    deadline = time.monotonic() + timeout_s
    # the Supervisor answers a report request once the run has finished (the launcher gets the same one);
    # asked in short slices, so that an engine the launcher has already shut down is noticed at once
    report = None
    while report is None and time.monotonic() < deadline and port_listening(port):
        got = asys.ask(supervisor, ReportRequest(), 1.0)
        report = got.report if isinstance(got, RunReport) else None
    if report is not None:
        click.echo(summarise(_printable(report)))
    while port_listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)     # the launcher (or the Supervisor, when the launcher is gone) shuts the system down
    if port_listening(port):
        _unreachable(f"the engine on admin port {port} has not shut down within {timeout_s:g} s: check it with "
                     f"arbctl health")
    legs = open_legs(report) if report is not None else {}
    if legs:
        click.echo("NOT FLAT: " + ", ".join(f"{c} {q:+d}" for c, q in sorted(legs.items())) + " — flatten by hand",
                   err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"stopped: the engine on admin port {port} has shut down" + ("" if report is not None else
               " (its report was not received here: see the launcher's output and the run folder)"))
    sys.exit(EXIT_OK if report is not None else EXIT_FAILED)


@cli.command("scale")
@click.option("--shards", "n_shards", type=click.IntRange(min=1), required=True,
              help="How many MarketData shard actors the running engine should have.")
@click.option("--host", "host", default=None, metavar="HOST:ADMIN_PORT",
              help="Place the shards added on this shard host (python -m actors.shard_host), not on the leader.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config of the running engine (its actor_system.admin_port; default: the built-in defaults).")
def scale(n_shards: int, host: str | None, config_path: str | None) -> None:
    """Re-shard the running engine live to N MarketData shards (new shards are registered and get a
    snapshot before the old ones retire, so no update is lost). Prints the Supervisor's answer.

    Shards keep the system they run in; the ones added (N more than now) go to the leader, or with
    ``--host`` to that shard host, which must have joined the engine (``arbctl health`` shows each shard's
    system). A shard host that stops or dies has its shards replaced on the leader.

    Exit codes: 0 = re-sharded; 1 = refused, no answer, no engine started or not reachable; 2 = bad
    arguments or config.
    """
    from core.placement import PlacementError, parse_host_port
    from protocol.control import ScaleResult, ScaleShards

    if host is not None:
        try:
            parse_host_port(host)
        except PlacementError as exc:
            _fail(f"arbctl scale: {exc}")
    cfg, asys, supervisor = _join_engine(config_path)
    port = cfg.actor_system.admin_port
    _require_started(asys, supervisor, port, False)
    timeout = max(SCALE_TIMEOUT_S, float(cfg.actor_system.ask_timeout_s))
    result = _ask(asys, supervisor, ScaleShards(n_shards, host), timeout, port)
    if not isinstance(result, ScaleResult):
        _unreachable(f"unexpected answer from the Supervisor on admin port {port}: {result!r}")
    click.echo(result.message)
    sys.exit(EXIT_OK if result.ok else EXIT_FAILED)


# ---------------------------------------------------------------------------------- recordings and runs

def _checked(config_path: str | None, *, backend: str, replay_file: str | None = None,
             overrides: dict[str, object] | None = None, universe_file: str | None = None) -> Preflight:
    """Every input of a run checked before anything starts (:func:`tools.preflight.preflight`); the first
    problem exits 2 with its one line."""
    from tools.preflight import InputError, preflight
    try:
        return preflight(config_path, backend=backend, replay_file=replay_file, overrides=overrides,
                         universe_file=universe_file)
    except InputError as exc:
        _fail(str(exc))


@cli.command("replay")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config file (default: the built-in defaults).")
@click.option("--speed", "speed", default="max", callback=speed_option, metavar="X|max", show_default=True,
              help="Simulated clock speed (a multiple of real time) or 'max' for deterministic lockstep.")
@click.option("--duration", "duration_s", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Stop after this much recorded time (default: the end of the file).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the run report JSON (SPEC §5) here.")
@click.option("--run-dir", "run_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Directory for the audit log and report files (default: a new one under "
                   "persistence.reports_dir).")
@click.option("--universe", "universe_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              metavar="FILE", help="Replay only the recording's codes listed in this universe file (default: all "
                                   "of the recording's codes).")
def replay(file: str, config_path: str | None, speed: float | None, duration_s: float | None,
           report_path: str | None, run_dir: str | None, universe_file: str | None) -> None:
    """Run the whole engine (the same actors) over the recording FILE (a Parquet file or a directory of
    daily files) until its end, then print the run summary.

    The engine gets its own actor system on actor_system.admin_port, or on a free port when that one is
    taken (e.g. by a live engine), and it is shut down at the end. Ctrl-C disarms, finishes in-flight
    pairs and still reports.

    Exit codes: 0 = the run finished cleanly, flat, and replayed ticks; 1 = not flat, nothing replayed, no
    report, a run that did not finish cleanly, or the engine could not start; 2 = invalid config, universe,
    recording (read whole before anything starts) or arguments: nothing is started and no run folder is left.
    """
    import datetime as dt
    import json
    import shutil

    from rich.console import Console

    from actors.runtime import EngineRuntime, EngineStartError, free_port, port_in_use
    from config.loader import resolve_path
    from outputs.report import summarise
    from protocol.wiring import RunOptions
    from tools.preflight import replay_symbols_notes
    from tools.session_runner import open_legs, run_session

    checked = _checked(config_path, backend="replay", replay_file=file, universe_file=universe_file)
    cfg, universe = checked.config, checked.universe
    symbols_notes = replay_symbols_notes(checked)
    rdir = Path(run_dir) if run_dir else (
        resolve_path(cfg.persistence.reports_dir, config_path) / dt.datetime.now().strftime("replay-%Y%m%d-%H%M%S"))
    made_rdir = not rdir.exists()
    rdir.mkdir(parents=True, exist_ok=True)
    port = cfg.actor_system.admin_port
    if port_in_use(port):
        new_port = free_port()
        click.echo(f"note: admin port {port} is in use (a running engine?): this replay uses port {new_port}",
                   err=True)
        port = new_port
    opts = RunOptions(backend="replay", replay_file=file, speed=speed, duration_s=duration_s, seed=None,
                      run_dir=str(rdir), config_path=config_path,
                      symbols_source=checked.replay.source if checked.replay else "", symbols_notes=symbols_notes)
    rt = EngineRuntime(cfg, universe, opts, admin_port=port)
    headline = "\n".join((f"replaying {file}: {len(universe)} symbols ({checked.recording_rows:,} rows of theirs), "
                          f"speed {'max' if speed is None else f'{speed:g}'}, run dir {rdir}",) + symbols_notes)
    try:
        outcome = run_session(rt, Console(highlight=False), headline=headline, show_status=False, replay=True)
    except EngineStartError as exc:
        if made_rdir:
            shutil.rmtree(rdir, ignore_errors=True)     # nothing ran: leave no run folder behind
        click.echo(str(exc), err=True)
        sys.exit(EXIT_FAILED)
    result = outcome.report
    if result is None:
        click.echo(f"the replay ended without a report: {outcome.failed or 'no answer'}", err=True)
        sys.exit(EXIT_FAILED)
    report = result.report
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    click.echo(summarise(_printable(report)))
    if report_path:
        click.echo(f"report: {report_path}")
    click.echo(f"run files: {rdir}")
    legs = open_legs(report)
    if legs:
        click.echo("NOT FLAT: " + ", ".join(f"{c} {q:+d}" for c, q in sorted(legs.items())) + " — flatten by hand",
                   err=True)
        sys.exit(EXIT_FAILED)
    if not report.get("ticks"):
        errors = report.get("errors") or []
        click.echo("nothing was replayed" + (": " + "; ".join(_error_text(e) for e in errors) if errors else ""),
                   err=True)
        sys.exit(EXIT_FAILED)
    if outcome.exit_code != EXIT_OK:
        click.echo("the replay did not finish cleanly (see the report's errors)"
                   + (": the report is partial" if outcome.abandoned else ""), err=True)
    sys.exit(outcome.exit_code)


def _error_text(e: object) -> str:
    if isinstance(e, dict):
        return str(e.get("message") or e)
    return str(e)


def _printable(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``report`` whose ``errors`` are all dicts (the Supervisor adds plain strings)."""
    errors = report.get("errors") or []
    if all(isinstance(e, dict) for e in errors):
        return report
    return {**report, "errors": [e if isinstance(e, dict) else {"source": "engine", "message": str(e)}
                                 for e in errors]}


@cli.command("record")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config file: universe, screens, sim settings (default: the built-in defaults).")
@click.option("--backend", type=click.Choice(["sim", "replay", "kiwoom"]), default=None,
              help="Where real data comes from (default: sim, or replay with --replay).")
@click.option("--replay", "replay_file", type=click.Path(path_type=str), default=None,
              help="Recording to replay (implies --backend replay).")
@click.option("--duration", "duration_s", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS", help="Stop after this much engine-clock time (simulated; wall time with "
                                      "kiwoom). Default: the end of a replay, otherwise Ctrl-C.")
@click.option("--speed", "speed", default="max", callback=speed_option, metavar="X|max", show_default=True,
              help="Simulated clock speed (a multiple of real time) or 'max' (lockstep).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default="data", show_default=True,
              help="Directory of the daily market_data_YYYYMMDD.parquet files.")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic market (overrides sim.seed).")
def record_cmd(config_path: str | None, backend: str | None, replay_file: str | None, duration_s: float | None,
               speed: float | None, out_dir: str, seed: int | None) -> None:
    """Record real data into daily Parquet files (seed 004's schema plus the true sizes fid_61/fid_71).

    Every screen of the universe is registered (KRX and _NX codes); every 주식호가잔량/주식체결 event
    becomes one row. Rows are buffered and flushed every 5,000 rows or 30 s and at exit; Ctrl-C (or
    SIGTERM) stops recording without losing anything already received. Prints rows, files and the time
    span.

    Exit codes: 0 = recorded (also after Ctrl-C); 1 = nothing could be recorded (login or registration
    failed, no row arrived, the backend is not available here); 2 = invalid config, universe, recording or
    arguments.
    """
    import signal

    from kiwoom_bridge.recording import RecordingError
    from protocol.wiring import RunOptions, parse_backend
    from tools.recorder import RecorderError, record

    if replay_file and backend not in (None, "replay"):
        _fail(f"--replay needs --backend replay (got --backend {backend})")
    backend = backend or ("replay" if replay_file else "sim")
    checked = _checked(config_path, backend=backend, replay_file=replay_file,
                       overrides={"sim": {"seed": seed}} if seed is not None else None)
    cfg, universe = checked.config, checked.universe
    opts = RunOptions(backend=parse_backend(backend), replay_file=replay_file, speed=speed, duration_s=duration_s,
                      seed=seed, run_dir=out_dir, config_path=config_path)

    def on_sigterm(signum: int, frame: object) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_sigterm)
    click.echo(f"recording {backend} ({len(universe)} symbols) into {out_dir}"
               + ("" if duration_s is None else f" for {duration_s:g} s")
               + ("; Ctrl-C stops" if backend != "replay" or duration_s is None else ""))
    try:
        summary = record(cfg, universe, opts, out_dir, duration_s)
    except (RecorderError, RecordingError) as exc:
        click.echo(f"record: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - e.g. PlatformNotSupportedError for kiwoom off Windows, BridgeError
        click.echo(f"record: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        signal.signal(signal.SIGTERM, old)
    click.echo(summary.text())
    sys.exit(EXIT_OK if summary.rows else EXIT_FAILED)


@cli.command("report")
@click.argument("run_dir", type=click.Path(path_type=str))
def report_cmd(run_dir: str) -> None:
    """Print the summary of the run in RUN_DIR (its report.json).

    Exit codes: 0 = printed; 2 = RUN_DIR holds no readable report.
    """
    from outputs.report import load_run, summarise
    try:
        report = load_run(run_dir)
    except (FileNotFoundError, ValueError, OSError) as exc:
        _fail(f"arbctl report: {exc}")
        return
    click.echo(summarise(report))


@cli.command("scan")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config file: fees, tax, edge rule, universe (default: the built-in defaults).")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write every window as CSV here.")
def scan(file: str, config_path: str | None, out_csv: str | None) -> None:
    """Vectorised opportunity scan of the recording FILE: every window where an edge was eligible
    (start, end, symbol, direction, best net edge KRW and bps, visible qty).

    Exit codes: those of the scanner (0 = scanned; 2 = invalid input), or 2 when the scanner is not
    available in this installation.
    """
    try:
        from tools.scan_recording import scan_command
    except Exception as exc:  # noqa: BLE001 - ImportError or an error inside the module
        click.echo(f"scan is not available: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    sys.exit(scan_command(file, config_path, out_csv))


def main() -> None:
    """Console entry point."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # never die on a console that cannot print "≥" or "—"
            reconfigure(errors="replace")
    cli(prog_name="arbctl")


if __name__ == "__main__":
    main()
