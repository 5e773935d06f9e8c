"""A call's timeline events in plain words ("Caller interrupted"), not their stored names
("barge_in"). An event this table does not know is shown by its name, underscores as spaces."""

from __future__ import annotations

EVENT_WORDS: dict[str, str] = {
    "stasis_start": "Call entered the app",
    "answered": "Call answered",
    "media_connected": "Audio connected",
    "audiosocket_connected": "Audio connected (AudioSocket)",
    "audiosocket_closed": "Audio connection closed",
    "freeswitch_socket": "FreeSWITCH handed over the call",
    "freeswitch_media": "Audio connected (FreeSWITCH)",
    "eagi_start": "Call entered the app (EAGI)",
    "test_call_started": "Test call from the browser started",
    "originate": "Outbound call dialled",
    "amd_started": "Answering-machine detection started",
    "amd": "Answering-machine detection result",
    "barge_in": "Caller interrupted",
    "dtmf": "Caller pressed a key",
    "no_input": "Caller said nothing",
    "stt_error": "Speech recognition failed",
    "tts_fallback": "Backup voice used",
    "tts_unavailable": "Assistant's voice unavailable",
    "llm_error": "LLM failed",
    "error": "Error",
    "last_words": "Last words before ending",
    "hangup": "Hung up",
    "transfer_started": "Transfer started",
    "transfer_answered": "Transfer answered",
    "transfer_no_answer": "Transfer not answered",
    "transfer_failed": "Transfer failed",
    "transfer_unavailable": "Transfer not possible here",
    "transferred": "Caller transferred",
    "handed_back": "Caller handed back to the dialplan",
    "recovered": "Call picked up again after a restart",
    "unknown_number": "Number not assigned to an assistant",
    "recording_skipped": "Not recorded",
    "recording_stopped": "Recording stopped",
    "recording_declined": "Caller declined recording",
    "caller_objected": "Caller objected",
    "privacy_restriction": "Caller's privacy restriction applied",
}


def event_words(kind: str) -> str:
    """``kind`` as a person would say it."""
    known = EVENT_WORDS.get(kind)
    if known is not None:
        return known
    spaced = kind.replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:]
