"""Several users on one Jupyter server, for the tests of ``jobs_per_user`` (docs/users.md).

A server started with ``--ServerApp.identity_provider_class=tests.server_ext.identities.TokenUsers`` (and
the repository on ``PYTHONPATH``) knows one token per user, from ``$LPE_TEST_USER_TOKENS`` (a JSON object of
token to user name), besides its own shared token, which names nobody unless ``$LPE_TEST_SHARED_TOKEN_USER``
names a user for it (as JupyterHub's provider does: the server's token is its user's API token). ``--ServerApp.authorizer_class=...AdminReaders`` allows
every action on every resource except ``write`` on ``lpe_admin``, and ``read`` on it only to the names in
``$LPE_TEST_ADMIN_READERS`` (comma-separated): a granular authorizer, as JupyterHub's custom scopes make one.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

from lpe_nb.server_ext.users import ADMIN_RESOURCE

__all__ = ["ADMIN_READERS_ENV", "SHARED_TOKEN_USER_ENV", "USER_TOKENS_ENV", "AdminReaders", "TokenUsers"]

USER_TOKENS_ENV = "LPE_TEST_USER_TOKENS"
ADMIN_READERS_ENV = "LPE_TEST_ADMIN_READERS"
SHARED_TOKEN_USER_ENV = "LPE_TEST_SHARED_TOKEN_USER"


class TokenUsers(IdentityProvider):  # type: ignore[misc]  # jupyter_server is untyped
    """The user a token names (``Authorization: token <token>``), else the server's shared token's."""

    async def get_user_token(self, handler: Any) -> User | None:
        users: dict[str, str] = json.loads(os.environ.get(USER_TOKENS_ENV, "{}"))
        name = users.get(self.get_token(handler) or "")
        if name is None and self.token and self.get_token(handler) == self.token:
            name = os.environ.get(SHARED_TOKEN_USER_ENV) or None
        if name is not None:
            return User(username=name, name=name)
        user: User | None = await super().get_user_token(handler)
        return user


class AdminReaders(Authorizer):  # type: ignore[misc]
    """Everything, except ``lpe_admin``: ``read`` for the names in ``$LPE_TEST_ADMIN_READERS`` only."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        if resource != ADMIN_RESOURCE:
            return True
        readers = {name.strip() for name in os.environ.get(ADMIN_READERS_ENV, "").split(",") if name.strip()}
        return action == "read" and user.username in readers
