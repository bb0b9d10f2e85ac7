"""Discovery order: arguments, LPE_SERVER_*, JupyterHub, the parent Jupyter server, else embedded."""

from __future__ import annotations

import os
from typing import Any

import psutil
import pytest

from lpe_nb.client import ServerTarget, discover
from lpe_nb.client._discovery import ancestor_pids
from lpe_nb.errors import LpeError

SERVERS = [
    {"pid": 111, "url": "http://localhost:8888/", "token": "other"},
    {"pid": 222, "url": "http://localhost:9999/base/", "token": "mine"},
]
LPE_ENV = {"LPE_SERVER_URL": "http://lpe:1/", "LPE_SERVER_TOKEN": "env-token"}
HUB_ENV = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/", "JUPYTERHUB_API_TOKEN": "hub-token"}


def find(env: dict[str, str], *, ancestors: list[int] | None = None, **kwargs: Any) -> ServerTarget | None:
    return discover(environ=env, list_servers=lambda: SERVERS, ancestors=ancestors or [], **kwargs)


def test_arguments_come_first() -> None:
    target = find({**LPE_ENV, **HUB_ENV}, url="http://x:2/", token="t", ancestors=[222])
    assert target == ServerTarget("http://x:2/", "t", "arguments")


def test_lpe_environment_comes_before_the_hub_and_running_servers() -> None:
    target = find({**LPE_ENV, **HUB_ENV}, ancestors=[222])
    assert target == ServerTarget("http://lpe:1/", "env-token", "LPE_SERVER_URL")


def test_jupyterhub_uses_the_prefix_and_the_port_of_jupyter_server_url() -> None:
    target = find({**HUB_ENV, "JUPYTER_SERVER_URL": "http://0.0.0.0:8890/"}, ancestors=[222])
    assert target == ServerTarget("http://127.0.0.1:8890/user/ada/", "hub-token", "JupyterHub")
    assert find(HUB_ENV) == ServerTarget("http://127.0.0.1:8888/user/ada/", "hub-token", "JupyterHub")


def test_of_two_running_servers_the_ancestor_is_picked() -> None:
    assert find({}, ancestors=[5, 222, 1]) == ServerTarget(
        "http://localhost:9999/base/", "mine", "jupyter server pid 222"
    )
    assert find({}, ancestors=[5, 111, 222]).url == "http://localhost:8888/"  # type: ignore[union-attr]


def test_nothing_found_means_embedded_or_an_error_when_refused() -> None:
    assert find({}, ancestors=[5, 6]) is None
    assert find(LPE_ENV, embedded=True) is None
    with pytest.raises(LpeError, match="no lpe-nb server found"):
        find({}, ancestors=[5], embedded=False)


def test_ancestor_pids_start_with_the_parent() -> None:
    assert ancestor_pids()[0] == os.getppid()


def test_ancestor_pids_are_this_process_real_parent_chain() -> None:
    chain = ancestor_pids()
    assert chain == [parent.pid for parent in psutil.Process().parents()]
    assert chain[0] == os.getppid()
    assert os.getpid() not in chain
    # one step up: the chain of our parent is ours without its first element
    assert ancestor_pids(os.getppid()) == chain[1:]


def test_ancestor_pids_of_a_vanished_process_is_empty() -> None:
    assert ancestor_pids(2**22 + 12345) == []
