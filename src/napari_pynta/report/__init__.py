"""A self-contained HTML report of an analysis, written for someone who is not an NTA expert.

The page holds the settings of the measurement, the raw and deconvolved size distributions as
embedded PNG images (no external files), a statistics table, the track-length histogram, quality
warnings in plain words and the software version. ``pynta analyze --report OUT.html`` and the
Sizes widget's Report button both call :func:`write_report`.

The package: ``analysis_page`` (the page of one analysis, :func:`render_report`),
``measurement_page`` (replicate captures, :func:`render_measurement_report`,
:func:`replicate_rows`), ``pdf`` (:func:`write_pdf_report`) and ``files`` (:func:`write_report`,
:func:`write_measurement_report`, :func:`check_report_path`); the figures of the lab report are in
:mod:`napari_pynta.report_figures`. Every public name is importable from
``napari_pynta.report`` itself.
"""

from napari_pynta.report.analysis_page import (
    FEW_TRACKS,
    SHORT_TRACK_STEPS,
    plain_warnings,
    render_report,
)
from napari_pynta.report.files import check_report_path, write_measurement_report, write_report
from napari_pynta.report.measurement_page import render_measurement_report, replicate_rows
from napari_pynta.report.pdf import write_pdf_report

__all__ = [
    "FEW_TRACKS",
    "SHORT_TRACK_STEPS",
    "plain_warnings",
    "render_report",
    "replicate_rows",
    "render_measurement_report",
    "write_pdf_report",
    "write_measurement_report",
    "check_report_path",
    "write_report",
]
