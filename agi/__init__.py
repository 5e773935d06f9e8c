"""Asterisk AGI adapters: the FastAGI routing server and the EAGI entry point.

- :mod:`agi.protocol`: the AGI protocol, sans-IO (environment, commands, replies).
- :mod:`agi.environment`: the environment block Asterisk sends first.
- :mod:`agi.fastagi`: :class:`~agi.fastagi.AgiSession` and the asyncio FastAGI server.
- :mod:`agi.routing`: the ``route`` script (which assistant, business hours).
- :mod:`agi.eagi`: a whole call, half-duplex, for PBXes that cannot expose ARI.
- :mod:`agi.cli`: ``agi serve`` and ``agi eagi`` (also ``python -m agi``).
"""
