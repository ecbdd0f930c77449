"""A small form for the sample being recorded: name, operator, diluent, dilution, remarks."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QFormLayout, QGroupBox, QLineEdit

from napari_pynta.sample import DILUTION_KEY, SAMPLE_LABELS, SAMPLE_TEXT_KEYS, validate_sample
from napari_pynta.widgets.form import float_field


class SampleForm(QGroupBox):
    """The sample fields stored with every recording (see :mod:`napari_pynta.sample`)."""

    def __init__(self) -> None:
        super().__init__("Sample")
        self.text_fields = {key: QLineEdit() for key in SAMPLE_TEXT_KEYS}
        self.dilution = float_field(
            1.0,
            0.0,
            1e12,
            decimals=1,
            tooltip="dilution factor of the measured suspension (100 = diluted 1:100)",
        )
        layout = QFormLayout(self)
        for key in ("sample_name", "operator", "diluent"):
            layout.addRow(SAMPLE_LABELS[key].lower(), self.text_fields[key])
        layout.addRow(SAMPLE_LABELS[DILUTION_KEY].lower(), self.dilution)
        layout.addRow(SAMPLE_LABELS["remarks"].lower(), self.text_fields["remarks"])

    def sample(self) -> dict[str, Any]:
        """The filled-in fields, validated (empty text fields left out).

        Raises
        ------
        PyntaInputError
            Naming a refused field (e.g. a dilution factor below 1).
        """
        fields: dict[str, Any] = {
            key: field.text().strip() or None for key, field in self.text_fields.items()
        }
        fields[DILUTION_KEY] = self.dilution.value()
        return validate_sample(fields)
