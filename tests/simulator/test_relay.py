"""The simulator's media relay: real video on every protocol, and the channel lifecycle enforced.

Consumers are real decoders (PyAV, run in worker threads that every test joins) and raw sockets.
No test asserts a duration: waits are bounded polls on channel states and close reasons.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from typing import Any

import aiohttp
import pytest

from simulator.config import SimConfig
from simulator.data import SimData, generate
from simulator.relay import Relay
from simulator.rtsp import RtspMessage, channel_id_of, read_message
from simulator.tls import client_context_trusting

from ..common import playing_viewers
from ..rtsp_client import RtspClient
from .common import MEDIA_MARKS, closed, http_status, rtsp_request, wait_for

av = pytest.importorskip("av")

pytestmark = MEDIA_MARKS

CAMERA = 1001  # H.264, 640x360 main stream


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(pull_window=2.0, hls_idle=2.0, no_sub_delay=0.05)


@pytest.fixture
def sim_data() -> SimData:
    return generate(stores=1, cameras_per_store=4)


# --------------------------------------------------------------------------- consumers


def decode(
    url: str,
    count: int = 5,
    *,
    stop: threading.Event | None = None,
    first: threading.Event | None = None,
) -> dict[str, Any]:
    """Decode video frames from `url` with PyAV (blocking: run it in a thread).

    Stops after `count` frames, or when `stop` is set (count=0: until then), or when the stream ends.
    Returns the frames' sizes, the codec, and how it ended.
    """
    options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
    if url.startswith("https"):
        options["tls_verify"] = "0"  # the relay's certificate is self-signed
    if url.endswith(".flv"):
        options |= {"analyzeduration": "500000", "probesize": "200000"}
    result: dict[str, Any] = {"frames": [], "codec": None, "ended": "count", "error": None}
    try:
        with av.open(url, options=options, timeout=(20.0, 8.0)) as container:
            stream = container.streams.video[0]
            result["codec"] = stream.codec_context.name
            for frame in container.decode(stream):
                result["frames"].append((frame.width, frame.height))
                if first is not None:
                    first.set()
                if count and len(result["frames"]) >= count:
                    break
                if stop is not None and stop.is_set():
                    result["ended"] = "stopped"
                    break
            else:
                result["ended"] = "eof"
    except (av.FFmpegError, OSError) as err:
        result["ended"], result["error"] = "error", repr(err)
    return result


async def ffprobe_frames(url: str, count: int, *extra: str) -> list[tuple[int, int]]:
    """Decode `count` video frames with Debian's ffprobe (a subprocess, awaited)."""
    proc = await asyncio.create_subprocess_exec(
        "ffprobe",
        "-v",
        "error",
        *extra,
        "-select_streams",
        "v:0",
        "-read_intervals",
        f"%+#{count}",
        "-show_entries",
        "frame=width,height",
        "-of",
        "json",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return [(f["width"], f["height"]) for f in json.loads(out)["frames"]][:count]


# --------------------------------------------------------------------------- video on every protocol


@pytest.mark.parametrize(
    ("protocol", "pulled_as", "closed_as"),
    [
        ("rtsp", "rtsp", "last_puller_left"),
        ("hls", "hls", "hls_idle"),
        ("flv", "flv", "last_puller_left"),
        ("tlsflv", "flv", "last_puller_left"),
    ],
)
async def test_fresh_channel_serves_video(
    relay: Relay, sim_data: SimData, protocol: str, pulled_as: str, closed_as: str
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    urls = relay.addresses(channel)
    assert urls["vencodingname"] == "H264"
    assert set(urls) == {"rtsp", "hls", "flv", "rtmp", "tlsflv", "tlshls", "vencodingname"}
    result = await asyncio.to_thread(decode, urls[protocol], 5)
    assert result["error"] is None, result
    assert result["codec"] == "h264"
    assert result["frames"] == [(640, 360)] * 5
    # the consumer is gone: the channel follows (FLV/RTSP at once, HLS after the idle time)
    assert await closed(channel) == closed_as
    assert channel.pulls == 1
    assert channel.protocols == [pulled_as]
    assert channel.pullers == 0
    assert await http_status(urls["hls"]) == 404


async def test_tls_hls_with_the_throwaway_certificate(relay: Relay, sim_data: SimData) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)["tlshls"]
    assert url.startswith(f"https://127.0.0.1:{relay.https_port}/rtsp/{channel.id}/")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(
            aiohttp.ClientConnectorCertificateError
        ):  # self-signed: default trust fails
            await session.get(url)
        async with session.get(url, ssl=client_context_trusting()) as resp:  # verified against it
            assert resp.status == 200
            playlist = await resp.text()
    assert "#EXTINF" in playlist
    # PyAV 19's FFmpeg verifies certificates on the HLS demuxer's own requests whatever tls_verify
    # says; Debian's ffprobe honours -tls_verify 0, so it is the consumer here.
    frames = await ffprobe_frames(url, 3, "-tls_verify", "0")
    assert frames == [(640, 360)] * 3
    assert await closed(channel) == "hls_idle"


async def test_h265_camera_has_no_flv_and_serves_hevc(relay: Relay, sim_data: SimData) -> None:
    camera = sim_data.add_camera(next(iter(sim_data.stores)), "H.265 门口", codec="H265")
    channel = relay.open_channel(camera, sub_stream=True)
    urls = relay.addresses(channel)
    assert urls["vencodingname"] == "H265"
    assert not {"flv", "rtmp", "tlsflv"} & set(urls)
    assert (
        await http_status(f"http://127.0.0.1:{relay.http_port}/rtsp/{channel.id}/live.flv") == 404
    )
    result = await asyncio.to_thread(decode, urls["rtsp"], 3)
    assert result["codec"] == "hevc"
    assert result["frames"] == [(320, 180)] * 3  # the sub stream
    assert await closed(channel) == "last_puller_left"


# --------------------------------------------------------------------------- lifecycle


async def test_channel_not_pulled_within_the_window_is_gone(
    relay: Relay, sim_data: SimData
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    urls = relay.addresses(channel)
    assert channel.id in relay.channels
    assert await closed(channel) == "no_puller"
    assert channel.id not in relay.channels
    assert relay.history[-1] is channel
    assert channel.pulls == 0
    status, _, _ = await rtsp_request(urls["rtsp"])
    assert status == 404
    assert await http_status(urls["hls"]) == 404
    assert await http_status(urls["flv"]) == 404
    assert await http_status(urls["tlsflv"], ssl_ctx=False) == 404
    result = await asyncio.to_thread(decode, urls["rtsp"], 1)
    assert result["ended"] == "error"
    assert not result["frames"]


async def test_rtsp_answers_name_the_relay_and_udp_is_refused(
    relay: Relay, sim_data: SimData
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)["rtsp"]
    status, headers, body = await rtsp_request(url, headers={"Accept": "application/sdp"})
    assert status == 200
    assert headers["content-base"].startswith(url)
    assert relay.backend.port is not None
    backend = f":{relay.backend.port}"
    assert backend not in str(headers)
    assert backend.encode() not in body
    assert b"m=video" in body
    status, _, _ = await rtsp_request(
        url,
        "SETUP",
        {"Transport": "RTP/AVP;unicast;client_port=5000-5001"},
        target=url + "/stream=0",
    )
    assert status == 461
    status, _, _ = await rtsp_request(url.rsplit("/", 1)[0] + "/not-a-channel")
    assert status == 404
    # connections that never played are no pull: the window still closes the channel
    assert await closed(channel) == "no_puller"
    assert channel.pulls == 0


async def negotiate(client: RtspClient) -> None:
    """DESCRIBE and SETUP (interleaved TCP), stopping short of PLAY."""
    describe = await client.request("DESCRIBE", headers={"Accept": "application/sdp"})
    assert describe.status == 200
    base = describe.header("content-base") or client.url
    (control,) = client.control_urls(describe.body, base)
    setup = await client.request(
        "SETUP", control, {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
    )
    assert setup.status == 200


async def test_window_cuts_a_consumer_still_negotiating(relay: Relay, sim_data: SimData) -> None:
    """The platform's rule (the default): not playing when the window ends is not pulling."""
    assert relay.config.lenient_pull_window is False
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    async with RtspClient(relay.addresses(channel)["rtsp"]) as client:
        await negotiate(client)
        assert await closed(channel) == "no_puller"
        assert await client.read_until_closed()  # its connection was cut
    assert channel.pulls == 0


@pytest.mark.parametrize("sim_config", [SimConfig(pull_window=2.0, lenient_pull_window=True)])
async def test_lenient_window_lets_a_negotiating_consumer_play(
    relay: Relay, sim_data: SimData
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    async with RtspClient(relay.addresses(channel)["rtsp"]) as client:
        await negotiate(client)
        await wait_for(lambda: channel.window_over, what="the end of the pull window")
        assert channel.closed_at is None  # held by the consumer still negotiating
        play = await client.request("PLAY", headers={"Range": "npt=0.000-"})
        assert play.status == 200
        assert len(await client.read_frames(10)) == 10
        assert channel.pullers == 1
    assert await closed(channel) == "last_puller_left"
    assert channel.pulls == 1


@pytest.mark.parametrize("sim_config", [SimConfig(pull_window=2.0, lenient_pull_window=True)])
async def test_lenient_window_closes_when_the_negotiator_leaves(
    relay: Relay, sim_data: SimData
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    async with RtspClient(relay.addresses(channel)["rtsp"]) as client:
        await negotiate(client)
        await wait_for(lambda: channel.window_over, what="the end of the pull window")
        assert channel.closed_at is None
    assert await closed(channel) == "no_puller"
    assert channel.pulls == 0


async def test_describe_right_after_the_last_viewer_left_is_answered(
    relay: Relay, sim_data: SimData
) -> None:
    """The backend's shared media is torn down when its last client leaves; a DESCRIBE arriving
    meanwhile used to get 503 ("media was not unprepared") about one time in ten."""
    camera = sim_data.cameras[CAMERA]
    statuses = []
    for _ in range(30):
        channel = relay.open_channel(camera)
        status, _, _ = await rtsp_request(
            relay.addresses(channel)["rtsp"], headers={"Accept": "application/sdp"}
        )
        statuses.append(status)
    assert statuses == [200] * 30


async def test_consumers_playing_one_channel_together_keep_the_backend_alive(
    relay: Relay, sim_data: SimData
) -> None:
    """GStreamer's RTSP server aborted (assertion in gst_rtsp_media_get_rates) about one time in
    fifteen when PLAYs of several consumers reached a freshly prepared shared media together."""
    camera = sim_data.cameras[CAMERA]
    for _ in range(30):
        channel = relay.open_channel(camera)
        url = relay.addresses(channel)["rtsp"]
        viewers = await playing_viewers(url, 3, 2)
        for viewer in viewers:
            await viewer.close()
        assert await closed(channel) == "last_puller_left"


async def test_two_consumers_share_a_channel(relay: Relay, sim_data: SimData) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)["rtsp"]
    stop, first = threading.Event(), threading.Event()
    long_viewer = asyncio.ensure_future(asyncio.to_thread(decode, url, 0, stop=stop, first=first))
    try:
        await wait_for(lambda: first.is_set() and channel.pullers == 1, what="first viewer")
        short = await asyncio.to_thread(decode, url, 3)
        assert short["frames"] == [(640, 360)] * 3
        await wait_for(
            lambda: channel.pullers == 1 and channel.pulls == 2, what="second viewer gone"
        )
        assert channel.closed_at is None  # survives the first leaving
    finally:
        stop.set()
        long_result = await long_viewer
    assert long_result["ended"] == "stopped", long_result
    assert await closed(channel) == "last_puller_left"
    assert channel.pulls == 2
    status, _, _ = await rtsp_request(url)
    assert status == 404


@pytest.mark.parametrize("protocol", ["rtsp", "flv"])
async def test_kill_mid_stream_cuts_the_consumer(
    relay: Relay, sim_data: SimData, protocol: str
) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)[protocol]
    stop, first = threading.Event(), threading.Event()
    viewer = asyncio.ensure_future(asyncio.to_thread(decode, url, 0, stop=stop, first=first))
    try:
        await wait_for(lambda: first.is_set() and channel.pullers == 1, what="viewer playing")
        assert relay.kill(channel.id) is True
        await wait_for(viewer.done, 30, "the viewer to be cut")
    finally:
        stop.set()
        result = await viewer
    assert result["ended"] in {"eof", "error"}, result  # cut by the relay, not stopped by us
    assert channel.close_reason == "killed"
    await wait_for(lambda: channel.pullers == 0, what="puller count back to 0")
    assert relay.kill(channel.id) is False


async def test_kill_device_closes_all_its_channels(relay: Relay, sim_data: SimData) -> None:
    camera = sim_data.cameras[CAMERA]
    channels = [relay.open_channel(camera), relay.open_channel(camera, sub_stream=True)]
    other = relay.open_channel(sim_data.cameras[CAMERA + 1])
    assert relay.kill_device(camera.id) == 2
    assert [c.close_reason for c in channels] == ["killed", "killed"]
    assert other.closed_at is None
    assert set(relay.channels) == {other.id}


async def test_hls_channel_idle_is_gone(relay: Relay, sim_data: SimData) -> None:
    channel = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)["hls"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            playlist = await resp.text()
        segment = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        async with session.get(url.rsplit("/", 1)[0] + "/" + segment) as resp:
            assert resp.status == 200
            data = await resp.read()
        assert channel.pullers == 1
        assert channel.pulls == 1
        with av.open(io.BytesIO(data)) as container:
            frames = list(container.decode(video=0))
        assert frames
        assert (frames[0].width, frames[0].height) == (640, 360)
        assert await closed(channel) == "hls_idle"
        async with session.get(url) as resp:
            assert resp.status == 404
        async with session.get(url.rsplit("/", 1)[0] + "/" + segment) as resp:
            assert resp.status == 404


async def test_standing_channel_outlives_its_pull_window(
    relay: Relay, sim_data: SimData, sim_config: SimConfig
) -> None:
    until = time.time() + sim_config.pull_window + 3.0
    channel = relay.open_channel(sim_data.cameras[CAMERA], standing_until=until)
    normal = relay.open_channel(sim_data.cameras[CAMERA])
    url = relay.addresses(channel)["rtsp"]
    result = await asyncio.to_thread(decode, url, 3)
    assert result["frames"] == [(640, 360)] * 3
    await wait_for(lambda: normal.closed_at is not None, what="the normal channel's window")
    assert normal.close_reason == "no_puller"
    await wait_for(lambda: channel.pullers == 0, what="the viewer gone")
    assert channel.closed_at is None  # no puller, past the window, last puller left: still standing
    status, _, _ = await rtsp_request(url)
    assert status == 200
    assert await closed(channel) == "standing_expired"
    assert channel.pulls == 1


async def test_snapshot_is_a_real_jpeg(relay: Relay, sim_data: SimData) -> None:
    camera = sim_data.cameras[CAMERA]
    url = relay.snapshot_url(camera)
    assert url == f"http://127.0.0.1:{relay.http_port}/snapshot/{camera.id}.jpg"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(url) as resp:
                assert resp.status == 200
                assert resp.content_type == "image/jpeg"
                jpeg = await resp.read()
        async with session.get(url.replace(str(camera.id), "999999")) as resp:
            assert resp.status == 404
    assert jpeg.startswith(b"\xff\xd8")
    with av.open(io.BytesIO(jpeg)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (640, 360)
    assert [device for device, _ in relay.snapshots] == [camera.id, camera.id]
    assert not relay.history  # a still opens no channel


@pytest.mark.usefixtures("socket_enabled")
async def test_relay_on_its_own_stops_cleanly() -> None:
    data = generate(stores=1, cameras_per_store=1)
    async with Relay(SimConfig(pull_window=30.0), data) as relay:
        channel = relay.open_channel(data.cameras[CAMERA], standing_until=time.time() + 60)
        result = await asyncio.to_thread(decode, relay.addresses(channel)["rtsp"], 2)
        assert result["frames"] == [(640, 360)] * 2
        assert relay.backend.running
    assert channel.close_reason == "relay_stopped"
    assert not relay.backend.running
    assert not relay.channels


# --------------------------------------------------------------------------- RTSP framing (no media needed)


async def test_rtsp_reader_parses_interleaved_frames_and_messages() -> None:
    reader = asyncio.StreamReader()
    sdp = b"v=0\r\nm=video 0 RTP/AVP 96\r\n"
    reader.feed_data(
        b"$\x00\x00\x0cRTSP/1.0 200"  # RTP payload that looks like text must stay a frame
        + b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: "
        + str(len(sdp)).encode()
        + b"\r\n\r\n"
        + sdp
        + b"\r\n$\x01\x00\x00"
        + b"GET_PARAMETER rtsp://h:1/rtsp/abc RTSP/1.0\r\nCSeq: 3\r\n\r\n"
    )
    reader.feed_eof()
    assert await read_message(reader) == b"$\x00\x00\x0cRTSP/1.0 200"
    answer = await read_message(reader)
    assert isinstance(answer, RtspMessage)
    assert answer.is_response
    assert answer.status == 200
    assert answer.header("cseq") == "2"
    assert answer.body == sdp
    assert await read_message(reader) == b"$\x01\x00\x00"
    request = await read_message(reader)
    assert isinstance(request, RtspMessage)
    assert request.method == "GET_PARAMETER"
    assert request.url == "rtsp://h:1/rtsp/abc"
    assert await read_message(reader) is None
    assert b"Content-Length: 3" in RtspMessage("RTSP/1.0 200 OK", [("CSeq", "1")], b"abc").encode()


def test_channel_id_of_relay_urls() -> None:
    assert channel_id_of("rtsp://127.0.0.1:5/rtsp/abc") == ("abc", "")
    assert channel_id_of("rtsp://127.0.0.1:5/rtsp/abc/stream=0") == ("abc", "/stream=0")
    assert channel_id_of("rtsp://127.0.0.1:5/rtsp/abc/?x=1") == ("abc", "/?x=1")
    assert channel_id_of("rtsp://127.0.0.1:5/cam/1001/main") is None
    assert channel_id_of("rtsp://127.0.0.1:5/rtsp/") is None


async def test_options_star_is_answered_by_the_relay(relay: Relay) -> None:
    status, headers, _ = await rtsp_request(
        f"rtsp://127.0.0.1:{relay.rtsp_port}/", "OPTIONS", target="*"
    )
    assert status == 200
    assert "DESCRIBE" in headers["public"]
    assert not relay.backend.running  # nothing was opened for it
