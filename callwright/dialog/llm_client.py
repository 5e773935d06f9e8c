"""OpenAI-compatible clients, one per (server, API key), shared by every call that uses them.

The API key of an assistant's LLM comes from the org's encrypted credential when the assistant
names one (``assistant.llm["credential"]``), else from the environment variable named by the
instance setting ``llm.api_key_env``. The key goes only into the client, which sends it in the
``Authorization`` header: never into a prompt, a log line, an error or a repr.

Building an ``AsyncOpenAI`` costs tens of milliseconds (it loads TLS certificates), so clients are
built in a worker thread and cached; :meth:`LlmClientFactory.start` builds the environment-key
client ahead of the first call.

    factory = LlmClientFactory(settings.llm, CredentialRepository(db, master_key))
    await factory.start()
    client = await factory.client_for(assistant.org_id, assistant.llm.get("credential"))
    ...
    await factory.aclose()
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping

import openai

from callwright.config import LlmSettings
from callwright.errors import ConfigError, NotFound
from callwright.store.credentials import CredentialRepository

__all__ = ["KEY_KINDS", "LlmClientFactory"]

log = logging.getLogger(__name__)

#: Credential kinds that may hold an LLM API key.
KEY_KINDS = ("api_key", "access_token")


def _build_client(base_url: str, key: str, timeout_s: float) -> openai.AsyncOpenAI:
    """Build a client and load the resources it imports lazily (chat completions), so that the
    first request of a call does not stall the event loop importing modules."""
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key=key, timeout=timeout_s, max_retries=0
    )
    _ = client.chat.completions
    return client


class LlmClientFactory:
    """Builds and caches LLM clients. ``env`` defaults to ``os.environ`` (tests pass a dict)."""

    def __init__(
        self,
        settings: LlmSettings,
        credentials: CredentialRepository | None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._clients: dict[tuple[str, str], openai.AsyncOpenAI] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        base_url = self._settings.base_url
        return f"LlmClientFactory(base_url={base_url!r}, clients={len(self._clients)})"

    async def start(self) -> None:
        """Build the client for the environment's key now, if the key is set."""
        key = self._settings.api_key(self._env)
        if self._settings.enabled and key:
            await self._client(key)

    async def client_for(self, org_id: int, credential_name: str | None) -> openai.AsyncOpenAI:
        """The client for an assistant of ``org_id`` whose LLM settings name ``credential_name``
        (None: the environment's key). Raises ConfigError when no LLM server is configured, the
        credential does not exist or is of the wrong kind, or no key is available;
        :class:`~callwright.privacy.secrets.DecryptionFailed` when the credential does not open."""
        if not self._settings.enabled:
            raise ConfigError("llm.base_url", "the URL of an OpenAI-compatible server")
        if credential_name:
            key = await self._reveal(org_id, credential_name)
        else:
            key = self._settings.api_key(self._env)
            if not key:
                raise ConfigError(
                    "llm.api_key_env",
                    f"an API key in the environment variable {self._settings.api_key_env}, or a "
                    "credential named in the assistant's LLM settings",
                )
        return await self._client(key)

    async def aclose(self) -> None:
        """Close every client built (their HTTP connection pools)."""
        async with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            await client.close()

    async def _reveal(self, org_id: int, name: str) -> str:
        where = "assistant.llm.credential"
        expected = f"the name of one of the org's credentials of kind {' or '.join(KEY_KINDS)}"
        if self._credentials is None:
            raise ConfigError(where, "no credential (this instance has no credential store)")
        try:
            credential = await self._credentials.get(org_id, name)
        except NotFound:
            raise ConfigError(where, expected, name) from None
        if credential.kind not in KEY_KINDS:
            raise ConfigError(where, expected, name)
        return await self._credentials.reveal(org_id, name)

    async def _client(self, key: str) -> openai.AsyncOpenAI:
        base_url = self._settings.base_url
        cache_key = (base_url, hashlib.sha256(key.encode("utf-8")).hexdigest())
        async with self._lock:
            client = self._clients.get(cache_key)
            if client is None:
                client = await asyncio.to_thread(
                    _build_client, base_url, key, self._settings.timeout_s
                )
                self._clients[cache_key] = client
                log.info("built an LLM client for %s (%d cached)", base_url, len(self._clients))
            return client
