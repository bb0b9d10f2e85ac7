"""The extension's routes as the running server registered them (not as the code means to)."""

from __future__ import annotations

import re
from typing import Any

from tornado.routing import PathMatches, Rule

from lpe_nb.server_ext.handlers import LpeApiHandler, NotFoundHandler
from lpe_nb.server_ext.ws import JobsWebSocket


def served_routes(web_app: Any) -> list[tuple[str, type[Any]]]:
    """(URL path with every path parameter set to ``x``, handler class) for each lpe_nb route."""
    found: list[tuple[str, type[Any]]] = []

    def walk(rules: list[Rule]) -> None:
        for rule in rules:
            target = rule.target
            if hasattr(target, "rules"):
                walk(target.rules)
            elif target is NotFoundHandler:
                continue  # the catch-all of lpe/api/ (tests/server_ext/test_api_edges.py)
            elif isinstance(target, type) and issubclass(target, (LpeApiHandler, JobsWebSocket)):
                assert isinstance(rule.matcher, PathMatches)
                # PathMatches.reverse formats with %, which the odd base_url ("/a%40b/") breaks
                pattern = rule.matcher.regex.pattern.rstrip("$")
                found.append((re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern), target))

    walk(web_app.default_router.rules)
    return found
