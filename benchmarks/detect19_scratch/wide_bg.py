"""The band-pass with a wider background (and mask), minmass from the same noise model (scratch)."""
import os, sys, pickle, warnings
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np, pandas as pd
from napari_pynta import analysis, detect
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import share
rows = []
for name in sys.argv[1:]:
    d = pickle.load(open(name, "rb"))
    p, frames, noise, visible = d["params"], d["frames"], d["noise"], d["visible"]
    npx = noise.shape[1] * noise.shape[2] / 1e6
    for diameter, smoothing in [(7, None), (7, 15), (9, 15)]:
        extra = {} if smoothing is None else {"smoothing_size": smoothing}
        opts = dict(diameter=diameter, separation=p.separation, percentile=p.percentile, **extra)
        th = detect.estimate_threshold(frames, p.engine, **opts)
        kw = dict(opts, minmass=th.minmass, split_within=p.split_within_px)
        locs = detect.locate_frames(frames, 0, p.engine, **kw)
        nloc = detect.locate_frames(noise, 0, p.engine, **kw)
        got, unmatched = share(locs, visible)
        q = analysis.AnalysisParams(**{**p.__dict__, "minmass": th.minmass, "diameter_px": diameter})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = analysis.analyze_localizations(locs, len(frames), q, frame_shape=frames.shape[1:])
        conc = res.summary.get("concentration") or {}
        rows.append({"movie": os.path.basename(name)[:-4], "diam": diameter, "smooth": smoothing or diameter,
                     "minmass": th.minmass, "detected_share": got, "unmatched_pf": unmatched / len(frames),
                     "noise_false_per_Mpx": len(nloc) / len(noise) / npx,
                     "size_err_pct": 100 * (res.summary["diameter_nm"] / 50 - 1),
                     "in_view_ratio": (conc.get("particles_in_view_per_frame") or np.nan) / (len(visible) / len(frames))})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=False, float_format="{:.4f}".format), flush=True)
print(pd.DataFrame(rows).to_string(index=False, float_format="{:.4f}".format))
