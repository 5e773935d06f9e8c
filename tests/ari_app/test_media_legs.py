"""The media leg factory builds each call's transport from ``[media]``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ari_app.media_leg import RtpMediaLeg
from ari_app.media_legs import build_media_leg_factory
from callwright.config import load_config
from callwright.errors import ConfigError


@pytest.mark.parametrize(("jitter_ms", "frames"), [(40, 2), (20, 1), (50, 3), (None, 2)])
async def test_rtp_legs_hold_the_configured_jitter_in_whole_frames(
    tmp_path: Path, jitter_ms: int | None, frames: int,
) -> None:
    settings = load_config(None, env={"CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path)})
    if jitter_ms is not None:
        settings = replace(settings, media=replace(settings.media, rtp_jitter_ms=jitter_ms))
    leg = await build_media_leg_factory(settings, None)()
    assert isinstance(leg, RtpMediaLeg)
    try:
        assert leg.transport.jitter_depth_frames == frames
    finally:
        await leg.transport.close()


def test_a_jitter_below_one_frame_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "callwright.toml"
    config.write_text("[media]\nrtp_jitter_ms = 10\n")
    with pytest.raises(ConfigError, match="media.rtp_jitter_ms"):
        load_config(config, env={})
