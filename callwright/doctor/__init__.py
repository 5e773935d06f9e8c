"""``callwright doctor``: the checklist an admin runs first.

The engine's part: the result model and its text and JSON forms (:mod:`.report`), the verdicts
on what the PBX answered (:mod:`.asterisk`, :mod:`.clock`; pure, no I/O), and the checks of this
machine (:mod:`.local`: configuration, TLS files, store, speech models, disk). The probes that
talk to Asterisk are in the ARI adapter (``ari_app.doctor``); the ``callwright doctor`` command
(``cli.doctor``) puts the two together.
"""
