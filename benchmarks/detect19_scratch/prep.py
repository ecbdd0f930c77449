"""Cache the movies, their truth and the analysis' detection settings (scratch, detect19)."""
import os, sys, dataclasses, math, pickle
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import independent_movies as independent
from bench_accuracy import build_cases
from paired_blur_linking import Scene
from napari_pynta import analysis, simulate

OUT = os.path.dirname(os.path.abspath(__file__))
for label, seed in [(a.replace("_", " "), int(b)) for a, b in (x.rsplit(":", 1) for x in sys.argv[1:])]:
    path = f"{OUT}/{label.replace(' ', '_')}_s{seed}.pkl"
    if os.path.exists(path):
        continue
    scene = Scene(label, seed, 0.67)
    params = analysis.AnalysisParams.from_metadata(scene.metadata)
    threshold = analysis.detection_threshold(scene.frames, params)
    p2 = analysis.with_detection(params, threshold)
    # pure-noise frames of the same camera
    if label.startswith("independent"):
        for _s, title, sc in independent.cases(["nta"]):
            if title == "50 nm":
                noise = independent.simulate(dataclasses.replace(sc, density_in_focus=0.3, photons_brightest=0.0, frames=400), 100 + seed).frames
    else:
        for item in build_cases(["nta"]):
            if item.name == "50 nm":
                st = dataclasses.replace(item.settings(100 + seed), n_particles=0)
                noise = np.asarray(simulate.simulate_movie(400, st).frames)
    pickle.dump({"frames": scene.frames, "visible": scene.visible, "metadata": scene.metadata,
                 "params": p2, "threshold": threshold, "noise": noise}, open(path, "wb"))
    print(label, seed, p2.diameter_px, p2.separation, p2.split_within_px, p2.minmass,
          threshold.noise_sd, threshold.background, noise.shape, noise.mean(), noise.std(), flush=True)
