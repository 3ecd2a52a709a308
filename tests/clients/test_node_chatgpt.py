"""The `chatgpt` npm client, unchanged, against a real socket (DESIGN.md: "that client ... must work").

Needs Node.js and the client installed in tests/clients/node (`.ci/run` runs `npm install` there when npm is
available); skipped otherwise. The test itself only talks to 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mockai import MockAI

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "chatgpt").is_dir(),
    reason="needs node and `npm install` in tests/clients/node",
)


def test_the_chatgpt_client_converses_streams_and_fails_like_against_openai() -> None:
    mock = MockAI(seed=3, api_key="sk-node-test")
    with mock.serve() as server:
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url}
        done = subprocess.run([str(NODE), "chatgpt_client.mjs"], cwd=NODE_DIR, env=env, capture_output=True,
                              text=True, timeout=60, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = mock.calls[0], mock.calls[1]
    assert first.response.status == 200
    assert out["first"]["text"] == json.loads(first.response.body)["choices"][0]["message"]["content"]
    # the follow-up streamed: onProgress saw the text grow delta by delta, and the final text is the whole stream
    assert second.request is not None
    assert second.request.stream
    progress = out["second"]["progress"]
    assert len(progress) > 5
    assert all(b.startswith(a) for a, b in itertools.pairwise(progress))
    assert out["second"]["text"] == progress[-1]
    # it sent the conversation so far, keyed by the first reply's (unique) id
    assert [m.role for m in second.request.messages][-3:] == ["user", "assistant", "user"]
    assert out["first"]["id"] != out["second"]["id"]
    assert out["second"]["parentMessageId"]
    # and a non-2xx answer is its ChatGPTError with the status
    assert out["error"]["name"] == "ChatGPTError"
    assert out["error"]["statusCode"] == 401
    assert "invalid_api_key" in out["error"]["message"]
