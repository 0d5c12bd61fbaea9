"""Exceptions of the emulated control's call surface (misuse by the caller, never a Kiwoom error code).

Kiwoom's own failures are return codes (:class:`kiwoom_bridge.errors.ErrorCode`); these exceptions mean the
caller broke the contract the real control would have broken on too (or silently mis-handled).
"""
from __future__ import annotations

__all__ = ["EmulatorCallError", "ReentrancyError", "UnknownSignatureError"]


class UnknownSignatureError(LookupError):
    """``dynamicCall`` was given a signature the emulator (and the facade contract) does not know."""


class EmulatorCallError(TypeError):
    """``dynamicCall`` was given arguments of the wrong number or type for its signature."""


class ReentrancyError(RuntimeError):
    """``advance_to`` was called from inside an event callback."""
