"""Where the added disk-map localizations lie: in-view truth, another (out-of-view) particle, none."""
import os, sys, pickle, dataclasses
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np, pandas as pd
import independent_movies as independent
from bench_link_truth import truth_ids
from napari_pynta import detect
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diskmap as dm  # noqa (runs nothing without argv)
d = pickle.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "independent_nta_50_nm_s0.pkl"), "rb"))
p, th, frames, visible = d["params"], d["threshold"], d["frames"], d["visible"]
for _s, title, sc in independent.cases(["nta"]):
    if title == "50 nm":
        movie = independent.simulate(sc, 0)
assert np.array_equal(movie.frames, frames)
T, Tt = movie.positions_px.shape[:2]
fr, pa = np.meshgrid(np.arange(T), np.arange(Tt), indexing="ij")
every = pd.DataFrame({"frame": fr.ravel(), "particle": pa.ravel(), "y": movie.positions_px[..., 0].ravel(), "x": movie.positions_px[..., 1].ravel()})
kw = p.detection_kwargs(); engine = kw.pop("engine")
locs = detect.locate_frames(frames, 0, engine, **kw)
extra = dm.added(frames, locs, th.noise_sd, p.separation or 8.0)
for thr in (5.24, 6.15):
    add = extra[extra["stat"] >= thr].reset_index(drop=True)
    both = pd.concat([locs.assign(src="det"), add.assign(src="add")], ignore_index=True)
    inview = truth_ids(both, visible, 6.0) >= 0
    anyp = truth_ids(both, every, 4.0) >= 0
    for src in ("det", "add"):
        m = both["src"] == src
        print(thr, src, "n/frame %.2f" % (m.sum() / T), "in-view %.2f" % inview[m].mean(),
              "not in view but a particle within 4 px %.2f" % (~inview[m] & anyp[m]).mean(),
              "none %.2f" % (~inview[m] & ~anyp[m]).mean(), flush=True)
