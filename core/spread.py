"""Whole-universe edge evaluation: the SpreadEngine's logic without the actor.

:class:`SpreadState` keeps both venues' L1 for every symbol in flat int64 arrays (universe order),
applies shard deltas in place, runs the numba kernel of :mod:`core.edge` over the whole universe
and turns eligible rows into :class:`~core.signal.Signal` values.

Signal rule: a symbol is signalled when it is eligible now AND (its book changed in this step OR
it was not eligible at the previous evaluation). A symbol that stops being eligible enters the
flicker cooldown (``spread_engine.cooldown_ms``) so a spread oscillating at the threshold does not
burn order tokens. Rows with bad data quality (stale, crossed, off-grid) are never eligible.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.clock import kst_date
from core.costs import CostModel
from core.edge import EdgeKernel
from core.enums import Direction, Venue
from core.signal import L1Touches, Signal

if TYPE_CHECKING:
    from config.schema import FeesConfig


@dataclass(frozen=True, slots=True)
class SpreadParams:
    """Parameters of the edge rule for one run (from config)."""

    cooldown_ns: int
    slice_qty: int
    min_visible_qty: int


def min_net_ticks_of(base_ticks: float, overrides: dict[str, float | None], codes: tuple[str, ...]) -> np.ndarray:
    """The required net edge in ticks per symbol (universe order): ``base_ticks``
    (``spread_engine.edge_rule.min_net_ticks_after_fees``) unless ``overrides`` (code → ``edge_buffer_ticks``)
    gives one."""
    return np.array([o if (o := overrides.get(c)) is not None else base_ticks for c in codes], dtype=np.float64)


class EdgeScreen:
    """Which symbols could these books make eligible? A necessary condition: a symbol it leaves out is not
    eligible in the SpreadEngine either (lockstep merges quiet quanta only then, SPEC §7).

    It runs the kernel (:mod:`core.edge`, the SpreadEngine's arithmetic) with the costs of the evaluation's date
    and every size check and cooldown passed; data quality, sizes and cooldowns only take eligibility away.
    After a live edit (:meth:`relax`) the lower of the old and new costs and edge buffers apply, whichever the
    SpreadEngine is using.

    Args:
      markets: Each symbol's market (universe order; the sell tax is per market).
      fees: ``cfg.fees``; ``min_net_ticks``: per symbol (:func:`min_net_ticks_of`); ``extra_holidays``:
        ``cfg.sessions.extra_holidays`` (the tax year follows the settlement date).
    """

    def __init__(self, markets: tuple[str, ...], fees: FeesConfig, min_net_ticks: np.ndarray,
                 extra_holidays: tuple[dt.date, ...] = ()) -> None:
        self.markets = markets
        self.fees: list[FeesConfig] = [fees]
        self.min_net_ticks = np.asarray(min_net_ticks, dtype=np.float64)
        self.extra_holidays = tuple(extra_holidays)
        n = len(markets)
        self.kernel = EdgeKernel(n)
        self._any_qty = np.full(n, np.iinfo(np.int64).max // 4, dtype=np.int64)
        self._no_cooldown = np.zeros(n, dtype=np.int64)
        self._costs: dict[dt.date, tuple[float, float, np.ndarray]] = {}

    def relax(self, fees: FeesConfig, min_net_ticks: np.ndarray) -> None:
        """A live edit: from now on the lower of the costs and edge buffers before and after it apply."""
        self.fees.append(fees)
        self.min_net_ticks = np.minimum(self.min_net_ticks, np.asarray(min_net_ticks, dtype=np.float64))
        self._costs.clear()

    def _costs_on(self, day: dt.date) -> tuple[float, float, np.ndarray]:
        found = self._costs.get(day)
        if found is None:
            models = [CostModel.for_date(f, day, extra_holidays=self.extra_holidays) for f in self.fees]
            krx = min(float(c.fee_bps(Venue.KRX)) for c in models)
            nxt = min(float(c.fee_bps(Venue.NXT)) for c in models)
            tax = np.min([np.array([c.tax_bps(m) for m in self.markets], dtype=np.float64) for c in models], axis=0)
            found = self._costs[day] = (krx, nxt, tax)
        return found

    def possible(self, krx_bid: np.ndarray, krx_ask: np.ndarray, nxt_bid: np.ndarray, nxt_ask: np.ndarray,
                 t_ns: int) -> np.ndarray:
        """The symbols (universe indices, ascending) the kernel could call eligible at engine time ``t_ns`` (prices
        KRW, int64 arrays in universe order): every symbol the SpreadEngine could call eligible is among them."""
        krx, nxt, tax = self._costs_on(kst_date(t_ns))
        q = self._any_qty
        self.kernel.evaluate(krx_bid, krx_ask, q, q, nxt_bid, nxt_ask, q, q, krx, nxt, tax, self.min_net_ticks, 0,
                             self._no_cooldown, 0)
        if self.kernel.last_n_eligible == 0:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.kernel.out_eligible)


class SpreadState:
    """The SpreadEngine's arrays and signal rule for ``n`` symbols (universe order)."""

    def __init__(self, codes: tuple[str, ...], markets: tuple[str, ...], costs: CostModel,
                 min_net_ticks: np.ndarray, params: SpreadParams) -> None:
        n = len(codes)
        self.codes = codes
        self.n = n
        self.costs = costs
        self.params = params

        def z() -> np.ndarray:
            return np.zeros(n, dtype=np.int64)

        self.krx_bid, self.krx_ask, self.krx_bid_qty, self.krx_ask_qty = z(), z(), z(), z()
        self.nxt_bid, self.nxt_ask, self.nxt_bid_qty, self.nxt_ask_qty = z(), z(), z(), z()
        self.tick_arrival_ns = z()
        self.tick_t_ns = z()
        self.quality = np.zeros(n, dtype=np.uint8)
        self.cooldown_until_ns = z()
        self.dirty = np.zeros(n, dtype=bool)
        self.was_eligible = np.zeros(n, dtype=bool)
        self.tax_bps = np.array([costs.tax_bps(m) for m in markets], dtype=np.float64)
        self.min_net_ticks = np.asarray(min_net_ticks, dtype=np.float64)
        self.kernel = EdgeKernel(n)
        self.krx_fee_bps = float(costs.fee_bps(Venue.KRX))
        self.nxt_fee_bps = float(costs.fee_bps(Venue.NXT))
        self.min_qty = int(max(params.slice_qty, params.min_visible_qty))
        self.evaluations = 0

    def apply_delta(self, sym: np.ndarray, krx: np.ndarray, nxt: np.ndarray, tick_arrival_ns: np.ndarray,
                    tick_t_ns: np.ndarray, quality: np.ndarray) -> None:
        """Overwrite the rows of ``sym`` with a shard's full L1 state and mark them dirty."""
        if len(sym) == 0:
            return
        s = np.asarray(sym, dtype=np.int64)
        self.krx_bid[s], self.krx_ask[s], self.krx_bid_qty[s], self.krx_ask_qty[s] = krx.T
        self.nxt_bid[s], self.nxt_ask[s], self.nxt_bid_qty[s], self.nxt_ask_qty[s] = nxt.T
        self.tick_arrival_ns[s] = tick_arrival_ns
        self.tick_t_ns[s] = tick_t_ns
        self.quality[s] = quality
        self.dirty[s] = True

    def evaluate(self, now_ns: int, wall_ns: int) -> tuple[list[Signal], int]:
        """Run the kernel over the universe at engine time ``now_ns``; return (signals, eligible)."""
        direction, net_krw, net_bps, eligible = self.kernel.evaluate(
            self.krx_bid, self.krx_ask, self.krx_bid_qty, self.krx_ask_qty,
            self.nxt_bid, self.nxt_ask, self.nxt_bid_qty, self.nxt_ask_qty,
            self.krx_fee_bps, self.nxt_fee_bps, self.tax_bps, self.min_net_ticks,
            self.min_qty, self.cooldown_until_ns, now_ns)
        self.evaluations += 1
        ok = eligible & (self.quality == 0)
        # Flicker cooldown: eligible last time, not now (and not merely cooling down already).
        dropped = self.was_eligible & ~ok & (self.cooldown_until_ns <= now_ns)
        if dropped.any():
            self.cooldown_until_ns[dropped] = now_ns + self.params.cooldown_ns
        fire = np.flatnonzero(ok & (self.dirty | ~self.was_eligible))
        by_tick = self.dirty[fire]
        self.was_eligible = ok.copy()
        self.dirty[:] = False
        signals = [self._signal(int(i), Direction.from_kernel_code(int(direction[i])), float(net_krw[i]),
                                float(net_bps[i]), now_ns, wall_ns, bool(t))
                   for i, t in zip(fire, by_tick, strict=True)]
        return signals, int(ok.sum())

    def touches(self, sym: np.ndarray) -> L1Touches:
        """Both venues' best bid/ask of the rows ``sym`` (universe indices) as they stand now."""
        s = np.unique(np.asarray(sym, dtype=np.int64))
        return L1Touches(s, self.krx_bid[s].copy(), self.krx_ask[s].copy(), self.nxt_bid[s].copy(),
                         self.nxt_ask[s].copy())

    def set_costs(self, costs: CostModel, markets: tuple[str, ...]) -> None:
        """Use ``costs`` from now on (a new trading day whose trades settle in another tax year)."""
        self.costs = costs
        self.tax_bps = np.array([costs.tax_bps(m) for m in markets], dtype=np.float64)
        self.krx_fee_bps = float(costs.fee_bps(Venue.KRX))
        self.nxt_fee_bps = float(costs.fee_bps(Venue.NXT))

    def reconfigure(self, costs: CostModel, min_net_ticks: np.ndarray, params: SpreadParams) -> None:
        """Run the next evaluations with new costs, edge buffers and parameters (the operator's live edit);
        the books, cooldowns and the previous verdicts stay."""
        self.costs = costs
        self.params = params
        self.min_net_ticks = np.asarray(min_net_ticks, dtype=np.float64)
        self.krx_fee_bps = float(costs.fee_bps(Venue.KRX))
        self.nxt_fee_bps = float(costs.fee_bps(Venue.NXT))
        self.min_qty = int(max(params.slice_qty, params.min_visible_qty))

    def cool_down(self, sym: int, until_ns: int) -> None:
        """Hold ``sym`` ineligible until ``until_ns`` (engine clock)."""
        self.cooldown_until_ns[sym] = max(int(self.cooldown_until_ns[sym]), int(until_ns))

    def _signal(self, i: int, d: Direction, net_krw: float, net_bps: float, now_ns: int, wall_ns: int,
                by_tick: bool) -> Signal:
        if d is Direction.A:       # buy KRX ask, sell NXT bid
            buy_px, sell_px = int(self.krx_ask[i]), int(self.nxt_bid[i])
            buy_q, sell_q = int(self.krx_ask_qty[i]), int(self.nxt_bid_qty[i])
        else:                      # B: buy NXT ask, sell KRX bid
            buy_px, sell_px = int(self.nxt_ask[i]), int(self.krx_bid[i])
            buy_q, sell_q = int(self.nxt_ask_qty[i]), int(self.krx_bid_qty[i])
        return Signal(code=self.codes[i], sym=i, direction=d, qty=self.params.slice_qty,
                      buy_px=buy_px, sell_px=sell_px, buy_qty_visible=buy_q, sell_qty_visible=sell_q,
                      net_krw=net_krw, net_bps=net_bps, t_tick_ns=int(self.tick_t_ns[i]) or now_ns,
                      tick_arrival_ns=int(self.tick_arrival_ns[i]), signal_ns=wall_ns, by_tick=by_tick)
