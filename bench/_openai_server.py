"""Serve the loopback OpenAI-compatible test server in its own process until stdin closes.

``python bench/_openai_server.py DELAY_S`` prints the base URL on its first line. Running it apart keeps
the server's CPU out of the event loop being measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.llm.fake_openai_server import FakeOpenAIServer

if __name__ == "__main__":
    with FakeOpenAIServer(delay_s=float(sys.argv[1])) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
