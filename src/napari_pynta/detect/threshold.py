"""Automatic detection threshold (``minmass``) from the frames themselves."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_pynta.errors import PyntaInputError

#: frames sampled by :func:`estimate_minmass`
MINMASS_SAMPLE_FRAMES = 10
#: automatic minmass = noise median x exp(this many dim-side widths of the noise peak in ln mass)
MINMASS_NOISE_WIDTHS = 6.0
#: the lower quartile of a normal law lies this many standard deviations below its median
NORMAL_QUARTILE = 0.6745


def estimate_minmass(
    frames: Any,
    engine: str = "trackpy",
    *,
    n_sample: int = MINMASS_SAMPLE_FRAMES,
    **params: Any,
) -> float:
    """Choose ``minmass`` automatically, just above the brightness of noise features.

    Without a mass threshold every local maximum of the background noise is a "feature". In
    NTA images particles are sparse, so most local maxima are noise: the median of ln(mass) of
    all candidates is the centre of the noise peak and the distance from the lower quartile to
    the median measures its width (both quantiles lie on the dim side, which particles do not
    contaminate). The threshold is :data:`MINMASS_NOISE_WIDTHS` widths above the noise median.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        The movie (numpy or dask); ``n_sample`` evenly spaced frames are analysed.
    engine : str
        A key of :data:`ENGINES`.
    n_sample : int
        Number of frames to sample.
    **params
        Detection parameters passed to :func:`locate` (``minmass`` is ignored).

    Returns
    -------
    float
        The threshold (0 when the sampled frames have fewer than 4 local maxima).

    Notes
    -----
    The assumption fails when particles outnumber noise maxima (very dense samples or a
    noiseless image); give ``minmass`` explicitly then.
    """
    if getattr(frames, "ndim", None) != 3 or frames.shape[0] == 0:
        raise PyntaInputError(
            f"frames must be a non-empty 3-D stack (T, Y, X), got shape "
            f"{getattr(frames, 'shape', None)}"
        )
    params = {key: value for key, value in params.items() if key != "minmass"}
    picks = np.unique(np.linspace(0, frames.shape[0] - 1, max(1, n_sample)).round().astype(int))
    from napari_pynta.detect import locate

    masses = np.concatenate(
        [
            locate(np.asarray(frames[index]), engine, minmass=0, **params)["mass"].to_numpy()
            for index in picks
        ]
    )
    log_mass = np.log(masses[masses > 0])
    if len(log_mass) < 4:
        return 0.0
    # quantiles of the dim half only: particles (bright) barely move them
    lower_quartile, noise_median = np.percentile(log_mass, [25, 50])
    half_width = (noise_median - lower_quartile) / NORMAL_QUARTILE
    return float(np.exp(noise_median + MINMASS_NOISE_WIDTHS * half_width))
