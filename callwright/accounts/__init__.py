"""Accounts: who may use the admin and what they may do.

Passwords (argon2), TOTP second factor with recovery codes, browser sessions, API tokens, roles and
permissions, login rate limiting and the audit writer. The admin (``admin/``) and the CLI
(``cli.accounts``) are the two users of this package.
"""
