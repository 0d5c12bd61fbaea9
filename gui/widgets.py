"""Small painted widgets of the window: the rate gauge with its red band and the pair's stage bar."""
from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import QRectF, QSize, Qt
from PyQt5.QtGui import QColor, QFont, QPainter, QPen
from PyQt5.QtWidgets import QSizePolicy, QWidget

from gui.fmt import RED_BAND

__all__ = ["Gauge", "StageBar", "stages_of"]


class Gauge(QWidget):
    """A horizontal gauge of ``value`` out of ``cap`` per second with a red band from ``red_from`` (80 %)."""

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.value = 0.0
        self.cap = 5.0
        self.red_from = RED_BAND
        self.note = ""
        self.setMinimumSize(QSize(150, 34))
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)

    def set(self, value: float, cap: float, note: str = "") -> None:
        self.value, self.cap, self.note = float(value), max(float(cap), 1e-9), note
        self.setToolTip(f"{self.label}: {self.value:g} of {self.cap:g}/s; red from {self.red_from:.0%}")
        self.update()

    @property
    def fraction(self) -> float:
        return min(max(self.value / self.cap, 0.0), 1.0)

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        w, h = self.width(), self.height()
        text_h = 14
        bar = QRectF(1, text_h + 2, w - 2, h - text_h - 4)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#e8e8e8"))
        p.drawRoundedRect(bar, 3, 3)
        red = QRectF(bar.left() + bar.width() * self.red_from, bar.top(), bar.width() * (1 - self.red_from),
                     bar.height())
        p.setBrush(QColor("#f6c9c4"))
        p.drawRect(red)
        frac = self.fraction
        p.setBrush(QColor("#b3261e") if frac >= self.red_from else QColor("#2e7d32"))
        p.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * frac, bar.height()), 3, 3)
        p.setPen(QColor("#202020"))
        f = QFont(self.font())
        f.setPointSizeF(max(f.pointSizeF() - 0.5, 7))
        p.setFont(f)
        p.drawText(QRectF(0, 0, w, text_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   f"{self.label} {self.value:g}/{self.cap:g} ({frac:.0%}) {self.note}".strip())
        p.end()


#: The stages of a pair (SPEC §4): take → post → cancel → IOC → flat.
STAGES = ("take", "post", "cancel", "IOC", "flat")


def stages_of(roles_status: Sequence[tuple[str, str]], state: str, outcome: str | None) -> list[str]:
    """Each stage's mark: ``done``, ``live`` (in progress), ``skip`` (not needed), ``fail`` or ``""`` (not yet).

    ``roles_status``: (role, status) of the pair's orders and cancels.
    """
    roles = {r for r, _ in roles_status}
    status = {r: s for r, s in roles_status}
    terminal = state in ("PAIRED_DONE", "COOLDOWN", "ERROR")
    marks = []
    take = status.get("take")
    marks.append("fail" if take in ("REJECTED", "LOST", "REFUSED") else
                 "live" if take in ("PENDING_SEND", "PENDING_ACK", "UNCONFIRMED", "WORKING") else
                 "done" if take else "")
    post = status.get("hedge_post")
    marks.append("live" if state == "HEDGE_POST_SENT" else "done" if post else ("skip" if terminal else ""))
    marks.append("live" if state == "CANCEL_POST_SENT" else "done" if "cancel" in roles else
                 ("skip" if terminal else ""))
    ioc = "hedge_ioc" in roles or "unwind" in roles
    marks.append("live" if state in ("HEDGE_IOC_SENT", "UNWIND_SENT") else "done" if ioc else
                 ("skip" if terminal else ""))
    if terminal:
        marks.append("done" if outcome == "done" else "fail" if outcome == "error" else "skip")
    else:
        marks.append("")
    return marks


class StageBar(QWidget):
    """The pair monitor's timeline strip: one box per stage, coloured by its mark, with a caption."""

    COLORS = {"done": "#2e7d32", "live": "#1565c0", "fail": "#b3261e", "skip": "#c9c9c9", "": "#ececec"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.marks: list[str] = [""] * len(STAGES)
        self.captions: list[str] = [""] * len(STAGES)
        self.setMinimumHeight(46)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set(self, marks: Sequence[str], captions: Sequence[str]) -> None:
        self.marks, self.captions = list(marks), list(captions)
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        n = len(STAGES)
        gap = 14
        w = (self.width() - gap * (n - 1)) / n
        for i, name in enumerate(STAGES):
            x = i * (w + gap)
            mark = self.marks[i] if i < len(self.marks) else ""
            box = QRectF(x, 2, w, 22)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(self.COLORS.get(mark, "#ececec")))
            p.drawRoundedRect(box, 4, 4)
            p.setPen(QColor("white") if mark in ("done", "live", "fail") else QColor("#404040"))
            sym = {"done": " ✓", "fail": " ✗", "live": " …", "skip": " –"}.get(mark, "")
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, name + sym)
            if i < n - 1:
                p.setPen(QPen(QColor("#808080"), 1.5))
                p.drawLine(int(x + w + 2), 13, int(x + w + gap - 2), 13)
            p.setPen(QColor("#303030"))
            cap = self.captions[i] if i < len(self.captions) else ""
            p.drawText(QRectF(x, 26, w, 18), Qt.AlignmentFlag.AlignCenter, cap)
        p.end()
