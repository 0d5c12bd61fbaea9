"""Fonts with Hangul for the window, bundled so Korean text renders on machines without one.

``gui/fonts/`` holds NanumSquare Regular and Bold (SIL Open Font License 1.1, ``gui/fonts/OFL.txt``).
:func:`install_fonts` registers them with Qt and makes the application font a family that has Hangul:
a system one when the platform has it (Malgun Gothic on Windows, Noto Sans CJK KR or Nanum on Linux),
otherwise the bundled NanumSquare.
"""
from __future__ import annotations

from pathlib import Path

from PyQt5.QtGui import QFont, QFontDatabase
from PyQt5.QtWidgets import QApplication

__all__ = ["BUNDLED_FAMILY", "FONT_DIR", "PREFERRED_FAMILIES", "hangul_family", "install_fonts"]

FONT_DIR = Path(__file__).resolve().parent / "fonts"
BUNDLED_FAMILY = "NanumSquare"
#: Families with Hangul, best first; the bundled one is always available after :func:`install_fonts`.
PREFERRED_FAMILIES = ("Malgun Gothic", "Noto Sans KR", "Noto Sans CJK KR", "NanumGothic", "Apple SD Gothic Neo",
                      BUNDLED_FAMILY)


def install_fonts(app: QApplication, point_size: float = 9.0) -> str:
    """Register the bundled fonts and set the application font; return the family chosen."""
    for path in sorted(FONT_DIR.glob("*.ttf")):
        QFontDatabase.addApplicationFont(str(path))
    family = hangul_family()
    font = QFont(family)
    font.setPointSizeF(point_size)
    app.setFont(font)
    return family


def hangul_family() -> str:
    """The first of :data:`PREFERRED_FAMILIES` this machine has, with a Hangul writing system."""
    db = QFontDatabase()
    korean = set(db.families(QFontDatabase.Korean))
    for fam in PREFERRED_FAMILIES:
        if fam in korean:
            return fam
    return BUNDLED_FAMILY
