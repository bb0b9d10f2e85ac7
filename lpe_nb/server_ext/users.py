"""Whose jobs a request may see: the Jupyter identity behind it, and the per-user rule (docs/users.md).

Every job records the identity that submitted it (:func:`~lpe_nb.server_ext.quotas.identity_of`: the
Jupyter user's name, or ``server-token`` for the server's shared token). Whether that limits what others
see is the extension's ``jobs_per_user`` setting:

- off (the default, a single-user server): everyone who can use the server is one person, with several
  identities (the shared token, each browser session); everyone sees and acts on every job, as before.
- on (one database shared by many users, e.g. every server of a JupyterHub): a user lists, reads,
  re-prioritises, cancels, deletes and watches only their own jobs, sees and deletes only their own
  catalog entries, and lists and manages only their own recurring schedules. Someone else's job is a 404 ``job_not_found``, word for word what an id that does not
  exist gets, so nobody learns another user's job ids. Admins see and act on every job: the names in
  ``admin_users``, and, with ``authorizer_admins``, whoever the server's authorizer allows the request's
  action (``read`` for a GET and a WebSocket watch, ``write`` for the others) on the resource
  :data:`ADMIN_RESOURCE`.

Why the authorizer's word needs ``authorizer_admins``: jupyter_server's default authorizer and JupyterHub's
allow every action on every resource to whoever may use the server at all, so taking their yes would make
every user an admin. A granular authorizer (JupyterHub's custom scopes, e.g.
``custom:jupyter_server:read:lpe_admin``) can say yes to some users only.

Workers (``python -m lpe_nb worker``) and embedded engines open the database themselves and are trusted:
they see every job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION

from lpe_nb.server_ext.quotas import identity_of

__all__ = ["ADMIN_RESOURCE", "UserSettings", "Viewer", "viewer_of"]

ADMIN_RESOURCE = "lpe_admin"


@dataclass(frozen=True, slots=True)
class UserSettings:
    """The per-user rule, from the extension's traits (see the module docstring)."""

    jobs_per_user: bool = False
    admin_users: frozenset[str] = field(default_factory=frozenset)
    authorizer_admins: bool = False


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking (``username``, recorded on what they submit) and whose jobs they may see:
    ``only`` is their own name when limited to their jobs, None when they may see every job."""

    username: str
    only: str | None

    @property
    def sees_all(self) -> bool:
        return self.only is None

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.username, "sees_all_jobs": self.sees_all}


async def viewer_of(handler: Any, settings: UserSettings, *, action: str | None = None) -> Viewer:
    """The :class:`Viewer` of an authenticated request; ``action`` (``read`` or ``write``) is what the
    authorizer is asked about :data:`ADMIN_RESOURCE`, by default the one of the request's HTTP method."""
    username = identity_of(handler)
    if not settings.jobs_per_user or username in settings.admin_users:
        return Viewer(username, None)
    if settings.authorizer_admins:
        wanted = action or HTTP_METHOD_TO_AUTH_ACTION.get(handler.request.method, "write")
        allowed = await ensure_async(
            handler.authorizer.is_authorized(handler, handler.current_user, wanted, ADMIN_RESOURCE)
        )
        if allowed:
            return Viewer(username, None)
    return Viewer(username, username)
