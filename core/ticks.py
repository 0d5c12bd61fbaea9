"""KRX/NXT tick sizes (호가가격단위) and rounding to the price grid.

The table is the unified KOSPI/KOSDAQ/KONEX table in force since 2023-01-25 (SPEC §3; NXT is assumed to use
the same table). Bands are "less than": a price of exactly 2,000 KRW has a 5-won tick, exactly 20,000 has 50.

Every band boundary is a multiple of the ticks on both sides of it, so rounding with the tick of the price
being rounded always lands on a valid price of the grid (rounding 1,999.5 up gives 2,000, which is on the
5-won grid of the next band).

Scalar functions take an ``int``/``float`` (or numpy scalar) and return Python numbers; array functions take
any numeric array-like and return numpy arrays of the same shape. Prices are KRW throughout.

``tick_size_nb`` is the numba-compiled scalar used inside the spread kernel (:mod:`core.edge`); it compiles
on first use (and is cached on disk), or is plain Python when numba is unavailable.
"""
from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any, Literal, overload

import numpy as np

from core._jit import njit

__all__ = [
    "TICK_BANDS",
    "TICK_TABLE_EFFECTIVE_DATE",
    "is_on_tick",
    "price_at_tick_index",
    "round_to_tick",
    "shift_ticks",
    "tick_index",
    "tick_size",
    "tick_size_nb",
    "ticks_between",
]

#: ``(upper_bound_krw_exclusive, tick_krw)`` per band, ascending; the last band is open-ended.
TICK_BANDS: tuple[tuple[float, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
    (math.inf, 1_000),
)

#: The day the table above came into force on KRX.
TICK_TABLE_EFFECTIVE_DATE = dt.date(2023, 1, 25)

Direction = Literal["down", "up", "nearest"]
_DIRECTIONS = ("down", "up", "nearest")

# Vectorised views of the table.
_BAND_UPPER_KRW = np.array([int(u) for u, _ in TICK_BANDS[:-1]], dtype=np.int64)   # exclusive upper bounds
_BAND_LOWER_KRW = np.concatenate(([0], _BAND_UPPER_KRW)).astype(np.int64)          # inclusive lower bounds
_BAND_TICK_KRW = np.array([t for _, t in TICK_BANDS], dtype=np.int64)
# Grid index of each band's lower bound: the number of ticks from 0 KRW up to it.
_BAND_START_INDEX = np.concatenate(
    ([0], np.cumsum((_BAND_UPPER_KRW - _BAND_LOWER_KRW[:-1]) // _BAND_TICK_KRW[:-1]))
).astype(np.int64)

Number = int | float


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _check_scalar_price(price: Any) -> None:
    if not _is_scalar(price):
        raise TypeError(f"price must be a number of KRW or a numeric array, got {type(price).__name__} {price!r}")
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive finite number of KRW, got {price!r}")


def _as_price_array(price: Any) -> np.ndarray:
    arr = np.asarray(price)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"prices must be a numeric array, got dtype {arr.dtype}")
    return arr


def _valid_mask(arr: np.ndarray) -> np.ndarray:
    mask: np.ndarray = np.isfinite(arr) & (arr > 0) if arr.dtype.kind == "f" else arr > 0
    return mask


@overload
def tick_size(price: Number) -> int: ...
@overload
def tick_size(price: np.ndarray) -> np.ndarray: ...


def tick_size(price: Any) -> Any:
    """Tick size in KRW of ``price_krw``.

    Scalar: returns ``int``; a price ≤ 0, NaN or infinite raises ``ValueError`` naming it.
    Array-like: returns an ``int64`` array of the same shape; entries ≤ 0 (or non-finite) give 0.
    """
    if _is_scalar(price):
        _check_scalar_price(price)
        for upper, tick in TICK_BANDS:
            if price < upper:
                return tick
        raise AssertionError("unreachable: the last band is open-ended")  # pragma: no cover
    arr = _as_price_array(price)
    valid = _valid_mask(arr)
    safe = np.where(valid, arr, 1)
    ticks = _BAND_TICK_KRW[np.searchsorted(_BAND_UPPER_KRW, safe, side="right")]
    return np.where(valid, ticks, 0).astype(np.int64)


@njit(cache=True, nogil=True)
def tick_size_nb(price: int) -> int:
    """Tick size in KRW of an ``int64`` price in KRW (numba-compiled); 0 for a price ≤ 0."""
    if price <= 0:
        return 0
    if price < 2_000:
        return 1
    if price < 5_000:
        return 5
    if price < 20_000:
        return 10
    if price < 50_000:
        return 50
    if price < 200_000:
        return 100
    if price < 500_000:
        return 500
    return 1_000


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'down', 'up' or 'nearest', got {direction!r}")


def round_to_tick(price: Any, direction: Direction) -> Any:
    """Round ``price_krw`` onto the tick grid: ``'down'``, ``'up'`` or ``'nearest'`` (ties round up).

    Band-aware: 2,003 → 2,000 down and 2,005 up; 1,999.5 → 2,000 up; 20,030 → 20,000 down.
    The grid starts at 1 KRW: a price in (0, 1) rounds ``'nearest'`` and ``'up'`` to 1, and ``'down'`` has no
    answer (scalar: ``ValueError``; array: 0).
    Scalar: returns ``int`` KRW; a price ≤ 0 or non-finite raises ``ValueError``.
    Array-like: returns an ``int64`` array; entries ≤ 0 (or non-finite) give 0.
    """
    _check_direction(direction)
    if _is_scalar(price):
        tick = tick_size(price)  # validates
        if isinstance(price, numbers.Integral):
            p = int(price)
            down = p - p % tick
            up = down if down == p else down + tick
        else:
            q = float(price) / tick
            down = int(math.floor(q)) * tick
            up = int(math.ceil(q)) * tick
        if direction == "up":
            return up
        if down == 0:  # 0 < price < 1: there is no price on the grid below it
            if direction == "down":
                raise ValueError(f"no price on the tick grid at or below {price!r}")
            return up
        if direction == "down":
            return down
        return down if price - down < up - price else up
    arr = _as_price_array(price)
    valid = _valid_mask(arr)
    ticks = tick_size(arr)
    safe_ticks = np.where(valid, ticks, 1)
    if arr.dtype.kind in "iu":
        prices = np.where(valid, arr, 0).astype(np.int64)
        downs = prices - prices % safe_ticks
        ups = np.where(downs == prices, downs, downs + safe_ticks)
    else:
        prices = np.where(valid, arr, 0.0).astype(np.float64)
        ratios = prices / safe_ticks
        downs = np.floor(ratios).astype(np.int64) * safe_ticks
        ups = np.ceil(ratios).astype(np.int64) * safe_ticks
    if direction == "down":
        out = downs
    elif direction == "up":
        out = ups
    else:
        out = np.where((prices - downs < ups - prices) & (downs > 0), downs, ups)
    return np.where(valid, out, 0).astype(np.int64)


def is_on_tick(price: Any) -> Any:
    """Whether ``price_krw`` lies on the tick grid (False for a price ≤ 0 or non-finite).

    Scalar → ``bool``; array-like → ``bool`` array of the same shape.
    """
    if _is_scalar(price):
        if not math.isfinite(price) or price <= 0:
            return False
        return bool(price % tick_size(price) == 0)
    arr = _as_price_array(price)
    valid = _valid_mask(arr)
    safe = np.where(valid, arr, 1)
    return valid & (safe % tick_size(safe) == 0)


def _check_on_tick_array(arr: np.ndarray, what: str) -> None:
    ok = is_on_tick(arr)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0]
        raise ValueError(f"{what} must be positive prices on the tick grid, got {bad!r}")


def tick_index(price: Any) -> Any:
    """Position of an on-grid ``price_krw`` on the tick grid: the number of ticks from 0 KRW to it.

    ``tick_index(1_999) == 1_999``, ``tick_index(2_000) == 2_000``, ``tick_index(2_005) == 2_001``.
    Raises ``ValueError`` for a price that is not a positive price on the grid. Scalar → ``int``;
    array-like → ``int64`` array.
    """
    if _is_scalar(price):
        if not is_on_tick(price):
            raise ValueError(f"price must be a positive price on the tick grid, got {price!r}")
        p = int(price)
        band = int(np.searchsorted(_BAND_UPPER_KRW, p, side="right"))
        return int(_BAND_START_INDEX[band]) + (p - int(_BAND_LOWER_KRW[band])) // int(_BAND_TICK_KRW[band])
    arr = _as_price_array(price)
    _check_on_tick_array(arr, "prices")
    prices = arr.astype(np.int64)
    bands = np.searchsorted(_BAND_UPPER_KRW, prices, side="right")
    return (_BAND_START_INDEX[bands] + (prices - _BAND_LOWER_KRW[bands]) // _BAND_TICK_KRW[bands]).astype(np.int64)


def price_at_tick_index(index: Any) -> Any:
    """Price in KRW at grid position ``index`` (≥ 1), the inverse of :func:`tick_index`.

    Scalar → ``int``; array-like → ``int64`` array. An index < 1 raises ``ValueError``.
    """
    if isinstance(index, numbers.Integral) and not isinstance(index, (bool, np.bool_)):
        i = int(index)
        if i < 1:
            raise ValueError(f"tick index must be ≥ 1, got {index!r}")
        band = int(np.searchsorted(_BAND_START_INDEX, i, side="right")) - 1
        return int(_BAND_LOWER_KRW[band]) + (i - int(_BAND_START_INDEX[band])) * int(_BAND_TICK_KRW[band])
    arr = np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"tick indices must be integers, got dtype {arr.dtype}")
    if arr.size and arr.min() < 1:
        raise ValueError(f"tick indices must be ≥ 1, got {arr.min()!r}")
    indices = arr.astype(np.int64)
    bands = np.searchsorted(_BAND_START_INDEX, indices, side="right") - 1
    return (_BAND_LOWER_KRW[bands] + (indices - _BAND_START_INDEX[bands]) * _BAND_TICK_KRW[bands]).astype(np.int64)


def ticks_between(a: Any, b: Any) -> Any:
    """Signed number of grid steps from on-grid price ``a_krw`` to on-grid price ``b_krw`` (b − a in ticks).

    Counts across bands: ``ticks_between(1_995, 2_010) == 7`` (5 one-won ticks, then 2 five-won ticks).
    Raises ``ValueError`` if either price is off the grid or ≤ 0. Scalars → ``int``; arrays → ``int64``.
    """
    return tick_index(b) - tick_index(a)


def shift_ticks(price: Any, n_ticks: Any) -> Any:
    """The on-grid price ``n_ticks`` grid steps above (``n_ticks`` > 0) or below (< 0) ``price_krw``.

    Band-aware: ``shift_ticks(1_999, 1) == 2_000``, ``shift_ticks(2_000, 1) == 2_005``,
    ``shift_ticks(2_000, -1) == 1_999``. Raises ``ValueError`` if ``price`` is off the grid or the result
    would fall below 1 KRW. Scalars → ``int``; arrays → ``int64`` (broadcast).
    """
    return price_at_tick_index(tick_index(price) + n_ticks)
