"""A FreeSWITCH 1.10 for tests and demos, held to the recorded facts in tests/freeswitch110/.

It serves ESL inbound (``auth``, ``api``/``bgapi``, events, ``sendmsg``), runs the dialplan
``socket <host:port> async full`` as ESL outbound (``connect``, ``myevents``, ``linger``,
``sendmsg`` apps queued while another app runs, disconnect notices), makes loopback-style call
pairs whose caller leg is a :class:`~ari_app.simulator.caller.SimulatedCaller`, and plays
jambonz mod_audio_fork's part of its WebSocket (metadata first, L16 LE 20 ms frames, audio back
buffered and played only while the channel writes frames, killAudio, marks, CUSTOM events).
It is never kinder than FreeSWITCH: what the real one refuses or ignores, so does this one.
"""
