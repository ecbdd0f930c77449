"""Which way the particles' contrast goes: bright on a dark field or dark on a bright one.

The engines look for bright features (dark ones with ``invert``). A bright-field movie analysed
without ``invert`` is not refused by anything else: the detector finds noise maxima and the
bright rims of the band-passed dark spots, links them and sizes them (a simulated 100 nm movie,
inverted: 51.6 ± 15.6 nm, with warnings about the linking only). The pixels say which way the
contrast goes: a moving particle lifts some pixels far above the background of its place (the
pixel's median over frames far apart) in a dark field, and lowers them far below it in a bright
field; noise, a drifting or uneven background and fixed defects (hot or dead pixels, which the
median over frames keeps) do neither.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from napari_pynta.robust import MAD_TO_SD

#: a pixel is far from its background beyond this many noise standard deviations
TAIL_SD = 5.0
#: the contrast is called reversed when the pixels far below the background outnumber those far
#: above it this many times (a 1 µm dark-field movie whose slow particles stay in the median
#: gave 0.4 times as many below as above; particles that hardly move approach but do not pass 1:
#: each leaves a hole where the median holds it and a spot where it is; 12 frames of 2 µm: 0.87) ...
REVERSED_RATIO = 2.0
#: ... and there are at least this many per frame (noise alone: about 0.5 per 128² frame, a
#: dim 100 nm bright-field movie 1.5)
REVERSED_MIN_PER_FRAME = 1.0
#: the background shift and the noise of each frame are medians of this many of its pixels
MEDIAN_PIXELS = 2**16


class ContrastTails(NamedTuple):
    """Pixels per frame far above (``bright``) and far below (``dark``) their background."""

    bright: float
    dark: float

    @property
    def reversed(self) -> bool:
        """True when the far-below pixels dominate: the particles are dark as the frames stand."""
        return self.dark >= REVERSED_MIN_PER_FRAME and self.dark >= REVERSED_RATIO * self.bright


def contrast_tails(frames: list[np.ndarray]) -> ContrastTails:
    """Count the pixels far above and far below their background in ``frames``.

    Parameters
    ----------
    frames : list of numpy.ndarray
        Frames spread over the movie (the threshold's sample), as the engines see them
        (inverted with ``invert``).

    Returns
    -------
    ContrastTails
        Pixels per frame beyond :data:`TAIL_SD` robust standard deviations above and below the
        background: each pixel's median over ``frames``, shifted by each frame's median
        difference from it (a background that brightens over the movie).
    """
    if len(frames) < 3:  # a median over one or two frames holds the particles themselves
        return ContrastTails(0.0, 0.0)
    stack = np.stack([np.asarray(frame, dtype=np.float32) for frame in frames])
    residual = stack - np.median(stack, axis=0)
    flat = residual.reshape(len(frames), -1)
    step = max(1, flat.shape[1] // MEDIAN_PIXELS)  # medians of a 2**16-pixel sample per frame
    residual -= np.median(flat[:, ::step], axis=1)[:, None, None]
    spread = MAD_TO_SD * float(np.median(np.abs(flat[:, ::step])))
    if spread == 0:
        return ContrastTails(0.0, 0.0)
    limit = TAIL_SD * spread
    n_frames = len(frames)
    return ContrastTails(
        float(np.count_nonzero(residual > limit)) / n_frames,
        float(np.count_nonzero(residual < -limit)) / n_frames,
    )


def reversed_contrast_warning(tails: ContrastTails, inverted: bool) -> str | None:
    """A plain-language warning when the particles look the other way than the detection
    looks for them, else None.

    Parameters
    ----------
    tails : ContrastTails
        Of the frames as the engines saw them.
    inverted : bool
        The detection inverted the frames (``invert``).

    Returns
    -------
    str or None
        The warning, with the counts and the ``--invert`` setting to use.
    """
    if not tails.reversed:
        return None
    far = (
        f"{tails.dark:.0f} pixels per frame lie far {{}} the background against {tails.bright:.0f}"
    )
    if inverted:  # the counts are of the inverted frames
        seen, looked, remedy = "bright on a dark background", "dark", "without --invert"
        counts = far.format("above") + " far below it"
    else:
        seen, looked = "dark on a bright background (bright-field)", "bright"
        remedy = "with --invert (Tracking: 'dark particles on bright background')"
        counts = far.format("below") + " far above it"
    return (
        f"The particles look {seen}, but the detection looked for {looked} ones: {counts}, so "
        "what was found and sized is noise and the edges of the particles' images, not the "
        f"particles. Check the frames and analyse {remedy}."
    )
