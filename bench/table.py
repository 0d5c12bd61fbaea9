"""The README's performance table, made from the benchmarks' own JSON output (SPEC §9).

    python -m bench.edge_kernel > results/edge_kernel.jsonl     # … and scan, pipeline, replay, bases
    python -m bench.table results/*.jsonl [--title "2026-12-02 night"]

Every benchmark in ``bench/`` prints JSON lines; this reads any number of such files (each line one object, in
any order and any mix), recognises each benchmark by the keys it prints, and prints one markdown table: what was
measured, the SPEC §9 target beside it and whether it was met, so no figure in the README is copied by hand. A
benchmark with no output in the files gets no row; a line no benchmark prints is an error naming its file and
line, never silently skipped.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

__all__ = ["TableInputError", "collect", "rows", "render"]

#: SPEC §9's signal→SendOrder target (bench.pipeline prints the tick→signal targets and the floor ratio itself).
SIGNAL_TO_SEND_P95_MS = 2.0


class TableInputError(ValueError):
    """A line of a results file is not JSON, or is no benchmark's output."""


def _kind(obj: dict[str, Any]) -> str:
    if "layout" in obj:
        return "pipeline"
    if "numba_us" in obj or ("target" in obj and "met" in obj):
        return "edge_kernel"
    if "numba_rows_per_s" in obj or "full_path" in obj or "target_rows_per_s" in obj:
        return "scan"
    if "dense" in obj or "sparse" in obj or "sim" in obj:
        return "replay"
    if "base" in obj or "recommendation" in obj:
        return "bases"
    raise KeyError(", ".join(sorted(obj)))


def collect(lines: Iterable[tuple[str, int, str]]) -> dict[str, list[dict[str, Any]]]:
    """Benchmark name → its JSON objects, from ``(file, line number, text)`` lines (blank lines skipped).

    Raises:
      TableInputError: For a line that is not a JSON object or is no benchmark's output (file and line named).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for name, no, text in lines:
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TableInputError(f"{name}:{no}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise TableInputError(f"{name}:{no}: a benchmark prints JSON objects, this is {type(obj).__name__}")
        try:
            kind = _kind(obj)
        except KeyError as exc:
            raise TableInputError(f"{name}:{no}: no benchmark prints an object with keys {exc.args[0]}") from None
        out.setdefault(kind, []).append(obj)
    return out


def _met(flag: bool | None) -> str:
    return "—" if flag is None else ("met" if flag else "**not met**")


def _criteria(checks: list[tuple[str, bool]]) -> str:
    """``met`` when every named check passed, else which did not."""
    failed = [name for name, ok in checks if not ok]
    return "met" if not failed else "**not met**: " + ", ".join(failed)


def _ms3(d: dict[str, Any] | None) -> str:
    if not d or d.get("p95") is None:
        return "no figure"
    return " / ".join(f"{d[k]:.2f}" for k in ("p50", "p95", "p99")) + f" ms (n = {d.get('n')})"


def rows(found: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str, str]]:
    """``(benchmark, measured, target, met)`` rows in the README's order."""
    out: list[tuple[str, str, str, str]] = []
    edge = found.get("edge_kernel", [])
    target = next((o["target"] for o in edge if "target" in o), None)     # the line bench.edge_kernel ends with
    for o in edge:
        if target is not None and o.get("symbols") == target["symbols"] and "numba_us" in o:
            ok = o["numba_us"] <= target["numba_us_max"] and o["ratio"] >= target["ratio_min"]
            out.append((f"`bench.edge_kernel`, {o['symbols']} symbols",
                        f"{o['numba_us']:.1f} µs numba vs {o['python_us']:,.0f} µs plain loop (×{o['ratio']:.0f})",
                        f"≤ {target['numba_us_max']:g} µs, ≥ {target['ratio_min']:g}×", _met(ok)))
    scan = {k: o for o in found.get("scan", []) for k in o}
    if "numba_rows_per_s" in scan:
        o = scan["numba_rows_per_s"]
        after = scan.get("full_path", {}).get("full_path", {}).get("rows_per_s_after_load")
        text = f"{o['numba_rows_per_s'] / 1e6:.1f} M rows/s (×{o['ratio']:.0f} the plain loop)"
        if after:
            text += f"; full path after load {after / 1e6:.1f} M rows/s"
        goal = scan.get("target_rows_per_s", {})         # the line bench.scan ends with
        target = f"≥ {goal['target_rows_per_s'] / 1e6:g} M rows/s" if goal else "—"
        out.append(("`bench.scan`", text, target, _met(goal.get("met"))))
    pipe = found.get("pipeline", [])
    floor = next((o for o in pipe if o.get("layout") == "floor"), None)
    if floor is not None:
        out.append((f"`bench.pipeline` floor (plain pipe, {floor['symbols']} sym × 2 venues, "
                    f"{floor['rate']:,.0f} upd/s, {floor['seconds']:g} s): tick→signal p50 / p95 / p99",
                    _ms3(floor.get("tick_to_signal")), "—", "—"))
    for o in pipe:
        layout = o.get("layout")
        if layout == "floor":
            continue
        if o.get("error"):
            out.append((f"`bench.pipeline --layout {layout}`", f"error: {o['error']}", "", _met(False)))
            continue
        t = o.get("tick_to_signal") or {}
        targets = o.get("targets", {})
        checks = []
        for k, v in targets.items():              # e.g. tick_to_signal_p95_ms: 5.0
            pct = k.removeprefix("tick_to_signal_").removesuffix("_ms")
            checks.append((f"{pct} ≤ {v:g} ms", t.get(pct) is not None and t[pct] <= v))
        ratio, most = o.get("ratio_to_floor"), o.get("target_ratio_to_floor")
        if most is not None:
            checks.append((f"≤ {most:g}× the floor", ratio is not None and ratio <= most))
        target = ", ".join(name for name, _ in checks)
        checks.append(("0 lost", o.get("updates_lost") == 0))
        extra = (f" — {ratio:g}× the floor, {o.get('steps'):,} steps, CPU {o.get('cpu_percent')} %, "
                 f"{o.get('updates_lost')} lost") if ratio is not None else ""
        out.append((f"`bench.pipeline --layout {layout}`: tick→signal p50 / p95 / p99",
                    _ms3(t) + extra, target, _criteria(checks)))
        s = o.get("signal_to_send") or {}
        out.append(("same, signal→send p50 / p95 / p99", _ms3(s), f"p95 ≤ {SIGNAL_TO_SEND_P95_MS:g} ms",
                    _met(s.get("p95") is not None and s["p95"] <= SIGNAL_TO_SEND_P95_MS)))
    for o in found.get("replay", []):
        for key, label in (("dense", "dense day"), ("sparse", "sparse day"), ("sim", "sim, demo universe")):
            r = o.get(key)
            if not r:
                continue
            mp = o.get(f"{key}_multiprocess")
            if key == "dense":
                text, target = f"{r['rows_per_s']:,.0f} rows/s", f"≥ {r['target_rows_per_s']:,} rows/s"
                if mp:
                    text += f" (multi-process {mp['rows_per_s']:,.0f})"
            else:
                text, target = f"{r['x_real_time']:.1f}× real time", f"≥ {r['target_x_real_time']:g}×"
                if mp:
                    text += f" (multi-process {mp['x_real_time']:.1f}×)"
            text += f"; {r['steps']:,} steps, {r['pairs_done']} pairs, {'flat' if r['flat'] else 'NOT FLAT'}"
            size = (f"{r['symbols']} symbols, {r['rows']:,} rows" if "rows" in r
                    else f"{r['symbols']} symbols, {r['sim_seconds']:g} s simulated")
            out.append((f"`bench.replay` {label} ({size}), `--speed max`", text, target, _met(r.get("met"))))
    bases = {o["base"]: o for o in found.get("bases", []) if "base" in o}
    if bases:
        text = " / ".join(f"{b} {o['hop_small_us']['p50']:g} µs" for b, o in bases.items())
        out.append(("`bench.bases`, one hop p50, small message", text, "—", "—"))
    return out


def render(table: list[tuple[str, str, str, str]], title: str) -> str:
    """The markdown table, headed ``title`` (the machine and date the figures are from)."""
    lines = [f"| benchmark | {title} | SPEC §9 target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table]
    return "\n".join(lines)


def _read(paths: Iterable[Path]) -> Iterable[tuple[str, int, str]]:
    for p in paths:
        for no, text in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            yield str(p), no, text


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", default="measured", show_default=True, help="The measured column's heading.")
def main(files: tuple[Path, ...], title: str) -> None:
    """Print the README's performance table from benchmark JSON lines."""
    try:
        found = collect(_read(files))
    except TableInputError as exc:
        raise click.ClickException(str(exc)) from None
    print(render(rows(found), title))


if __name__ == "__main__":
    main()
