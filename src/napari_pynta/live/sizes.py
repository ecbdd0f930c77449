"""The running size distribution of the linker process, computed by the offline analysis code."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: ``detect.locate`` keyword -> ``AnalysisParams`` field, for the detection options both know
_DETECTION_FIELDS = {
    "diameter": "diameter_px",
    "minmass": "minmass",
    "separation": "separation",
    "split_within": "split_within_px",
    "percentile": "percentile",
    "invert": "invert",
    "wide_radius_px": "wide_radius_px",
}


def analysis_params(settings: dict[str, Any]) -> Any:
    """The :class:`~napari_pynta.analysis.AnalysisParams` that ``pynta analyze`` would use on the
    recording made with these live settings (validated).

    Parameters
    ----------
    settings : dict
        ``metadata`` (the store metadata), ``engine``, ``detection`` (``locate()`` options),
        ``search_range_px``, ``memory``, ``min_track_length``, ``blur_gap_spread``.
    """
    from napari_pynta.analysis import AnalysisParams

    overrides = {
        field: settings["detection"][key]
        for key, field in _DETECTION_FIELDS.items()
        if key in settings["detection"]
    }
    if overrides.get("wide_radius_px") is not None:
        overrides["wide_centroid"] = True
    if overrides.get("split_within_px") is not None:  # chosen by the blur separation
        overrides["blur_separation"] = True
    return AnalysisParams.from_metadata(
        settings["metadata"],
        engine=settings["engine"],
        search_range_px=settings["search_range_px"],
        memory=settings["memory"],
        min_track_length=settings["min_track_length"],
        blur_gap_spread=settings["blur_gap_spread"],
        **overrides,
    ).validate()


#: the convergence history keeps at most this many points (older ones are thinned by half)
MAX_HISTORY = 1000


def live_coverage_text(summary: Mapping[str, Any]) -> str | None:
    """What a live size summary made after a restart of the live linker covers, said plainly;
    None for a summary of the whole run (no restart).

    Parameters
    ----------
    summary : Mapping
        A live summary: ``live_frames`` ([first, stop) of the frames covered, acquisition
        frame numbers) and ``linker_restarted_at`` (the first frame of the restarted linker).
    """
    restarted = summary.get("linker_restarted_at")
    frames = summary.get("live_frames")
    if restarted is None or not frames:
        return None
    first, stop = (int(value) for value in frames)
    return (
        f"live sizes from frames {first}–{stop - 1} only: the live linker was restarted at "
        f"frame {int(restarted)} and the frames before are not in them; run Analyze movie "
        "(`pynta analyze`) on the recording for the whole of it"
    )


class LiveSizer:
    """Collects linked localizations frame by frame and sizes the tracks on demand.

    Each summary is the ``pynta analyze`` summary of the tracks so far. Its deconvolution starts
    from the previous summary's (the EM and each bootstrap resample, whose tracks are counted
    by :func:`~napari_pynta.deconvolve.stable_bootstrap_counts` so that a resample grows with
    the run): a summary with a few new tracks needs a few iterations instead of hundreds, and
    gives what a summary from scratch gives to within the EM tolerances.

    Parameters
    ----------
    settings : dict
        As for :func:`analysis_params`, plus ``frame_shape``, ``source`` (the recording path
        or None), ``notes`` (optional: warnings about the tracking itself, e.g. the hot
        pixels repaired, listed first in every summary), ``first_seq`` (optional, default 0:
        the first frame covered) and ``linker_restarted_at`` (optional: the first frame of a
        restarted live linker). Every summary has ``live_frames`` ([first, stop) of the frames
        covered) and ``linker_restarted_at`` (None without a restart); after a restart its
        first warning says which frames it covers (:func:`live_coverage_text`).
    """

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.params = analysis_params(settings)
        self._parts: list[dict[str, np.ndarray]] = []  # frames added since ``tracks`` was built
        self._tracks: pd.DataFrame | None = None
        self._sizes: Any = None  # the previous summary's DeconvolvedSizes (warm start)
        self._history: list[dict[str, Any]] = []
        self._seqs: list[int] = []  # the frames added with their seq (even those without rows)
        self._flow_sum = np.zeros(2)  # the flow taken out (px per frame), summed over frames
        self._flow_frames = 0  # frames a flow was taken out of

    def add(
        self,
        linked: pd.DataFrame | Mapping[str, np.ndarray],
        seq: int | None = None,
        flow_px_per_frame: Any = None,
    ) -> None:
        """Add the linked localizations of one frame: a table, or its columns as received.

        Every frame has the same columns (the linker's ``tracks``). ``seq`` (the frame's number)
        lets the summaries count particles per frame over the frames added only: frames that
        never came (untracked) are not frames without particles. ``flow_px_per_frame``
        (``y``, ``x``) is the flow the live linker took out of the frame's positions before
        linking (:class:`napari_pynta.live.flow.LiveFlow`); the summaries then say so
        (:meth:`flow_note`).
        """
        if seq is not None:
            self._seqs.append(int(seq))
        if flow_px_per_frame is not None and np.any(flow_px_per_frame):
            self._flow_sum += np.asarray(flow_px_per_frame, np.float64)
            self._flow_frames += 1
        columns = {str(name): np.asarray(linked[name]) for name in linked}
        if len(columns.get("frame", ())):
            self._parts.append(columns)

    def flow_note(self, summary: Mapping[str, Any]) -> str | None:
        """The warning ``pynta analyze`` gives of a flow it took out before linking
        (:func:`~napari_pynta.analysis.flow_speed_note`), if the live linker took one out; None
        if it never did.

        The speed is that of the drift of the tracks (the summary's ``drift_um_s``), as the
        analysis's is that of its flow refined by the drift of the tracks: the linker's estimate
        without linking is pulled toward zero (5.9 px per frame for 7). Where the summary has
        no drift, it is the linker's, mean over the frames it took one out of.
        """
        from napari_pynta import analysis

        if not self._flow_frames:
            return None
        drift = summary.get("drift_um_s") or {}
        um_s = math.hypot(drift.get("y", math.nan), drift.get("x", math.nan))
        px_per_frame = (
            um_s * self.params.required("frame_interval_s") / self.params.required("pixel_size_um")
            if math.isfinite(um_s)
            else math.hypot(*self._flow_sum / self._flow_frames)
        )
        return analysis.flow_speed_note(px_per_frame, self.params)

    @property
    def tracks(self) -> pd.DataFrame:
        """All linked localizations so far."""
        if self._parts:  # one concatenation per column, not one DataFrame per frame
            names = list(self._parts[0])
            new = pd.DataFrame({n: np.concatenate([p[n] for p in self._parts]) for n in names})
            self._tracks = (
                new if self._tracks is None else pd.concat([self._tracks, new], ignore_index=True)
            )
            self._parts = []
        if self._tracks is None:
            from napari_pynta.detect import empty_localizations

            empty = empty_localizations()
            empty["particle"] = np.empty(0, np.int64)
            return empty
        return self._tracks

    def summary(self, n_frames: int) -> tuple[dict[str, Any] | None, list[float]]:
        """The ``pynta analyze --json`` summary of the tracks so far and the per-track diameters.

        Parameters
        ----------
        n_frames : int
            Frames covered so far (frame numbers 0..n_frames-1). When fewer of them were added
            with their ``seq``, the particles per frame (and the summary's ``n_frames``) count
            the added frames only; the convergence time is still that of ``n_frames``. The live
            linker adds ``frames_sized`` to the summary: the frames whose localizations it holds.

        Returns
        -------
        summary : dict or None
            None until some track is long enough to be sized.
        diameters_nm : list of float
            Per-track diameters (finite ones).

        The summary also holds ``convergence``: the history of the run so far
        (:meth:`history_point` of every summary, oldest first).
        """
        from napari_pynta import analysis

        tracks = self.tracks
        if not (tracks.groupby("particle").size() >= self.params.min_track_length).any():
            return None, []
        held = np.unique(self._seqs)
        some_missing = 0 < len(held) < n_frames
        first = int(self.settings.get("first_seq") or 0)
        coverage = {
            "live_frames": [first, first + int(n_frames)],
            "linker_restarted_at": self.settings.get("linker_restarted_at"),
        }
        said = live_coverage_text(coverage)
        notes = [*([said] if said else []), *self.settings.get("notes", ())]
        result = analysis.summarize_tracks(
            tracks,
            self.params,
            n_frames=len(held) if some_missing else n_frames,
            frame_numbers=held if some_missing else None,
            source=self.settings.get("source"),
            frame_shape=tuple(self.settings["frame_shape"]),
            notes=notes,
            warm_start=self._sizes,
        )
        result.summary.update(coverage)
        flow_said = self.flow_note(result.summary)
        if flow_said:  # after the notes, as pynta analyze's
            result.summary["warnings"].insert(len(notes), flow_said)
        self._sizes = result.sizes
        self._history.append(self.history_point(result.summary, n_frames))
        if len(self._history) > MAX_HISTORY:
            self._history = self._history[::2] if len(self._history) % 2 else self._history[1::2]
        result.summary["convergence"] = list(self._history)
        diameters = result.per_track["diameter_nm"].to_numpy(dtype=float)
        return result.summary, [float(d) for d in diameters if math.isfinite(d)]

    def history_point(self, summary: dict[str, Any], n_frames: int | None = None) -> dict[str, Any]:
        """One point of the convergence history: ``t_s`` (recording time covered, s: of
        ``n_frames``, default the summary's), ``n_tracks``, ``d50_nm`` and ``d50_relative_se``
        (None where not known)."""
        from napari_pynta.precision import d50_relative_se

        deconvolved = summary.get("deconvolved_nm") or {}
        return {
            "t_s": (n_frames or summary["n_frames"]) * self.params.required("frame_interval_s"),
            "n_tracks": summary["n_tracks"],
            "d50_nm": deconvolved.get("d50"),
            "d50_relative_se": d50_relative_se(summary, min_tracks=0),
        }
