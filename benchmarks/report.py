"""Turning benchmark results into the printed tables, the JSON file and the PNG chart,
and summarising py-spy profiles.

Every ratio is ``pys3local / rclone serve s3`` measured in the same run, so above 1
means pys3local is faster (for MB/s, ops/s, keys/s) or bigger (for MiB, ms).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
RSS_LIMIT_MIB = 150
LIST_MIN_KEYS_PER_S = 30_000
#: "No slower per key at 100,000 keys than at 10,000": allowed shortfall for noise.
LIST_SCALING_TOLERANCE = 0.9

REF = "rclone"
OURS = "pys3local"
WORKERS = "workers"


def _size_label(size: int) -> str:
    return f"{size // (1024 * MiB)} GiB" if size >= 1024 * MiB else f"{size // MiB} MiB"


def _phase(results: dict, server: str, phase: str) -> dict | None:
    data = results.get("servers", {}).get(server)
    if not data or "skipped" in data:
        return None
    return data.get(phase)


def _value(phase: dict | None, field: str) -> float | None:
    if not phase or "error" in phase:
        return None
    value = phase.get(field)
    return float(value) if isinstance(value, (int, float)) else None


def _row(label: str, unit: str, ours: float | None, ref: float | None, **extra: Any) -> dict:
    ratio = ours / ref if ours is not None and ref else None
    return {"label": label, "unit": unit, "ours": ours, "ref": ref, "ratio": ratio, **extra}


def phase_row(
    label: str,
    unit: str,
    ours_phase: dict | None,
    ref_phase: dict | None,
    field: str,
    target: float | None,
    /,
    **extra: Any,
) -> dict:
    """A row setting ``field`` of two phases' figures side by side: their ratio, the
    phases' errors, and with ``target`` whether the ratio reaches it (judged only when
    there is a figure or an error to judge)."""
    row = _row(label, unit, _value(ours_phase, field), _value(ref_phase, field), **extra)
    errors = [p["error"] for p in (ours_phase, ref_phase) if p and "error" in p]
    if errors:
        row["error"] = "; ".join(errors)
    if target is not None:
        row["target"] = f">= {target:g}x"
        if row["ours"] is not None or row["ref"] is not None or errors:
            row["pass"] = row["ratio"] is not None and row["ratio"] >= target
    return row


#: 4 KiB rows: the ratio each must reach, single process and with --workers.
SMALL_TARGETS = {"put": 1.0, "put_unsigned": 1.0, "get": 0.6, "head": 0.35}
WORKERS_TARGETS = {"put": 1.5, "put_unsigned": 1.5, "get": 1.0, "head": 1.0}
SMALL_LABELS = {
    "put": "PUT (signed + Content-MD5)",
    "put_unsigned": "PUT (UNSIGNED-PAYLOAD)",
    "get": "GET",
    "head": "HEAD",
}
SMALL_PHASES = tuple(f"small_{op}" for op in SMALL_TARGETS)


def build_rows(results: dict) -> list[dict]:
    """One row per figure: ours, the reference, the ratio, the target and pass/fail."""
    settings = results["meta"]["settings"]
    big = _size_label(settings["object_size"])
    part = _size_label(settings["part_size"])
    small = f"{settings['small_size'] // 1024} KiB"
    conns = settings["connections"]
    rows: list[dict] = []

    def latency_note(row: dict, phase: str, ours_server: str) -> None:
        ours, ref = _phase(results, ours_server, phase), _phase(results, REF, phase)
        if ours and ref and "p50_ms" in ours and "p50_ms" in ref:
            row["note"] = (
                f"p50 {ours['p50_ms']:.1f} vs {ref['p50_ms']:.1f} ms, "
                f"p99 {ours['p99_ms']:.1f} vs {ref['p99_ms']:.1f} ms"
            )

    def ratio_row(
        key: str,
        phase: str,
        field: str,
        label: str,
        unit: str,
        target: float | None,
        ours_server: str = OURS,
    ) -> dict:
        ours_phase = _phase(results, ours_server, phase)
        ref_phase = _phase(results, REF, phase)
        row = phase_row(label, unit, ours_phase, ref_phase, field, target, id=key)
        latency_note(row, phase, ours_server)
        return row

    rows.append(
        ratio_row("put_large", "put_large", "mb_per_s", f"PUT {big}, one stream", "MB/s", 1.25)
    )
    rows.append(
        ratio_row("get_large", "get_large", "mb_per_s", f"GET {big}, one stream", "MB/s", 3.0)
    )
    range_row = ratio_row(
        "range_get",
        "range_get",
        "seconds",
        f"GET Range {_size_label(settings['range_length'])} of {big}",
        "s, lower is better",
        None,
    )
    ours_range = _phase(results, OURS, "range_get")
    if ours_range and "error" not in ours_range:
        statuses = ours_range.get("statuses", [ours_range.get("status")])
        range_row["target"] = "206, exact bytes"
        range_row["pass"] = all(s == 206 for s in statuses) and bool(ours_range.get("exact"))
        ref_range = _phase(results, REF, "range_get")
        if ref_range and "error" not in ref_range:
            range_row["note"] = (
                f"statuses {'/'.join(map(str, statuses))} vs "
                f"{'/'.join(map(str, ref_range.get('statuses', [])))}; bytes exact: "
                f"{ours_range.get('exact')} vs {ref_range.get('exact')}"
            )
    rows.append(range_row)
    rows.append(
        ratio_row(
            "multipart_put",
            "multipart_put",
            "mb_per_s",
            f"Multipart PUT {big}, {part} parts x{settings['part_parallel']}",
            "MB/s",
            1.5,
        )
    )
    for op, target in SMALL_TARGETS.items():
        rows.append(
            ratio_row(
                f"small_{op}",
                f"small_{op}",
                "ops_per_s",
                f"{SMALL_LABELS[op]} {small}, {conns} connections",
                "ops/s",
                target,
            )
        )
    list_rates: dict[int, float | None] = {}
    for count in settings["list_sizes"]:
        row = ratio_row(
            f"list_{count}",
            f"list_{count}",
            "keys_per_s",
            f"ListObjectsV2 {count:,} keys (files), pages of 1000",
            "keys/s",
            None,
        )
        list_rates[count] = row["ours"]
        rows.append(row)
    if 100_000 in list_rates and 10_000 in list_rates:
        row = rows[-1]
        rate_100k, rate_10k = list_rates[100_000], list_rates[10_000]
        scaling = rate_100k / rate_10k if rate_100k and rate_10k else None
        row["target"] = (
            f">= {LIST_MIN_KEYS_PER_S:,} keys/s and >= {LIST_SCALING_TOLERANCE:g}x the 10k rate"
        )
        row["pass"] = bool(
            rate_100k
            and rate_100k >= LIST_MIN_KEYS_PER_S
            and scaling
            and scaling >= LIST_SCALING_TOLERANCE
        )
        row["note"] = f"per-key rate 100k/10k = {scaling:.2f}" if scaling else None
    api = _phase(results, OURS, "list_api")
    api_ref = _phase(results, REF, "list_api")
    if api or api_ref:
        counts = "/".join(str(int(p["keys"])) for p in (api, api_ref) if p and "keys" in p)
        rows.append(
            ratio_row(
                "list_api",
                "list_api",
                "keys_per_s",
                f"ListObjectsV2 keys PUT via the API ({counts})",
                "keys/s",
                None,
            )
        )
    for op, target in WORKERS_TARGETS.items():
        workers = results.get("servers", {}).get(WORKERS)
        label = f"{SMALL_LABELS[op]} {small}, serve --workers {settings['workers']}"
        if workers is None:
            continue
        if "skipped" in workers:
            rows.append(
                _row(
                    label,
                    "ops/s",
                    None,
                    None,
                    id=f"workers_{op}",
                    target=f">= {target:g}x",
                    note=workers["skipped"],
                )
            )
            continue
        rows.append(
            ratio_row(
                f"workers_{op}",
                f"small_{op}",
                "ops_per_s",
                label,
                "ops/s",
                target,
                ours_server=WORKERS,
            )
        )
    for key, label, phases in (
        (
            "rss_large",
            f"Peak RSS during {big} transfers",
            ("put_large", "get_large", "range_get", "multipart_put"),
        ),
        ("rss_small", f"Peak RSS during {small} objects", SMALL_PHASES),
    ):
        ours = [_value(_phase(results, OURS, p), "peak_rss_mib") for p in phases]
        ref = [_value(_phase(results, REF, p), "peak_rss_mib") for p in phases]
        ours_max = max((v for v in ours if v is not None), default=None)
        ref_max = max((v for v in ref if v is not None), default=None)
        row = _row(label, "MiB, lower is better", ours_max, ref_max, id=key)
        row["target"] = f"<= {RSS_LIMIT_MIB} MiB"
        if ours_max is not None:
            row["pass"] = ours_max <= RSS_LIMIT_MIB
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- text


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit.startswith("s"):
        return f"{value * 1000:.1f} ms"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _table(headers: list[str], lines: list[list[str]], align: str) -> str:
    """A plain-text table; ``align`` has one "l" or "r" per column."""
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        cells = [
            cell.rjust(w) if a == "r" else cell.ljust(w)
            for cell, w, a in zip(line, widths, align, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def ceiling_line(ceiling: dict) -> str:
    ops = ("put", "put_unsigned", "get", "head")
    cpu = "/".join(f"{ceiling.get(f'small_{op}_client_cpu_pct', 0):.0f}%" for op in ops)
    unsigned = ceiling.get("small_put_unsigned_ops_per_s")
    unsigned_text = f" / PUT unsigned {unsigned:,.0f}" if unsigned is not None else ""
    return (
        "client ceiling vs trivial ASGI app (uvicorn+httptools+uvloop, 1 process, discards "
        f"bodies): PUT large {ceiling['put_large_mb_per_s']:,.0f} MB/s, GET large "
        f"{ceiling['get_large_mb_per_s']:,.0f} MB/s, 4 KiB PUT "
        f"{ceiling['small_put_ops_per_s']:,.0f}{unsigned_text} / "
        f"GET {ceiling['small_get_ops_per_s']:,.0f} / "
        f"HEAD {ceiling['small_head_ops_per_s']:,.0f} ops/s (client CPU {cpu})"
    )


def head_floor_line(floor: dict) -> str:
    return (
        f"HEAD floor, pys3local's HTTP stack in {floor['processes']} processes without "
        f"storage or access log: {floor['http_ops_per_s']:,.0f} ops/s at "
        f"{floor['http_server_cpu_us']:.0f} µs of server CPU per request; with request "
        f"parsing and the signature check {floor['signed_ops_per_s']:,.0f} ops/s at "
        f"{floor['signed_server_cpu_us']:.0f} µs (client: {floor['signed_client_cpu_us']:.0f} "
        "µs per request)"
    )


def describe_phase(result: dict) -> str:
    parts = []
    for field, unit in (("mb_per_s", "MB/s"), ("ops_per_s", "ops/s"), ("keys_per_s", "keys/s")):
        if field in result:
            parts.append(f"{result[field]:,.0f} {unit}")
    if "p50_ms" in result:
        parts.append(f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms")
    if "repeat_keys_per_s" in result:
        parts.append(f"repeat {result['repeat_keys_per_s']:,.0f} keys/s")
    if "range" in result:
        parts.append(f"{result['range']} -> {result['status']}, {result['seconds'] * 1000:.1f} ms")
    parts.append(f"peak RSS {result['peak_rss_mib']:.0f} MiB")
    if result.get("server_cpu_ms_per_op") is not None:
        parts.append(f"server CPU {result['server_cpu_ms_per_op']:.3f} ms/op")
    if result.get("errors"):
        parts.append(f"{result['errors']} errors")
    return ", ".join(parts)


_PHASES = [
    ("put_large", "PUT large (per MiB)"),
    ("get_large", "GET large (per MiB)"),
    ("range_get", "GET Range"),
    ("multipart_put", "Multipart PUT (per MiB)"),
    ("small_put", "PUT 4 KiB"),
    ("small_put_unsigned", "PUT 4 KiB unsigned"),
    ("small_get", "GET 4 KiB"),
    ("small_head", "HEAD 4 KiB"),
    ("list_10000", "List 10k (per page)"),
    ("list_100000", "List 100k (per page)"),
    ("list_api", "List API keys (per page)"),
    ("versioned_put", "PUT 4 KiB versioned"),
    ("overwrite_put", "PUT 4 KiB overwrites"),
    ("versioned_overwrite_put", "PUT 4 KiB overwrites versioned"),
    ("list_versions_10000", "ListObjectVersions 10k (per page)"),
    ("list_versions_100000", "ListObjectVersions 100k (per page)"),
]


def format_report(results: dict) -> str:
    meta = results["meta"]
    lines = [
        f"pys3local {meta['pys3local']} vs {meta['reference']} "
        f"({meta['mode']} run, {meta['machine']}, Python {meta['python']})",
        f"rclone serve s3 flags: {shlex.join(meta['rclone_flags']) or '(none)'}; "
        f"client: {meta['client']}",
        f"machine load average (1 min): {meta.get('load_average_at_start', 0):.1f} at start, "
        f"{meta.get('load_average_at_end', 0):.1f} at end (other work shares this machine)",
    ]
    if "ceiling" in results:
        lines.append(ceiling_line(results["ceiling"]))
    if "head_floor" in results:
        lines.append(head_floor_line(results["head_floor"]))
    lines.append("")
    table = []
    for row in results["rows"]:
        result = "-"
        if "pass" in row:
            result = "PASS" if row["pass"] else "FAIL"
        note = row.get("error") or row.get("note") or ""
        table.append(
            [
                row["label"],
                row["unit"],
                _fmt(row["ours"], row["unit"]),
                _fmt(row["ref"], row["unit"]),
                f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-",
                row.get("target", ""),
                result,
                note[:120],
            ]
        )
    headers = ["workload", "unit", "pys3local", "rclone", "ratio", "target", "result", "note"]
    lines.append(_table(headers, table, "llrrrlll"))
    lines.append("")
    lines.append(
        "4 KiB latency (ms) and per-phase resources "
        "(server CPU per operation; RSS sampled every 50 ms)"
    )
    detail = []
    servers = [s for s in (OURS, REF, WORKERS) if _has(results, s)]
    for phase, label in _PHASES:
        for server in servers:
            data = _phase(results, server, phase)
            if not data:
                continue
            name = {OURS: "pys3local", REF: "rclone", WORKERS: "pys3local workers"}[server]
            if "error" in data:
                detail.append([label, name, "-", "-", "-", "-", "-", data["error"][:60]])
                continue
            client_pct = 100 * data["client_cpu_seconds"] / data["wall_seconds"]
            detail.append(
                [
                    label,
                    name,
                    _fmt(data.get("p50_ms")),
                    _fmt(data.get("p99_ms")),
                    f"{data['peak_rss_mib']:.0f}",
                    _fmt(data.get("server_cpu_ms_per_op")),
                    f"{100 * data['server_cpu_seconds'] / data['wall_seconds']:.0f}%",
                    f"{client_pct:.0f}%",
                ]
            )
    lines.append(
        _table(
            [
                "phase",
                "server",
                "p50 ms",
                "p99 ms",
                "peak RSS MiB",
                "CPU ms/op",
                "server CPU",
                "client CPU",
            ],
            detail,
            "llrrrrrr",
        )
    )
    passed = sum(1 for r in results["rows"] if r.get("pass") is True)
    judged = sum(1 for r in results["rows"] if "pass" in r)
    lines.append("")
    lines.append(f"targets met: {passed}/{judged}; total time {meta.get('total_seconds', 0):.0f} s")
    return "\n".join(lines)


def _has(results: dict, server: str) -> bool:
    data = results.get("servers", {}).get(server)
    return bool(data) and "skipped" not in data


# --------------------------------------------------------------------------- files


def write_outputs(results: dict, out: Path) -> tuple[Path, Path | None]:
    out.mkdir(parents=True, exist_ok=True)
    stem = "results" if results["meta"]["mode"] == "full" else "results-quick"
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    png_path = out / ("chart.png" if stem == "results" else "chart-quick.png")
    try:
        write_chart(results, png_path)
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no chart written")
        return json_path, None
    return json_path, png_path


def write_chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["rows"] if r["unit"] in ("MB/s", "ops/s", "keys/s")]
    rss = [r for r in results["rows"] if r["id"].startswith("rss_")]
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [3.4, 1.1]}, dpi=100
    )
    labels = [r["label"] for r in rows][::-1]
    values = [r["ratio"] or 0 for r in rows][::-1]
    colors = []
    for r in rows[::-1]:
        if r.get("pass") is None:
            colors.append("#9e9e9e")
        else:
            colors.append("#2e7d32" if r["pass"] else "#c62828")
    y = range(len(rows))
    ax.barh(list(y), values, color=colors, height=0.6)
    for i, r in enumerate(rows[::-1]):
        target = re.match(r">= ([\d.]+)x", r.get("target", ""))
        if target:
            t = float(target[1])
            ax.plot([t, t], [i - 0.4, i + 0.4], color="black", linewidth=2)
        if r["ratio"]:
            text = f"{r['ratio']:.2f}x"
            if r.get("target") and not target:  # an absolute target: show the figure
                text += f" ({_fmt(r['ours'])} {r['unit']}; {r['target'].split(' and ')[0]})"
            ax.text(r["ratio"] * 1.03, i, text, va="center", fontsize=7)
    ax.axvline(1.0, color="#555555", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    finite = [v for v in values if v > 0] or [1.0]
    ax.set_xlim(min(0.1, min(finite) / 1.5), max(10, max(finite) * 2) * 12)
    ax.set_yticks(list(y))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("pys3local / rclone serve s3 (same run; black tick = target)")
    ax.set_title("Throughput ratio (green: target met, red: missed, grey: no target)", fontsize=9)

    names = [r["label"].replace("Peak RSS during ", "") for r in rss]
    xs = range(len(rss))
    ax2.bar(
        [x - 0.2 for x in xs],
        [r["ours"] or 0 for r in rss],
        width=0.4,
        label="pys3local",
        color="#1565c0",
    )
    ax2.bar(
        [x + 0.2 for x in xs],
        [r["ref"] or 0 for r in rss],
        width=0.4,
        label="rclone serve s3",
        color="#ef6c00",
    )
    ax2.axhline(RSS_LIMIT_MIB, color="black", linewidth=1.5, linestyle="--")
    ax2.text(-0.45, RSS_LIMIT_MIB * 1.02, f"target {RSS_LIMIT_MIB} MiB", fontsize=7)
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels(names, fontsize=8)
    ax2.set_ylabel("peak RSS (MiB)")
    ax2.set_title("Server peak RSS", fontsize=9)
    ax2.legend(fontsize=7)
    meta = results["meta"]
    fig.suptitle(
        f"pys3local vs rclone serve s3 - {meta['mode']} run, {meta['date']}, {meta['machine']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
