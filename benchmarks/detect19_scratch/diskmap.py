"""A detector on the raw disk-sum map: its maxima added to the analysis' features (scratch)."""
import os, sys, pickle, warnings, math
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np, pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree
from napari_pynta import analysis, detect
from napari_pynta.detect.wide import refine_positions
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import share, DISK, RING, N_DISK

DISK_K = DISK.astype(float); RING_K = RING.astype(float) / RING.sum()
FOOT = (np.add.outer(np.arange(-4, 5) ** 2, np.arange(-4, 5) ** 2) <= 16)

def maxima(frame, sd, margin=3):
    f = frame.astype(np.float64)
    s = (ndimage.correlate(f, DISK_K, mode="reflect") - N_DISK * ndimage.correlate(f, RING_K, mode="reflect")) / (sd * math.sqrt(N_DISK))
    peak = (s == ndimage.maximum_filter(s, footprint=FOOT)) & (s > 3)
    peak[:margin] = peak[-margin:] = False; peak[:, :margin] = peak[:, -margin:] = False
    y, x = np.nonzero(peak)
    return y, x, s[y, x]

def added(frames, locs, sd, sep):
    """Disk-map maxima farther than ``sep`` from every feature of their frame."""
    out = []
    by = dict(tuple(locs.groupby("frame")))
    for t, frame in enumerate(frames):
        y, x, s = maxima(frame, sd)
        have = by.get(t)
        if have is not None and len(y):
            d, _ = cKDTree(have[["y", "x"]].to_numpy()).query(np.c_[y, x])
            keep = d >= sep
            y, x, s = y[keep], x[keep], s[keep]
        out.append(pd.DataFrame({"frame": t, "y": y.astype(float), "x": x.astype(float), "stat": s}))
    return pd.concat(out, ignore_index=True)

rows = []
if __name__ != "__main__": sys.argv = sys.argv[:1]
for name in sys.argv[1:]:
    d = pickle.load(open(name, "rb"))
    p, th, frames, noise, visible = d["params"], d["threshold"], d["frames"], d["noise"], d["visible"]
    npx = noise.shape[1] * noise.shape[2] / 1e6
    kw = p.detection_kwargs(); engine = kw.pop("engine")
    locs = detect.locate_frames(frames, 0, engine, **kw)
    nlocs = detect.locate_frames(noise, 0, engine, **kw)
    sep = p.separation or p.diameter_px + 1.0
    extra_noise = added(noise, nlocs, th.noise_sd, sep)
    srt = np.sort(extra_noise["stat"].to_numpy())[::-1]
    n_now = len(nlocs)
    T = srt[int(round(npx * len(noise))) - n_now]  # union at 1 false per Mpx per frame
    T_same = srt[0] + 1e-9  # adds none on these noise frames
    extra = added(frames, locs, th.noise_sd, sep)
    for label, thr in [("now", np.inf), (f"+ disk maxima >= {T:.2f}", T), (f"+ disk maxima >= {T_same:.2f}", T_same)]:
        add = extra[extra["stat"] >= thr]
        if len(add):
            add = add.copy()
            for t, g in add.groupby("frame"):
                yy, xx = refine_positions(frames[t], g["y"].to_numpy(), g["x"].to_numpy(), 5)
                add.loc[g.index, "y"] = yy; add.loc[g.index, "x"] = xx
        both = pd.concat([locs, add.drop(columns="stat").assign(mass=np.nan)], ignore_index=True).sort_values("frame", kind="stable").reset_index(drop=True)
        got, unmatched = share(both, visible)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = analysis.analyze_localizations(both, len(frames), p, frame_shape=frames.shape[1:])
        conc = res.summary.get("concentration") or {}
        nfalse = n_now + int((extra_noise["stat"] >= thr).sum())
        rows.append({"movie": os.path.basename(name)[:-4], "test": label, "added_pf": len(add) / len(frames),
                     "detected_share": got, "unmatched_pf": unmatched / len(frames),
                     "noise_false_per_Mpx": nfalse / len(noise) / npx,
                     "size_err_pct": 100 * (res.summary["diameter_nm"] / 50 - 1),
                     "in_view_ratio": (conc.get("particles_in_view_per_frame") or np.nan) / (len(visible) / len(frames))})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=False, float_format="{:.4f}".format), flush=True)
print(pd.DataFrame(rows).to_string(index=False, float_format="{:.4f}".format))
