"""``python -m tools.arbctl <command>``: the operator's command line.

One click group, one function per command. Commands import what they need inside their body so that
``arbctl --help`` and the light commands start fast and one command's dependencies never break another.

Exit codes: 0 = fine; 2 = the input (config file, universe file, arguments) is invalid.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_OK = 0
EXIT_INVALID = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate the KRX<->NXT arbitrage engine."""


def _fail(message: str) -> None:
    """Print ``message`` to stderr and exit with :data:`EXIT_INVALID` (no traceback)."""
    click.echo(message, err=True)
    sys.exit(EXIT_INVALID)


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

    from config.loader import ConfigError, load_config, resolve_path
    from core.universe import MAX_CODES_PER_SCREEN, ScreenAllocationError, UniverseError, load_universe

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        _fail(str(exc))
        return

    universe_value = cfg.symbols.universe_file
    universe_path = resolve_path(universe_value, path)
    try:
        universe = load_universe(universe_path)
    except UniverseError as exc:  # one line: the first problem, and how to see them all
        problems = exc.problems
        more = f" (+{len(problems) - 1} more; run: arbctl symbols {universe_value})" if len(problems) > 1 else ""
        _fail(f"{path}: symbols.universe_file: {universe_path}: {problems[0]}{more}")
        return
    sn = cfg.kiwoom.screen_numbers
    try:
        universe.screens(per_screen=MAX_CODES_PER_SCREEN, base=sn.marketdata_base, explicit=sn.marketdata,
                         reserved=(sn.orders, sn.session))
    except ScreenAllocationError as exc:
        key = "kiwoom.screen_numbers.marketdata" if sn.marketdata else "kiwoom.screen_numbers.marketdata_base"
        _fail(f"{path}: {key}: {exc}")
        return

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
@click.argument("file", type=click.Path(path_type=str))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Config file for screen numbers and market_data.shards (default: the built-in defaults).")
def symbols(file: str, config_path: str | None) -> None:
    """Validate the universe FILE (CSV or XLSX) and show its screens and shard assignment.

    Lists every problem with its line number; exits 2 if there is any, 0 otherwise.
    """
    from config.loader import ConfigError, load_config
    from core.universe import MAX_CODES_PER_SCREEN, ScreenAllocationError, UniverseError, assign_shards, \
        load_universe

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
                                   explicit=sn.marketdata, reserved=(sn.orders, sn.session))
    except ScreenAllocationError as exc:
        for note in universe.notes:
            click.echo(f"note: {note}")
        _fail(f"1 problem in {file}:\n  screens: {exc}")
        return

    origin = "kiwoom.screen_numbers.marketdata" if sn.marketdata else f"from {sn.marketdata_base}"
    click.echo(f"screens: {len(screens)} (≤{MAX_CODES_PER_SCREEN} codes each, file order, {origin})")
    for screen in screens:
        click.echo(f"  {screen.screen_no}: {len(screen):3d} codes  {screen.codes[0]} … {screen.codes[-1]}")

    md = cfg.market_data
    n_shards = md.shard_count()
    how = f"auto → {n_shards}" if md.shards == "auto" else str(n_shards)
    shards = assign_shards(screens, n_shards)
    idle = n_shards - len(shards)
    click.echo(f"shards: {len(shards)} (market_data.shards {how}; screens dealt round-robin"
               + (f"; {idle} shard{'s' if idle != 1 else ''} would get no screen" if idle else "") + ")")
    for i, shard in enumerate(shards):
        n_codes = sum(len(s) for s in shard)
        click.echo(f"  shard {i}: screens {', '.join(s.screen_no for s in shard)} ({n_codes} codes)")

    for note in universe.notes:
        click.echo(f"note: {note}")
    click.echo("problems: none")


def main() -> None:
    """Console entry point."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # never die on a console that cannot print "≥" or "—"
            reconfigure(errors="replace")
    cli(prog_name="arbctl")


if __name__ == "__main__":
    main()
