"""A self-contained HTML report of an analysis, written for someone who is not an NTA expert.

The page holds the settings of the measurement, the raw and deconvolved size distributions as
embedded PNG images (no external files), a statistics table, the track-length histogram, quality
warnings in plain words and the software version. ``pynta analyze --report OUT.html`` and the
Sizes widget's Report button both call :func:`write_report`.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta import __version__
from napari_pynta.errors import PyntaInputError
from napari_pynta.export import size_bin_edges
from napari_pynta.sample import DILUTION_KEY, SAMPLE_KEYS, SAMPLE_LABELS

#: fewer tracks than this make the shape of a distribution uncertain
FEW_TRACKS = 200
#: short tracks, in steps: below this per-track sizes are very broad
SHORT_TRACK_STEPS = 10

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1d2330;
       max-width: 980px; margin: 24px auto; padding: 0 20px; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 2px; }
h2 { font-size: 19px; margin-top: 30px; border-bottom: 2px solid #dfe4ec; padding-bottom: 4px; }
.sub { color: #5b6475; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.card { flex: 1 1 200px; background: #f3f6fb; border-radius: 8px; padding: 12px 16px; }
.card .value { font-size: 22px; font-weight: 600; color: #1f4e99; }
.card .label { font-size: 13px; color: #5b6475; }
table { border-collapse: collapse; margin: 10px 0; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid #e3e7ee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.settings td { text-align: left; }
th { background: #f3f6fb; }
td.rec, th.rec { background: #eaf1fc; font-weight: 600; }
.warn { background: #fff6e0; border-left: 4px solid #e0a100; padding: 8px 12px; margin: 6px 0; }
.ok { background: #e9f7ee; border-left: 4px solid #2e9d57; padding: 8px 12px; }
.note { color: #5b6475; font-size: 13px; }
img { max-width: 100%; }
footer { margin-top: 36px; color: #7a8294; font-size: 12px; }
"""


def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _sci(value: Any) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    exponent = int(math.floor(math.log10(abs(value)))) if value else 0
    return f"{value / 10**exponent:.2f} × 10<sup>{exponent}</sup>"


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(figure: Any, alt: str) -> str:
    """An ``<img>`` element holding ``figure`` as an embedded PNG."""
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{_png(figure)}'>"


def _size_figure(result) -> Any:
    """Raw per-track histogram with the deconvolved distribution and the log-normal fit."""
    from matplotlib.figure import Figure

    per_track_nm = result.per_track["diameter_nm"].to_numpy(dtype=float)
    sizes = getattr(result, "sizes", None)
    edges = size_bin_edges(per_track_nm, sizes.deconvolved if sizes else None)
    centres = 0.5 * (edges[1:] + edges[:-1])
    raw, _ = np.histogram(per_track_nm[np.isfinite(per_track_nm)], bins=edges)
    figure = Figure(figsize=(8.6, 3.9))
    axes = figure.add_subplot()
    axes.bar(
        centres,
        raw,
        width=np.diff(edges),
        color="#c4cad6",
        edgecolor="white",
        linewidth=0.5,
        label="raw: one size per track",
    )
    if sizes is not None:
        # densities at the grid points, scaled to tracks per histogram bin
        width = edges[1] - edges[0]
        styles: list[tuple[Any, dict[str, Any]]] = [
            (sizes.deconvolved, dict(color="#1f4e99", lw=2.4, label="deconvolved (recommended)")),
            (sizes.lognormal, dict(color="#e07b00", lw=1.6, ls="--", label="log-normal fit")),
        ]
        for distribution, style in styles:
            shown = distribution.diameter_nm <= edges[-1]
            counts = distribution.density_per_nm()[shown] * width * distribution.n_tracks
            axes.plot(distribution.diameter_nm[shown], counts, **style)
            if distribution is sizes.deconvolved:
                axes.fill_between(
                    distribution.diameter_nm[shown], counts, color="#1f4e99", alpha=0.12
                )
    axes.set_xlim(0, edges[-1])
    axes.set_xlabel("hydrodynamic diameter (nm)")
    axes.set_ylabel(f"tracks per {edges[1] - edges[0]:g} nm")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    return figure


def _track_length_figure(result) -> Any:
    from matplotlib.figure import Figure

    steps = result.per_track["n_steps"].to_numpy(dtype=float)
    figure = Figure(figsize=(8.6, 2.8))
    axes = figure.add_subplot()
    if steps.size:
        top = max(float(np.quantile(steps, 0.99)), SHORT_TRACK_STEPS + 1)
        width = max(1, math.ceil(top / 60))  # whole steps per bin: no aliasing spikes
        edges = np.arange(0, top + 2 * width, width) - 0.5
        axes.hist(
            steps[steps <= top],
            bins=edges.tolist(),
            color="#7d93b8",
            edgecolor="white",
            linewidth=0.4,
        )
        axes.axvline(np.median(steps), color="#1d2330", lw=1.2, ls=":")
        axes.text(
            np.median(steps),
            axes.get_ylim()[1] * 0.92,
            f"  median {np.median(steps):.0f}",
            fontsize=9,
        )
    axes.set_xlabel("track length (steps between frames)")
    axes.set_ylabel("tracks")
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def plain_warnings(result) -> list[str]:
    """The analysis warnings plus checks of the size distributions, in plain words."""
    summary = result.summary
    warnings = list(summary.get("warnings") or [])
    n_tracks = int(summary.get("n_tracks") or 0)
    sizes = getattr(result, "sizes", None)
    if 0 < n_tracks < FEW_TRACKS:
        warnings.append(
            f"Only {n_tracks} tracks: the overall size is reliable, but the shape of the "
            f"distribution (widths, small peaks) is uncertain. Record for longer to get at least "
            f"{FEW_TRACKS}."
        )
    if len(result.per_track):
        short = float(np.mean(result.per_track["n_steps"] < SHORT_TRACK_STEPS))
        if short > 0.5:
            warnings.append(
                f"{short:.0%} of the tracks are shorter than {SHORT_TRACK_STEPS} steps. The raw "
                "histogram is therefore much broader than the sample; use the deconvolved one."
            )
    if sizes is not None and not sizes.deconvolved.converged:
        warnings.append(
            "The deconvolution stopped at its iteration limit before settling; "
            "treat the shape of the deconvolved distribution with care."
        )
    deconvolved = summary.get("deconvolved_nm") or {}
    if len(deconvolved.get("peaks") or []) > 1:
        warnings.append(
            "The sample contains more than one population (several peaks). The log-normal fit "
            "assumes a single population and does not describe this sample well."
        )
    concentration = summary.get("concentration") or {}
    if (
        concentration.get("particles_per_ml") is None
        and concentration.get("calibrated_depth_um") is None
    ):
        warnings.append(
            "No concentration in particles/mL: the depth of the detection volume is unknown. "
            "Give it with --depth-um (measure it once with a reference sample of known "
            "concentration)."
        )
    return warnings


def _statistics_table(summary: dict) -> str:
    raw = summary.get("size_nm") or {}
    deconvolved = summary.get("deconvolved_nm") or {}
    fit = summary.get("lognormal_fit_nm") or {}
    rows = [
        ("Mean", "mean"),
        ("Mode", "mode"),
        ("Standard deviation", "sd"),
        ("D10 (10 % are smaller)", "d10"),
        ("D50 (median)", "d50"),
        ("D90 (90 % are smaller)", "d90"),
    ]
    body = []
    for label, key in rows:
        error = deconvolved.get(f"{key}_se")
        recommended = _fmt(deconvolved.get(key), unit=" nm")
        if error is not None and recommended != "–":
            recommended = f"{_fmt(deconvolved.get(key))} ± {_fmt(error, unit=' nm')}"
        body.append(
            f"<tr><td>{label}</td><td>{_fmt(raw.get(key), unit=' nm')}</td>"
            f"<td class='rec'>{recommended}</td>"
            f"<td>{_fmt(fit.get(key), unit=' nm')}</td></tr>"
        )
    body.append(
        f"<tr><td>Span (D90 − D10) / D50</td><td>{_fmt(raw.get('span'), 2)}</td>"
        f"<td class='rec'>{_fmt(deconvolved.get('span'), 2)}</td>"
        f"<td>{_fmt(fit.get('span'), 2)}</td></tr>"
    )
    peak_diameters = deconvolved.get("peaks") or []
    track_shares = deconvolved.get("peak_fractions") or []
    particle_shares = deconvolved.get("peak_number_fractions") or [None] * len(peak_diameters)
    intervals = deconvolved.get("peak_interval_68") or [None] * len(peak_diameters)
    linking = deconvolved.get("peak_depends_on_linking") or [False] * len(peak_diameters)
    peaks = ", ".join(
        f"{_fmt(p, 0)} nm{_interval_text(i)} ({f:.0%}"
        + (f" / {n:.0%})" if n is not None else ")")
        + (" <b>depends on the linking</b>" if flag else "")
        for p, i, f, n, flag in zip(
            peak_diameters, intervals, track_shares, particle_shares, linking, strict=False
        )
    )
    body.append(
        "<tr><td>Peaks (68 % interval: the bootstrap resamples' positions with the systematic "
        "uncertainty added; share of tracks / of particles in view; a peak that the tracks "
        "linked with a narrower search range do not show depends on the linking: see the "
        f"warnings)</td><td>–</td><td class='rec'>{peaks or '–'}</td><td>–</td></tr>"
    )
    body.append(
        f"<tr><td>Tracks</td><td>{raw.get('n', '–')}</td>"
        f"<td class='rec'>{deconvolved.get('n_tracks', '–')}</td>"
        f"<td>{deconvolved.get('n_tracks', '–')}</td></tr>"
    )
    return (
        "<table><tr><th></th><th>Raw (per track)</th><th class='rec'>Deconvolved "
        "(recommended)</th><th>Log-normal fit</th></tr>" + "".join(body) + "</table>"
    )


def _interval_text(interval: list | None) -> str:
    """`` [105–135]``: a peak's 68 % interval (nm), empty when unknown."""
    if not interval or any(bound is None for bound in interval):
        return ""
    return f" [{_fmt(interval[0], 0)}–{_fmt(interval[1], 0)}]"


def _settings_table(summary: dict, frame_shape) -> str:
    params = summary.get("params") or {}
    exposure = params.get("exposure_s")
    interval = params.get("frame_interval_s")
    sample = summary.get("sample") or {}
    rows = [
        *(
            (
                SAMPLE_LABELS[key],
                html.escape(f"{sample[key]:g}" if key == DILUTION_KEY else sample[key]),
            )
            for key in SAMPLE_KEYS
            if sample.get(key) is not None
        ),
        ("Movie", html.escape(str(summary.get("source") or "–"))),
        *_recording_rows(summary),
        (
            "Frames analysed",
            f"{summary.get('n_frames', '–')}"
            + (f" of {frame_shape[1]} × {frame_shape[0]} pixels" if frame_shape else ""),
        ),
        ("Pixel size", _fmt(params.get("pixel_size_um"), 3, " µm")),
        ("Time between frames", _fmt(None if interval is None else 1000 * interval, 2, " ms")),
        ("Exposure time", _fmt(None if exposure is None else 1000 * exposure, 2, " ms")),
        ("Temperature", _fmt(params.get("temperature_c"), 1, " °C")),
        (
            "Viscosity",
            _fmt(
                None if params.get("viscosity_pa_s") is None else 1000 * params["viscosity_pa_s"],
                4,
                " mPa·s",
            )
            + f" ({html.escape(str(params.get('solvent') or ''))})",
        ),
        (
            "Detection",
            f"{html.escape(str(params.get('engine')))}, feature diameter "
            f"{params.get('diameter_px')} px, minimum brightness {_fmt(params.get('minmass'), 0)}",
        ),
        (
            "Linking",
            f"search range {_fmt(params.get('search_range_px'), 1)} px, memory "
            f"{params.get('memory')} frames, tracks of at least {params.get('min_track_length')} "
            "frames",
        ),
        (
            "Localization error (typical)",
            _fmt(
                None
                if summary.get("localization_error_um") is None
                else 1000 * summary["localization_error_um"],
                0,
                " nm",
            ),
        ),
    ]
    return (
        "<table class='settings'>"
        + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _recording_rows(summary: dict) -> list[tuple[str, str]]:
    """Date, camera, gain and frame rate of the recording (rows of the settings table)."""
    recording = summary.get("recording") or {}
    interval = (summary.get("params") or {}).get("frame_interval_s")
    rows = [
        ("Recorded", html.escape(str(recording.get("start_time") or "–"))),
        ("Camera", html.escape(str(recording.get("camera") or "–"))),
        ("Camera gain", _fmt(recording.get("gain"), 2)),
    ]
    rows.append(("Frame rate", _fmt(None if not interval else 1.0 / interval, 1, " frames/s")))
    return rows


def _lab_figures_html(results: list) -> str:
    """Concentration vs size, size vs intensity and particles per frame over time."""
    from napari_pynta import report_figures

    sized = [result for result in results if len(result.per_track)]
    if not sized:
        return ""
    return f"""<h2>Concentration by size</h2>
{_img(report_figures.concentration_size_figure(sized), "concentration against size")}
<p class="note">The deconvolved distribution spread over the concentration of the undiluted sample
(measured concentration × dilution factor), per nm of diameter; without a detection depth, the
fraction of particles per nm. Replicate captures are drawn separately with their mean ± standard
error.</p>
<h2>Size and brightness</h2>
{_img(report_figures.size_intensity_figure(sized), "size against intensity")}
<p class="note">One dot per track. Particles of one material scatter more light the larger they
are; a cloud off that trend is a second material (or aggregates).</p>
<h2>Particles per frame over time</h2>
{_img(report_figures.particles_over_time_figure(results), "particles per frame over time")}
<p class="note">A steady count means a stable sample and field of view; a trend means drift,
sedimentation or a flow, jumps mean bubbles or debris passing.</p>"""


def _concentration_html(summary: dict) -> str:
    entry = summary.get("concentration") or {}
    per_frame = (
        f"{_fmt(entry.get('particles_per_frame'), 1)} ± "
        f"{_fmt(entry.get('particles_per_frame_sem'), 1)}"
    )
    if entry.get("particles_in_view_per_frame") is not None:
        per_frame += (
            f" found, {_fmt(entry['particles_in_view_per_frame'], 1)} ± "
            f"{_fmt(entry['particles_in_view_per_frame_sem'], 1)} in view (with the "
            f"{_fmt(100 * entry['hidden_by_neighbours'], 1)} % hidden by a closer neighbour)"
        )
    calibration = ""
    if entry.get("calibrated_depth_um") is not None:
        calibration = (
            f"<p>This movie is a reference of {_sci(entry['reference_particles_per_ml'])} "
            f"particles/mL: the detection volume is <b>{_fmt(entry['calibrated_depth_um'], 2)} ± "
            f"{_fmt(entry['calibrated_depth_sem_um'], 2)} µm</b> deep. Use this depth "
            "(--depth-um) for samples measured with the same optics and settings.</p>"
        )
    if entry.get("particles_per_ml") is None:
        return (
            f"<p>Particles seen per frame: <b>{per_frame}</b>. No concentration in "
            "particles/mL was computed because the depth of the detection volume was not "
            "given.</p>" + calibration
        )
    return calibration + (
        f"<p>Concentration: <b>{_sci(entry['particles_per_ml'])} ± "
        f"{_sci(entry['particles_per_ml_sem'])} particles/mL</b> "
        f"({per_frame} particles per frame in a detection volume of "
        f"{_sci(entry['detection_volume_ml'])} mL, depth {_fmt(entry['depth_um'], 2)} µm)."
        "</p><p class='note'>The ± is one standard uncertainty from the counting statistics "
        "(frames are correlated, so blocks of frames are compared) and the depth.</p>"
    )


def _cards(summary: dict) -> str:
    deconvolved = summary.get("deconvolved_nm") or {}
    peaks = deconvolved.get("peaks") or []
    entry = summary.get("concentration") or {}
    cards = [
        (
            " / ".join(f"{p:.0f} nm" for p in sorted(peaks)) or "–",
            "size of each population (peaks)",
        ),
        (_fmt(deconvolved.get("d50"), 0, " nm"), "median size (D50)"),
        (
            _sci(entry["particles_per_ml"]) + " /mL"
            if entry.get("particles_per_ml")
            else _fmt(entry.get("particles_per_frame"), 1) + " per frame",
            "particle concentration",
        ),
        (f"{summary.get('n_tracks', 0):,}", "tracks measured"),
    ]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='value'>{v}</div><div class='label'>{label}</div></div>"
            for v, label in cards
        )
        + "</div>"
    )


def render_report(result) -> str:
    """The report of an analysis as one self-contained HTML page.

    Parameters
    ----------
    result : AnalysisResult
        Output of ``analysis.analyze`` (uses ``summary``, ``per_track`` and ``sizes``).

    Returns
    -------
    str
        HTML with inline CSS and base64-embedded PNG figures.
    """
    for name in ("summary", "per_track"):
        if not hasattr(result, name):
            raise PyntaInputError(f"result must be an AnalysisResult (it has no {name!r})")
    summary = result.summary
    warnings = plain_warnings(result)
    warnings_html = (
        "".join(f"<div class='warn'>{html.escape(w)}</div>" for w in warnings)
        if warnings
        else "<div class='ok'>No problems found.</div>"
    )
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    version = html.escape(str(summary.get("software_version") or __version__))
    source = html.escape(str(summary.get("source") or "movie"))
    size_section = "<p>No tracks were long enough to size.</p>"
    if len(result.per_track):
        size_section = (
            f"{_img(_size_figure(result), 'size distribution')}"
            "<p class='note'>Grey bars: each track's own size. Short tracks make this raw "
            "histogram broader than the sample really is, and shift it. Blue: the distribution "
            "corrected for track length (deconvolved, Walker's method) — the best estimate of "
            "the sample. Orange dashes: the single log-normal population that fits the tracks "
            "best.</p>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Particle size report – {source}</title><style>{_STYLE}</style></head>
<body>
<h1>Nanoparticle size report</h1>
<p class="sub">{source} · analysed {created} · napari-pynta {version}</p>
{_cards(summary)}
<h2>Size distribution</h2>
{size_section}
<h2>Statistics</h2>
{_statistics_table(summary)}
<p class="note">Sizes are hydrodynamic diameters from Brownian motion (Stokes–Einstein). Every
track counts once. The ensemble diameter from all steps together is
{_fmt(summary.get("diameter_nm"), 1, " nm")} ± {_fmt(summary.get("diameter_se_nm"), 1, " nm")}
(jackknife over tracks) ± {_fmt(summary.get("diameter_systematic_nm"), 1, " nm")} (systematic:
disagreement of the estimators, drift, detection threshold, linking).</p>
<h2>Concentration</h2>
{_concentration_html(summary)}
{_lab_figures_html([result])}
<h2>Quality checks</h2>
{warnings_html}
<h2>Track lengths</h2>
{_img(_track_length_figure(result), "track length histogram")}
<p class="note">Longer tracks give more precise sizes. The deconvolution accounts for the length of
every track.</p>
<h2>Sample and settings</h2>
{_settings_table(summary, getattr(result, "frame_shape", None))}
<footer>napari-pynta {version}. Methods: covariance estimator of the diffusion coefficient
(Vestergaard, Blainey &amp; Flyvbjerg 2014); track-length deconvolution by expectation-maximisation
(Walker 2012) with motion blur and localization noise in the model; water viscosity IAPWS 2008.
</footer>
</body></html>
"""


# ------------------------------------------------------------------ replicate captures
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


def _cell(value: Any, template: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return template.format(value)


def replicate_rows(results: list, combined: dict) -> list[list[str]]:
    """The replicate table as text: a heading row, one row per capture, then mean ± SE."""
    rows = [["Capture", "Tracks", *(heading for _, heading, _, _ in _REPLICATE_COLUMNS)]]
    for index, result in enumerate(results):
        summary = result.summary
        rows.append(
            [
                f"{index + 1}: {Path(str(summary.get('source') or '')).name}",
                str(summary.get("n_tracks", "–")),
                *(_cell(read(summary), fmt) for _, _, read, fmt in _REPLICATE_COLUMNS),
            ]
        )
    rows.append(
        [
            f"mean ± SE (n = {combined['n_captures']})",
            "",
            *(
                f"{_cell(combined[key]['mean'], fmt)} ± {_cell(combined[key]['se'], fmt)}"
                for key, _, _, fmt in _REPLICATE_COLUMNS
            ),
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
        entry = combined[key]
        if entry["mean"] is None:
            return "–"
        return f"{_cell(entry['mean'], fmt)} ± {_cell(entry['se'], fmt)}{unit}"

    concentration = combined["concentration_per_ml"]
    cards = [
        (mean_se("d50_nm", "{:.0f}", " nm"), "median size D50 (mean ± SE)"),
        (mean_se("mode_nm", "{:.0f}", " nm"), "mode (mean ± SE)"),
        (
            f"{_sci(concentration['mean'])} ± {_sci(concentration['se'])} /mL"
            if concentration["mean"] is not None
            else mean_se("particles_per_frame", "{:.1f}", " per frame"),
            "concentration of the sample" if concentration["mean"] is not None else "particles",
        ),
        (str(combined["n_captures"]), "captures"),
    ]
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='value'>{v}</div><div class='label'>{label}</div></div>"
            for v, label in cards
        )
        + "</div>"
    )


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
    warnings = [f"Combined: {warning}" for warning in combined.get("warnings") or []] + [
        f"Capture {index + 1}: {warning}"
        for index, result in enumerate(results)
        for warning in plain_warnings(result)
    ]
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
{_lab_figures_html(results)}
<h2>Quality checks</h2>
{warnings_html}
<h2>Sample and settings</h2>
{_settings_table(first, getattr(results[0], "frame_shape", None))}
<footer>napari-pynta {version}. Methods: covariance estimator of the diffusion coefficient
(Vestergaard, Blainey &amp; Flyvbjerg 2014); track-length deconvolution by expectation-maximisation
(Walker 2012) with motion blur and localization noise in the model; water viscosity IAPWS 2008;
replicates combined as mean ± standard error.</footer>
</body></html>
"""


# ------------------------------------------------------------------ PDF
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
        f"frames, {summary.get('n_frames')} frames analysed",
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
        raise PyntaInputError(f"--report: the folder {str(path.parent)!r} does not exist")
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
    figures = [_text_page(title, _plain_settings(first), table)]
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
        raise PyntaInputError(f"--report: cannot write {str(path)!r}: {error}") from None
    return path


def write_measurement_report(results: list, combined: dict, path: str | Path) -> Path:
    """Write :func:`render_measurement_report` to an ``.html`` file and return its path."""
    path = check_report_path(path)
    try:
        path.write_text(render_measurement_report(results, combined), encoding="utf-8")
    except OSError as error:
        raise PyntaInputError(f"--report: cannot write {str(path)!r}: {error}") from None
    return path


def check_report_path(path: str | Path) -> Path:
    """Raise :class:`PyntaInputError` unless ``path`` is an ``.html`` file in an existing folder.

    Front ends call this before a long analysis so that a typo does not waste it.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise PyntaInputError(f"--report must name an .html file, got {str(path)!r}")
    if not path.parent.is_dir():
        raise PyntaInputError(f"--report: the folder {str(path.parent)!r} does not exist")
    return path


def write_report(result, path: str | Path) -> Path:
    """Write the HTML report of an analysis.

    Parameters
    ----------
    result : AnalysisResult
        Output of ``analysis.analyze``.
    path : str or Path
        The ``.html`` file to write (its folder must exist).

    Returns
    -------
    Path
        The file written.
    """
    path = check_report_path(path)
    try:
        path.write_text(render_report(result), encoding="utf-8")
    except OSError as error:
        raise PyntaInputError(f"--report: cannot write {str(path)!r}: {error}") from None
    return path
