"""Linking localizations into tracks, one frame at a time.

:class:`StreamingLinker` links each frame to the tracks seen so far by the likelihood of Brownian
steps. A track last seen ``g`` frames ago may take a localization at distance ``r`` at a cost
``r^2 / (2 s^2 g) + ln g + GAP_COST (g - 1)``: the negative log-likelihood of a 2-D Gaussian
step of per-axis variance ``s^2 g`` (``s``: the search range over
:data:`SEARCH_RANGE_RMS_STEPS`), relative to a one-frame step, plus the price of the frames the
particle was missed in. Each frame's links are the one-to-one assignment of largest total gain
``A - cost``, where ``A = SEARCH_RANGE_RMS_STEPS^2 / 2`` is what starting a new track instead
costs (no link of negative gain). So a track reaches the search range (5 s) across one frame,
5.9 s across two, 5.7 s across three and 4.1 s across four: a particle missed in a frame is
found again where it has diffused to, and a two-frame step competes for a localization on the
same footing as a one-frame step (a least-squares linker with one range for every gap prefers
the shorter one and so keeps the small two-frame steps only), while a newcomer near the last
position of a particle gone for several frames starts a track of its own.
Under motion blur a missed frame adds more than a one-frame step's spread (the one-frame step is
shortened by the averaging over the exposure): with ``gap_spread`` ``k`` the spread across
``g`` frames is ``s^2 (1 + k (g - 1))``, and at ``k`` = 1.5 (full-frame exposure) the reach is
5 s, 6.6 s, 6.4 s and 4.4 s across one to four frames.
:func:`link_features` feeds a whole table through the same class, so live and offline analysis
give identical tracks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from napari_pynta.cancellation import checkpoint
from napari_pynta.errors import PyntaInputError, require_int, require_number
from napari_pynta.parameters import SETTINGS
from napari_pynta.robust import MAD_TO_SD

#: the search range is this many per-axis rms steps of a typical particle (a 2-D step exceeds
#: it with probability exp(-k^2 / 2) = 4e-6): the linker's typical step ``s0`` is the range
#: divided by this
SEARCH_RANGE_RMS_STEPS = 5.0
#: cost of each frame a track was missed in before a link: -ln 0.05, i.e. a particle that is
#: there is detected in about 95 % of frames (1 and 2 link about as well, 3 fewer newcomers to
#: tracks gone for 3 frames; docs/accuracy.md)
GAP_COST = 3.0
#: largest group of tracks competing for the same localizations (a denser field than this
#: for the search range makes the assignment slow and its links guesses)
MAX_CLUSTER_TRACKS = 100


class StreamingLinker:
    """Link features frame by frame; frame numbers must increase.

    Parameters
    ----------
    search_range_px : float
        Largest distance (pixels) a particle moves between two consecutive frames:
        :data:`SEARCH_RANGE_RMS_STEPS` per-axis rms steps of a Brownian particle. Across missed
        frames the reach follows the likelihood of the step (module docstring).
    memory : int
        Number of consecutive frames a particle may go undetected and still keep its id (at
        most 3 pay off: the cost of four missed frames exceeds the gain of any link).
    gap_spread : float
        ``k`` >= 1: each frame a track was missed in adds ``k`` one-frame spreads, so a track
        last seen ``g`` frames ago spreads as ``s^2 (1 + k (g - 1))`` (normalization
        ``ln(1 + k (g - 1))``). 1 (the default) is plain Brownian motion, ``s^2 g``. Under
        motion blur a one-frame step is shortened by the averaging over the exposure ``tau``
        but every further frame adds the full ``2 D dt``, which is ``s^2 / (1 - tau / 3 dt)``
        when the localization noise is small: ``k`` = 1.5 at full-frame exposure
        (:func:`napari_pynta.sizing.gap_spread` computes it).

    Notes
    -----
    Frames that are skipped (a gap in the frame numbers) or that have no features count towards
    ``memory`` exactly like frames in which one particle was missed. Particle ids are assigned by
    this object (0, 1, 2, ... in order of first appearance; within a frame in the order given).
    """

    def __init__(self, search_range_px: float, memory: int = 3, gap_spread: float = 1.0) -> None:
        self.search_range_px = SETTINGS["search_range_px"].check(search_range_px, automatic=False)
        self.memory = SETTINGS["memory"].check(memory)
        self.gap_spread = require_number("gap_spread", gap_spread, minimum=1.0)
        self._s0_squared = (self.search_range_px / SEARCH_RANGE_RMS_STEPS) ** 2
        #: gain of a link before its cost: the cost at the search range of a typical track
        self._budget = SEARCH_RANGE_RMS_STEPS**2 / 2.0
        self._last_frame: int | None = None
        self._next_id = 0
        # the live tracks (seen within memory + 1 frames): last position, frame and id
        self._position = np.empty((0, 2))
        self._seen = np.empty(0, dtype=np.int64)
        self._id = np.empty(0, dtype=np.int64)

    @property
    def last_frame(self) -> int | None:
        """Number of the last frame added, or None before the first."""
        return self._last_frame

    def add(self, features: pd.DataFrame, frame: int | None = None) -> pd.DataFrame:
        """Link the features of one frame to the tracks seen so far.

        Parameters
        ----------
        features : pandas.DataFrame
            Localizations of one frame (columns ``y``, ``x`` and usually ``frame``).
        frame : int, optional
            Frame number; required when ``features`` is empty or has no ``frame`` column,
            otherwise read from the table (and checked against this argument if both are given).

        Returns
        -------
        pandas.DataFrame
            A copy of ``features`` with an int64 ``particle`` column.
        """
        frame = self._frame_number(features, frame)
        if len(features):
            coords = np.column_stack(
                (features["y"].to_numpy(np.float64), features["x"].to_numpy(np.float64))
            )
        else:
            coords = np.empty((0, 2))
        linked = features.copy()
        linked["particle"] = self.link(coords, frame)
        return linked

    def link(self, coords: np.ndarray, frame: int) -> np.ndarray:
        """Link the positions of one frame (the core of :meth:`add`, without tables).

        Parameters
        ----------
        coords : ndarray (n, 2)
            ``y, x`` positions (pixels) of the frame's features.
        frame : int
            Frame number, larger than the last one linked.

        Returns
        -------
        ndarray of int64
            The particle id of each position, in the order given.
        """
        frame = self._check_order(require_int("frame", frame, minimum=0))
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(coords).all():
            raise PyntaInputError(f"features of frame {frame} have non-finite y/x positions")
        ids = self._assign(coords, frame)
        self._last_frame = frame
        return ids

    def _assign(self, coords: np.ndarray, frame: int) -> np.ndarray:
        """Link ``coords`` to the live tracks, start tracks for the rest; return the ids."""
        live = frame - self._seen <= self.memory + 1
        if not live.all():
            self._keep_tracks(live)
        track_of_point = np.full(len(coords), -1, dtype=np.int64)
        if len(self._id) and len(coords):
            tracks, points = self._best_links(coords, frame)
            track_of_point[points] = tracks
            self._position[tracks] = coords[points]
            self._seen[tracks] = frame
        new = np.flatnonzero(track_of_point < 0)
        if len(new):
            first = len(self._id)
            ids = np.arange(self._next_id, self._next_id + len(new), dtype=np.int64)
            self._next_id += len(new)
            self._position = np.concatenate((self._position, coords[new]))
            self._seen = np.concatenate((self._seen, np.full(len(new), frame, dtype=np.int64)))
            self._id = np.concatenate((self._id, ids))
            track_of_point[new] = np.arange(first, first + len(new))
        return self._id[track_of_point]

    def _keep_tracks(self, keep: np.ndarray) -> None:
        """Forget the tracks not in ``keep`` (boolean mask over the live tracks)."""
        self._position = self._position[keep]
        self._seen = self._seen[keep]
        self._id = self._id[keep]

    def _best_links(self, coords: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """The links of largest total gain: (track indices, point indices)."""
        gap = (frame - self._seen).astype(np.float64)
        pairs = cKDTree(self._position).sparse_distance_matrix(
            cKDTree(coords), float(self._reach(gap).max()), output_type="ndarray"
        )
        rows, cols = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        gain = self._link_gain(gap[rows], pairs["v"] ** 2)
        useful = gain > 0
        rows, cols, gain = rows[useful], cols[useful], gain[useful]
        chosen = _max_gain_matching(rows, cols, gain, len(gap), len(coords), frame)
        return rows[chosen], cols[chosen]

    def _widening(self, gap: np.ndarray) -> np.ndarray:
        """One-frame spreads of a step across ``gap`` frames: ``gap`` when k = 1."""
        return 1.0 + self.gap_spread * (gap - 1.0)

    def _reach(self, gap: np.ndarray) -> np.ndarray:
        """Distance (px) beyond which a track last seen ``gap`` frames ago gains nothing."""
        widening = self._widening(gap)
        spread = self._s0_squared * widening
        return np.sqrt(2.0 * spread * np.maximum(self._gain_at_zero(gap, widening), 0.0))

    def _link_gain(self, gap: np.ndarray, squared_px2: np.ndarray) -> np.ndarray:
        """Gain of linking a track last seen ``gap`` frames ago to a localization at squared
        distance ``squared_px2``: ``budget - r^2 / (2 s^2 widening)`` (module docstring)."""
        widening = self._widening(gap)
        spread = self._s0_squared * widening
        return self._gain_at_zero(gap, widening) - squared_px2 / (2.0 * spread)

    def _gain_at_zero(self, gap: np.ndarray, widening: np.ndarray) -> np.ndarray:
        """Gain of a link at distance 0 for tracks last seen ``gap`` frames ago (spread
        ``widening`` one-frame spreads): the budget less the Gaussian's normalization and the
        price of the missed frames (module docstring)."""
        return self._budget - np.log(widening) - GAP_COST * (gap - 1.0)

    def _frame_number(self, features: pd.DataFrame, frame: int | None) -> int:
        """Work out and check the frame number of ``features``."""
        if not {"y", "x"} <= set(features.columns):
            raise PyntaInputError("features must have columns 'y' and 'x' (pixels)")
        if "frame" in features.columns and len(features):
            column = features["frame"].to_numpy()
            if column.min() != column.max():
                frames = np.unique(column)
                raise PyntaInputError(
                    f"features must all belong to one frame, got frames {frames[:5].tolist()}"
                )
            if frame is not None and int(column[0]) != frame:
                raise PyntaInputError(
                    f"frame={frame} disagrees with the features' frame column ({int(column[0])})"
                )
            frame = int(column[0])
        if frame is None:
            raise PyntaInputError("frame is required when the features have no 'frame' column")
        return self._check_order(require_int("frame", frame, minimum=0))

    def _check_order(self, frame: int) -> int:
        """``frame`` if it comes after the last frame linked; raises otherwise."""
        if self._last_frame is not None and frame <= self._last_frame:
            raise PyntaInputError(
                f"frames must be added in increasing order: got frame {frame} after "
                f"frame {self._last_frame}"
            )
        return int(frame)


def _max_gain_matching(
    rows: np.ndarray, cols: np.ndarray, gain: np.ndarray, n_rows: int, n_cols: int, frame: int
) -> np.ndarray:
    """Indices of the candidate links (``rows[k]`` to ``cols[k]``, ``gain[k] > 0``) that form
    the one-to-one matching of largest total gain.

    A link whose track and localization have no other candidate is taken as is; the others are
    solved as an assignment problem (pairs that are not candidates gain 0, i.e. are no links):
    in one go when they involve at most :data:`MAX_CLUSTER_TRACKS` tracks, else split into the
    groups of tracks that compete for the same localizations, none of which may be larger.
    """
    row_degree = np.bincount(rows, minlength=n_rows)
    col_degree = np.bincount(cols, minlength=n_cols)
    alone = (row_degree[rows] == 1) & (col_degree[cols] == 1)
    contested = np.flatnonzero(~alone)
    if not len(contested):
        return np.flatnonzero(alone)
    if len(np.unique(rows[contested])) <= MAX_CLUSTER_TRACKS:
        groups = [contested]  # the groups are independent: one problem has the same optimum
    else:
        graph = coo_matrix(
            (np.ones(len(contested)), (rows[contested], n_rows + cols[contested])),
            shape=(n_rows + n_cols, n_rows + n_cols),
        )
        _, group = connected_components(graph, directed=False)
        order = contested[np.argsort(group[rows[contested]], kind="stable")]
        groups = np.split(order, np.flatnonzero(np.diff(group[rows[order]])) + 1)
    chosen = [np.flatnonzero(alone)]
    for links in groups:
        tracks, track_index = np.unique(rows[links], return_inverse=True)
        if len(tracks) > MAX_CLUSTER_TRACKS:
            raise PyntaInputError(
                f"the search range is too large for the particle density at frame {frame}: "
                f"{len(tracks)} tracks compete for the same localizations; lower the "
                "search range"
            )
        points, point_index = np.unique(cols[links], return_inverse=True)
        table = np.zeros((len(tracks), len(points)))
        table[track_index, point_index] = gain[links]
        best_rows, best_cols = linear_sum_assignment(table, maximize=True)
        position = np.full((len(tracks), len(points)), -1, dtype=np.int64)
        position[track_index, point_index] = links
        picked = position[best_rows, best_cols]
        chosen.append(picked[picked >= 0])
    return np.concatenate(chosen)


def link_features(
    features: pd.DataFrame,
    search_range_px: float,
    memory: int = 3,
    gap_spread: float = 1.0,
    flow: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Link a table of localizations from many frames into tracks.

    Parameters
    ----------
    features : pandas.DataFrame
        Localizations with columns ``frame``, ``y``, ``x`` (any order of rows).
    search_range_px : float
        Largest distance (pixels) a particle may move between two frames.
    memory : int
        Number of consecutive frames a particle may go undetected and keep its id.
    gap_spread : float
        One-frame spreads added by each missed frame (:class:`StreamingLinker`).
    flow : pandas.DataFrame, optional
        The common motion of all particles (``analysis.flow_for_linking``): cumulative ``y``, ``x``
        (pixels) indexed by frame. Positions less the flow are linked (the search range then
        holds the particles' own steps); the tracks keep their measured positions.

    Returns
    -------
    pandas.DataFrame
        The localizations sorted by frame with an int64 ``particle`` column; fed through a
        :class:`StreamingLinker` one frame at a time, so the result equals live linking.
    """
    if "frame" not in features.columns:
        raise PyntaInputError("features must have a 'frame' column")
    linker = StreamingLinker(search_range_px, memory, gap_spread)
    if not len(features):
        empty = features.copy()
        empty["particle"] = np.empty(0, dtype=np.int64)
        return empty.reset_index(drop=True)
    ordered = features.sort_values("frame", kind="stable")
    moved = ordered if flow is None else without_flow(ordered, flow)
    linked = []
    for _, group in moved.groupby("frame", sort=True):
        checkpoint()  # a cancelled analysis stops here, not after the last frame
        linked.append(linker.add(group))
    tracks = pd.concat(linked, ignore_index=True)
    if flow is not None:  # the measured positions, in the same (frame, stable) order
        tracks[["y", "x"]] = ordered[["y", "x"]].to_numpy()
    return tracks


#: a common motion of the particles (a flow) of more than this many pixels per frame is taken
#: out of the positions before linking (``analysis.flow_for_linking``); the sizes' own drift
#: subtraction (:func:`napari_pynta.sizing.subtract_drift`) handles slower drifts, which do
#: not move particles out of the search range
FLOW_LINKING_PX_PER_FRAME = 1.0
#: largest displacement between consecutive frames that :func:`common_flow_px` considers
FLOW_SEARCH_PX = 30.0
#: pairs of consecutive frames :func:`common_flow_px` looks at, spread over the movie, and the
#: pairs of localizations it takes of each (a crowded frame's are thinned): its cost is bounded
FLOW_FRAME_PAIRS = 300
FLOW_PAIRS_PER_FRAME = 20_000
#: how many times more pairs of localizations a flow's displacement must gather than zero
#: displacement does (:func:`common_flow_px`)
FLOW_PEAK_RATIO = 2.0


def is_linking_flow(velocity: np.ndarray, uncertainty_px: float = 0.0) -> bool:
    """Whether a common motion of ``velocity`` (``y``, ``x`` px per frame) is a flow to take
    out before linking: more than :data:`FLOW_LINKING_PX_PER_FRAME` (``pynta analyze`` and
    the live linker apply the same rule), by more than ``uncertainty_px`` (a noisy estimate,
    the live linker's from a few frames, is not taken for a flow at rest)."""
    return math.hypot(*velocity) - uncertainty_px > FLOW_LINKING_PX_PER_FRAME


def without_flow(features: pd.DataFrame, flow: pd.DataFrame) -> pd.DataFrame:
    """``features`` with the cumulative ``flow`` (``y``, ``x`` by frame, pixels) subtracted
    from their positions (frames the flow does not list are interpolated, held at its ends)."""
    frames = features["frame"].to_numpy(np.float64)
    index = flow.index.to_numpy(np.float64)
    moved = features.copy()
    for axis in ("y", "x"):
        offset = np.interp(frames, index, flow[axis].to_numpy(np.float64))
        moved[axis] = features[axis].to_numpy(np.float64) - offset
    return moved


def common_flow_px(features: pd.DataFrame, within_px: float = FLOW_SEARCH_PX) -> np.ndarray:
    """The common displacement (``y``, ``x`` pixels per frame) of the particles between
    consecutive frames, found without linking.

    Every pair of localizations of frames ``t`` and ``t + 1`` closer than ``within_px`` gives a
    displacement; a particle's own pairs gather around the flow (spread by its Brownian
    step), pairs of different particles spread over the whole disk. The flow is the mode of
    that cloud, found by mean shift with a kernel narrowed from ``within_px / 2`` to
    ``within_px / 6`` (the pairs of different particles pull it somewhat toward zero: the
    linking that follows, and the drift subtraction after it, correct the rest). In a crowded
    movie of fast particles the cloud has no clear mode and the mean shift may stop anywhere
    near zero: a flow is returned only where the pairs within the last kernel outnumber those
    within the same distance of zero :data:`FLOW_PEAK_RATIO` times (particles at rest).

    Returns
    -------
    ndarray (2,)
        Zero when there is no such peak, or fewer than 20 pairs.
    """
    ordered = features.sort_values("frame", kind="stable")
    frames = ordered["frame"].to_numpy()
    starts = np.flatnonzero(np.diff(frames)) + 1
    if not len(frames):
        return np.zeros(2)
    positions = np.split(ordered[["y", "x"]].to_numpy(np.float64), starts)
    firsts = frames[np.r_[0, starts]].tolist()
    return common_flow_of_frames(dict(zip(firsts, positions, strict=True)), within_px)


def common_flow_of_frames(
    coords: Mapping[int, np.ndarray], within_px: float = FLOW_SEARCH_PX
) -> np.ndarray:
    """:func:`common_flow_px` of the positions (n, 2: ``y``, ``x``) of each frame, by frame
    number in increasing order (without a table: the live linker's flow, every few frames)."""
    followed = [frame for frame in coords if frame + 1 in coords]
    pairs = []
    for frame in followed[:: max(1, len(followed) // FLOW_FRAME_PAIRS)]:
        here, there = coords[frame], coords[frame + 1]
        here = here[:: max(1, len(here) * len(there) // FLOW_PAIRS_PER_FRAME)]
        steps = (there[None, :, :] - here[:, None, :]).reshape(-1, 2)
        pairs.append(steps[np.hypot(steps[:, 0], steps[:, 1]) < within_px])
    if not pairs:
        return np.zeros(2)
    steps = np.concatenate(pairs)
    flow = np.zeros(2)
    if len(steps) < 20:
        return flow
    for kernel in (within_px / 2, within_px / 4, within_px / 6):
        for _ in range(30):
            near = np.hypot(*(steps - flow).T) < kernel
            moved = steps[near].mean(axis=0) if near.any() else flow
            if np.allclose(moved, flow, atol=1e-3):
                break
            flow = moved
    at_flow = np.count_nonzero(np.hypot(*(steps - flow).T) < kernel)
    at_rest = np.count_nonzero(np.hypot(*steps.T) < kernel)
    if at_flow < FLOW_PEAK_RATIO * at_rest:  # no peak away from rest: a mode of the noise
        return np.zeros(2)
    return flow


#: localizations on each side of a link whose mean ln mass :func:`split_at_brightness_changes`
#: compares
BRIGHTNESS_WINDOW = 4
#: a track is split where the two windows' mean ln mass differ by more than this many of their
#: standard deviations
BRIGHTNESS_CHANGE_SDS = 5.0


def split_at_brightness_changes(tracks: pd.DataFrame) -> pd.DataFrame:
    """Tracks split where their brightness changes level: links that joined two particles.

    A particle's ``mass`` varies from frame to frame by some tens of %, but it keeps its level,
    while particles of a mixture differ several-fold (a 50 nm particle scatters 4 times less
    light than a 100 nm one for brightness ∝ d², 64 times for d⁶). When a particle leaves the
    view and a newcomer of another size appears near it, the linker, which judges positions only,
    may continue the track with the newcomer, and the joined steps size neither particle (in a
    50 + 100 nm movie 0.76 of the wrong links joined a 50 and a 100 nm particle, and the bright
    tracks extended with dim particles' larger steps were sized small). Here, at every link with
    :data:`BRIGHTNESS_WINDOW` localizations of the track on each side, the mean ln mass of the
    two windows is compared; where it differs by more than :data:`BRIGHTNESS_CHANGE_SDS` of its
    standard deviation (from the spread of ln mass between successive localizations: over all
    links of the table, robustly, or the track's own if larger) and more than at the
    neighbouring links, the track is split. A frame in which a particle is dimmer (smeared by
    its motion) moves one window's mean only a little: the links with the largest steps stay.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations (``particle, frame`` and ``mass``; without ``mass``, or without a
        link with a known mass, returned as they are).

    Returns
    -------
    pandas.DataFrame
        ``tracks`` (same rows and order) with the later part of every split track under a new
        particle id (above the largest given).
    """
    if "mass" not in tracks.columns or "particle" not in tracks.columns or len(tracks) < 2:
        return tracks
    order = np.lexsort((tracks["frame"].to_numpy(), tracks["particle"].to_numpy()))
    owner = tracks["particle"].to_numpy()[order]
    mass = tracks["mass"].to_numpy(np.float64)[order]
    valid = mass > 0  # a mass of 0 or less (or NaN) has no level: windows holding one are skipped
    log_mass = np.where(valid, np.log(np.where(valid, mass, 1.0)), np.nan)
    same = owner[1:] == owner[:-1]
    change = np.where(same, np.diff(log_mass), np.nan)
    known = np.isfinite(change)
    if not known.any():
        return tracks
    # ln mass noise of one localization: successive differences hold two of it
    overall = MAD_TO_SD * float(np.median(np.abs(change[known]))) / np.sqrt(2.0)
    by_track = pd.Series(np.abs(change)).groupby(owner[:-1]).transform("median").to_numpy()
    noise = np.maximum(overall, MAD_TO_SD * by_track / np.sqrt(2.0))
    window = BRIGHTNESS_WINDOW
    starts = np.r_[0, np.flatnonzero(~same) + 1]
    length = np.diff(np.r_[starts, len(owner)])
    position = np.arange(len(owner)) - np.repeat(starts, length)
    length = np.repeat(length, length)
    # link i joins rows i and i+1; windows rows i-w+1..i and i+1..i+w, within one track
    cumulative = np.concatenate([[0.0], np.cumsum(np.where(valid, log_mass, 0.0))])
    counted = np.concatenate([[0], np.cumsum(valid)])
    links = np.flatnonzero(
        same & (position[:-1] >= window - 1) & (position[:-1] + window < length[:-1])
    )
    if not len(links):
        return tracks
    links = links[
        (counted[links + 1] - counted[links + 1 - window] == window)
        & (counted[links + 1 + window] - counted[links + 1] == window)
    ]
    if not len(links):
        return tracks
    before = (cumulative[links + 1] - cumulative[links + 1 - window]) / window
    after = (cumulative[links + 1 + window] - cumulative[links + 1]) / window
    scale = noise[links] * np.sqrt(2.0 / window)
    # a brightness without noise (every frame the same: a frozen camera) has no level to judge
    score = np.divide(np.abs(after - before), scale, out=np.zeros_like(scale), where=scale > 0)
    full = np.zeros(len(same))
    full[links] = score
    # a level change raises the score over the links around it: cut at its maximum only
    left = np.r_[0.0, full[:-1]] * np.r_[False, same[:-1]]
    right = np.r_[full[1:], 0.0] * np.r_[same[1:], False]
    cut = (full > BRIGHTNESS_CHANGE_SDS) & (full >= left) & (full > right)
    if not cut.any():
        return tracks
    piece = np.concatenate([[0], np.cumsum(cut)])  # pieces counted along the ordered rows
    later = piece > np.repeat(piece[starts], np.diff(np.r_[starts, len(owner)]))
    new_ids = owner.astype(np.int64)
    new_ids[later] = int(owner.max()) + piece[later]
    split = tracks.copy()
    particle = np.empty(len(owner), dtype=np.int64)
    particle[order] = new_ids
    split["particle"] = particle
    return split


def filter_tracks(tracks: pd.DataFrame, min_length: int) -> pd.DataFrame:
    """Keep tracks with at least ``min_length`` localizations.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Linked localizations with a ``particle`` column.
    min_length : int
        Minimum number of localizations (frames) per track, >= 3 (the limit of
        :data:`napari_pynta.parameters.SETTINGS`: a sized track needs two successive steps).

    Returns
    -------
    pandas.DataFrame
        The rows of the tracks that are long enough, index reset.
    """
    min_length = SETTINGS["min_track_length"].check(min_length)
    if "particle" not in tracks.columns:
        raise PyntaInputError("tracks must have a 'particle' column (link them first)")
    lengths = tracks.groupby("particle")["particle"].transform("size")
    return tracks[lengths >= min_length].reset_index(drop=True)
