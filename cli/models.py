"""``callwright models list | verify [NAME] | fetch NAME``: the speech models on this machine.

Where models go, in order of precedence: ``--data-dir``; ``speech.models_dir`` of the config file
when one is given (``--config`` or ``$CALLWRIGHT_CONFIG``); ``$CALLWRIGHT_MODELS_DIR``;
``voice_models/data``. The mirror likewise: ``--mirror``, ``speech.models_mirror``,
``$CALLWRIGHT_MODELS_MIRROR``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from callwright.errors import ConfigError, ModelFetchError
from callwright.speech.model_fetch import fetch_model, verify_model
from callwright.speech.model_store import (
    Manifest,
    ModelStatus,
    default_data_dir,
    list_models,
    load_manifest,
    model_status,
)

MIRROR_ENV = "CALLWRIGHT_MODELS_MIRROR"


def _config_speech(args: argparse.Namespace) -> tuple[Path | None, str]:
    """``speech.models_dir`` and ``speech.models_mirror`` when a config file is in use."""
    path = getattr(args, "config", None)
    if not path and not os.environ.get("CALLWRIGHT_CONFIG"):
        return None, ""
    from callwright.config import load_config

    speech = load_config(Path(path) if path else None).speech
    return Path(speech.models_dir), speech.models_mirror


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir).expanduser()
    configured, _ = _config_speech(args)
    return configured if configured is not None else default_data_dir()


def _mirror(args: argparse.Namespace) -> str | None:
    if getattr(args, "mirror", None):
        return str(args.mirror)
    _, configured = _config_speech(args)
    return configured or os.environ.get(MIRROR_ENV) or None


def _manifest(args: argparse.Namespace) -> Manifest:
    return load_manifest(Path(args.manifest) if args.manifest else None)


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "?"  # unreachable: the loop returns at GB


def _fail(message: str, code: int = 1) -> int:
    print(f"callwright models: {message}", file=sys.stderr)
    return code


def cmd_models_list(args: argparse.Namespace) -> int:
    """Print every known model with its status."""
    try:
        data_dir = _data_dir(args)
        statuses = list_models(data_dir, _manifest(args))
    except ConfigError as exc:
        return _fail(str(exc), 2)
    rows = [("NAME", "KIND", "LANG", "RATE", "SIZE", "STATUS")]
    for s in statuses:
        e = s.entry
        rows.append((e.name, e.kind, e.language, str(e.sample_rate), _size(e.size_bytes), s.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"models directory: {data_dir}")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    """Re-hash installed models (one, or every installed one). 1 if any is damaged or missing."""
    try:
        manifest = _manifest(args)
        data_dir = _data_dir(args)
        if args.name:
            targets = [model_status(manifest.require(args.name), data_dir)]
        else:
            targets = [s for s in list_models(data_dir, manifest) if s.status != "missing"]
    except (ConfigError, ModelFetchError) as exc:  # a bad manifest or an unknown name
        return _fail(str(exc), 2)
    if not targets:
        print(f"no models installed in {data_dir}")
        return 0
    worst = 0
    for status in targets:
        result = verify_model(status.entry, data_dir)
        print(f"{status.entry.name}: {result}")
        if not result.ok:
            worst = 1
    return worst


def cmd_models_fetch(args: argparse.Namespace) -> int:
    """Download, check and install one model."""
    try:
        entry = _manifest(args).require(args.name)
        data_dir = _data_dir(args)
        mirror = _mirror(args)
        if mirror:
            entry = entry.with_mirror(mirror)
    except (ConfigError, ModelFetchError) as exc:  # a bad setting or an unknown name
        return _fail(str(exc), 2)
    before: ModelStatus = model_status(entry, data_dir)
    try:
        path = asyncio.run(fetch_model(entry, data_dir, progress=not args.quiet))
    except ModelFetchError as exc:
        return _fail(str(exc))
    if before.status == "installed":
        print(f"{entry.name} is already installed in {path}")
    elif before.status == "packaged":
        print(f"{entry.name} is installed by pip in {path}")
    else:
        print(f"installed {entry.name} in {path}")
    if entry.kind != "package" and not entry.checksummed:
        print(
            f"warning: the manifest has no checksum for {entry.name}; "
            "its download is unverified (pin a sha256 in the manifest to check it)",
            file=sys.stderr,
        )
    return 0


def add_models_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``models list``, ``models verify [NAME]`` and ``models fetch NAME``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where fetched models live (default: voice_models/data)")
    common.add_argument("--manifest", help="a manifest file other than the one shipped")

    models = subparsers.add_parser("models", help="list, fetch and verify speech models")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="known models and whether they are here")
    p.set_defaults(func=cmd_models_list)

    p = sub.add_parser("verify", parents=[common], help="re-check installed models' files")
    p.add_argument("name", nargs="?", help="one model (default: every installed model)")
    p.set_defaults(func=cmd_models_verify)

    p = sub.add_parser("fetch", parents=[common], help="download and install a model")
    p.add_argument("name", help="a model name from `callwright models list`")
    p.add_argument("--mirror", help="fetch every file from MIRROR/<file name> instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_models_fetch)
