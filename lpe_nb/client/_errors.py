"""Errors only the client raises; both are :class:`~lpe_nb.errors.LpeError` subclasses."""

from __future__ import annotations

from lpe_nb.errors import LpeError

__all__ = ["ServerUnreachable", "TokenRefused"]


class TokenRefused(LpeError):
    """The server answered 401/403: the token is missing, wrong, or lacks the ``lpe`` permission."""

    code = "token_refused"

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"the server at {url} refused the token; pass the server's token to connect(url, token=...) "
            "or set LPE_SERVER_TOKEN (see `jupyter server list`)"
        )


class ServerUnreachable(LpeError):
    """No HTTP answer from the server (connection refused, DNS, timeout)."""

    code = "server_unreachable"

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(
            f"could not reach the lpe-nb server at {url}: {reason}; is it running, and is the URL "
            "(including its base_url) right?"
        )
