"""The study's outputs: a self-contained HTML report with plots, CSV tables and a JSON summary."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from onshore.lab.engine import LAYERS
from onshore.lab.study import RunSummary, money


def _usd(micros: int) -> float:
    return micros / 1e6


def write_tables(out: Path, runs: Sequence[RunSummary]) -> list[Path]:
    """``runs.csv`` (one row per run) and ``layers.csv`` / ``segments.csv`` (long form)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "runs.csv", out / "layers.csv", out / "segments.csv"]
    with paths[0].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["scenario", "loss_model", "leverage_cap", "total_loss", "uncovered", "liquidated_accounts",
             "liquidation_notional", "adl_count", "member_defaults", "cover_1", "cover_2"]
        )  # fmt: skip
        for r in runs:
            j = r.as_json()
            w.writerow(
                [r.scenario, r.loss_model, j["leverage_cap"], j["total_loss"], j["uncovered"], r.liquidated_accounts,
                 j["liquidations"]["notional"], r.adl_count, ";".join(r.member_defaults),
                 r.cover_1["statement"], r.cover_2["statement"]]
            )  # fmt: skip
    with paths[1].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "loss_model", "leverage_cap", "layer", "amount"])
        for r in runs:
            cap = r.as_json()["leverage_cap"]
            for layer in LAYERS:
                w.writerow([r.scenario, r.loss_model, cap, layer, money(r.by_layer.get(layer, 0))])
    with paths[2].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "loss_model", "leverage_cap", "segment", "amount"])
        for r in runs:
            cap = r.as_json()["leverage_cap"]
            for seg, v in sorted(r.by_segment.items()):
                w.writerow([r.scenario, r.loss_model, cap, seg, money(v)])
    return paths


def _figures(
    main: Sequence[RunSummary], sweep: Sequence[RunSummary], tick_usd: float, backtest: dict[str, Any] | None
) -> list[tuple[str, go.Figure]]:
    figs: list[tuple[str, go.Figure]] = []
    detailed = [r for r in main if r.mark_path]
    if detailed:
        fig = go.Figure()
        for r in detailed:
            if r.loss_model != detailed[0].loss_model:
                continue
            xs = list(range(len(r.mark_path)))
            fig.add_trace(go.Scatter(x=xs, y=[p * tick_usd for p in r.mark_path], mode="lines", name=r.scenario))
            pts = r.liquidation_points
            if pts:
                fig.add_trace(
                    go.Scatter(
                        x=[p[0] for p in pts],
                        y=[p[1] * tick_usd for p in pts],
                        mode="markers",
                        marker={"size": 4, "symbol": "x"},
                        name=f"{r.scenario}: liquidations",
                        visible="legendonly",
                    )
                )
        fig.update_layout(title="Price paths and liquidations (step = one bar of the path)", yaxis_title="USD")
        figs.append(("Price paths with liquidations", fig))
    if main:
        fig = go.Figure()
        labels = [f"{r.scenario}<br>{r.loss_model}" for r in main]
        for layer in LAYERS:
            fig.add_trace(go.Bar(name=layer, x=labels, y=[_usd(r.by_layer.get(layer, 0)) for r in main]))
        fig.add_trace(go.Bar(name="uncovered", x=labels, y=[_usd(r.uncovered) for r in main]))
        fig.update_layout(barmode="stack", title="Who pays: losses by layer", yaxis_title="USD")
        figs.append(("Loss waterfall by layer", fig))
        segments = sorted({s for r in main for s in r.by_segment})
        fig = go.Figure()
        for seg in segments:
            fig.add_trace(go.Bar(name=seg, x=labels, y=[_usd(r.by_segment.get(seg, 0)) for r in main]))
        fig.update_layout(
            barmode="stack", title="Losses by segment of the account where they started", yaxis_title="USD"
        )
        figs.append(("Losses by segment", fig))
    for model in sorted({r.loss_model for r in sweep}):
        rows = [r for r in sweep if r.loss_model == model]
        scenarios = sorted({r.scenario for r in rows})
        caps = sorted({r.leverage_cap or 0 for r in rows})
        beyond = {(r.scenario, r.leverage_cap or 0): r.total_loss - r.by_layer.get("trader", 0) for r in rows}
        z = [[_usd(beyond.get((s, c), 0)) for c in caps] for s in scenarios]
        fig = go.Figure(go.Heatmap(z=z, x=[f"{c / 100:g}×" for c in caps], y=scenarios, colorscale="Reds"))
        fig.update_layout(
            title=f"{model}: losses beyond the traders' own collateral, by leverage cap", xaxis_title="cap"
        )
        figs.append((f"Policy heat map — {model}", fig))
    if backtest and backtest.get("table"):
        table = backtest["table"]
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(x=[r["date"] for r in table], y=[r["return"] for r in table], mode="lines", name="return")
        )
        for key in ("margin", "model_margin"):
            if key in table[0]:
                fig.add_trace(
                    go.Scatter(x=[r["date"] for r in table], y=[r[key] for r in table], mode="lines", name=key)
                )
                fig.add_trace(go.Scatter(x=[r["date"] for r in table], y=[-r[key] for r in table], mode="lines",
                                         name=f"−{key}", showlegend=False))  # fmt: skip
        ex = [r for r in table if r.get("exceeded")]
        fig.add_trace(
            go.Scatter(x=[r["date"] for r in ex], y=[r["return"] for r in ex], mode="markers", name="exceedances")
        )
        fig.update_layout(title="Margin backtest: realized moves against the margin", yaxis_title="return")
        figs.append(("Margin backtest exceedances", fig))
    return figs


def write_html(
    path: Path,
    title: str,
    main: Sequence[RunSummary],
    sweep: Sequence[RunSummary],
    tick_usd: float,
    notes: Sequence[str],
    backtest: dict[str, Any] | None = None,
) -> Path:
    """Write one self-contained HTML file (plotly's script inlined once)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    parts.append("<h2>Who pays</h2><table><tr><th>scenario</th><th>loss model</th><th>total</th>")
    parts += [f"<th>{layer}</th>" for layer in LAYERS]
    parts.append("<th>uncovered</th><th>liquidated</th><th>Cover-1</th><th>Cover-2</th></tr>")
    for r in main:
        cells = [html.escape(r.scenario), r.loss_model, money(r.total_loss)]
        cells += [money(r.by_layer.get(layer, 0)) for layer in LAYERS]
        cells += [money(r.uncovered), str(r.liquidated_accounts), r.cover_1["statement"], r.cover_2["statement"]]
        parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    first = True
    for heading, fig in _figures(main, sweep, tick_usd, backtest):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if first else False))
        first = False
    if backtest:
        summary = {k: v for k, v in backtest.items() if k != "table"}
        parts.append("<h2>Margin backtest</h2><pre>" + html.escape(json.dumps(summary, indent=2)) + "</pre>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), "utf-8")
    return path
