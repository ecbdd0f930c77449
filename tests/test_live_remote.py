"""Remote viewers: tcp only with CURVE keys, only listed clients, internal sockets stay private.

Only loopback addresses are used: no traffic leaves this machine.
"""

from __future__ import annotations

import pytest
import zmq

# the fixture asserting that every test leaves no worker process behind
from test_live_pipeline import no_leftover_processes, wait_until  # noqa: F401

from napari_pynta.cli import main
from napari_pynta.errors import PyntaInputError
from napari_pynta.live import LiveConfig, LivePipeline, LiveSubscriber
from napari_pynta.live.keys import make_keys

CAMERA = dict(shape=(64, 64), n_particles=3, seed=2, fps=100.0)


def test_a_host_other_than_loopback_needs_keys_or_an_explicit_insecure(capsys):
    with pytest.raises(PyntaInputError, match="pynta keys DIR"):
        LiveConfig(host="0.0.0.0").validate()
    LiveConfig(host="0.0.0.0", insecure=True).validate()  # checked only; nothing is bound
    LiveConfig(host="127.0.0.1").validate()  # loopback: this machine only
    assert main(["acquire", "--host", "0.0.0.0", "--frames", "10"]) == 2
    assert "--keys DIR" in capsys.readouterr().err


def test_bad_key_directories_are_refused(tmp_path):
    keys = make_keys(tmp_path / "keys")
    with pytest.raises(PyntaInputError, match="new or empty"):
        make_keys(keys)
    with pytest.raises(PyntaInputError, match="lacks"):
        LiveConfig(host="127.0.0.1", keys_dir=str(tmp_path)).validate()
    with pytest.raises(PyntaInputError, match="set the host too"):
        LiveConfig(keys_dir=str(keys)).validate()


@pytest.mark.parametrize("option", [["--keys", "KEYS"], ["--insecure"]])
def test_keys_or_insecure_without_a_host_are_refused_naming_the_flags(tmp_path, capsys, option):
    """`--keys DIR` without `--host` said "keys_dir is for tcp: set host too" (the Python
    names), and `--insecure` without `--host` was accepted without a word, though it does
    nothing there."""
    keys = str(make_keys(tmp_path / "keys"))
    option = [keys if word == "KEYS" else word for word in option]
    assert main(["acquire", *option, "--frames", "10"]) == 2
    err = capsys.readouterr().err
    assert option[0] in err and "--host" in err and "set the host too" in err, err
    assert "keys_dir is for tcp" not in err


def test_only_authorized_viewers_receive_frames_over_tcp(tmp_path):
    keys = str(make_keys(tmp_path / "keys"))
    stranger = make_keys(tmp_path / "stranger")  # a valid key pair, not in keys/authorized
    config = LiveConfig(camera_settings=CAMERA, track=False, host="127.0.0.1", keys_dir=keys)
    with LivePipeline(config) as pipeline:
        endpoints = pipeline.endpoints
        assert endpoints.frames.startswith("tcp://127.0.0.1:")
        assert endpoints.results.startswith("tcp://127.0.0.1:")
        internal = (
            endpoints.save,
            endpoints.save_ack,
            endpoints.locate,
            endpoints.locs_in,
        )
        assert all(address.startswith("ipc://") for address in internal)
        assert endpoints.control.startswith("ipc://") and endpoints.status.startswith("ipc://")

        context = zmq.Context()
        plain = context.socket(zmq.SUB)  # no keys at all
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(endpoints.frames)
        viewer = LiveSubscriber(endpoints, results=False)
        outsider = LiveSubscriber(
            endpoints,
            results=False,
            client_key=str(stranger / "client.key_secret"),
        )
        seen: set[int] = set()
        strangers = []
        try:

            def twenty_frames() -> bool:
                update = viewer.poll()
                if update.frame is not None:
                    seen.add(update.frame_header["seq"])
                strangers.append(outsider.poll().frame)
                return len(seen) >= 20

            wait_until(twenty_frames, what="frames at the authorized viewer")
            assert strangers and all(frame is None for frame in strangers)
            with pytest.raises(zmq.Again):
                plain.recv_multipart(zmq.NOBLOCK)
        finally:
            viewer.close()
            outsider.close()
            context.destroy(linger=0)


def test_pynta_keys_refuses_a_folder_whose_parent_does_not_exist(tmp_path, capsys):
    """`pynta keys` made every missing parent of a mistyped path (x28)."""
    mistyped = tmp_path / "dcuments" / "keys"
    assert main(["keys", str(mistyped)]) == 2
    err = capsys.readouterr().err
    assert f"{str(tmp_path / 'dcuments')!r}, which would hold it, does not exist" in err, err
    assert not (tmp_path / "dcuments").exists()


def test_pynta_keys_advises_a_command_that_runs_when_pasted(tmp_path, capsys):
    """The advised `pynta acquire --keys PATH` left a folder with a space unquoted."""
    import shlex

    folder = tmp_path / "my keys"
    assert main(["keys", str(folder)]) == 0
    advice = capsys.readouterr().out.split("`")[1]
    assert shlex.split(advice)[-2:] == ["--keys", str(folder)]
