"""Accuracy of sizes, fractions and counts against simulated truth (issue 11).

Simulates movies with :mod:`napari_pynta.simulate`, analyses them with the default analysis
(automatic ``minmass`` and search range; detection engine ``--engine``) and prints, per case and
seed, the errors of the ensemble diameter, the deconvolved D50 and peaks, the fraction of the small
population of mixtures, the particles per frame, the warnings given, and plain trackpy (the same
localizations linked by ``trackpy.link``, ensemble MSD fitted through the origin over lags 1-10,
no blur or noise correction) beside it. A summary table averages over the seeds.

Two acquisition settings:

- ``nta``: 30 fps, 0.166 µm pixels, full-frame exposure (a NanoSight-like camera);
- ``fast``: 200 fps, 0.1 µm pixels, full-frame exposure.

Brightness: ``d2`` gives photons ∝ d² (4000 photons at 100 nm), ``d6`` Rayleigh scattering ∝ d⁶
with the camera level set for the brightest population (at most :data:`MAX_PHOTONS`), so that
the small particles of a d⁶ mixture are dim, as on a real instrument.

Two scenes (``--scene``): ``default``, the simulator's hard-edged focal layer (±2 µm, every
particle in it at full brightness), and ``realistic``, h28-wrong's "held-out-like" scene
(:data:`REALISTIC_SCENE`: a Gaussian illumination profile in depth with defocus in a deep box,
particles fade in and out), with :data:`REALISTIC_D2_PHOTONS_AT_100NM` in place of the d² level
and :data:`REALISTIC_DENSITY` of the particles, so that about as many are in view. The extra
cases (short tracks, correlated steps, flow, defocus + compression) are of the default scene.
With the profile, the truth for fractions and particles per frame counts the particles in view
as the independent simulator does (:func:`in_view_above_noise`), not every particle lit above
the simulator's floor (5 %).

Stated uncertainty: per run, the ensemble diameter's error against the analysis' own
``diameter_se_nm`` (statistical), ``diameter_systematic_nm`` and ``diameter_uncertainty_nm``
(their quadrature sum), and whether it covers the error once and twice (the uncertainty table
at the end); an error beyond twice the stated total without a warning is a silent wrong answer.

Truth for fractions: the small population's share of the true tracks (a particle's stays in
the detectable field, cut where it is absent for more than ``memory`` frames, of at least
``min_track_length`` frames), against the reported ``peak_fractions``; and its share of the
particles in view (frame by frame, detectable field), against ``peak_number_fractions``.

Peak positions: each reported peak's 68 % interval (``peak_interval_68``: the bootstrap
resamples' positions, with one peak also the systematic part) is checked against the true size
nearest to it, in runs with as many peaks as sizes (the coverage table at the end).

Run: ``python benchmarks/bench_accuracy.py [--quick] [--seeds N] [--only TEXT ...] [--json F]
[--scene realistic]``.
``--quick`` runs one seed of shorter movies at the NTA setting only (a few minutes on a loaded
2-core machine); the full sweep takes about an hour there.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

import independent_movies as independent  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from napari_pynta import analysis, physics, simulate  # noqa: E402
from napari_pynta.readers import Movie  # noqa: E402

#: photons of the brightest population of a d⁶ movie (peak about 22 000 ADU: no saturation)
MAX_PHOTONS = 200_000.0
D2_PHOTONS_AT_100NM = 4000.0
#: h28-wrong's "held-out-like" settings (``track_breaks.py --setting``): a Gaussian light sheet of
#: σ 3 µm, the PSF √2 wider 2 µm from focus, a 20 µm deep box (the independent simulator's scene)
REALISTIC_SCENE = {"illumination_sigma_um": 3.0, "depth_um": 20.0, "defocus_um": 2.0}
#: d² level of the realistic scene: 50 nm at 8500 photons, ≈ 90 noise SDs in focus, as the
#: held-out-like row and the independent simulator's 50 nm (the default's 4000 gives 10.6 SDs)
REALISTIC_D2_PHOTONS_AT_100NM = 34_000.0
#: particles per focal-layer volume against the default scene: the held-out-like 12 of 30, as
#: the profile shows 50 nm to about ±5 µm where the hard layer shows ±2 µm
REALISTIC_DENSITY = 0.4
SCENES = ("default", "realistic")
SINGLE_SIZES_NM = (30, 50, 100, 200, 400, 1000)
#: (label, [(diameter, fraction), ...])
MIXTURES = (
    ("80+200", ((80.0, 1.0), (200.0, 1.0))),
    ("100+150", ((100.0, 1.0), (150.0, 1.0))),
    ("50+100", ((50.0, 1.0), (100.0, 1.0))),
    ("100+300 3:1", ((100.0, 3.0), (300.0, 1.0))),
)
#: plain-trackpy MSD fit lags
TRACKPY_MAX_LAG = 10


@dataclass(frozen=True)
class Setting:
    name: str
    pixel_size_um: float
    fps: float
    n_particles: int
    frames_full: int
    frames_quick: int


SETTINGS = {
    "nta": Setting("nta", 0.166, 30.0, 30, 900, 300),
    "fast": Setting("fast", 0.1, 200.0, 25, 1500, 500),
}


@dataclass
class Case:
    name: str
    setting: Setting
    populations: tuple[tuple[float, float], ...]
    exponent: float = 2.0
    extra: dict = field(default_factory=dict)
    scene: str = "default"

    def settings(self, seed: int) -> simulate.SimulationSettings:
        realistic = self.scene == "realistic"
        largest = max(d for d, _ in self.populations)
        # camera level set for the brightest particles; d² movies keep their fixed level below it
        brightness = MAX_PHOTONS / (largest / 100.0) ** self.exponent
        if self.exponent == 2.0:
            d2_level = REALISTIC_D2_PHOTONS_AT_100NM if realistic else D2_PHOTONS_AT_100NM
            brightness = min(brightness, d2_level)
        settings = simulate.SimulationSettings(
            shape=(256, 256),
            n_particles=self.setting.n_particles,
            populations=tuple(simulate.Population(d, f) for d, f in self.populations),
            pixel_size_um=self.setting.pixel_size_um,
            frame_interval_s=1.0 / self.setting.fps,
            brightness_at_100nm=brightness,
            brightness_exponent=self.exponent,
            seed=seed,
            **self.extra,
        )
        if not realistic:
            return settings
        n_particles = max(1, round(REALISTIC_DENSITY * self.setting.n_particles))
        return replace(settings, n_particles=n_particles, **REALISTIC_SCENE)


def build_cases(setting_names: list[str], scene: str = "default") -> list[Case]:
    """The sweep's cases at each setting named, in ``scene`` (one of :data:`SCENES`); the extra
    cases of the default scene only."""
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {SCENES}, got {scene!r}")
    cases = []
    for name in setting_names:
        setting = SETTINGS[name]
        cases += [
            Case(f"{d} nm", setting, ((float(d), 1.0),), scene=scene) for d in SINGLE_SIZES_NM
        ]
        for exponent in (2.0, 6.0):
            cases += [
                Case(f"{label} d{exponent:.0f}", setting, pops, exponent, scene=scene)
                for label, pops in MIXTURES
            ]
    if scene != "default":
        return cases
    nta = SETTINGS["nta"]
    cases += [
        Case("100 nm short tracks", nta, ((100.0, 1.0),), extra={"focal_depth_um": 1.5}),
        Case(
            "100 nm correlated steps",
            nta,
            ((100.0, 1.0),),
            extra={"correlated_motion_um_s": 10.0, "correlation_time_s": 2.0 / nta.fps},
        ),
        Case("100 nm flow 5 µm/s", nta, ((100.0, 1.0),), extra={"drift_um_s": (5.0, 2.0)}),
        Case(
            "200 nm defocus+compression d6",
            nta,
            ((200.0, 1.0),),
            6.0,
            extra={"defocus_um": 1.5, "compression_step_adu": 6.0},
        ),
    ]
    return cases


def in_view_above_noise(truth: pd.DataFrame, settings: simulate.SimulationSettings) -> pd.DataFrame:
    """The rows of ``truth`` whose expected peak pixel signal (brightness, illumination and PSF
    width at their depth, no blur) is at least :data:`independent_movies.IN_VIEW_SNR` background
    noise SDs: the held-out simulator's particles in view, for a movie of ours with an
    illumination profile (whose truth lists particles down to a fraction of full light)."""
    z_um = truth["z_um"].to_numpy()
    photons = (
        settings.brightness_at_100nm
        * (truth["diameter_nm"].to_numpy() / 100.0) ** settings.brightness_exponent
        * settings.illumination(z_um)
    )
    widening = 1.0 if settings.defocus_um is None else 1.0 + (z_um / settings.defocus_um) ** 2
    peak = photons / (2 * math.pi * settings.psf_sigma_px**2 * widening)
    noise = math.sqrt(settings.background + settings.read_noise**2)
    return truth[peak >= independent.IN_VIEW_SNR * noise].reset_index(drop=True)


def plain_trackpy_diameter_nm(result: analysis.AnalysisResult, metadata: dict) -> float:
    """Plain trackpy: link the same localizations, fit the ensemble MSD through the origin."""
    import trackpy

    trackpy.quiet()
    params = result.params
    if result.localizations.empty:
        return math.nan
    columns = ["frame", "y", "x"]
    linked = trackpy.link_df(
        result.localizations[columns].copy(), params.search_range_px, memory=params.memory
    )
    linked = trackpy.filter_stubs(linked, params.min_track_length)
    if linked.empty:
        return math.nan
    msd = trackpy.emsd(
        linked,
        params.pixel_size_um,
        1.0 / params.frame_interval_s,
        max_lagtime=TRACKPY_MAX_LAG,
    )
    lag_s = msd.index.to_numpy(dtype=float)
    D = float(np.sum(msd.to_numpy() * lag_s) / np.sum(lag_s**2)) / 4.0
    return float(physics.diameter_nm(D, params.temperature_c, params.resolved_viscosity_pa_s))


def truth_numbers(movie: simulate.SimulatedMovie, case: Case, params: analysis.AnalysisParams):
    """Small fractions of the true tracks and of the particles in view, particles per frame.

    The true tracks are counted like the analysis counts its tracks
    (:meth:`~napari_pynta.simulate.SimulatedMovie.true_track_diameters`); the particles in view
    are those inside the detectable field (the feature radius from the edges), frame by frame;
    for the particles per frame it reaches half a pixel beyond the outermost searched pixels.

    Returns
    -------
    dict
        ``small_fraction`` (of the tracks), ``small_number_fraction`` (of the particles in
        view; NaN for one population), ``particles_per_frame`` (whole frame) and
        ``particles_per_frame_inner`` (detectable field).
    """
    truth = movie.truth
    margin = params.diameter_px // 2
    inner = movie.in_field(margin)
    track_diameters = movie.true_track_diameters(margin, params.memory, params.min_track_length)
    in_view = movie.diameters_nm.loc[truth["particle"][inner]].to_numpy()
    sizes = sorted(d for d, _ in case.populations)
    small = {"small_fraction": math.nan, "small_number_fraction": math.nan}
    if len(sizes) > 1:
        split = math.sqrt(sizes[0] * sizes[1])
        for name, diameters in (
            ("small_fraction", track_diameters),
            ("small_number_fraction", in_view),
        ):
            small[name] = float(np.mean(diameters < split)) if len(diameters) else math.nan
    n_frames = len(movie.frames)
    # the detector searches the pixels from ``margin`` to ``side - 1 - margin``, so it sees the
    # particles within half a pixel beyond them (the independent simulator's truth, too)
    height, width = movie.frames.shape[1:]
    searched = truth["y"].between(margin - 0.5, height - 0.5 - margin) & truth["x"].between(
        margin - 0.5, width - 0.5 - margin
    )
    return small | {
        "particles_per_frame": len(truth) / n_frames,
        "particles_per_frame_inner": int(searched.sum()) / n_frames,
    }


def _diameter_px(text: str) -> int | None:
    """``--diameter-px``: an odd number of pixels, or ``auto`` (None)."""
    return None if text == "auto" else int(text)


def run_case(
    case: Case,
    seed: int,
    n_frames: int,
    engine: str,
    diameter_px: int | None = analysis.AnalysisParams.diameter_px,
    blur_separation: bool = analysis.AnalysisParams.blur_separation,
) -> dict:
    started = time.perf_counter()
    settings = case.settings(seed)
    movie = simulate.simulate_movie(n_frames, settings)
    params = analysis.AnalysisParams.from_metadata(
        movie.metadata, engine=engine, blur_separation=blur_separation
    )
    # None is the automatic diameter here, which from_metadata would read as "not given"
    params = replace(params, diameter_px=diameter_px)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analysis.analyze(Movie(movie.frames, movie.metadata, case.name), params)
        trackpy_nm = plain_trackpy_diameter_nm(result, movie.metadata)
    summary = result.summary
    seen = movie
    if settings.illumination_sigma_um is not None:  # the particles a detector can see
        seen = replace(movie, truth=in_view_above_noise(movie.truth, settings))
    truth = truth_numbers(seen, case, result.params)
    deconvolved = summary.get("deconvolved_nm") or {}
    concentration = summary.get("concentration") or {}
    peaks = deconvolved.get("peaks") or []
    fractions = deconvolved.get("peak_fractions") or []
    sizes = sorted(d for d, _ in case.populations)

    def small_share(shares: list[float]) -> float:
        """Summed share of the peaks below the geometric mean of the two sizes."""
        if len(sizes) < 2 or not peaks:
            return math.nan
        split = math.sqrt(sizes[0] * sizes[1])
        return float(sum(f for p, f in zip(peaks, shares, strict=True) if p < split))

    # one peak: every track and particle is under it
    number_fractions = deconvolved.get("peak_number_fractions") or fractions
    return {
        "case": case.name,
        "setting": case.setting.name,
        "seed": seed,
        "truth_nm": sizes,
        "ensemble_nm": summary.get("diameter_nm"),
        "ensemble_se_nm": summary.get("diameter_se_nm"),
        "systematic_se_nm": summary.get("diameter_systematic_nm"),
        "linking_nm": (summary.get("systematic_nm") or {}).get("linking"),
        "long_lag_nm": summary.get("diameter_long_lag_nm"),
        "uncertainty_nm": summary.get("diameter_uncertainty_nm"),
        "peak_fraction_se": deconvolved.get("peak_fraction_se") or [],
        "d50_nm": deconvolved.get("d50"),
        "peaks_nm": peaks,
        "peak_se_nm": deconvolved.get("peak_se") or [],
        "peak_interval_68_nm": deconvolved.get("peak_interval_68") or [],
        "peak_fractions": fractions,
        "small_fraction": small_share(fractions),
        "small_fraction_truth": truth["small_fraction"],
        "small_number_fraction": small_share(number_fractions),
        "small_number_fraction_truth": truth["small_number_fraction"],
        "particles_per_frame": summary.get("particles_per_frame"),
        "particles_per_frame_sem": concentration.get("particles_per_frame_sem"),
        "particles_in_view": concentration.get("particles_in_view_per_frame"),
        "particles_in_view_sem": concentration.get("particles_in_view_per_frame_sem"),
        "hidden_by_neighbours": concentration.get("hidden_by_neighbours"),
        "hidden_by_neighbours_se": concentration.get("hidden_by_neighbours_se"),
        "particles_per_frame_truth": truth["particles_per_frame"],
        "particles_per_frame_truth_inner": truth["particles_per_frame_inner"],
        "minmass": result.params.minmass,
        "diameter_px": result.params.diameter_px,
        "trackpy_msd_nm": trackpy_nm,
        "n_tracks": summary.get("n_tracks"),
        "warnings": summary.get("warnings", []),
        "seconds": time.perf_counter() - started,
    }


def relative_error(value, truth) -> float:
    return 100.0 * (value / truth - 1.0) if value is not None and truth else math.nan


def print_run(row: dict) -> None:
    truth = row["truth_nm"]
    single = len(truth) == 1
    ensemble = relative_error(row["ensemble_nm"], truth[0]) if single else math.nan
    d50 = relative_error(row["d50_nm"], truth[0]) if single else math.nan
    tp = relative_error(row["trackpy_msd_nm"], truth[0]) if single else math.nan
    peaks = "/".join(
        f"{p:.0f}" + (f"±{se:.0f}" if se is not None else "")
        for p, se in zip(row["peaks_nm"], row["peak_se_nm"] or [None] * 9, strict=False)
    )
    print(
        f"{row['setting']:4s} {row['case']:30s} s{row['seed']} ens {ensemble:+6.1f}% "
        f"D50 {d50:+6.1f}% peaks {peaks:22s} small {row['small_fraction']:.2f}"
        f"/{row['small_fraction_truth']:.2f} number {row['small_number_fraction']:.2f}"
        f"/{row['small_number_fraction_truth']:.2f} ppf {row['particles_per_frame']:.1f}"
        f"/{row['particles_per_frame_truth_inner']:.1f} tp {tp:+6.1f}% "
        f"minmass {row['minmass']:.0f} d {row['diameter_px']} px {row['seconds']:.0f}s "
        f"warn {len(row['warnings'])}",
        flush=True,
    )


def peak_coverage(rows: list[dict]) -> pd.DataFrame:
    """How often each true size lies inside the 68 % interval of the peak nearest to it (in ln d).

    Runs with as many peaks as true sizes only (single sizes with one peak, resolved mixtures);
    ``within 1 se`` counts ``|peak - truth| <= peak_se`` instead.
    """
    table = []
    for row in rows:
        truth, peaks = row["truth_nm"], row["peaks_nm"]
        if len(peaks) != len(truth) or len(row["peak_interval_68_nm"]) != len(peaks):
            continue
        kind = "single" if len(truth) == 1 else "mixture"
        for size in truth:
            nearest = int(np.argmin([abs(math.log(p / size)) for p in peaks]))
            low, high = row["peak_interval_68_nm"][nearest]
            se = row["peak_se_nm"][nearest]
            table.append(
                {
                    "setting": row["setting"],
                    "kind": kind,
                    "covered": low is not None and low <= size <= high,
                    "within 1 se": se is not None and abs(peaks[nearest] - size) <= se,
                    "error %": relative_error(peaks[nearest], size),
                    "se %": 100.0 * se / size if se is not None else math.nan,
                }
            )
    if not table:
        return pd.DataFrame()
    grouped = pd.DataFrame(table).groupby(["setting", "kind"])
    return grouped.agg(
        peaks=("covered", "size"),
        covered=("covered", "mean"),
        within_1_se=("within 1 se", "mean"),
        rms_error_pct=("error %", lambda e: float(np.sqrt(np.mean(np.square(e))))),
        mean_se_pct=("se %", "mean"),
    ).reset_index()


def uncertainty_table(rows: list[dict]) -> pd.DataFrame:
    """Each single-size run's ensemble error against the uncertainty the analysis states.

    Columns in % of the true size: ``error`` (ensemble diameter), ``stat`` (``diameter_se_nm``),
    ``sys`` (``diameter_systematic_nm``), ``total`` (``diameter_uncertainty_nm``, their
    quadrature sum); ``error/total``; ``within 1x`` and ``within 2x`` the total; ``warnings``
    (how many); ``silent wrong``: beyond twice the total with no warning.
    """
    table = []
    for row in rows:
        truth = row["truth_nm"]
        if len(truth) != 1 or row["ensemble_nm"] is None:
            continue
        total = row["uncertainty_nm"]
        error_nm = row["ensemble_nm"] - truth[0]
        ratio = abs(error_nm) / total if total else math.inf
        table.append(
            {
                "setting": row["setting"],
                "case": row["case"],
                "seed": row["seed"],
                "error %": relative_error(row["ensemble_nm"], truth[0]),
                "stat %": 100.0 * (row["ensemble_se_nm"] or math.nan) / truth[0],
                "sys %": 100.0 * (row["systematic_se_nm"] or math.nan) / truth[0],
                "total %": 100.0 * (total or math.nan) / truth[0],
                "error/total": ratio,
                "within 1x": ratio <= 1.0,
                "within 2x": ratio <= 2.0,
                "warnings": len(row["warnings"]),
                "silent wrong": ratio > 2.0 and not row["warnings"],
            }
        )
    return pd.DataFrame(table)


def summary_table(rows: list[dict]) -> pd.DataFrame:
    table = []
    for (setting, case), group in pd.DataFrame(rows).groupby(["setting", "case"], sort=False):
        truth = group["truth_nm"].iloc[0]
        single = len(truth) == 1

        def mean_error(column: str, group=group, truth=truth, single=single) -> float:
            values = [relative_error(v, truth[0]) for v in group[column]]
            return float(np.nanmean(values)) if single and np.isfinite(values).any() else math.nan

        peak_text = "; ".join("/".join(f"{p:.0f}" for p in peaks) for peaks in group["peaks_nm"])
        table.append(
            {
                "setting": setting,
                "case": case,
                "seeds": len(group),
                "ensemble %": mean_error("ensemble_nm"),
                "ensemble worst %": (
                    float(
                        max(
                            (relative_error(v, truth[0]) for v in group["ensemble_nm"]),
                            key=abs,
                        )
                    )
                    if single
                    else math.nan
                ),
                "D50 %": mean_error("d50_nm"),
                "trackpy %": mean_error("trackpy_msd_nm"),
                "peaks nm": peak_text,
                "small frac": float(group["small_fraction"].mean()),
                "truth frac": float(group["small_fraction_truth"].mean()),
                "number frac": float(group["small_number_fraction"].mean()),
                "truth number": float(group["small_number_fraction_truth"].mean()),
                "ppf / truth": float(
                    (group["particles_per_frame"] / group["particles_per_frame_truth_inner"]).mean()
                ),
                "warned": int(sum(bool(w) for w in group["warnings"])),
            }
        )
    return pd.DataFrame(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, short movies, NTA only")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per case (full: 3)")
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only cases whose name contains one of these"
    )
    parser.add_argument(
        "--scene", choices=SCENES, default="default", help="the focal layer (default) or realistic"
    )
    parser.add_argument("--settings", default=None, help="comma-separated: nta,fast")
    parser.add_argument("--engine", default="fast", help="detection engine (default: fast)")
    parser.add_argument("--json", default=None, help="write every run to this JSON file")
    parser.add_argument(
        "--diameter-px",
        type=_diameter_px,
        default=analysis.AnalysisParams.diameter_px,
        help="feature diameter in px, or 'auto' (widened for the motion blur); default: the "
        "analysis default",
    )
    parser.add_argument(
        "--frames-factor", type=float, default=1.0, help="scale the movies' lengths by this"
    )
    parser.add_argument(
        "--blur-separation",
        action=argparse.BooleanOptionalAction,
        default=analysis.AnalysisParams.blur_separation,
        help="tell features apart at the separation that holds the motion blur (the default)",
    )
    args = parser.parse_args()
    names = (
        args.settings.split(",") if args.settings else (["nta"] if args.quick else ["nta", "fast"])
    )
    seeds = args.seeds or (1 if args.quick else 3)
    cases = [
        c
        for c in build_cases(names, args.scene)
        if args.only is None or any(text in c.name for text in args.only)
    ]
    rows = []
    for case in cases:
        n_frames = case.setting.frames_quick if args.quick else case.setting.frames_full
        n_frames = max(50, round(n_frames * args.frames_factor))
        for seed in range(seeds):
            row = run_case(
                case, seed, n_frames, args.engine, args.diameter_px, args.blur_separation
            )
            print_run(row)
            rows.append(row)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 60)
    print()
    print(summary_table(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    coverage = peak_coverage(rows)
    if not coverage.empty:
        print("\npeak positions against truth (68 % intervals, peak_interval_68):")
        print(coverage.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    singles = [r for r in rows if len(r["truth_nm"]) == 1 and "nm" == r["case"].split()[-1]]
    if singles:
        errors = np.array([relative_error(r["ensemble_nm"], r["truth_nm"][0]) for r in singles])
        print(
            f"\nsingle sizes: mean ensemble error {np.nanmean(errors):+.2f}%, "
            f"mean |error| {np.nanmean(np.abs(errors)):.2f}%, "
            f"worst {errors[np.nanargmax(np.abs(errors))]:+.2f}%"
        )
    stated = uncertainty_table(rows)
    if not stated.empty:
        print("\nensemble error against the stated uncertainty (% of the true size):")
        print(stated.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        silent = stated[stated["silent wrong"]]
        print(f"silent wrong answers (beyond 2x the stated total, no warning): {len(silent)}")
    for row in rows:
        if row["warnings"]:
            print(f"\n[{row['setting']} {row['case']} s{row['seed']}]")
            for text in row["warnings"]:
                print(f"  - {text}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
