"""One HTML page of an evaluation report: the summary, the definitions, figures and audio players.

The page refers to the PNGs and WAVs beside it (`figures/`, `audio/`), so the output folder is the whole
report: copy or serve it as is. No scripts, no external resources.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
section { border-top: 1px solid #ddd; margin-top: 2em; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
audio { vertical-align: middle; }
.small { font-size: 0.85em; color: #555; }
"""
LABELS = {
    "reference": "reference recording",
    "griffin_lim_resynthesis": "Griffin-Lim resynthesis of the reference mel",
    "vocoder_resynthesis": "the voice's vocoder on the reference mel",
    "synthesized": "synthesized by the voice",
}
DNSMOS_COLUMNS = (("p808_mos", "P.808"), ("ovrl_mos", "OVRL"), ("sig_mos", "SIG"), ("bak_mos", "BAK"))


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _table(rows: list[tuple[str, Any]], header: tuple[str, str] = ("", "")) -> str:
    head = f"<tr><th>{escape(header[0])}</th><th>{escape(header[1])}</th></tr>" if any(header) else ""
    body = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{_fmt(v)}</td></tr>" for k, v in rows)
    return f"<table>{head}{body}</table>"


def _summary(report: dict[str, Any]) -> str:
    parts = []
    if report.get("wer"):
        wer = report["wer"]
        rows = [(LABELS[k], wer[k]) for k in LABELS if k in wer]
        rows.append(("synthesized / reference", wer.get("synthesized_vs_reference")))
        parts.append(
            f"<h2>Word error rate</h2><p class='small'>{escape(wer['recognizer'])}</p>{_table(rows)}"
        )
    mcd = report["mcd_dtw_db"]
    parts.append("<h2>MCD-DTW (dB)</h2>" + _table([(LABELS[k], mcd[k]) for k in LABELS if k in mcd]))
    if report.get("dnsmos"):
        parts.append(
            "<h2>Naturalness (DNSMOS, 1-5)</h2><p class='small'>A rough judge built for noise suppression: "
            "read it side by side.</p>" + _dnsmos_table(report["dnsmos"])
        )
    if len(report.get("per_speaker", {})) > 1:
        parts.append("<h2>Per speaker</h2>" + _speaker_table(report["per_speaker"]))
    f0 = report["f0"]
    parts.append(
        "<h2>Prosody</h2>"
        + _table(
            [
                ("F0 RMSE (cents, voiced frames after DTW)", f0["rmse_cents"]),
                ("F0 correlation (log F0)", f0["correlation"]),
                ("V/UV error", f0["vuv_error"]),
                ("F0 RMSE per symbol (cents)", f0.get("per_symbol_rmse_cents")),
                ("F0 RMSE floor of a per-symbol contour (cents)", f0.get("step_floor_rmse_cents")),
            ]
            + (
                [
                    ("duration MAE per spoken symbol (ms)", report["durations"]["mae_ms"]),
                    ("boundary MAE (ms)", report["durations"]["boundaries"].get("mean_ms")),
                    ("length synthesized / reference", report["durations"]["length_ratio"]),
                ]
                if report.get("durations")
                else []
            )
        )
    )
    speed = report["speed"]
    parts.append(
        "<h2>Speed (real-time factor)</h2>"
        + _table([(stage, speed[f"{stage}_rtf"]) for stage in ("frontend", "acoustic", "vocoder", "total")])
    )
    return "".join(parts)


def _dnsmos_table(scores: dict[str, dict[str, float] | None]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{label}</th>" for _, label in DNSMOS_COLUMNS) + "</tr>"
    rows = [
        f"<tr><th>{escape(LABELS[name])}</th>"
        + "".join(f"<td class='num'>{_fmt((scores[name] or {}).get(key))}</td>" for key, _ in DNSMOS_COLUMNS)
        + "</tr>"
        for name in LABELS
        if name in scores
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _speaker_table(per_speaker: dict[str, dict[str, Any]]) -> str:
    head = (
        "<tr><th>speaker</th><th>utterances</th><th>audio</th><th>WER</th><th>MCD-DTW dB</th>"
        "<th>DNSMOS P.808</th><th>DNSMOS OVRL</th></tr>"
    )
    rows = []
    for speaker, scores in per_speaker.items():
        wer, mcd, mos = scores.get("wer", {}), scores["mcd_dtw_db"], scores.get("dnsmos") or {}
        names = [n for n in LABELS if n in wer or n in mcd or n in mos]
        for k, name in enumerate(names):
            first = (
                f"<th rowspan='{len(names)}'>{escape(speaker)}</th>"
                f"<td class='num' rowspan='{len(names)}'>{scores['utterances']}</td>"
                if k == 0
                else ""
            )
            cells = [
                wer.get(name),
                mcd.get(name),
                *((mos.get(name) or {}).get(key) for key in ("p808_mos", "ovrl_mos")),
            ]
            rows.append(
                f"<tr>{first}<td>{escape(LABELS[name])}</td>"
                + "".join(f"<td class='num'>{_fmt(c)}</td>" for c in cells)
                + "</tr>"
            )
    return f"<table>{head}{''.join(rows)}</table>"


def _utterance(record: dict[str, Any], files: dict[str, str]) -> str:
    rows = []
    for name, label in LABELS.items():
        if name not in files:
            continue
        heard = record.get("transcripts", {}).get(name)
        heard_html = f"<br><span class='small'>heard: {escape(heard)}</span>" if heard is not None else ""
        mos = record.get("dnsmos", {}).get(name)
        if mos is not None:
            heard_html += (
                f"<br><span class='small'>DNSMOS P.808 {_fmt(mos['p808_mos'], 2)}, "
                f"OVRL {_fmt(mos['ovrl_mos'], 2)}</span>"
            )
        rows.append(
            f"<tr><th>{escape(label)}</th><td><audio controls preload='none' src='{escape(files[name])}'>"
            f"</audio>{heard_html}</td></tr>"
        )
    images = "".join(
        f"<img src='{escape(files[k])}' alt='{escape(k)}'>"
        for k in ("mel", "pitch", "alignment")
        if k in files
    )
    return (
        f"<section><h3>{escape(record['id'])}</h3><p>{escape(record['text'])}</p>"
        f"<table>{''.join(rows)}</table>{images}</section>"
    )


def _all_utterances(records: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>id</th><th>MCD-DTW dB</th><th>F0 RMSE cents</th><th>V/UV err</th><th>dur. MAE ms</th>"
        "<th>WER ours</th><th>WER ref</th><th>P.808 ours</th><th>P.808 ref</th></tr>"
    )
    rows = []
    for r in records:
        wer, mos = r.get("wer", {}), r.get("dnsmos", {})
        cells = [
            r["mcd_dtw_db"].get("synthesized"),
            r["f0"].get("rmse_cents"),
            r["f0"].get("vuv_error"),
            r.get("duration_mae_ms"),
            wer.get("synthesized"),
            wer.get("reference"),
            mos.get("synthesized", {}).get("p808_mos"),
            mos.get("reference", {}).get("p808_mos"),
        ]
        rows.append(
            f"<tr><td>{escape(r['id'])}</td>"
            + "".join(f"<td class='num'>{_fmt(c)}</td>" for c in cells)
            + "</tr>"
        )
    return f"<h2>All utterances</h2><table>{head}{''.join(rows)}</table>"


def write_html(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report page to `path` (in the folder holding the report's figures/ and audio/)."""
    path = Path(path)
    voice, data = report["voice"], report["dataset"]
    definitions = "".join(
        f"<tr><th>{escape(k)}</th><td class='small'>{escape(v)}</td></tr>"
        for k, v in report["definitions"].items()
    )
    files = report.get("files", {})
    examples = "".join(_utterance(r, files[r["id"]]) for r in report["utterances"] if r["id"] in files)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fastpitch eval: {escape(voice["name"])}</title>
<style>{STYLE}</style></head><body>
<h1>Evaluation of {escape(voice["name"])}</h1>
<p>Voice <code>{escape(voice["path"])}</code> with vocoder <code>{escape(voice["vocoder"])}</code>;
{data["utterances"]} utterances of split <code>{escape(data["split"])}</code> of <code>{escape(data["path"])}</code>
({_fmt(data["reference_seconds"], 1)} s of reference audio); fastpitch {escape(report["fastpitch_version"])}.</p>
{_summary(report)}
<h2>Definitions</h2><table>{definitions}</table>
<h2>Examples</h2>{examples}
{_all_utterances(report["utterances"])}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
