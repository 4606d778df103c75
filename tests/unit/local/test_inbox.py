"""The demo's chat channel is a write path like any other: a secret URL, a bounded body, a
bounded memory whose drops are counted (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from shipyard.local.inbox import MAX_BODY_BYTES, Inbox


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def inbox():
    inbox = Inbox(max_messages=2)
    yield inbox
    inbox.stop()


def test_keeps_what_is_posted_under_its_url(inbox):
    assert post(f"{inbox.url}/chat", json.dumps({"text": "promoted v2\nmore"}).encode()) == 200
    [message] = inbox.messages
    assert message["path"] == "/chat" and message["headers"]["content-type"] == "application/json"
    assert Inbox.text(message["payload"]) == "promoted v2"


def test_refuses_other_paths_and_large_bodies(inbox):
    base = inbox.url.rsplit("/", 1)[0]
    assert post(f"{base}/chat", b"{}") == 404
    assert post(f"{inbox.url}/chat", b"x" * (MAX_BODY_BYTES + 1)) == 413
    assert inbox.messages == []


def test_a_full_inbox_drops_the_oldest_and_counts_it(inbox):
    for n in range(3):
        assert post(f"{inbox.url}/chat", json.dumps({"text": f"m{n}"}).encode()) == 200
    assert [Inbox.text(m["payload"]) for m in inbox.messages] == ["m1", "m2"]
    assert inbox.dropped == 1
