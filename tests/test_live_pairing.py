"""The live display draws each frame with its own localizations, never older ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_pynta.widgets.live_pairing import LivePairing


def frame(seq: int) -> np.ndarray:
    return np.full((4, 4), seq, dtype=np.uint16)


def locs(seq: int, n: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"frame": [seq] * n, "y": np.arange(n, dtype=float), "x": [1.0] * n})


def test_without_tracking_the_newest_frame_is_drawn():
    pairing = LivePairing(keep_interval_s=0)
    for seq in range(3):
        pairing.add_frame(seq, frame(seq), now=0.0)
    drawing = pairing.next_drawing(now=0.0)
    assert drawing.seq == 2 and drawing.frame[0, 0] == 2 and drawing.localizations is None
    assert pairing.next_drawing(now=0.0) is None  # nothing new since


def test_frames_wait_for_their_own_localizations():
    pairing = LivePairing(keep_interval_s=0)
    for seq in range(10):
        pairing.add_frame(seq, frame(seq), now=0.0)
    pairing.add_localizations(3, locs(3))
    drawing = pairing.next_drawing(now=0.1)
    # the newest frame whose localizations arrived, with exactly those
    assert drawing.seq == 3 and drawing.frame[0, 0] == 3
    assert set(drawing.localizations["frame"]) == {3}
    # nothing newer is located yet: wait (frames 4..9 are still young)
    assert pairing.next_drawing(now=0.2) is None
    # late localizations of a frame older than the drawn one never take the display back
    pairing.add_localizations(2, locs(2))
    pairing.add_localizations(7, locs(7, n=0))  # frame 7: located, nothing found
    pairing.add_localizations(6, locs(6))
    drawing = pairing.next_drawing(now=0.3)
    assert drawing.seq == 7 and len(drawing.localizations) == 0


def test_frames_are_drawn_without_circles_while_tracking_is_too_far_behind():
    pairing = LivePairing(max_wait_s=1.0, keep_interval_s=0)
    pairing.add_localizations(0, locs(0))
    for seq in range(1, 50):
        pairing.add_frame(seq, frame(seq), now=seq * 0.05)
    assert pairing.next_drawing(now=1.0) is None  # the oldest frame waited 0.95 s
    drawing = pairing.next_drawing(now=1.2)
    assert drawing.seq == 49 and len(drawing.localizations) == 0
    assert drawing.frames_behind == 49
    # still far behind: the live image goes on, without circles
    pairing.add_frame(50, frame(50), now=2.5)
    pairing.add_localizations(20, locs(20))  # arrived at 1.0 s: 1.5 s behind
    drawing = pairing.next_drawing(now=2.5)
    assert drawing.seq == 50 and len(drawing.localizations) == 0 and drawing.frames_behind == 30
    # tracking caught up to within half the wait: frames wait for their circles again
    pairing.add_frame(51, frame(51), now=2.6)
    pairing.add_localizations(50, locs(50))
    assert pairing.next_drawing(now=2.9) is None
    pairing.add_localizations(51, locs(51))
    drawing = pairing.next_drawing(now=3.0)
    assert drawing.seq == 51 and set(drawing.localizations["frame"]) == {51}


def test_kept_frames_are_bounded_by_memory():
    pairing = LivePairing(max_bytes=10 * frame(0).nbytes, max_frames=1000, keep_interval_s=0)
    pairing.add_localizations(0, locs(0))
    for seq in range(1, 100):
        pairing.add_frame(seq, frame(seq), now=0.0)
        pairing.add_localizations(seq - 50, locs(seq - 50))  # far behind: never kept
    assert len(pairing._frames) == 10 and len(pairing._localizations) == 0
    pairing.add_localizations(95, locs(95))
    assert pairing.next_drawing(now=0.0).seq == 95


def test_frames_are_kept_no_faster_than_they_can_be_drawn():
    pairing = LivePairing(keep_interval_s=0.09)
    for seq in range(20):
        pairing.add_frame(seq, frame(seq), now=seq * 0.025)  # 40 frames/s arrive
    assert list(pairing._frames) == [0, 4, 8, 12, 16]
