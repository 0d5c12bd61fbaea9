"""The operator window (PyQt5): attaches to a running engine through the Supervisor's operator interface.

Its own process, never on the tick path: :mod:`gui.link` asks the Supervisor for coalesced snapshots
(:mod:`protocol.operator`) a few times a second on a worker thread and sends the operator's commands; the
views (:mod:`gui.main_window` and the panels) show what the snapshots carry. ``python -m gui`` starts it;
``python launch.py`` starts it itself when a display is available.
"""
