"""Configuration keys the operator may change on a running engine, checked with the loader's own validation.

The operator window validates an edit with :func:`apply_live_changes` before sending it, and the Supervisor
validates it again before applying it (a client is never trusted): the same one-line problems as
``arbctl check-config``.
"""
from __future__ import annotations

from config.schema import EngineConfig

__all__ = ["LIVE_CONFIG_KEYS", "apply_live_changes"]

#: Configuration keys the operator may change on a running engine, and who applies them. They only change
#: decisions about new pairs (pairs in flight keep their timers) and never the market data or the orders
#: already sent. Everything else needs a restart.
LIVE_CONFIG_KEYS: dict[str, str] = {
    "spread_engine.edge_rule.min_net_ticks_after_fees": "edge buffer (ticks net after fees and tax)",
    "spread_engine.edge_rule.also_require_min_visible_qty": "minimum visible size (shares)",
    "spread_engine.cooldown_ms": "cooldown after a miss/reject/flicker (ms)",
    "execution.t_hedge_ms": "t_hedge: the post's time to hedge (ms)",
    "execution.max_concurrent_symbols": "max active symbols",
    "execution.max_outstanding_pairs_per_symbol": "outstanding slices per symbol",
    "fees.krx.broker_bps": "KRX broker fee (bps)",
    "fees.krx.regulatory_bps": "KRX venue/regulatory fee (bps)",
    "fees.nxt.broker_bps": "NXT broker fee (bps)",
    "fees.nxt.regulatory_bps": "NXT venue/regulatory fee (bps)",
}


def apply_live_changes(cfg: EngineConfig, changes: tuple[tuple[str, str | int | float | bool | None], ...]
                       ) -> tuple[EngineConfig, tuple[str, ...]]:
    """``cfg`` with ``changes`` (dotted key → value) validated by the config loader; and ``"key: old -> new"``
    for each value that changed.

    Raises:
      ValueError: a key that cannot change on a running engine, or the loader's one-line problem.
    """
    from config.loader import ConfigError, validate
    data = cfg.model_dump()
    out = []
    for key, value in changes:
        if key not in LIVE_CONFIG_KEYS:
            raise ValueError(f"{key}: cannot be changed on a running engine (restart with --config); live keys: "
                             + ", ".join(sorted(LIVE_CONFIG_KEYS)))
        node = data
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        old = node[leaf]
        node[leaf] = value
        if old != value:
            out.append(f"{key}: {old} -> {value}")
    try:
        new = validate(data, "live edit")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return new, tuple(out)
