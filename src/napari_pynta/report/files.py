"""Writing the HTML reports to files, and the check of a report's path that front ends run before a
long analysis."""

from __future__ import annotations

from pathlib import Path

from napari_pynta.errors import PyntaInputError
from napari_pynta.report.analysis_page import render_report
from napari_pynta.report.measurement_page import render_measurement_report
from napari_pynta.writable import check_writable_folder


def write_measurement_report(results: list, combined: dict, path: str | Path) -> Path:
    """Write :func:`render_measurement_report` to an ``.html`` file and return its path."""
    path = check_report_path(path)
    try:
        path.write_text(render_measurement_report(results, combined), encoding="utf-8")
    except OSError as error:
        raise PyntaInputError(f"report: cannot write {str(path)!r}: {error}", "report") from None
    return path


def check_report_path(path: str | Path) -> Path:
    """Raise :class:`PyntaInputError` unless ``path`` is an ``.html`` file in an existing folder
    that can be written (the PDF goes beside it).

    Front ends call this before a long analysis so that a typo or a read-only folder does not
    waste it.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise PyntaInputError(f"report must name an .html file, got {str(path)!r}", "report")
    if path.parent.exists() and not path.parent.is_dir():
        raise PyntaInputError(
            f"report: {str(path.parent)!r} is a file, not a folder; choose a path in a folder",
            "report",
        )
    if not path.parent.is_dir():
        raise PyntaInputError(f"report: the folder {str(path.parent)!r} does not exist", "report")
    for written in (path, path.with_suffix(".pdf")):
        if written.is_dir():
            raise PyntaInputError(
                f"report: {str(written)!r} is a folder; the report writes {path.name} and "
                f"{path.with_suffix('.pdf').name} there: choose another name",
                "report",
            )
    check_writable_folder(path, path.parent, "report")
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
        raise PyntaInputError(f"report: cannot write {str(path)!r}: {error}", "report") from None
    return path
