"""The ``callwright`` command: the composition root of every process it starts.

It sits outside the engine (:mod:`callwright` imports no adapter and nothing from here) and wires
the engine to the adapters each sub-command needs:

- :mod:`cli.main`: the parser, ``serve``, ``demo``, ``pbx-sim``, ``db migrate``, ``check``, and
  the groups below; also ``python -m cli``.
- :mod:`cli.models`: ``models list | verify | fetch``.
- :mod:`cli.privacy`: ``privacy retention run | export | erase | decrypt-recording``.
- :mod:`cli.accounts`: ``user add`` and ``org add``.
- ``agi serve | eagi`` come from the AGI adapter (:mod:`agi.cli`).
"""
