"""The FreeSWITCH adapter: calls handed to us by the dialplan ``socket`` application (ESL outbound),
media through jambonz mod_audio_fork's WebSocket, the engine's call pipeline in between.

``fs_app.esl`` is the sans-IO Event Socket protocol, ``fs_app.audio_fork`` mod_audio_fork's
WebSocket protocol, ``fs_app.simulator`` a FreeSWITCH held to the recorded facts in
``tests/freeswitch110/``. See docs/freeswitch.md.
"""
