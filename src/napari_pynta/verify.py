"""Check a pynta movie store for damage: what `pynta verify STORE` reports.

Checks, each problem reported on one line:

- the store opens (a ``pynta`` format version this pynta reads, arrays described in full) and
  its root metadata is valid (metadata values, OME-NGFF ``ome`` attribute);
- a recording that failed and was closed by the live pipeline (``recording_failed`` in the
  metadata) holds the frames it counted as saved (a note says it failed);
- the frames, timestamps and seq arrays agree in length (a longer array is a block a writer left
  incomplete when it was interrupted);
- ``seq`` is non-negative, strictly increasing and contiguous (a gap is frames that never reached
  the store);
- every frame's data is on disk (chunk file present, or listed by its shard's index);
- the recorded frames' timestamps are finite (or all unknown); times that do not increase are
  a note, not damage: they are what the camera gave (its clock jumped back), and the note says
  which frame interval the analysis measures from the steps that go forward (on the frames with
  their number, as opening the store does: the frames after a lost seq chunk too);
- every table listed reads back;
- no pynta store lies inside this one, nor this one inside another (a note: deleting the
  outer store deletes the inner one);
- a sound store holds the metadata the analysis needs (a note names those it will ask for:
  the temperature, a solvent's viscosity, ...);
- optionally, every frame decodes (``read_pixels``: reads the whole movie).

A damaged store's report also says which recorded frames can be analysed: those with their frame
number and their data on disk (and, with ``read_pixels``, whose data decodes), and the
`pynta analyze --frames` that analyses the longest run of them, the advice `pynta analyze` gives
when it refuses the store (:func:`napari_pynta.frame_range.readable_advice`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_pynta.errors import (
    PyntaDataError,
    PyntaInputError,
    listed,
    pynta_command,
    verify_command,
)
from napari_pynta.frame_range import readable_advice, readable_runs
from napari_pynta.timing import (
    FrameTiming,
    backward_cause,
    interval_steps_text,
    measure_numbered_frames,
    reconciled_with,
)

#: frames decoded per read when ``read_pixels`` is asked
_READ_BLOCK = 64
#: what `pynta verify` says a store is when it is given something else
WHAT_A_STORE_IS = (
    "a store is the folder (named *.zarr) that `pynta acquire`, `pynta simulate` or the Camera "
    "widget records into, holding a zarr.json and the frames (0), seq and timestamps_s arrays"
)


@dataclass(frozen=True)
class Problem:
    """One kind of damage found in a store.

    Attributes
    ----------
    kind : str
        ``unreadable``, ``metadata``, ``recording``, ``incomplete``, ``seq``,
        ``missing_frames``, ``timestamps``, ``table`` or ``pixels``.
    message : str
        One line saying what is wrong and where.
    """

    kind: str
    message: str


@dataclass
class StoreReport:
    """The result of :func:`verify_store`.

    Attributes
    ----------
    path : str
        The store checked.
    n_frames : int
        Complete frames (pixels, timestamp and seq written).
    problems : list[Problem]
        What is wrong; empty for a sound store.
    being_written : bool
        Another process held the store for writing (a recording in progress): the report covers
        the frames written when it was opened.
    notes : list[Problem]
        What the user should know but is not damage (frame times that go back, a store
        inside this one).
    readable : ndarray of bool or None
        One entry per recorded frame (the frames after a lost seq chunk too): True for a frame
        that can be analysed, with its frame number and its data on disk (and, when the pixels
        were read, decodable); None when the store does not open.
    pixels_read : bool
        Every readable frame was decoded (``read_pixels``).
    """

    path: str
    n_frames: int = 0
    problems: list[Problem] = field(default_factory=list)
    being_written: bool = False
    notes: list[Problem] = field(default_factory=list)
    readable: np.ndarray | None = field(default=None, repr=False, compare=False)
    pixels_read: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def add(self, kind: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(kind, message))

    @property
    def advice(self) -> str | None:
        """Which frames can be analysed and the `pynta analyze --frames` that analyses them,
        when some recorded frames cannot be (None when every frame can, or the store does not
        open): ``"readable: frames 0..63 and 128..199; analyse frames 128..199 alone with
        `pynta analyze --frames=128:200 STORE`"``, which adds that `pynta verify --read-pixels
        STORE` also checks that they decode when the pixels were not read."""
        if self.readable is None or self.readable.all():
            return None
        advice = readable_advice(self.readable, self.path)
        if self.pixels_read or not self.readable.any():
            return advice
        check = verify_command(self.path, read_pixels=True)
        return f"{advice} ({check} also checks that those frames decode)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``path``, ``ok``, ``n_frames``, ``problems`` [{kind, message}],
        ``being_written``, ``notes`` [{kind, message}], ``readable_frames`` ([[start, stop],
        ...], half-open as a summary's ``frame_range``; null when the store does not open),
        ``advice`` (:attr:`advice`, null when every frame can be analysed) and ``error`` (null:
        the path is a store; see :func:`refusal_to_dict`)."""
        return {
            "path": self.path,
            "ok": self.ok,
            "n_frames": self.n_frames,
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
            "being_written": self.being_written,
            "notes": [{"kind": p.kind, "message": p.message} for p in self.notes],
            "readable_frames": None
            if self.readable is None
            else [list(run) for run in readable_runs(self.readable)],
            "advice": self.advice,
            "error": None,
        }


def refusal_to_dict(path: str | Path | None, reason: str) -> dict[str, Any]:
    """The JSON form of a path that :func:`verify_store` refused as no store to check (missing,
    a file, another program's folder), or of a command line refused before any path was known
    (``path`` None): :meth:`StoreReport.to_dict`'s keys, ``ok`` false, ``n_frames`` null and
    ``error`` the reason."""
    return {
        **StoreReport("").to_dict(),
        "path": None if path is None else str(path),
        "ok": False,
        "n_frames": None,
        "error": reason,
    }


def runs(indices: np.ndarray) -> Iterator[tuple[int, int]]:
    """Yield (first, last) of each run of consecutive integers in sorted ``indices``."""
    if len(indices) == 0:
        return
    breaks = np.flatnonzero(np.diff(indices) != 1)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [len(indices) - 1]])
    for start, stop in zip(starts, stops, strict=True):
        yield int(indices[start]), int(indices[stop])


def _span(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}..{last}"


def _frames(first: int, last: int) -> str:
    return f"frame {first}" if first == last else f"frames {first}..{last}"


def verify_store(path: str | Path, read_pixels: bool = False) -> StoreReport:
    """Check the store at ``path`` and return every problem found.

    Parameters
    ----------
    path : str or Path
        The store.
    read_pixels : bool
        Also decode every frame (slow: reads the whole movie).

    Returns
    -------
    StoreReport
        The problems found (``report.ok`` when none).

    Raises
    ------
    PyntaDataError
        If ``path`` does not exist, is a file, or is a folder that is no pynta store: neither a
        store's root ``zarr.json`` nor any of its arrays, or another program's zarr group.
    """
    from napari_pynta.store import MovieStore, is_being_written

    path = Path(path)
    if not path.exists():
        raise PyntaDataError(f"{str(path)!r} does not exist")
    if not path.is_dir():
        raise PyntaDataError(f"{str(path)!r} is a file, not a pynta store (a *.zarr folder)")
    _refuse_what_is_not_a_store(path)
    report = StoreReport(str(path), being_written=path.is_dir() and is_being_written(path))
    _check_no_store_inside(path, report)
    try:
        store = MovieStore.open(path, mode="r")
    except PyntaDataError as error:
        report.add("unreadable", str(error))
        return report
    report.n_frames = store.n_frames
    _check_metadata(path, report)
    _check_failed_recording(store, report)
    _check_lengths(store, report)
    _check_chunks_present(store, report)
    recorded = store.recorded_frames()
    seq = _read(store, "seq", len(recorded), report)
    times = _read(store, "timestamps_s", len(recorded), report)
    if seq is not None:
        _check_seq(seq[: report.n_frames], report)
    on_disk = _check_frames_present(store, len(recorded), report)
    timing = None  # the frame interval as the analysis measures it, once (None: unmeasured)
    if seq is not None and times is not None:
        timing = measure_numbered_frames(times, seq)
        _check_timestamps(times, seq, timing, report)
    _check_tables(store, report)
    _note_short_capture(path, store, report)
    report.readable = recorded & on_disk
    if read_pixels:
        report.readable &= _check_pixels(store, report.readable, report)
        report.pixels_read = True
    if report.ok and not report.n_frames:  # sound, but nothing to analyse: analyze refuses it
        report.notes.append(
            Problem(
                "empty",
                "the store holds no frame (a recording stopped before its first frame was "
                "saved?): there is nothing to analyse",
            )
        )
    elif report.ok:  # seq and times were read (a failure is a problem)
        _note_metadata_to_give(store.metadata, timing, report)
    return report


def _refuse_what_is_not_a_store(path: Path) -> None:
    """Raise for a folder that is the wrong input rather than a damaged store.

    A folder with neither ``zarr.json`` nor any of a store's arrays (a folder of frames, say)
    and a zarr group that another program wrote are refused; a store that lost its
    ``zarr.json`` but keeps its arrays, or whose ``zarr.json`` does not parse, is damage that
    the report lists.
    """
    from napari_pynta.store import FRAMES_PATH, SEQ_PATH, TIMESTAMPS_PATH

    root = path / "zarr.json"
    if not root.is_file():
        if not any((path / name).is_dir() for name in (FRAMES_PATH, SEQ_PATH, TIMESTAMPS_PATH)):
            raise PyntaDataError(f"{str(path)!r} is not a pynta store: {WHAT_A_STORE_IS}")
        return
    try:
        attributes = json.loads(root.read_text(encoding="utf-8")).get("attributes") or {}
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(attributes, dict) and "pynta" not in attributes:
        raise PyntaDataError(
            f"{str(path)!r} is a zarr store not written by napari-pynta (no 'pynta' attribute in "
            f"its zarr.json); `pynta verify` checks pynta stores ({WHAT_A_STORE_IS}); "
            "`pynta analyze` and napari open other programs' OME-Zarr images"
        )


def _check_no_store_inside(path: Path, report: StoreReport) -> None:
    """A note for each pynta store inside this one, and for the store this one lies inside
    (made before pynta refused it): deleting the outer store deletes the inner one too."""
    from napari_pynta.store import store_around, stores_inside

    outer = store_around(path)
    if outer is not None:
        report.notes.append(
            Problem(
                "store_inside",
                f"this store lies inside the pynta store {str(outer)!r}: deleting or replacing "
                "that store (rm -r, or the --overwrite that pynta refuses for it) deletes this "
                "recording with it; move this store out of it",
            )
        )

    for inner in stores_inside(path):
        report.notes.append(
            Problem(
                "store_inside",
                f"the pynta store {str(inner)!r} lies inside this store: deleting or replacing "
                "this store (rm -r, or the --overwrite that pynta refuses for it) deletes that "
                f"recording with it; move it out of this store (`{verify_command(inner)}` "
                "checks it)",
            )
        )


def _note_metadata_to_give(
    metadata: dict[str, Any], timing: FrameTiming | None, report: StoreReport
) -> None:
    """A note naming the metadata the analysis will ask for (:func:`napari_pynta.analysis.
    metadata_to_give` of the metadata as it reads them: the frame interval that the frame times
    measure, ``timing``, fills a missing one): a store without a temperature passed `pynta
    verify`, then `pynta analyze` refused it for want of ``--temperature-c``. A note too for
    each value the analysis refuses (:func:`napari_pynta.parameters.metadata_outside_limits`):
    a temperature of 1e300 °C passed as "ok" (x27)."""
    from napari_pynta.analysis import metadata_to_give  # trackpy: only for a sound store
    from napari_pynta.parameters import SETTINGS, metadata_outside_limits

    read, _ = reconciled_with(metadata, timing)
    for name, error in metadata_outside_limits(read).items():
        report.notes.append(
            Problem(
                "analysis_needs",
                f"the store's {error}, which the analysis refuses: give "
                f"{SETTINGS[name].flag} to `pynta analyze` (or fill in the Analyze widget's "
                "field)",
            )
        )
    missing = metadata_to_give(read)
    if missing:
        report.notes.append(
            Problem(
                "analysis_needs",
                f"the store has no {listed(missing)} metadata, which the analysis needs: give "
                f"{listed([SETTINGS[name].flag for name in missing])} to `pynta analyze` "
                "(or fill in the Analyze widget's fields)",
            )
        )


def _check_metadata(path: Path, report: StoreReport) -> None:
    from napari_pynta.store import ome_multiscales, validate_metadata

    # an unknown format_version is refused by MovieStore.open (reported as unreadable)
    attributes = json.loads((path / "zarr.json").read_text(encoding="utf-8"))["attributes"]
    pynta = attributes["pynta"]
    try:
        metadata = validate_metadata(pynta.get("metadata"))
    except PyntaInputError as error:
        report.add("metadata", f"invalid metadata: {error}")
        return
    if attributes.get("ome") != ome_multiscales(metadata):
        report.add("metadata", _ome_mismatch(attributes.get("ome"), metadata))


def _ome_mismatch(ome: Any, metadata: dict[str, Any]) -> str:
    """What differs between the OME-NGFF ``ome`` attribute and the metadata, in words.

    "does not match the metadata (pixel size, frame interval) or is missing" was all a store
    whose pixel_size_um had been deleted was told, though its ``ome`` scale still held the value
    that `pynta analyze --pixel-size-um` then asked for (x27).
    """
    try:
        transform = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        interval_scale, pixel_scale, _ = (float(value) for value in transform["scale"])
    except (KeyError, IndexError, TypeError, ValueError):
        return "the OME-NGFF 'ome' attribute is missing or damaged (zarr.json edited?)"
    differing = [
        (
            f"{what} {scale:g} {unit} where the metadata's {name} is "
            + ("missing" if metadata.get(name) is None else f"{metadata[name]:g}"),
            flag,
        )
        for what, scale, unit, name, flag in (
            ("a pixel size of", pixel_scale, "µm", "pixel_size_um", "--pixel-size-um"),
            ("a frame interval of", interval_scale, "s", "frame_interval_s", "--frame-interval-s"),
        )
        if metadata.get(name) is None or not np.isclose(scale, metadata[name], rtol=1e-12)
    ]
    if not differing:
        return "the OME-NGFF 'ome' attribute does not match the metadata (its axes or units)"
    texts, flags = zip(*differing, strict=True)
    return (
        f"the OME-NGFF 'ome' attribute gives {' and '.join(texts)} (zarr.json edited?): one of "
        f"them is wrong; give the right value to `pynta analyze` ({listed(list(flags))})"
    )


def _check_failed_recording(store: Any, report: StoreReport) -> None:
    """A recording that failed (its saver dead after its restarts, a full disk) and was closed
    by the live pipeline: a note saying so and what the store holds, or a problem if the store
    does not hold the frames its recording counted as saved."""
    failure = store.metadata.get("recording_failed")
    if not isinstance(failure, dict):
        return
    saved, dropped = failure.get("frames_saved"), failure.get("frames_dropped")
    if saved != store.n_frames:
        report.add(
            "recording",
            f"the store holds {store.n_frames} frames, but its recording, which failed "
            f"({failure.get('reason')}), counted {saved} frames saved",
        )
        return
    report.notes.append(
        Problem(
            "recording",
            f"the recording failed ({failure.get('reason')}) and was closed then: "
            f"{saved} frames saved, all here; {dropped} frames dropped (meant to be recorded, "
            "not in the store)",
        )
    )


def _check_lengths(store: Any, report: StoreReport) -> None:
    if report.being_written:  # frames beyond the complete ones are the block being written now
        return
    lengths = store.array_lengths()
    extra = {name: n - store.n_frames for name, n in lengths.items() if n > store.n_frames}
    if extra:
        shown = ", ".join(f"{name} +{n}" for name, n in extra.items())
        beyond = f"arrays hold frames beyond the {store.n_frames} complete ones ({shown})"
        if store.missing_chunks():  # the store refuses r+ (MovieStore._truncate_incomplete)
            why = (
                "chunks missing on disk (below) make them look like a block a writer left "
                "incomplete: they are ignored, and opening the store for writing is refused"
            )
        else:
            why = (
                f"they are ignored, and opening the store for writing drops them; the "
                f"{store.n_frames} complete frames are readable (a recording ends so when its "
                "saver died or its disk filled)"
            )
            beyond = f"a writer was interrupted: {beyond}"
        report.add("incomplete", f"{beyond}; {why}")


def _check_chunks_present(store: Any, report: StoreReport) -> None:
    what = {
        "timestamps_s": "those frames' times read as unknown",
        "seq": "those frames read as never written, hence taken for an interrupted block",
    }
    for path, (missing, expected) in store.missing_chunks().items():
        report.add(
            "timestamps" if path == "timestamps_s" else "seq",
            f"{path}: {missing} of {expected} chunks are missing on disk ({what[path]})",
        )


def _read(store: Any, name: str, n_frames: int, report: StoreReport) -> np.ndarray | None:
    """The store's ``seq`` or ``timestamps_s`` of its first ``n_frames`` frames (the recorded
    ones: beyond ``store.n_frames`` after a lost seq chunk), None (reported) if it cannot be
    decoded."""
    read_between = store.seq_between if name == "seq" else store.timestamps_between
    try:
        return read_between(0, n_frames)
    except Exception as error:  # the codecs raise many kinds on corrupt bytes
        cause = str(error).splitlines()[0] if str(error) else ""
        report.add(
            "timestamps" if name == "timestamps_s" else "seq",
            f"{name} cannot be read: {type(error).__name__}: {cause}",
        )
        return None


def _check_seq(seq: np.ndarray, report: StoreReport) -> None:
    if len(seq) == 0:
        return
    if seq.min() < 0:
        report.add("seq", f"negative seq values at frames {np.flatnonzero(seq < 0)[:5].tolist()}")
    steps = np.diff(seq)
    backwards = np.flatnonzero(steps <= 0)
    if backwards.size:
        report.add(
            "seq",
            f"seq does not increase at frames {(backwards + 1)[:5].tolist()} "
            f"({backwards.size} {'place' if backwards.size == 1 else 'places'})",
        )
    gaps = np.flatnonzero(steps > 1)
    for index in gaps[:5]:
        report.add(
            "seq",
            f"seq gap after frame {int(index)}: acquisition frames "
            f"{_span(int(seq[index]) + 1, int(seq[index + 1]) - 1)} never reached the store",
        )
    if gaps.size > 5:
        lost = int((steps[gaps] - 1).sum())
        report.add("seq", f"{gaps.size - 5} more seq gaps ({lost} frames lost in all gaps)")


def _check_frames_present(store: Any, n_frames: int, report: StoreReport) -> np.ndarray:
    """Report the frames of the ``n_frames`` recorded ones (those after a lost seq chunk too)
    that have no data on disk, or the first damaged shard index; return the mask of the frames
    on disk in shards whose index reads (:meth:`~napari_pynta.store.FramesLayout.on_disk`)."""
    layout = store.layout
    on_disk, damaged = layout.on_disk(n_frames)
    if damaged is not None:
        report.add("missing_frames", str(damaged))
        return on_disk
    absent = np.flatnonzero(~on_disk)
    for first, last in list(runs(absent))[:10]:
        files = sorted({str(layout.file_of(t).relative_to(store.path)) for t in (first, last)})
        report.add(
            "missing_frames",
            f"no data on disk for {_frames(first, last)} ({' .. '.join(files)})",
        )
    if absent.size and len(list(runs(absent))) > 10:
        report.add("missing_frames", f"{absent.size} frames missing in all")
    return on_disk


def _check_timestamps(
    times: np.ndarray, seq: np.ndarray, timing: FrameTiming | None, report: StoreReport
) -> None:
    """Report the frame ``times`` that are not finite, and note those that do not increase
    with the frame interval the analysis measures instead (``timing``: that of the frames with
    their number, ``seq`` >= 0, :func:`napari_pynta.timing.measure_numbered_frames`, whose
    backward frames are those the reader's warning names; the numbered frames' finite times'
    when too few go forward to measure it)."""
    if len(times) == 0 or np.isnan(times).all():
        return
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        report.add(
            "timestamps", f"{bad.size} timestamps are not finite (frames {bad[:5].tolist()})"
        )
    if timing is None:
        measured = np.flatnonzero(np.isfinite(times) & (seq >= 0))
        frames = measured[1:][np.diff(times[measured]) <= 0].tolist()
        said = "too few steps go forward to measure the frame interval"
    else:
        frames = list(timing.backward_frames)
        said = (
            f"{backward_cause(timing)}, the frames are all there; the analysis uses the "
            f"frame interval {timing.interval_s * 1e3:.4g} ms, the median of "
            f"{interval_steps_text(timing)}"
        )
    if frames:
        report.notes.append(
            Problem(
                "timestamps",
                f"timestamps do not increase at frames {frames[:5]} ({len(frames)} "
                f"{'place' if len(frames) == 1 else 'places'}): {said}",
            )
        )


def _note_short_capture(path: Path, store: Any, report: StoreReport) -> None:
    """Note a capture of a measurement that holds fewer frames than the measurement planned
    (:func:`~napari_pynta.measurement.planned_frames`): nothing else marks a recording stopped
    early. A capture still being recorded is not short."""
    from napari_pynta.measurement import planned_frames, short_capture_text

    if report.being_written:
        return
    plan = planned_frames(path, store.metadata)
    text = short_capture_text(path.name, report.n_frames, plan)
    if text is not None:
        report.notes.append(Problem("capture", text))


def _check_tables(store: Any, report: StoreReport) -> None:
    interrupted = store.interrupted_tables()
    if interrupted:
        report.add(
            "table",
            f"the results of an analysis are incomplete: its tables {interrupted} were not all "
            "written (the analysis was stopped, or the disk filled, while it saved them; or it "
            "is saving them now), so they may mix two analyses and are not read; the frames are "
            f"not affected: run {pynta_command('analyze', store.path)} again with enough free "
            "disk space",
        )
    for name in store.table_names():
        try:
            store.read_table(name)
        except Exception as error:  # zarr raises many kinds on damaged arrays
            report.add("table", f"table {name!r} cannot be read: {type(error).__name__}: {error}")


def _check_pixels(store: Any, readable: np.ndarray, report: StoreReport) -> np.ndarray:
    """Decode every ``readable`` frame (one entry per recorded frame: the frames after a lost
    seq chunk too) and report each run of frames that does not decode, with the cause of its
    first frame (absent frames are reported by :func:`_check_frames_present`); return the mask
    of the readable frames that decode.

    A block that fails is decoded again frame by frame, so that the report names exactly the
    frames to leave out (not the block of :data:`_READ_BLOCK` they were read in).
    """
    frames = store.as_dask(len(readable))
    causes: dict[int, str] = {}
    for start in range(0, len(readable), _READ_BLOCK):
        stop = min(start + _READ_BLOCK, len(readable))
        for first, last in runs(np.flatnonzero(readable[start:stop]) + start):
            try:
                frames[first : last + 1].compute(scheduler="synchronous")
            except Exception:  # codecs raise many kinds on corrupt bytes: find the frames
                causes.update(_undecodable_frames(frames, first, last))
    broken = list(runs(np.fromiter(causes, dtype=int, count=len(causes))))
    for first, last in broken[:10]:
        report.add("pixels", f"{_frames(first, last)} cannot be decoded ({causes[first]})")
    if len(broken) > 10:
        report.add("pixels", f"{len(causes)} frames cannot be decoded in all")
    decodes = readable.copy()
    decodes[list(causes)] = False
    return decodes


def _undecodable_frames(frames: Any, first: int, last: int) -> dict[int, str]:
    """The frames ``first..last`` of the store's ``frames`` (its dask array) that do not
    decode, each with its cause in one line."""
    causes = {}
    for frame in range(first, last + 1):
        try:
            frames[frame : frame + 1].compute(scheduler="synchronous")
        except Exception as error:
            cause = error.__cause__ or error
            text = str(cause).splitlines()[0] if str(cause) else ""
            causes[frame] = f"{type(cause).__name__}: {text}"
    return causes
