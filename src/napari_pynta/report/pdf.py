"""The report as a PDF: a first page of settings and statistics (or the replicate table), then one
figure per page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_pynta.errors import PyntaInputError
from napari_pynta.frame_range import frames_analysed
from napari_pynta.pooled import describe_pooled
from napari_pynta.report.analysis_page import _fmt, _size_figure
from napari_pynta.report.measurement_page import _cell, capture_name, replicate_rows
from napari_pynta.sample import DILUTION_KEY, SAMPLE_KEYS, SAMPLE_LABELS


def _text_page(title: str, lines: list[str], table: list[list[str]] | None) -> Any:
    """A PDF page (A4 landscape) with a title, lines of text and an optional table."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11.69, 8.27))
    figure.text(0.05, 0.94, title, fontsize=18, weight="bold")
    for row, line in enumerate(lines):
        figure.text(0.05, 0.88 - 0.032 * row, line, fontsize=10)
    if table:
        axes = figure.add_axes((0.05, 0.05, 0.9, max(0.1, 0.84 - 0.032 * len(lines) - 0.06)))
        axes.axis("off")
        drawn = axes.table(cellText=table[1:], colLabels=table[0], loc="upper left")
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(8)
        drawn.auto_set_column_width(list(range(len(table[0]))))
        drawn.scale(1.0, 1.4)
    return figure


def first_page_lines(summary: dict, combined: dict | None = None) -> list[str]:
    """The text lines of the PDF's first page: the settings of ``summary`` (the first
    capture's) and, for captures combined, the line of all their tracks sized together
    (the first of :func:`napari_pynta.pooled.describe_pooled`; the HTML report lists its
    warnings).

    Parameters
    ----------
    summary : dict
        One analysis summary.
    combined : dict, optional
        The captures combined, with its ``pooled`` entry.

    Returns
    -------
    list of str
    """
    if combined is None:
        return _plain_settings(summary)
    whose = (
        f"Settings of capture 1 ({capture_name(summary)}); the table gives every capture's sizes"
    )
    return [whose, *_plain_settings(summary), *describe_pooled(combined.get("pooled"))[:1]]


def _plain_settings(summary: dict) -> list[str]:
    """Sample, recording and analysis settings as text lines for the PDF."""
    sample = summary.get("sample") or {}
    recording = summary.get("recording") or {}
    params = summary.get("params") or {}
    interval = params.get("frame_interval_s")
    exposure = params.get("exposure_s")
    viscosity = params.get("viscosity_pa_s")
    lines = [
        f"{SAMPLE_LABELS[key]}: {sample[key]:g}"
        if key == DILUTION_KEY
        else f"{SAMPLE_LABELS[key]}: {sample[key]}"
        for key in SAMPLE_KEYS
        if sample.get(key) is not None
    ]
    lines += [
        f"Recorded: {recording.get('start_time') or '–'} · camera {recording.get('camera') or '–'}"
        f" · gain {_fmt(recording.get('gain'), 2)}",
        f"Frame rate {_fmt(None if not interval else 1 / interval, 1)} frames/s · exposure "
        f"{_fmt(None if exposure is None else 1000 * exposure, 2)} ms · pixel "
        f"{_fmt(params.get('pixel_size_um'), 3)} µm · {_fmt(params.get('temperature_c'), 1)} °C · "
        f"viscosity {_fmt(None if viscosity is None else 1000 * viscosity, 4)} mPa·s",
        f"Detection {params.get('engine')}, minmass {_fmt(params.get('minmass'), 0)}, max jump "
        f"{_fmt(params.get('search_range_px'), 1)} px, tracks ≥ {params.get('min_track_length')} "
        f"frames, frames analysed: {frames_analysed(summary)}",
    ]
    return lines


def write_pdf_report(results: list, path: str | Path, combined: dict | None = None) -> Path:
    """Write the report as a PDF (first page: sample, settings and the statistics or replicate
    table; then one figure per page).

    Parameters
    ----------
    results : list of AnalysisResult
        One analysis, or the captures of a measurement.
    path : str or Path
        The ``.pdf`` file (its folder must exist).
    combined : dict, optional
        The captures combined (:func:`napari_pynta.combine.combine_summaries`): adds the
        replicate table and figure.

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from napari_pynta import report_figures

    path = Path(path)
    if not path.parent.is_dir():
        raise PyntaInputError(f"report: the folder {str(path.parent)!r} does not exist", "report")
    first = results[0].summary
    sample = first.get("sample") or {}
    name = sample.get("sample_name") or Path(str(first.get("source") or "movie")).name
    if combined is not None:
        title = f"Nanoparticle measurement report – {name}"
        table = replicate_rows(results, combined)
    else:
        title = f"Nanoparticle size report – {name}"
        deconvolved = first.get("deconvolved_nm") or {}
        table = [
            ["Statistic (deconvolved)", "Value"],
            *[
                [label, _cell(deconvolved.get(key), "{:.1f} nm")]
                for label, key in (("Mean", "mean"), ("Mode", "mode"), ("SD", "sd"))
                + (("D10", "d10"), ("D50", "d50"), ("D90", "d90"))
            ],
            ["Tracks", str(first.get("n_tracks"))],
            ["Particles per frame", _cell(first.get("particles_per_frame"), "{:.2f}")],
            [
                "Particles/mL (× dilution)",
                _cell((first.get("concentration") or {}).get("sample_particles_per_ml"), "{:.3g}"),
            ],
        ]
    sized = [result for result in results if len(result.per_track)]
    figures = [_text_page(title, first_page_lines(first, combined), table)]
    if combined is not None:
        figures.append(report_figures.replicate_figure(results, combined))
    else:
        figures += [_size_figure(result) for result in sized]
    if sized:
        figures += [
            report_figures.concentration_size_figure(sized),
            report_figures.size_intensity_figure(sized),
        ]
    figures.append(report_figures.particles_over_time_figure(results))
    try:
        with PdfPages(path) as pdf:
            for figure in figures:
                pdf.savefig(figure, bbox_inches="tight")
    except OSError as error:
        raise PyntaInputError(f"report: cannot write {str(path)!r}: {error}", "report") from None
    return path
