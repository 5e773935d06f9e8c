"""Bridge audio: simple forwarding for two, a continuous softmix for three or more."""

from __future__ import annotations

import asyncio

import numpy as np

from ari_app.simulator.mixer import BridgeMixer


class Port:
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.closed = False

    def deliver(self, pcm: bytes) -> None:
        self.got.append(pcm)

    def close(self) -> None:
        self.closed = True


async def test_two_members_forward_as_is() -> None:
    mixer = BridgeMixer()
    a, b = Port(), Port()
    mixer.add("a", a)
    mixer.add("b", b)
    mixer.on_audio("a", b"\x01\x00" * 8)
    await asyncio.sleep(0.05)
    assert b.got == [b"\x01\x00" * 8] and a.got == []
    mixer.close()


async def test_three_members_get_a_continuous_mix() -> None:
    mixer = BridgeMixer()
    ports = {name: Port() for name in "abc"}
    for name, port in ports.items():
        mixer.add(name, port)
    frame = np.full(160, 1000, dtype="<i2").tobytes()
    mixer.on_audio("a", frame)
    mixer.on_audio("b", frame)
    await asyncio.sleep(0.11)
    mixer.close()
    assert len(ports["c"].got) >= 4, "silence flows too"
    first_c = np.frombuffer(ports["c"].got[0], "<i2")
    first_a = np.frombuffer(ports["a"].got[0], "<i2")
    assert int(first_c[0]) == 2000 and int(first_a[0]) == 1000
    assert set(np.frombuffer(ports["c"].got[-1], "<i2").tolist()) == {0}
