"""The HTML page of one analysis: cards, size and track-length figures, statistics, quality warnings
in plain words, settings."""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from napari_pynta import __version__
from napari_pynta.errors import PyntaInputError
from napari_pynta.export import size_bin_edges
from napari_pynta.frame_range import frames_analysed
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
            frames_analysed(summary)
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
    return _cards_html(cards)


def _cards_html(cards: list[tuple[str, str]]) -> str:
    """A row of headline cards, each a value (HTML) above its label."""
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
