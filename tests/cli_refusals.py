"""What a `pynta` sub-command prints on stdout when it refuses its input under ``--json``."""

from __future__ import annotations

import json
from typing import Any


def json_refusal(out: str, err: str, command: str = "analyze") -> dict[str, Any]:
    """The one JSON object on stdout, checked to say what stderr says.

    Parameters
    ----------
    out, err : str
        The command's stdout and stderr.
    command : str
        The sub-command, as stderr names it (``pynta analyze: error: ...``).

    Returns
    -------
    dict
        The object; its ``error`` is the message stderr gives after ``pynta COMMAND: error:``.
    """
    assert out.endswith("\n") and out.count("\n") == 1, out  # one object, nothing else
    document = json.loads(out)
    assert f"pynta {command}: error: {document['error']}\n" in err, (document, err)
    return document
