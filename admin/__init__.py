"""The Callwright admin: aiohttp HTML pages and a JSON API over the same store and handlers.

Start it with ``python -m admin`` (see ``admin/__main__.py``) or embed it with
:func:`admin.app.build_admin_app`.
"""
