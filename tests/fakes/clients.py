"""Building OpenAI clients for tests the way the product does: off the event loop.

``openai.AsyncOpenAI(...)`` builds an httpx client and its TLS context (CA certificates read from
disk): tens of milliseconds, hundreds on a loaded machine. The product builds its clients in a
thread (callwright/dialog/llm_client.py); tests do the same so the loop watchdog measures our code.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai


async def make_openai_client(**kwargs: Any) -> openai.AsyncOpenAI:
    return await asyncio.to_thread(lambda: openai.AsyncOpenAI(**kwargs))
