"""A fake Asterisk 22.10.1 for tests, ``callwright demo`` and admins trying an assistant.

It must never be kinder than Asterisk: every behaviour comes from the recorded facts
(tests/asterisk22/asterisk-facts), and what it cannot do answers 501 (REST) or 500 (ExternalMedia
variants) instead of pretending.

Public entry points::

    from ari_app.simulator.server import PbxSimulator        # the server
    from ari_app.simulator.calls import SimulatedCall        # one call, as the test sees it
    from ari_app.simulator.caller import SimulatedCaller     # the person on the phone

Modules: ``spec``/``spec_table`` (the ARI operations and route matching), ``state`` (channels,
bridges, ids), ``events`` (event JSON), ``websocket`` (events websocket, apps), ``core`` (Stasis,
hang-ups, bridges), ``mixer`` (bridge audio), ``media_rtp``/``media_audiosocket``/
``media_websocket`` (ExternalMedia transports), ``calls``/``caller`` (simulated calls),
``originate``/``external_media``/``rest_*`` (REST handlers), ``silence`` (silence played to a
channel), ``modules_table`` (the loaded modules), ``dialplan`` (contexts that hand Local
originates to Stasis(), like ``callwright-inbound``), ``http`` (auth, routing, restart phases),
``control`` (the ``/_sim`` control API), ``server`` (PbxSimulator).
"""
