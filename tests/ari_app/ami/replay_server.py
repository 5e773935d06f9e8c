"""A fake AMI server that replays a recorded transcript (outbound-ami/ami-*.txt).

It sends the recorded banner; for each action a client sends, it finds the next recorded
``send`` block with the same ``Action`` (a Login is always accepted) and answers with the
``recv`` blocks that followed it, the recorded ActionID replaced by the client's. Events
recorded between are sent as they were.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.ari_app.simulator.ami_helpers import fields, recorded


class ReplayAmi:
    def __init__(self, *transcripts: str) -> None:
        self.blocks = [b for name in transcripts for b in recorded(name)]
        self.port = 0
        self._server: asyncio.Server | None = None
        self.received: list[dict[str, str]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _answer(self, action: dict[str, str]) -> list[str]:
        """The next unused recorded answer to this action (the last one again when all were
        used: the same question asked twice)."""
        name = action.get("Action", "").lower()
        for reuse in (False, True):
            found = self._replay(action, name, reuse)
            if found is not None:
                return found
        return [f"Response: Error\r\nActionID: {action.get('ActionID', '')}\r\nMessage: "
                "not in the recording"]

    def _replay(self, action: dict[str, str], name: str, reuse: bool) -> list[str] | None:
        for i, (direction, raw) in enumerate(self.blocks):
            if direction not in (("send", "used") if reuse else ("send",)):
                continue
            if fields(raw).get("Action", "").lower() != name:
                continue
            if name != "login":
                self.blocks[i] = ("used", raw)
            recorded_id = fields(raw).get("ActionID")
            out = []
            for direction2, raw2 in self.blocks[i + 1:]:
                if direction2 != "recv":
                    break
                if raw2.startswith("<connection closed"):
                    break
                if recorded_id and action.get("ActionID"):
                    raw2 = raw2.replace(f"ActionID: {recorded_id}\r\n",
                                        f"ActionID: {action['ActionID']}\r\n")
                    if raw2.endswith(f"ActionID: {recorded_id}"):
                        raw2 = raw2[: -len(recorded_id)] + action["ActionID"]
                out.append(raw2)
            return out
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        banner = next(raw for d, raw in self.blocks if d == "recv")
        writer.write(banner.encode() + b"\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                raw = (await reader.readuntil(b"\r\n\r\n")).decode()[:-4]
                action = fields(raw)
                self.received.append(action)
                for message in self._answer(action):
                    writer.write(message.encode() + b"\r\n\r\n")
                await writer.drain()
        writer.close()
