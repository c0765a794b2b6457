"""Property-based tests of the ingress over real HTTP on loopback (embedded bus).

For any input:
* the answer is 202 (a well-formed envelope, published), 400, 401 or 413, never a 5xx;
* a rejected request publishes nothing (every queue stays empty);
* an accepted body is stored byte for byte, exactly once;
* the server keeps serving (/healthz 200 after every example).

One ingress serves every example of the module (built once, see tests/fuzz/live.py); after each
example its queues are emptied again, so "queue depth unchanged" is "queue depth 0".
Issue 7, "Fuzzing".
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from simulator.samples import webhook_body
from tests.fuzz.live import LiveIngress, Response, live_ingress
from tests.fuzz.support import (
    FIXTURES,
    encode,
    fuzz_settings,
    has_lone_surrogate,
    json_values,
    mutated_fixture,
    odd_text,
    well_formed,
)
from tests.ingress.harness import SECRET

MAX_BYTES = 16 * 1024  # WEBHOOK_MAX_BYTES of the fuzzed ingress: small, so "near and over" is cheap
REJECTED = {400, 401, 413}


@pytest.fixture(scope="module")
def live() -> Iterator[LiveIngress]:
    with live_ingress(MAX_BYTES) as running:
        yield running


def settle(live: LiveIngress, reply: Response, sent: bytes, *, accept: bool | None) -> None:
    """The properties every example must hold. `accept`: True when the input is a well-formed,
    authorized envelope within the size limit (must be 202), False when it must be rejected,
    None when either is fine (never a 5xx either way)."""
    assert reply.status < 500, f"{reply.status} {reply.body[:300]!r} for {sent[:200]!r}"
    assert reply.status in {202, *REJECTED}, f"unexpected {reply.status}: {reply.body[:300]!r}"
    stored = live.take_all()
    if reply.status == 202:
        assert stored == [sent], f"202 but stored {len(stored)} messages (or not byte for byte)"
        assert json.loads(reply.body)["status"] == "accepted"
    else:
        assert stored == [], f"{reply.status} but {len(stored)} messages were published"
        if reply.headers.get("content-type", "").startswith("application/json"):
            assert "error" in json.loads(reply.body)  # ours; aiohttp's own 400s are plain text
    if accept is True:
        assert reply.status == 202, f"{reply.status} {reply.body[:300]!r} for {sent[:300]!r}"
    elif accept is False:
        assert reply.status in REJECTED, f"accepted {sent[:300]!r}"
    health = live.get("/healthz")
    assert health.status == 200, "the ingress stopped serving"


def expected(body: bytes) -> bool | None:
    """Must this body be accepted (True), refused (False), or may it go either way (None)?

    Not JSON: refused. A well-formed envelope: accepted. Either way when the JSON holds lone
    surrogates (legal escapes a decoder may refuse), and when it is JSON except for invalid
    UTF-8 inside strings: the ingress only validates the strings it reads (eventName and the
    identity fields), so invalid UTF-8 elsewhere is accepted by design (see
    test_invalid_utf8_outside_the_identity_is_kept_for_the_consumer)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        doc = json.loads(text if text is not None else body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return False
    if text is None or has_lone_surrogate(doc):
        return None
    return well_formed(doc)


# --- arbitrary bytes ------------------------------------------------------------------------------


@fuzz_settings(400)
@given(body=st.binary(max_size=2048), framing=st.sampled_from(["length", "chunked"]))
@example(body=b"", framing="length")
@example(body=b"\xff\xfe{\x00}", framing="length")
@example(body=b'{"eventName":"chatPending","eventData":{"chat":{"_id":"\xff"}}}', framing="length")
@example(body=b'{"eventName":"chatP\xffending","eventData":{}}', framing="chunked")
@example(body=b'{"eventName":"x","eventData":{"a":"\xc3"}}', framing="length")
@example(body=b"\xef\xbb\xbf" + webhook_body("chatPending"), framing="length")
def test_arbitrary_bytes(live: LiveIngress, body: bytes, framing: str) -> None:
    reply = live.request(body, framing=framing)
    settle(live, reply, body, accept=expected(body))


@fuzz_settings(200)
@given(
    name=st.sampled_from(sorted(FIXTURES)),
    cut=st.integers(0, 10_000),
    junk=st.binary(min_size=1, max_size=8),
    mode=st.sampled_from(["insert", "overwrite", "truncate"]),
)
def test_fixtures_with_corrupted_bytes(
    live: LiveIngress, name: str, cut: int, junk: bytes, mode: str
) -> None:
    """A real delivery with bytes damaged in the middle: inside a string (invalid UTF-8, stray
    quotes), inside the structure, or cut short."""
    original = webhook_body(name)
    at = cut % len(original)
    body = {
        "insert": original[:at] + junk + original[at:],
        "overwrite": original[:at] + junk + original[at + len(junk) :],
        "truncate": original[:at],
    }[mode]
    reply = live.request(body)
    settle(live, reply, body, accept=expected(body))


def test_invalid_utf8_outside_the_identity_is_kept_for_the_consumer(live: LiveIngress) -> None:
    """By design (docs/decisions/0004): the ingress rejects only a broken envelope; a body whose
    other strings are not UTF-8 is stored byte for byte, and the rules consumer dead-letters it
    as `poison` with the reason (tests/fuzz/test_rules_fuzz.py), where an operator can see it.
    A 400 here would throw it away: Texter documents no retries."""
    body = b'{"eventName":"chatPending","eventData":{"chat":{"title":"\xff"}}}'
    reply = live.request(body)
    settle(live, reply, body, accept=True)


# --- deep and huge JSON ---------------------------------------------------------------------------


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@fuzz_settings(100)
@given(
    depth=st.integers(1, 200) | st.integers(900, 1100) | st.integers(1100, 5000),
    kind=st.sampled_from(["array", "object"]),
    where=st.sampled_from(["root", "eventData", "inside", "chat", "eventName"]),
)
@example(depth=1000, kind="array", where="inside")
@example(depth=5000, kind="object", where="eventData")
@example(depth=2000, kind="object", where="chat")
def test_deep_json(live: LiveIngress, depth: int, kind: str, where: str) -> None:
    """Nesting within the decoders' limits is accepted (when the envelope is well-formed);
    beyond them it is a 400, wherever it is."""
    deep = nested(depth, kind)
    body = {
        "root": deep,
        "eventData": b'{"eventName":"chatPending","eventData":' + deep + b"}",
        "inside": b'{"eventName":"chatPending","eventData":{"extra":' + deep + b"}}",
        "chat": b'{"eventName":"chatPending","eventData":{"chat":' + deep + b"}}",
        "eventName": b'{"eventName":' + deep + b',"eventData":{}}',
    }[where]
    reply = live.request(body)
    accept: bool | None
    if where in ("root", "eventName") or (where == "eventData" and kind == "array"):
        accept = False  # not an envelope however deep
    else:
        accept = True if depth <= 200 else None  # Texter's deepest payload is ~6 levels
    settle(live, reply, body, accept=accept)


def padded(size: int) -> bytes:
    """A well-formed chatPending delivery of exactly `size` bytes (padding in an extra field)."""
    base = json.loads(webhook_body("chatPending"))
    empty = json.dumps({**base, "pad": ""}, separators=(",", ":")).encode()
    body = json.dumps({**base, "pad": "x" * (size - len(empty))}, separators=(",", ":")).encode()
    assert len(body) == size
    return body


@fuzz_settings(80)
@given(
    offset=st.integers(-64, 64) | st.integers(-4096, 65536),
    framing=st.sampled_from(["length", "chunked"]),
)
@example(offset=0, framing="length")
@example(offset=1, framing="length")
@example(offset=0, framing="chunked")
@example(offset=1, framing="chunked")
def test_bodies_near_and_over_the_limit(live: LiveIngress, offset: int, framing: str) -> None:
    """Up to WEBHOOK_MAX_BYTES a well-formed body is accepted; one byte more is a 413, with a
    Content-Length (refused before reading) or chunked (refused while reading)."""
    body = padded(MAX_BYTES + offset)
    reply = live.request(body, framing=framing)
    if offset > 0:
        assert reply.status == 413, f"{reply.status} for {len(body)} bytes"
    settle(live, reply, body, accept=offset <= 0)


@fuzz_settings(20)
@given(declared=st.integers(MAX_BYTES + 1, 2**62), sent=st.integers(0, 64))
def test_declared_length_over_the_limit_is_refused_unread(
    live: LiveIngress, declared: int, sent: int
) -> None:
    """A Content-Length over the limit (up to absurd values) is refused without reading."""
    body = b"{" * sent
    reply = live.request(
        body, headers=[(b"Content-Length", str(declared).encode())], framing="none"
    )
    assert reply.status == 413, reply
    settle(live, reply, body, accept=False)


# --- wrong types in every documented field --------------------------------------------------------


@fuzz_settings(800)
@given(mutation=mutated_fixture(), ascii_only=st.booleans())
def test_wrong_types_in_every_documented_field(
    live: LiveIngress, mutation: tuple[str, tuple[str | int, ...], Any], ascii_only: bool
) -> None:
    """A fixture with one field (any depth, the envelope's own included) replaced by any JSON
    value: a well-formed envelope is accepted whatever its fields hold, anything else is a 400."""
    _, _, doc = mutation
    body = encode(doc, ascii_only)
    reply = live.request(body)
    if len(body) > MAX_BYTES:
        assert reply.status == 413
        settle(live, reply, body, accept=False)
        return
    settle(live, reply, body, accept=None if has_lone_surrogate(doc) else well_formed(doc))


@fuzz_settings(200)
@given(
    name=odd_text | st.sampled_from(sorted(FIXTURES)),
    data=st.dictionaries(odd_text, json_values, max_size=5),
    ascii_only=st.booleans(),
)
def test_unicode_edge_cases_in_names_and_values(
    live: LiveIngress, name: str, data: dict[str, Any], ascii_only: bool
) -> None:
    """eventName and eventData made of RTL, NUL, emoji, combining marks, escaped surrogates and
    overlong strings. Lone surrogates may be refused (400), never answered 5xx."""
    doc = {"eventName": name, "eventData": data}
    body = encode(doc, ascii_only)
    reply = live.request(body)
    if len(body) > MAX_BYTES:
        settle(live, reply, body, accept=False)
        return
    settle(live, reply, body, accept=None if has_lone_surrogate(doc) else well_formed(doc))


# --- headers: odd encodings, odd tokens -----------------------------------------------------------

SECRET_B = SECRET.encode()
header_bytes = st.binary(max_size=64).map(
    lambda b: bytes(c for c in b if c not in b"\r\n")  # keep one header one line
)
odd_token = (
    header_bytes
    | st.sampled_from([b"", b" ", b"\t", b"\x00", SECRET_B[:-1], SECRET_B + b"x", SECRET_B.upper()])
    | st.builds(lambda n: b"A" * n, st.integers(1000, 10_000))  # very long
    | st.builds(lambda b: SECRET_B + b, header_bytes.filter(lambda b: b.strip() != b""))
    | st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=20).map(lambda b: bytes(c | 0x80 for c in b))  # latin-1 only
)
padding = st.sampled_from([b"", b" ", b"\t", b"  \t "])


def _malformed(value: bytes) -> bool:
    """What an HTTP parser may refuse in a header value: control bytes, or a line too long."""
    return len(value) > 4000 or any((c < 0x20 and c != 0x09) or c == 0x7F for c in value)


def _presented(value: bytes) -> str:
    # aiohttp decodes header values as UTF-8 with surrogateescape
    return value.decode("utf-8", "surrogateescape").strip()


@fuzz_settings(300)
@given(
    where=st.sampled_from(["authorization", "x-webhook-token", "query", "scheme"]),
    token=odd_token,
    correct=st.booleans(),
    before=padding,
    after=padding,
    scheme=st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"Basic", b"Token", b"", b"Bearer\t"]),
)
def test_odd_token_values_and_encodings(  # noqa: PLR0917 - hypothesis draws each
    live: LiveIngress,
    where: str,
    token: bytes,
    correct: bool,
    before: bytes,
    after: bytes,
    scheme: bytes,
) -> None:
    """Tokens that are latin-1 bytes, invalid UTF-8, very long, empty or whitespace, in every
    place the secret may travel: 202 only for the secret itself (whitespace around it allowed
    in headers), otherwise 401 (or 400 when the header line itself is malformed)."""
    value = before + (SECRET_B if correct else token) + after
    body = webhook_body("chatPending")
    headers: list[tuple[bytes, bytes]] = []
    target = b"/webhooks/texter"
    if where == "authorization":
        headers.append((b"Authorization", b"Bearer " + value))
    elif where == "scheme":
        headers.append((b"Authorization", scheme + b" " + value))
    elif where == "x-webhook-token":
        headers.append((b"X-Webhook-Token", value))
    else:
        target += b"?token=" + "".join(f"%{c:02X}" for c in value).encode()
    reply = live.request(body, headers=headers, token=None, target=target)
    if where == "query":
        valid = value == SECRET_B
    elif where == "scheme":
        valid = scheme.lower() == b"bearer" and _presented(value) == SECRET
    else:
        valid = _presented(value) == SECRET
    if reply.status == 400:  # the HTTP parser refused the header line (NUL, too long, ...)
        assert not valid or _malformed(value), reply
        settle(live, reply, body, accept=False)
        return
    settle(live, reply, body, accept=valid)
    assert reply.status in (202, 401), reply


@fuzz_settings(150)
@given(
    name=st.sampled_from(
        [b"X-Chat-Id", b"Content-Type", b"User-Agent", b"X-Forwarded-For", b"X-\xe9\xff"]
    )
    | header_bytes.filter(lambda b: b and b":" not in b and b.strip() == b),
    value=header_bytes | st.builds(lambda n: b"v" * n, st.integers(4000, 9000)),
    count=st.integers(1, 3),
)
def test_odd_headers_next_to_a_valid_token(
    live: LiveIngress, name: bytes, value: bytes, count: int
) -> None:
    """Any other header, of any bytes, repeated: it changes nothing about a good delivery
    (202), or the HTTP parser refuses the request (400); never a 5xx."""
    body = webhook_body("newIncomingMessage")
    reply = live.request(body, headers=[(name, value)] * count)
    settle(live, reply, body, accept=None)


def _compress(kind: str, body: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(body)
    if kind == "deflate":
        return zlib.compress(body)
    return body


@fuzz_settings(80)
@given(
    encoding=st.sampled_from([b"gzip", b"deflate", b"br", b"zstd", b"identity", b"x-\xff", b""]),
    compressed=st.sampled_from(["gzip", "deflate", "none"]),
    size=st.sampled_from([100, MAX_BYTES - 100, MAX_BYTES + 1, 50 * MAX_BYTES]),
    damage=st.booleans(),
)
@example(encoding=b"gzip", compressed="gzip", size=50 * MAX_BYTES, damage=False)  # a small bomb
@example(encoding=b"gzip", compressed="none", size=100, damage=False)
@example(encoding=b"deflate", compressed="gzip", size=100, damage=True)
def test_content_encodings(
    live: LiveIngress, encoding: bytes, compressed: str, size: int, damage: bool
) -> None:
    """Compressed bodies, mislabelled ones, broken ones, and one that inflates far past the
    limit: decoded bodies over WEBHOOK_MAX_BYTES are a 413; undecodable ones a 400."""
    body = padded(size) if size >= 1000 else webhook_body("chatPending")
    wire = _compress(compressed, body)
    if damage:
        wire = wire[: len(wire) // 2] + b"\x00garbage" + wire[len(wire) // 2 :]
    reply = live.request(wire, headers=[(b"Content-Encoding", encoding)])
    assert reply.status < 500, f"{reply.status} {reply.body[:300]!r}"
    if reply.status == 202:  # stored as decoded, byte for byte
        stored = live.take_all()
        assert stored in ([body], [wire]), f"stored {[s[:80] for s in stored]}"
        assert len(stored[0]) <= MAX_BYTES
        assert live.get("/healthz").status == 200
        return
    settle(live, reply, wire, accept=False)
