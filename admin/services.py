"""Everything the admin's handlers use, built once from the database and the master key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from admin.read_audit import RecentReads
from callwright.accounts.audit import AuditWriter
from callwright.accounts.directory import Directory
from callwright.accounts.invitations import Invitations
from callwright.accounts.login import Authenticator
from callwright.accounts.passwords import Passwords
from callwright.accounts.ratelimit import LoginRateLimiter
from callwright.accounts.second_factor import SecondFactor
from callwright.accounts.security_alerts import SecurityAlerts
from callwright.accounts.sessions import SessionManager
from callwright.accounts.tokens import ApiTokens
from callwright.accounts.totp import RecoveryCodes, TotpVerifier
from callwright.knowledge.repository import KnowledgeRepository
from callwright.privacy.keyring import Keyring
from callwright.privacy.request_actions import RequestActions
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.audit import AuditRepo
from callwright.store.call_search import CallSearch
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.invitations import InvitationRepo
from callwright.store.login_attempts import LoginAttemptRepo
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.retention import RetentionRepository
from callwright.store.tokens import SessionRepo, TokenRepo
from callwright.store.users import UserRepo
from callwright.store.webhook_endpoints import EndpointRepository


@dataclass(frozen=True)
class AdminOptions:
    """The admin's own settings (``[admin]`` in the config file supplies them)."""

    session_hours: float = 12.0
    secure_cookies: bool = True
    #: The server's ``[llm] base_url`` ("" = no LLM): flows with llm/intent nodes need one.
    llm_base_url: str = ""


@dataclass
class AdminServices:
    db: Database
    options: AdminOptions
    master_key: MasterKey
    keyring: Keyring
    recordings_dir: Path
    passwords: Passwords
    users: UserRepo
    orgs: OrgRepository
    assistants: AssistantRepository
    numbers: NumberRepository
    credentials: CredentialRepository
    retention: RetentionRepository
    calls: CallSearch
    knowledge: KnowledgeRepository
    audit_log: AuditRepo
    audit: AuditWriter
    sessions: SessionManager
    tokens: ApiTokens
    totp: TotpVerifier
    second_factor: SecondFactor
    limiter: LoginRateLimiter
    authenticator: Authenticator
    directory: Directory
    invitations: Invitations
    requests: RequestActions
    reads: RecentReads


def build_services(
    db: Database,
    options: AdminOptions,
    master_key: MasterKey,
    recordings_dir: Path,
    *,
    passwords: Passwords | None = None,
    limiter: LoginRateLimiter | None = None,
    totp: TotpVerifier | None = None,
    exports_dir: Path | None = None,
) -> AdminServices:
    passwords = passwords or Passwords()
    limiter = limiter or LoginRateLimiter(LoginAttemptRepo(db))
    totp = totp or TotpVerifier()
    users = UserRepo(db)
    audit_log = AuditRepo(db)
    audit = AuditWriter(audit_log)
    sessions = SessionManager(SessionRepo(db), hours=options.session_hours)
    token_repo = TokenRepo(db)
    second_factor = SecondFactor(users, master_key, totp, RecoveryCodes(passwords))
    keyring = Keyring(db, master_key)
    return AdminServices(
        db=db,
        options=options,
        master_key=master_key,
        keyring=keyring,
        recordings_dir=recordings_dir,
        passwords=passwords,
        users=users,
        orgs=OrgRepository(db),
        assistants=AssistantRepository(db),
        numbers=NumberRepository(db),
        credentials=CredentialRepository(db, keyring),
        retention=RetentionRepository(db),
        calls=CallSearch(db),
        knowledge=KnowledgeRepository(db),
        audit_log=audit_log,
        audit=audit,
        sessions=sessions,
        tokens=ApiTokens(token_repo),
        totp=totp,
        second_factor=second_factor,
        limiter=limiter,
        authenticator=Authenticator(
            users, passwords, limiter, sessions, second_factor, audit,
            SecurityAlerts(db, users, EndpointRepository(db, master_key), audit),
        ),
        directory=Directory(users, passwords, sessions, audit, token_repo),
        invitations=Invitations(users, InvitationRepo(db), passwords, audit),
        # Exports wait here for their one-time download (default: beside the recordings).
        requests=RequestActions(
            db, master_key, exports_dir or Path(recordings_dir).parent / "exports", audit,
            recordings_dir=Path(recordings_dir),
        ),
        reads=RecentReads(),
    )
