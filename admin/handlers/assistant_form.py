"""The assistant settings form and its reading: a JSON body (API) or the form's fields (pages)."""

from __future__ import annotations

import dataclasses
from typing import Any

from admin.assistant_rows import read_tools, read_transfer_targets, tool_rows, transfer_rows
from admin.errors import UserError
from admin.forms import flag, json_value, optional_id, text, whole
from admin.html import Html, h, join, options
from admin.routing import Ctx
from admin.speech_choices import CHOICES, Choice, SpeechCatalog
from admin.views import field, form, select, text_input, textarea
from callwright.errors import NotFound
from callwright.speech.registry import STT_ENGINES as STT_ENGINE_NAMES
from callwright.speech.registry import TTS_ENGINES as TTS_ENGINE_NAMES
from callwright.speech.silero_vad import VAD_KINDS
from callwright.speech.turn_end import TURN_END_KINDS
from callwright.store.assistants import Assistant

TEXT_FIELDS = (
    "name",
    "language",
    "greeting",
    "system_prompt",
    "consent_prompt",
    "unknown_input_reply",
    "on_recovery",
    "recovery_line",
    "recovery_target",
)
#: The voice detectors an assistant can use (media.vad).
VAD_CHOICES = [
    ("webrtc", "WebRTC VAD (light)"),
    ("silero", "Silero VAD (neural: steadier in noise, about 1.5 % of a core per call)"),
]
#: How a caller's turn is taken to have ended (media.turn_end).
TURN_END_CHOICES = [
    ("smart", "When the answer is complete: its words, syllables and the caller's intonation"),
    ("words", "When the answer is complete, by its words and syllables only"),
    ("fixed", "After a fixed silence (end_silence_ms)"),
]
#: What a call gets when the service finds it orphaned after a restart (ari_app/recovery.py).
RECOVERY_CHOICES = [
    ("resume", "Resume the conversation"),
    ("dialplan", "Hand the caller to the dialplan"),
    ("hangup", "Apologise and hang up"),
]


def assistant_json(a: Assistant) -> dict[str, Any]:
    return dataclasses.asdict(a)


async def assistant_fields(ctx: Ctx, partial: bool) -> dict[str, Any]:
    """The fields to save, from a JSON body (repository shape) or the settings form."""
    data = await ctx.input()
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in data or not partial:
            fields[name] = text(data, name, default="en" if name == "language" else "")
    if not partial and not fields["on_recovery"]:
        fields["on_recovery"] = "resume"
    if ctx.api:
        for name, kind in (
            ("stt", dict),
            ("tts", dict),
            ("llm", dict),
            ("media", dict),
            ("tools", list),
            ("transfer_targets", list),
        ):
            if name in data:
                fields[name] = json_value(data, name, kind, api=True)
        if "llm" in fields:
            await check_llm_credential(ctx, fields["llm"])
        if "record_calls" in data:
            if not isinstance(data["record_calls"], bool):
                raise UserError("record_calls: expected true or false", field="record_calls")
            fields["record_calls"] = data["record_calls"]
        return fields
    fields["record_calls"] = flag(data.get("record_calls"))
    stt: dict[str, Any] = {"engine": choice(data, "stt_engine", STT_ENGINE_NAMES, "vosk")}
    if text(data, "stt_model", max_len=200):
        stt["model"] = text(data, "stt_model")
    tts: dict[str, Any] = {"engine": choice(data, "tts_engine", TTS_ENGINE_NAMES, "espeak-ng")}
    if text(data, "tts_voice", max_len=100):
        tts["voice"] = text(data, "tts_voice")
    if text(data, "tts_rate", max_len=5):
        tts["rate"] = whole(data, "tts_rate")
    llm: dict[str, Any] = {"enabled": flag(data.get("llm_enabled"))}
    if text(data, "llm_model", max_len=200):
        llm["model"] = text(data, "llm_model")
    credential_id = optional_id(data, "llm_credential_id")
    if credential_id is not None:
        await ctx.services.credentials.get_by_id(ctx.org_id, credential_id)  # same org, or 404
    llm["credential_id"] = credential_id
    fields.update(stt=stt, tts=tts, llm=llm)
    media: dict[str, Any] = {}  # merged into the saved media settings (see merge_media)
    if "vad" in data:
        media["vad"] = choice(data, "vad", VAD_KINDS, "webrtc")
    if "turn_end" in data:
        media["turn_end"] = choice(data, "turn_end", TURN_END_KINDS, "smart")
    if media:
        fields["media"] = media
    fields["tools"] = read_tools(data)
    fields["transfer_targets"] = read_transfer_targets(data)
    return fields


SETTINGS_OBJECTS = ("stt", "tts", "llm", "media")


def choice(data: dict[str, Any], name: str, known: tuple[str, ...], default: str) -> str:
    """One of ``known`` (empty: ``default``); anything else is refused, naming the choices."""
    value = text(data, name, max_len=50) or default
    if value not in known:
        raise UserError(f"{name}: choose one of {', '.join(known)}", field=name)
    return value


def _with_current(choices: list[Choice], current: str, what: str) -> list[Choice]:
    """``choices``, plus the saved value when it is not among them (still shown, not lost)."""
    if current and current not in {value for value, _ in choices}:
        return [*choices, (current, f"{current} ({what})")]
    return choices


def speech_fieldset(
    catalog: SpeechCatalog, stt: dict[str, Any], tts: dict[str, Any],
    media: dict[str, Any] | None = None,
) -> Html:
    """Engines, models and voices as choices of what this server has, and the voice
    detector."""
    vad = str((media or {}).get("vad", "webrtc"))
    turn_end = str((media or {}).get("turn_end", "smart"))
    stt_engine = str(stt.get("engine", "vosk"))
    tts_engine = str(tts.get("engine", "espeak-ng"))
    model = str(stt.get("model", ""))
    voice = str(tts.get("voice", ""))
    models: list[Choice] = [("", "The server's default model"), *catalog.stt_models]
    voice_groups = []
    for engine, label in catalog.tts_engines:
        group = catalog.voices.get(engine, [])
        if group:
            voice_groups.append(h(
                '<optgroup label="{l}" data-engine="{e}">{o}</optgroup>', l=label, e=engine,
                o=options(group, voice if engine == tts_engine else None),
            ))
    known_voices = {v for group in catalog.voices.values() for v, _ in group}
    extra = h('<option value="{v}" selected>{v} (saved)</option>', v=voice) \
        if voice and voice not in known_voices else ""
    voice_select = h(
        '<select name="tts_voice"><option value="">The language\'s default voice</option>'
        "{x}{g}</select>", x=extra, g=join(voice_groups),
    )
    missing = h('<small class="hint">Not installed here: {m}.</small>',
                m=", ".join(catalog.missing)) if catalog.missing else ""
    return h(
        "<fieldset><legend>Speech</legend>{a}{b}{c}{d}{e}{v}{t}{m}</fieldset>"
        '<script src="/static/assistant_form.js" defer></script>',
        v=field("Voice detection", select("vad", VAD_CHOICES, vad),
                hint="Which detector hears when the caller speaks and stops."),
        t=field("End of the caller's turn", select(
            "turn_end", _with_current(TURN_END_CHOICES, turn_end, "unknown"), turn_end),
            hint="A question ends rising, and waits longer with intonation on."),
        a=field("Speech recognition", select(
            "stt_engine", _with_current(catalog.stt_engines, stt_engine, "not installed"),
            stt_engine)),
        b=field("Recognition model", select(
            "stt_model", _with_current(models, model, "not on this server"), model),
            hint="Installed Vosk models; owners download more under Speech models (/models)."),
        c=field("Voice engine", select(
            "tts_engine", _with_current(catalog.tts_engines, tts_engine, "not installed"),
            tts_engine)),
        d=field("Voice", voice_select, hint="Pick one of the chosen engine's voices."),
        e=field("Speaking rate (words/min)",
                text_input("tts_rate", tts.get("rate", ""), inputmode="numeric")),
        m=missing,
    )


def llm_model_field(models: list[str] | None, current: str) -> Html:
    """A text box, with the LLM server's models as suggestions when it listed them; ``None``
    (not known yet): the page asks for them (assistant_form.js fills the list and the hint)."""
    if models is None:
        return field(
            "Model",
            h('<span data-llm-models="/api/v1/llm-models">{i}<datalist id="llm-models">'
              "</datalist></span>", i=text_input("llm_model", current, list="llm-models")),
            hint="Asking the LLM server for its models… (type the model's name meanwhile)",
        )
    if not models:
        return field("Model", text_input("llm_model", current),
                     hint="The LLM server did not list its models: type the model's name.")
    listed = join(h('<option value="{m}">', m=m) for m in models)
    return field(
        "Model",
        h('{i}<datalist id="llm-models">{o}</datalist>',
          i=text_input("llm_model", current, list="llm-models"), o=listed),
        hint=f"{len(models)} model(s) on the LLM server: start typing, or pick one.",
    )


async def check_llm_credential(ctx: Ctx, llm: dict[str, Any]) -> None:
    """``llm.credential_id`` must name a credential of this org (or be absent or null)."""
    credential_id = llm.get("credential_id")
    if credential_id is None:
        return
    if isinstance(credential_id, bool) or not isinstance(credential_id, int):
        raise UserError("llm.credential_id: expected a credential id", field="llm.credential_id")
    try:
        await ctx.services.credentials.get_by_id(ctx.org_id, credential_id)
    except NotFound as exc:
        raise UserError(
            "llm.credential_id: this organisation has no credential with that id",
            field="llm.credential_id",
        ) from exc


def merge_settings(current: Assistant, fields: dict[str, Any]) -> dict[str, Any]:
    """An API update's ``stt``/``tts``/``llm``/``media`` objects change only the keys they carry
    (a key sent as null is removed), like the top-level fields: ``{"llm": {"model": "x"}}`` keeps
    the LLM switched on and its credential."""
    merged = dict(fields)
    for name in SETTINGS_OBJECTS:
        if name in fields:
            value = {**getattr(current, name), **fields[name]}
            merged[name] = {key: v for key, v in value.items() if v is not None}
    return merged


def merge_media(current: Assistant, fields: dict[str, Any]) -> dict[str, Any]:
    """A settings form's ``media`` (the voice detector, the end of turn) changes only its own
    keys."""
    if "media" not in fields:
        return fields
    return {**fields, "media": {**current.media, **fields["media"]}}


async def settings_form(ctx: Ctx, a: Assistant | None, action: str) -> Html:
    creds = await ctx.services.credentials.list(ctx.org_id)
    cred_choices: list[tuple[Any, Any]] = [("", "none")] + [
        (c.id, f"{c.name} (…{c.last_four})") for c in creds
    ]
    v: dict[str, Any] = {name: getattr(a, name) if a else "" for name in TEXT_FIELDS}
    if not v["language"]:
        v["language"] = "en"
    if not v["on_recovery"]:
        v["on_recovery"] = "resume"
    stt = a.stt if a else {}
    tts = a.tts if a else {}
    llm = a.llm if a else {}
    checked = bool(a and a.record_calls)
    choices = ctx.request.app[CHOICES]
    catalog = await choices.speech()
    llm_choices = choices.cached_llm_models()  # never waits for the LLM server
    body = join(
        [
            field("Name", text_input("name", v["name"], required=True, maxlength=200)),
            field(
                "Language",
                text_input("language", v["language"], required=True),
                hint="A tag like en, ko or en-GB.",
            ),
            field("Greeting", textarea("greeting", v["greeting"], rows=2)),
            field(
                "Prompt (LLM instructions)", textarea("system_prompt", v["system_prompt"], rows=6)
            ),
            field(
                "When the caller is not understood",
                textarea("unknown_input_reply", v["unknown_input_reply"], rows=2),
            ),
            speech_fieldset(catalog, stt, tts, a.media if a else {}),
            h(
                "<fieldset><legend>LLM</legend>"
                '<label class="check"><input type="checkbox" name="llm_enabled"{c}> '
                "Use an LLM</label>"
                "{m}{k}</fieldset>",
                c=Html(" checked") if llm.get("enabled") else "",
                m=llm_model_field(llm_choices, str(llm.get("model", ""))),
                k=field(
                    "API key credential",
                    select("llm_credential_id", cred_choices, llm.get("credential_id") or ""),
                ),
            ),
            h(
                "<fieldset><legend>Recording</legend>"
                '<label class="check"><input type="checkbox" name="record_calls"{c}> Record calls'
                "</label>{p}</fieldset>",
                c=Html(" checked") if checked else "",
                p=field("Consent prompt", textarea("consent_prompt", v["consent_prompt"], rows=2)),
            ),
            h(
                "<fieldset><legend>After a crash or restart</legend>{a}{b}{c}</fieldset>",
                a=field(
                    "A call in progress",
                    select("on_recovery", RECOVERY_CHOICES, v["on_recovery"]),
                    hint="What a caller still on the line gets when the service is back.",
                ),
                b=field(
                    "First words when resuming",
                    text_input("recovery_line", v["recovery_line"], maxlength=500),
                    hint='Empty: "Sorry, I lost you for a moment." in the language.',
                ),
                c=field(
                    "Dialplan target",
                    text_input("recovery_target", v["recovery_target"], maxlength=200),
                    hint="context,extension[,priority]; empty: the server's fallback.",
                ),
            ),
            tool_rows(a.tools if a else [], [c.name for c in creds if c.kind == "webhook_url"]),
            transfer_rows(a.transfer_targets if a else []),
            Html('<button type="submit">Save</button>'),
        ]
    )
    return form(ctx, action, body, cls="stack")
