"""Typed, frozen configuration objects.

Every section of ``config/default.yaml`` has one model here. Models forbid unknown keys and refuse
impossible values; cross-field rules live in :class:`EngineConfig`'s validator so there is one place
to read them. Units are in the field names (``_ms``, ``_s``, ``_bps``, ``_krw``).

Every number is finite (``.inf`` and ``.nan`` are refused) and bounded: each field's range is in its type
below (and commented in ``config/default.yaml``). The bounds are sane limits, not tuning advice: a rate never
above Kiwoom's caps (5 orders/s, 5 queries/s), a timer never longer than a minute (a stop must finish in
bounded time), a count never beyond what one account or one machine can use.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegInt = Annotated[int, Field(ge=0, strict=True)]
NonNegFloat = Annotated[float, Field(ge=0)]
Bps = Annotated[float, Field(ge=0, le=1000)]

#: Kiwoom's caps (reference §4): SendOrder past 5/s returns -308; TR queries past 5/s fail likewise.
KIWOOM_ORDERS_PER_SEC_CAP = 5
KIWOOM_QUERIES_PER_SEC_CAP = 5
#: The longest any engine timer may be: a stop waits for the timers of in-flight pairs.
MAX_TIMER_MS = 60_000

TimerMs = Annotated[int, Field(gt=0, le=MAX_TIMER_MS, strict=True)]
DelayMs = Annotated[int, Field(ge=0, le=MAX_TIMER_MS, strict=True)]
LatencyMs = Annotated[float, Field(ge=0, le=MAX_TIMER_MS)]
Seconds = Annotated[int, Field(gt=0, le=86_400, strict=True)]
Shares = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
OrdersPerSec = Annotated[int, Field(gt=0, le=KIWOOM_ORDERS_PER_SEC_CAP, strict=True)]
QueriesPerSec = Annotated[int, Field(gt=0, le=KIWOOM_QUERIES_PER_SEC_CAP, strict=True)]
Ticks = Annotated[float, Field(ge=0, le=100)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _short(value: object, limit: int = 40) -> str:
    """A bounded repr for error messages: never the whole of a large input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({type(value).__name__}, {len(text):,} characters)"


def _parse_time(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("write times of day in quotes, e.g. \"15:19:50\" "
                         "(unquoted, YAML reads them as base-60 numbers)")
    if not isinstance(value, str):
        raise ValueError(f"expected a time of day \"HH:MM[:SS]\", got {_short(value)}")
    try:
        parts = [int(p) for p in value.split(":")]
        if len(parts) == 2:
            parts.append(0)
        if len(parts) != 3:
            raise ValueError
        hour, minute, second = parts
        return dt.time(hour, minute, second)
    except (ValueError, TypeError):
        raise ValueError(f"expected a time of day \"HH:MM[:SS]\", got {_short(value)}") from None


class TimeWindow(_Frozen):
    """A window of the trading day, Asia/Seoul; ``end`` must be after ``start``."""

    start: dt.time
    end: dt.time

    _t = field_validator("start", "end", mode="before")(lambda cls, v: _parse_time(v))

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class LoggingConfig(_Frozen):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_bytes: Annotated[int, Field(gt=0, le=10_000_000_000, strict=True)] = 10_000_000
    backup_count: Annotated[int, Field(ge=0, le=1000, strict=True)] = 5


class AppConfig(_Frozen):
    mode: Literal["paper", "real"] = "paper"
    timezone: Literal["Asia/Seoul"] = "Asia/Seoul"
    logging: LoggingConfig = LoggingConfig()


class ScreenNumbers(_Frozen):
    """Kiwoom screen numbers (4-digit strings). ``marketdata`` empty = allocate from ``marketdata_base``."""

    marketdata: tuple[str, ...] = ()
    marketdata_base: Annotated[int, Field(ge=1, le=9799, strict=True)] = 1000
    orders: str = "9000"
    session: str = "9100"
    account: str = "9200"

    @field_validator("marketdata", mode="before")
    @classmethod
    def _screens(cls, v: object) -> object:
        if isinstance(v, list):
            return tuple(str(x) for x in v)
        return v

    @field_validator("orders", "session", "account", mode="before")
    @classmethod
    def _screen(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("marketdata", "orders", "session")
    @classmethod
    def _four_digits(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for screen in (v,) if isinstance(v, str) else v:
            if not (screen.isascii() and screen.isdigit() and 1 <= len(screen) <= 4 and int(screen) > 0):
                raise ValueError(f"a screen number is 1 to 4 digits, not 0: {_short(screen)}")
        return v


class RateLimits(_Frozen):
    """Kiwoom's limits as the engine obeys them: never above Kiwoom's own caps."""

    orders_per_sec: OrdersPerSec = 5
    queries_per_sec: QueriesPerSec = 5
    reserve_order_tokens: Annotated[int, Field(ge=0, le=KIWOOM_ORDERS_PER_SEC_CAP - 1, strict=True)] = 2


class KiwoomFeatures(_Frozen):
    use_sor: bool = False
    use_al_feed: bool = False


class KiwoomConfig(_Frozen):
    server: Literal["mock", "real"] = "mock"
    account: None = None
    screen_numbers: ScreenNumbers = ScreenNumbers()
    rate_limits: RateLimits = RateLimits()
    features: KiwoomFeatures = KiwoomFeatures()

    @field_validator("account", mode="before")
    @classmethod
    def _no_account_in_file(cls, v: object) -> object:
        if v not in (None, ""):
            raise ValueError("account numbers must come from the KIWOOM_ACCOUNT environment variable, "
                             "not from a file")
        return None

    @property
    def account_number(self) -> str | None:
        """The account from ``KIWOOM_ACCOUNT`` (None when unset)."""
        return os.environ.get("KIWOOM_ACCOUNT") or None


#: The longest a day's windows may be moved by ``sessions.delayed_open`` (minutes): NXT's after-market ends at
#: 20:00, so every window stays inside the day.
MAX_DELAYED_OPEN_MIN = 180


class SessionsConfig(_Frozen):
    """The trading day of both venues (SPEC §3, §11), Asia/Seoul.

    KRX: ``krx_pre_open_call`` (a call: orders rest, one uncross at its end), ``krx_day`` (continuous),
    ``krx_closing_call``; closed outside them. NXT: ``nxt_pre_market`` (continuous, limit orders only),
    ``nxt_main`` (continuous), ``nxt_after_call`` (the after-market's opening call, limit orders only),
    ``nxt_after_market`` (continuous, limit orders only); the gaps between NXT's first and last window are
    pauses (every new order refused), outside them NXT is closed. ``delayed_open`` moves every window of a day
    (the guard window too) later by its minutes (수능 day: the whole market opens an hour late).
    """

    calendar: Literal["XKRX"] = "XKRX"
    arm_only_in_overlap: bool = True
    overlap_window: TimeWindow
    krx_day: TimeWindow
    nxt_main: TimeWindow
    krx_pre_open_call: TimeWindow = TimeWindow(start=dt.time(8, 30), end=dt.time(9, 0))
    krx_closing_call: TimeWindow = TimeWindow(start=dt.time(15, 20), end=dt.time(15, 30))
    nxt_pre_market: TimeWindow = TimeWindow(start=dt.time(8, 0), end=dt.time(8, 50))
    nxt_after_call: TimeWindow = TimeWindow(start=dt.time(15, 30), end=dt.time(15, 40))
    nxt_after_market: TimeWindow = TimeWindow(start=dt.time(15, 40), end=dt.time(20, 0))
    phase_margin_ms: DelayMs = 3000
    delayed_open: dict[dt.date, int] = {}
    use_fid_215_signals: bool = True
    fid_215_unknown: Literal["closed", "clock"] = "closed"
    extra_holidays: tuple[dt.date, ...] = ()

    @field_validator("delayed_open", mode="before")
    @classmethod
    def _delayed(cls, v: object) -> object:
        if not isinstance(v, dict):
            return v
        out: dict[dt.date, object] = {}
        for key, minutes in v.items():
            if isinstance(key, dt.date):
                day = key
            else:
                try:
                    day = dt.date.fromisoformat(str(key))
                except ValueError:
                    raise ValueError(f"{_short(key)} is not a date YYYY-MM-DD") from None
            if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 < minutes <= MAX_DELAYED_OPEN_MIN:
                raise ValueError(f"{day}: {_short(minutes)} must be whole minutes from 1 to {MAX_DELAYED_OPEN_MIN}")
            out[day] = minutes
        return out

    def krx_windows(self) -> tuple[tuple[str, TimeWindow], ...]:
        """KRX's windows in time order, each with its phase (``call`` or ``continuous``)."""
        return (("call", self.krx_pre_open_call), ("continuous", self.krx_day), ("call", self.krx_closing_call))

    def nxt_windows(self) -> tuple[tuple[str, TimeWindow], ...]:
        """NXT's windows in time order, each with its phase (``limit_only``, ``continuous`` or ``call``)."""
        return (("limit_only", self.nxt_pre_market), ("continuous", self.nxt_main), ("call", self.nxt_after_call),
                ("limit_only", self.nxt_after_market))

    @field_validator("extra_holidays", mode="before")
    @classmethod
    def _dates(cls, v: object) -> object:
        if isinstance(v, list):
            out = []
            for item in v:
                if isinstance(item, dt.date):
                    out.append(item)
                else:
                    try:
                        out.append(dt.date.fromisoformat(str(item)))
                    except ValueError:
                        raise ValueError(f"{_short(item)} is not a date YYYY-MM-DD") from None
            return tuple(out)
        return v


class SymbolOverride(_Frozen):
    edge_buffer_ticks: Ticks | None = None
    max_outstanding_pairs: Annotated[int, Field(gt=0, le=10, strict=True)] | None = None
    t_hedge_ms: TimerMs | None = None


class SymbolsConfig(_Frozen):
    universe_file: str = "config/universe_demo.csv"
    per_symbol_overrides: dict[str, SymbolOverride] = {}

    @field_validator("per_symbol_overrides", mode="before")
    @classmethod
    def _codes(cls, v: object) -> object:
        if isinstance(v, dict):
            out = {}
            for code, ov in v.items():
                code_s = str(code).zfill(6) if isinstance(code, int) else str(code)
                if not (len(code_s) == 6 and code_s.isdigit()):
                    raise ValueError(f"{_short(code)} is not a 6-digit code")
                out[code_s] = ov
            return out
        return v


class MarketDataConfig(_Frozen):
    subscribe_top_of_book_only: bool = True
    shards: Literal["auto"] | Annotated[int, Field(gt=0, le=64, strict=True)] = "auto"
    heartbeat_symbols: tuple[str, ...] = ()
    stale_after_ms: Annotated[int, Field(gt=0, le=3_600_000, strict=True)] = 5000
    batch_max_rows: Annotated[int, Field(gt=0, le=1_000_000, strict=True)] = 4096

    @field_validator("shards", mode="before")
    @classmethod
    def _shards(cls, v: object) -> object:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64):
            return v
        raise ValueError(f"must be \"auto\" or an integer from 1 to 64, got {_short(v)}")

    @field_validator("heartbeat_symbols", mode="before")
    @classmethod
    def _hb(cls, v: object) -> object:
        return tuple(str(x) for x in v) if isinstance(v, list) else v

    def shard_count(self, cores: int | None = None) -> int:
        """Resolve ``auto``: one shard per two cores beyond the first two, at least 1 (1 on 2 cores)."""
        if self.shards != "auto":
            return int(self.shards)
        n = cores if cores is not None else (os.cpu_count() or 1)
        return max(1, (n - 2) // 2 + 1) if n > 2 else 1


class EdgeRule(_Frozen):
    min_net_ticks_after_fees: Ticks = 1.0
    also_require_min_visible_qty: Shares = 1


class SpreadEngineConfig(_Frozen):
    batch_interval_ms: Annotated[int, Field(gt=0, le=1000, strict=True)] = 10
    edge_rule: EdgeRule = EdgeRule()
    cooldown_ms: DelayMs = 100


class EntryLeg(_Frozen):
    prefer: Literal["ioc_or_market", "ioc", "market"] = "ioc_or_market"


class HedgeLeg(_Frozen):
    prefer: Literal["limit_or_mid", "limit", "mid"] = "limit_or_mid"
    allow_nxt_mid_price: bool = True
    fallback_after_ms: TimerMs | None = None


class RouterConfig(_Frozen):
    entry_leg: EntryLeg = EntryLeg()
    hedge_leg: HedgeLeg = HedgeLeg()
    #: Market order types (03 market, 13 market IOC, 23 market FOK) carry no price bound: the engine
    #: sends them only when the operator sets this (SPEC §10). Entry ``prefer: market`` needs it.
    allow_market_orders: bool = False


class ExecutionConfig(_Frozen):
    slice_qty: Annotated[int, Field(gt=0, le=10_000, strict=True)] = 1
    t_hedge_ms: TimerMs = 1000
    cancel_then_new_on_type_change: bool = True
    max_concurrent_symbols: Annotated[int, Field(gt=0, le=100, strict=True)] = 2
    max_outstanding_pairs_per_symbol: Annotated[int, Field(gt=0, le=10, strict=True)] = 1
    tr_ack_timeout_ms: TimerMs = 200
    cancel_timeout_ms: TimerMs = 300
    retry_after_308_ms: TimerMs = 250
    # the pair state machine's own timings (SPEC §10), formerly constants of core.pair_events.PairParams
    ack_grace_ms: Annotated[int, Field(ge=1, le=60_000, strict=True)] = 1000
    ioc_settle_ms: Annotated[int, Field(ge=1, le=60_000, strict=True)] = 1000
    max_cancel_attempts: Annotated[int, Field(ge=1, le=20, strict=True)] = 3

    @field_validator("cancel_then_new_on_type_change")
    @classmethod
    def _must(cls, v: bool) -> bool:
        if not v:
            raise ValueError("must be true: Kiwoom's 정정 cannot change the order type")
        return v


class ThrottlingConfig(_Frozen):
    orders_bucket_per_sec: OrdersPerSec = 5
    queries_bucket_per_sec: QueriesPerSec = 5
    min_tokens_free_to_start_new_pair: OrdersPerSec = 4
    window_margin_ms: Annotated[int, Field(ge=0, le=1000, strict=True)] = 20


class VenueFees(_Frozen):
    broker_bps: Bps
    regulatory_bps: Bps = 0.0


class FeesConfig(_Frozen):
    krx: VenueFees
    nxt: VenueFees
    tax: dict[Literal["KOSPI", "KOSDAQ"], dict[Annotated[int, Field(ge=2000, le=2100)], Bps]]
    rounding: Literal["truncate", "round", "none"] = "truncate"

    @field_validator("tax")
    @classmethod
    def _tax(cls, v: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        for market in ("KOSPI", "KOSDAQ"):
            if market not in v or not v[market]:
                raise ValueError(f"needs a {market} entry with at least one year")
        return v

    def tax_bps(self, market: str, year: int) -> float:
        """Sell tax in bps for ``market`` in ``year``: the latest configured year ≤ ``year``."""
        table = self.tax[market]  # type: ignore[index]
        years = sorted(y for y in table if y <= year)
        if not years:
            raise KeyError(f"fees.tax.{market} has no rate for {year} or earlier")
        return float(table[years[-1]])


class SloTargets(_Frozen):
    tick_to_signal_p95: TimerMs = 25
    signal_to_send_p95: TimerMs = 15
    send_to_ack_p95: TimerMs = 150


class AutoPause(_Frozen):
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    sustain_seconds: Annotated[float, Field(gt=0, le=3600)] = 5
    enabled: bool = True


class TelemetryConfig(_Frozen):
    slo_targets_ms: SloTargets = SloTargets()
    orders_utilization_autopause: AutoPause = AutoPause()
    heartbeat_interval_ms: Annotated[int, Field(ge=100, le=MAX_TIMER_MS, strict=True)] = 1000
    prometheus_port: Annotated[int, Field(ge=0, le=65535, strict=True)] = 0

    @field_validator("prometheus_port")
    @classmethod
    def _port(cls, v: int) -> int:
        if 0 < v < 1024:
            raise ValueError(f"0 (off) or a port from 1024 to 65535, got {v}")
        return v


class SlackSendOn(_Frozen):
    buy_fill: bool = True
    sell_fill: bool = True
    pair_done: bool = True
    auto_pause_on: bool = True
    hedge_timeout: bool = True
    reject_spike: bool = True
    kill_switch: bool = True      # engine-wide disarms: disconnect, session loss, 215 mismatch
    reconcile_mismatch: bool = True
    flatten_failed: bool = True


class SlackConfig(_Frozen):
    webhook_env: str = "SLACK_WEBHOOK_URL"
    send_on: SlackSendOn = SlackSendOn()


class AlertsConfig(_Frozen):
    slack: SlackConfig = SlackConfig()


class PersistenceConfig(_Frozen):
    logs_dir: str = "runs"
    reports_dir: str = "runs"
    exec_log_format: Literal["csv", "parquet"] = "csv"
    retention_days: Annotated[int, Field(gt=0, le=3650, strict=True)] = 14


class RejectFreeze(_Frozen):
    rejects: Annotated[int, Field(gt=0, le=1000, strict=True)] = 3
    window_s: Seconds = 60
    freeze_s: Seconds = 60


class RiskConfig(_Frozen):
    kill_switches_enabled: bool = True
    reject_freeze: RejectFreeze = RejectFreeze()
    unhedged_grace_ms: TimerMs = 1000
    unhedged_freeze_s: Seconds = 60
    max_session_loss_krw: Annotated[float, Field(gt=0, le=100_000_000_000)] = 100_000
    max_trips_per_symbol_per_day: Annotated[int, Field(gt=0, le=10_000, strict=True)] = 20
    disarm_on_disconnect: bool = True
    disarm_on_fid_215_mismatch: bool = True
    # the account (SPEC §10)
    reconcile_interval_s: Annotated[int, Field(ge=5, le=3600, strict=True)] = 60
    max_reconcile_mismatches: Annotated[int, Field(ge=0, le=1000, strict=True)] = 2
    max_flatten_slippage_ticks: Annotated[int, Field(ge=0, le=50, strict=True)] = 3
    max_flatten_orders: Annotated[int, Field(ge=1, le=50, strict=True)] = 8
    session_end_grace_s: Annotated[int, Field(ge=1, le=600, strict=True)] = 30


class ActorSystemConfig(_Frozen):
    """The Thespian actor system. ``base``: the multi-process base of live and paced runs (the Kiwoom host and
    shard hosts join it over TCP). ``lockstep_in_process``: a ``--speed max`` run of ``sim`` or ``replay`` with the
    bridge local and no operator window runs every actor in the launching process (Thespian
    ``simpleSystemBase``: the same actors and messages, a hop costs µs instead of ~0.7 ms, SPEC §9); such a
    backtest has no admin port, so ``arbctl status``/``stop`` and the window cannot reach it (its own console
    shows its status; Ctrl-C stops it in order). False: lockstep runs on ``base`` like every other run."""

    base: Literal["multiprocTCPBase", "multiprocQueueBase", "multiprocUDPBase"] = "multiprocTCPBase"
    lockstep_in_process: bool = True
    admin_port: Annotated[int, Field(ge=1024, le=65535, strict=True)] = 19711
    convention_leader: str | None = None
    kiwoom_host_admin_port: Annotated[int, Field(ge=1024, le=65535, strict=True)] = 19712
    process_startup_method: Literal["fork", "forkserver", "spawn"] = "fork"
    ask_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10

    @field_validator("convention_leader")
    @classmethod
    def _leader(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected \"host:port\", got {_short(v)}")
        return v


class LatencyDist(_Frozen):
    """A seeded latency distribution of one stage (ms): log-normal with this median and 99th percentile
    (``p99 == median`` = a constant). A bare number in the file means that constant."""

    median: LatencyMs
    p99: LatencyMs

    @model_validator(mode="before")
    @classmethod
    def _number(cls, v: object) -> object:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"median": v, "p99": v}
        return v

    @model_validator(mode="after")
    def _ordered(self) -> LatencyDist:
        if self.p99 < self.median:
            raise ValueError(f"p99 {self.p99:g} must be ≥ median {self.median:g}")
        if self.median == 0 and self.p99 > 0:
            raise ValueError("a median of 0 needs p99 0 (a constant): a log-normal has no zero median")
        return self


def _dist(median: float, p99: float) -> LatencyDist:
    return LatencyDist(median=median, p99=p99)


class SimLatency(_Frozen):
    """The emulator's latencies per stage (SPEC §11), each a seeded distribution; Chejan overtakes the TR ack
    of an order at ``chejan_before_ack_rate``."""

    send_to_ack_ms: LatencyDist = _dist(30, 180)
    ack_to_fill_ms: LatencyDist = _dist(5, 40)
    cancel_ms: LatencyDist = _dist(30, 180)
    market_data_ms: LatencyDist = _dist(1, 10)
    chejan_before_ack_rate: Annotated[float, Field(ge=0, le=1)] = 0.02


class SimFillModel(_Frozen):
    queue_ahead_fraction: Annotated[float, Field(ge=0, le=10)] = 1.0
    trade_through_fills: bool = True


class SimMarket(_Frozen):
    updates_per_symbol_per_s: Annotated[float, Field(gt=0, le=1000)] = 2.0
    dislocation_rate_per_min: Annotated[float, Field(ge=0, le=600)] = 1.0
    dislocation_ticks_min: Annotated[int, Field(gt=0, le=1000, strict=True)] = 2
    dislocation_ticks_max: Annotated[int, Field(gt=0, le=1000, strict=True)] = 6
    dislocation_ms: Annotated[int, Field(gt=0, le=3_600_000, strict=True)] = 1500
    correlation: Annotated[float, Field(ge=0, le=1)] = 0.95
    size_min: Annotated[int, Field(gt=0, le=10_000_000, strict=True)] = 1
    size_max: Annotated[int, Field(gt=0, le=10_000_000, strict=True)] = 2000
    #: Volatility interruptions (SPEC §11): a code on one venue enters a call of ``vi_call_s`` plus a random
    #: close within ``vi_random_end_s``, at this rate per symbol and venue.
    vi_per_symbol_per_hour: Annotated[float, Field(ge=0, le=60)] = 0.02
    vi_call_s: Annotated[int, Field(gt=0, le=600, strict=True)] = 120
    vi_random_end_s: Annotated[int, Field(ge=0, le=60, strict=True)] = 30

    @model_validator(mode="after")
    def _ranges(self) -> SimMarket:
        if self.dislocation_ticks_max < self.dislocation_ticks_min:
            raise ValueError("dislocation_ticks_max must be ≥ dislocation_ticks_min")
        if self.size_max < self.size_min:
            raise ValueError("size_max must be ≥ size_min")
        return self


class ExternalFill(_Frozen):
    """A trade from another terminal (``sim.faults.external_fill``): at ``at`` (simulated Asia/Seoul time)
    the account's holding of ``code`` changes by ``qty`` signed shares (+ bought, − sold) without any
    order of the engine's, so reconciliation must notice it."""

    at: dt.time
    code: str
    qty: int

    _t = field_validator("at", mode="before")(lambda cls, v: _parse_time(v))

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, v: object) -> object:
        code = str(v).zfill(6) if isinstance(v, int) and not isinstance(v, bool) else v
        if not (isinstance(code, str) and len(code) == 6 and code.isdigit()):
            raise ValueError(f"{v!r} is not a 6-digit code")
        return code

    @field_validator("qty")
    @classmethod
    def _qty(cls, v: int) -> int:
        if v == 0:
            raise ValueError("must be a non-zero number of shares (+ bought, − sold)")
        return v


class SimFaults(_Frozen):
    reject_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    drop_ack_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    chejan_delay_ms: LatencyMs = 0
    storm_308: bool = False
    storm_308_window: TimeWindow | None = None
    disconnect_at: dt.time | None = None
    external_fill: ExternalFill | None = None

    @field_validator("disconnect_at", mode="before")
    @classmethod
    def _t(cls, v: object) -> object:
        return None if v is None else _parse_time(v)


class SimAccount(_Frozen):
    """The emulated account at the start of a ``sim``/``replay`` run: orderable cash in KRW and the
    shares held per code (``holdings`` by code; every other code of the universe holds
    ``holdings_default``)."""

    cash_krw: NonNegInt = 1_000_000_000
    holdings_default: NonNegInt = 1000
    holdings: dict[str, NonNegInt] = {}

    @field_validator("holdings", mode="before")
    @classmethod
    def _codes(cls, v: object) -> object:
        if isinstance(v, dict):
            out = {}
            for code, qty in v.items():
                code_s = str(code).zfill(6) if isinstance(code, int) and not isinstance(code, bool) else str(code)
                if not (len(code_s) == 6 and code_s.isdigit()):
                    raise ValueError(f"{code!r} is not a 6-digit code")
                out[code_s] = qty
            return out
        return v

    def shares(self, code: str) -> int:
        """Shares of ``code`` the account holds at the start."""
        return self.holdings.get(code, self.holdings_default)


class SimConfig(_Frozen):
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)] = 7
    date: dt.date | None = None
    start_time: dt.time = dt.time(9, 0, 25)
    latency: SimLatency = SimLatency()
    fill_model: SimFillModel = SimFillModel()
    market: SimMarket = SimMarket()
    faults: SimFaults = SimFaults()
    account: SimAccount = SimAccount()

    _t = field_validator("start_time", mode="before")(lambda cls, v: _parse_time(v))

    @field_validator("date", mode="before")
    @classmethod
    def _d(cls, v: object) -> object:
        if v is None or isinstance(v, dt.date):
            return v
        try:
            return dt.date.fromisoformat(str(v))
        except ValueError:
            raise ValueError(f"{_short(v)} is not a date YYYY-MM-DD") from None


class ReplayConfig(_Frozen):
    """``universe``: which symbols a replay trades (SPEC §6): ``recording`` (default) the recording's own codes,
    the universe file supplying names, markets and overrides where it lists a code; ``config`` only the codes
    of ``symbols.universe_file`` (as ``--universe FILE`` does with FILE)."""

    assumed_visible_qty: Annotated[int, Field(gt=0, le=10_000_000, strict=True)] = 100
    universe: Literal["recording", "config"] = "recording"


class EngineConfig(_Frozen):
    """The whole configuration. Build it with :func:`config.loader.load_config`."""

    app: AppConfig
    kiwoom: KiwoomConfig
    sessions: SessionsConfig
    symbols: SymbolsConfig
    market_data: MarketDataConfig
    spread_engine: SpreadEngineConfig
    router: RouterConfig
    execution: ExecutionConfig
    throttling: ThrottlingConfig
    fees: FeesConfig
    telemetry: TelemetryConfig
    alerts: AlertsConfig
    persistence: PersistenceConfig
    risk: RiskConfig
    actor_system: ActorSystemConfig
    sim: SimConfig
    replay: ReplayConfig

    @model_validator(mode="after")
    def _cross_field(self) -> EngineConfig:
        rl = self.kiwoom.rate_limits
        th = self.throttling
        # The two order caps must agree: one is Kiwoom's, the other our bucket.
        if th.orders_bucket_per_sec > rl.orders_per_sec:
            raise _KeyError("throttling.orders_bucket_per_sec",
                            f"{th.orders_bucket_per_sec} exceeds Kiwoom's cap kiwoom.rate_limits.orders_per_sec "
                            f"= {rl.orders_per_sec}")
        if rl.reserve_order_tokens >= th.orders_bucket_per_sec:
            raise _KeyError("kiwoom.rate_limits.reserve_order_tokens",
                            f"{rl.reserve_order_tokens} must be below the orders cap "
                            f"({th.orders_bucket_per_sec}/s): nothing would be left for entries")
        if th.min_tokens_free_to_start_new_pair > th.orders_bucket_per_sec:
            raise _KeyError("throttling.min_tokens_free_to_start_new_pair",
                            f"{th.min_tokens_free_to_start_new_pair} is more than the orders cap "
                            f"({th.orders_bucket_per_sec}/s): no pair could ever start")
        if th.min_tokens_free_to_start_new_pair < rl.reserve_order_tokens + 1:
            raise _KeyError("throttling.min_tokens_free_to_start_new_pair",
                            f"{th.min_tokens_free_to_start_new_pair} leaves no token for the entry beyond the "
                            f"{rl.reserve_order_tokens} reserved")
        s = self.sessions
        if s.overlap_window.start < s.nxt_main.start or s.overlap_window.end > s.nxt_main.end:
            raise _KeyError("sessions.overlap_window",
                            f"{s.overlap_window.start}-{s.overlap_window.end} lies outside "
                            f"sessions.nxt_main {s.nxt_main.start}-{s.nxt_main.end}")
        if s.overlap_window.start < s.krx_day.start or s.overlap_window.end > s.krx_day.end:
            raise _KeyError("sessions.overlap_window",
                            f"{s.overlap_window.start}-{s.overlap_window.end} lies outside "
                            f"sessions.krx_day {s.krx_day.start}-{s.krx_day.end}")
        for venue, windows in (("krx", s.krx_windows()), ("nxt", s.nxt_windows())):
            names = {"krx": ("krx_pre_open_call", "krx_day", "krx_closing_call"),
                     "nxt": ("nxt_pre_market", "nxt_main", "nxt_after_call", "nxt_after_market")}[venue]
            for (_, a), (_, b), name_a, name_b in zip(windows, windows[1:], names, names[1:], strict=False):
                if b.start < a.end:
                    raise _KeyError(f"sessions.{name_b}",
                                    f"starts at {b.start}, before sessions.{name_a} ends ({a.end}): a venue's windows "
                                    f"follow one another")
        latest = max(w.end for _, w in (*s.krx_windows(), *s.nxt_windows()))
        for day, minutes in s.delayed_open.items():
            moved = dt.datetime.combine(day, latest) + dt.timedelta(minutes=minutes)
            if moved.date() != day:
                raise _KeyError("sessions.delayed_open",
                                f"{day}: {minutes} min would move the {latest} window end past midnight")
        if self.actor_system.admin_port == self.actor_system.kiwoom_host_admin_port:
            raise _KeyError("actor_system.kiwoom_host_admin_port", "must differ from actor_system.admin_port")
        if self.router.entry_leg.prefer == "market" and not self.router.allow_market_orders:
            raise _KeyError("router.entry_leg.prefer",
                            "market entries carry no price bound: set router.allow_market_orders: true to allow "
                            "them, or prefer ioc (limit IOC at the signal's price)")
        return self

    def t_hedge_ms(self, code: str) -> int:
        ov = self.symbols.per_symbol_overrides.get(code)
        return ov.t_hedge_ms if ov and ov.t_hedge_ms else self.execution.t_hedge_ms

    def hedge_fallback_ms(self, code: str) -> int:
        return self.router.hedge_leg.fallback_after_ms or self.t_hedge_ms(code)


class _KeyError(ValueError):
    """A cross-field error that names the key it is about."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
