"""Faults the emulated control can inject (SPEC §7: rejects, dropped acks, -308 storms, disconnects).

The control's ``faults`` attribute is initialised from ``sim.faults`` and may be changed during a run:

* ``reject_rate``: refusal after a successful SendOrder: an empty-주문번호 ack or a ``'거부'`` Chejan, per
  ``reject_mode`` (:mod:`kiwoom_bridge.emulator.order_desk`).
* ``drop_ack_rate``: no OnReceiveTrData at all; the order is dropped unless ``drop_ack_order_lives``
  (:mod:`kiwoom_bridge.emulator.order_desk`).
* ``chejan_delay_ms``: extra delay of every Chejan notice (:mod:`kiwoom_bridge.emulator.chejan`).
* ``storm_308``: every SendOrder returns -308 while it is on (:mod:`kiwoom_bridge.emulator.order_desk`).
* ``disconnect_at_ns``: ``OnEventConnect(-106)``, ``GetConnectState() == 0``, orders refused with -106, no
  more real data or Chejan until ``CommConnect`` succeeds again (:mod:`kiwoom_bridge.emulator.control`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Faults"]


@dataclass
class Faults:
    """Injectable faults. Mutable: tests flip them while a run is in progress.

    Attributes:
      reject_rate: Probability (0–1) that an accepted SendOrder is refused by the "server".
      reject_mode: ``'tr'`` (empty 주문번호 in the TR ack), ``'chejan'`` (order number, then a '거부'
        Chejan) or ``'mixed'`` (each refusal picks one at random).
      drop_ack_rate: Probability that the TR ack of an accepted SendOrder never arrives.
      drop_ack_order_lives: With a dropped ack, whether the order still reaches the exchange (Chejan
        then reports an order number the client never saw).
      chejan_delay_ms: Extra delay of every Chejan notice.
      storm_308: While True every SendOrder returns -308.
      disconnect_at_ns: Simulated time of a connection loss (-106), or None.
    """

    reject_rate: float = 0.0
    reject_mode: str = "mixed"
    drop_ack_rate: float = 0.0
    drop_ack_order_lives: bool = False
    chejan_delay_ms: float = 0.0
    storm_308: bool = False
    disconnect_at_ns: int | None = None
