"""The HTML page of replicate captures of one sample: the replicate table (mean ± SE) and the lab
figures."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from napari_pynta import __version__
from napari_pynta.errors import PyntaInputError
from napari_pynta.pooled import describe_pooled
from napari_pynta.report.analysis_page import (
    _STYLE,
    _cards_html,
    _img,
    _lab_figures_html,
    _sci,
    _settings_table,
    plain_warnings,
)

#: columns of the replicate table: (combined key, heading, how to read one capture's summary,
#: format)
_REPLICATE_COLUMNS = (
    ("d10_nm", "D10 (nm)", lambda s: (s.get("deconvolved_nm") or {}).get("d10"), "{:.1f}"),
    ("d50_nm", "D50 (nm)", lambda s: (s.get("deconvolved_nm") or {}).get("d50"), "{:.1f}"),
    ("d90_nm", "D90 (nm)", lambda s: (s.get("deconvolved_nm") or {}).get("d90"), "{:.1f}"),
    ("mode_nm", "Mode (nm)", lambda s: (s.get("deconvolved_nm") or {}).get("mode"), "{:.1f}"),
    ("ensemble_diameter_nm", "Ensemble (nm)", lambda s: s.get("diameter_nm"), "{:.1f}"),
    ("particles_per_frame", "Particles/frame", lambda s: s.get("particles_per_frame"), "{:.2f}"),
    (
        "concentration_per_ml",
        "Particles/mL (× dilution)",
        lambda s: (s.get("concentration") or {}).get("sample_particles_per_ml"),
        "{:.3g}",
    ),
)


def capture_name(summary: dict) -> str:
    """The file name of a capture's movie, as the replicate table names it."""
    return Path(str(summary.get("source") or "")).name


def _cell(value: Any, template: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return template.format(value)


def _mean_se_cell(entry: dict, template: str) -> str:
    """``mean ± se``; one dash when no capture has the quantity (it read "– ± –")."""
    if _cell(entry["mean"], template) == "–":
        return "–"
    return f"{_cell(entry['mean'], template)} ± {_cell(entry['se'], template)}"


def replicate_rows(results: list, combined: dict) -> list[list[str]]:
    """The replicate table as text: a heading row, one row per capture, then mean ± SE."""
    rows = [["Capture", "Tracks", *(heading for _, heading, _, _ in _REPLICATE_COLUMNS)]]
    left_out = {entry["capture"] for entry in combined["left_out"]}
    for index, result in enumerate(results):
        summary = result.summary
        rows.append(
            [
                f"{index + 1}: {capture_name(summary)}"
                + (" (left out: no track sized)" if index + 1 in left_out else ""),
                str(summary.get("n_tracks", "–")),
                *(_cell(read(summary), fmt) for _, _, read, fmt in _REPLICATE_COLUMNS),
            ]
        )
    rows.append(
        [
            f"mean ± SE (n = {combined['n_combined']})",
            "",
            *(_mean_se_cell(combined[key], fmt) for key, _, _, fmt in _REPLICATE_COLUMNS),
        ]
    )
    return rows


def _replicate_table_html(results: list, combined: dict) -> str:
    rows = replicate_rows(results, combined)
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows[1:-1]
    )
    body += "<tr>" + "".join(f"<td class='rec'>{html.escape(c)}</td>" for c in rows[-1]) + "</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _measurement_cards(combined: dict) -> str:
    def mean_se(key: str, fmt: str, unit: str) -> str:
        cell = _mean_se_cell(combined[key], fmt)
        return cell if cell == "–" else cell + unit

    concentration = combined["concentration_per_ml"]
    n_captures, n_combined = combined["n_captures"], combined["n_combined"]
    cards = [
        # one decimal, as in the replicate table: the SE of agreeing captures is often below
        # half a nanometre, which whole nanometres showed as "± 0"
        (mean_se("d50_nm", "{:.1f}", " nm"), "median size D50 (mean ± SE)"),
        (mean_se("mode_nm", "{:.1f}", " nm"), "mode (mean ± SE)"),
        (
            f"{_sci(concentration['mean'])} ± {_sci(concentration['se'])} /mL"
            if concentration["mean"] is not None
            else mean_se("particles_per_frame", "{:.1f}", " per frame"),
            "concentration of the sample" if concentration["mean"] is not None else "particles",
        ),
        (
            str(n_captures)
            if n_combined == n_captures
            else f"{n_combined} of {n_captures}",  # the others sized no track: left out
            "captures combined",
        ),
    ]
    return _cards_html(cards)


def _pooled_html(pooled: dict | None) -> str:
    """The captures' tracks sized together (:func:`napari_pynta.pooled.describe_pooled`)."""
    lines = describe_pooled(pooled)
    if not lines:
        return ""
    first, *warnings = lines
    return (
        "<h2>All tracks together</h2>"
        f"<p>{html.escape(first)}</p>"
        + "".join(f"<div class='warn'>{html.escape(w)}</div>" for w in warnings)
        + "<p class='note'>The peaks of a mixture need tracks: the tracks of every capture are "
        "linked and sized as one movie, and its peaks tested against one population with all "
        "of them. The mean ± SE above averages what each capture gave on its own.</p>"
    )


def capture_warnings(results: list) -> list[str]:
    """Every capture's quality warnings, each said once with the captures it applies to.

    The same warning of several captures (no detection depth: "No concentration...") was said
    once per capture.

    Parameters
    ----------
    results : list of AnalysisResult
        One analysis per capture, in capture order.

    Returns
    -------
    list of str
        ``"Capture 2: ..."``, ``"Captures 1, 2 and 3: ..."``, in the order first said.
    """
    captures: dict[str, list[int]] = {}
    for number, result in enumerate(results, 1):
        for warning in plain_warnings(result):
            numbers = captures.setdefault(warning, [])
            if number not in numbers:
                numbers.append(number)
    return [f"{_captures_named(numbers)}: {warning}" for warning, numbers in captures.items()]


def _captures_named(numbers: list[int]) -> str:
    """``[2]`` -> "Capture 2", ``[1, 2, 3]`` -> "Captures 1, 2 and 3"."""
    if len(numbers) == 1:
        return f"Capture {numbers[0]}"
    return f"Captures {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"


def render_measurement_report(results: list, combined: dict) -> str:
    """The report of replicate captures of one sample as one self-contained HTML page.

    Parameters
    ----------
    results : list of AnalysisResult
        One analysis per capture (with ``sample`` and ``recording`` in their summaries).
    combined : dict
        :func:`napari_pynta.combine.combine_summaries` of their summaries.

    Returns
    -------
    str
        HTML: headline mean ± SE, sample and recording, replicate table with error-bar figure,
        the peaks of all the tracks together (``combined["pooled"]``, when there),
        concentration by size (mean ± SE band), size vs brightness, particles per frame over
        time, every capture's quality warnings.
    """
    from napari_pynta import report_figures

    if not results:
        raise PyntaInputError("a measurement report needs at least one analysed capture")
    first = results[0].summary
    sample = combined.get("sample") or {}
    title = html.escape(str(sample.get("sample_name") or first.get("source") or "sample"))
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    version = html.escape(str(first.get("software_version") or __version__))
    warnings = [f"Combined: {warning}" for warning in combined.get("warnings") or []]
    warnings += capture_warnings(results)
    warnings_html = (
        "".join(f"<div class='warn'>{html.escape(w)}</div>" for w in warnings)
        if warnings
        else "<div class='ok'>No problems found.</div>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Measurement report – {title}</title><style>{_STYLE}</style></head>
<body>
<h1>Nanoparticle measurement report</h1>
<p class="sub">{title} · {combined["n_captures"]} captures · analysed {created} · napari-pynta
{version}</p>
{_measurement_cards(combined)}
<h2>Replicate captures</h2>
{_replicate_table_html(results, combined)}
{_img(report_figures.replicate_figure(results, combined), "replicates with error bars")}
<p class="note">Deconvolved statistics of each capture (dots) and their mean (bars) ± standard
error (SD across captures / √n), the numbers to quote. The standard error contains the
capture-to-capture scatter: different particles in view, drift of the instrument.</p>
{_pooled_html(combined.get("pooled"))}
{_lab_figures_html(results)}
<h2>Quality checks</h2>
{warnings_html}
<h2>Sample and settings of capture 1 ({html.escape(capture_name(first))})</h2>
{_settings_table(first, getattr(results[0], "frame_shape", None))}
<footer>napari-pynta {version}. Methods: covariance estimator of the diffusion coefficient
(Vestergaard, Blainey &amp; Flyvbjerg 2014); track-length deconvolution by expectation-maximisation
(Walker 2012) with motion blur and localization noise in the model; water viscosity IAPWS 2008;
replicates combined as mean ± standard error.</footer>
</body></html>
"""
