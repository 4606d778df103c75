"""The boundary's pure parts: bounded quoting, binary/raw tensor checks, parameters, tokens,
and the port check."""

import json
import socket
import struct

import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest
from pydantic import SecretStr

from shipyard.errors import ServiceUnavailable
from shipyard.processes import check_ports, listen_problem
from shipyard.serving.decoding import (
    bounded,
    bounded_message,
    check_binary_body,
    check_parameters,
    check_raw_tensor,
    describe_decode_error,
    header_length,
    parse_json_request,
)
from shipyard.serving.repository import Verdict, authorize


def test_bounded_message_cuts_long_quotes_and_keeps_the_rest():
    message = bounded_message(f"unknown input '{'n' * 10**6}'; the model's inputs are: a, b")
    assert message == (
        f"unknown input '{'n' * 50}…' (1000000 characters); the model's inputs are: a, b"
    )
    assert len(bounded_message("z" * 10**6)) < 500


def test_bounded_quotes_a_prefix_on_one_line():
    assert bounded("a\nb") == "a b"
    text = bounded("x" * 10_000, 50)
    assert text.startswith("x" * 50) and text.endswith("[9950 more characters]")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "15", " ", "1e3"])
def test_header_length_refuses_what_is_not_a_length_within_the_body(value):
    with pytest.raises(InvalidInput, match="Inference-Header-Content-Length"):
        header_length(value, 14)


def test_header_length_accepts_a_length_within_the_body():
    assert header_length(" 14 ", 14) == 14


def bytes_tensor(*values: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def test_raw_tensor_checks_name_the_input():
    check_raw_tensor("a", "FP64", [2], b"\0" * 16)
    check_raw_tensor("c", "BYTES", [2], bytes_tensor(b"x", b"yz"))
    for datatype, shape, raw, problem in [
        ("FP64", [2], b"\0" * 15, "do not fit"),
        ("BYTES", [1], struct.pack("<I", 99) + b"x", "claims 99 bytes"),
        ("BYTES", [1], b"\1\0", "truncated"),
        ("BYTES", [3], bytes_tensor(b"x"), "1 BYTES elements do not fit"),
        ("NOPE", [1], b"", "unknown datatype"),
        ("FP32", [-1], b"", "non-negative"),
    ]:
        with pytest.raises(InvalidInput, match=problem) as raised:
            check_raw_tensor("in_x", datatype, shape, raw)
        assert "input 'in_x'" in str(raised.value)


def binary(inputs: list[dict], *parts: bytes) -> tuple[bytes, int]:
    head = json.dumps({"inputs": inputs}).encode()
    return head + b"".join(parts), len(head)


def test_binary_body_sizes_must_add_up():
    spec = {"name": "a", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}
    check_binary_body(*binary([spec], b"\0" * 8))
    with pytest.raises(InvalidInput, match="runs past the end"):
        check_binary_body(*binary([spec], b"\0" * 4))
    with pytest.raises(InvalidInput, match="bytes after the last"):
        check_binary_body(*binary([spec], b"\0" * 12))
    with pytest.raises(InvalidInput, match="neither 'data'"):
        check_binary_body(*binary([{**spec, "parameters": {}}]))
    with pytest.raises(InvalidInput, match="inputs: Field required"):
        check_binary_body(b"{}", 2)


def test_parameters_beyond_64_bits_and_too_deep():
    request = InferRequest(
        "m",
        [InferInput("a", [1], "FP64", [1.0], parameters={"n": 2**64 - 1})],
        parameters={"ok": [1, {"x": -(2**63)}]},
    )
    check_parameters(request)
    request.parameters = {"big": [2**64]}
    with pytest.raises(InvalidInput, match="request parameter 'big'.*64-bit"):
        check_parameters(request)
    request.parameters = {"deep": [[[[[1]]]]]}
    with pytest.raises(InvalidInput, match="nested"):
        check_parameters(request)


def test_json_without_binary_header_and_decode_errors():
    assert parse_json_request(b'{"inputs": []}').inputs == []
    with pytest.raises(InvalidInput, match="malformed JSON"):
        parse_json_request(b'{"inputs": [')
    assert (
        describe_decode_error(KeyError("inputs"))
        == "malformed inference request: missing field 'inputs'"
    )
    assert len(describe_decode_error(ValueError("v" * 10**6))) < 300


@pytest.mark.parametrize(
    "token, header, verdict",
    [
        (None, "Bearer x", Verdict.DISABLED),
        (SecretStr(""), "Bearer x", Verdict.DISABLED),
        (SecretStr("s3cret"), None, Verdict.DENIED),
        (SecretStr("s3cret"), "s3cret", Verdict.DENIED),
        (SecretStr("s3cret"), "Bearer wrong", Verdict.DENIED),
        (SecretStr("s3cret"), "Basic s3cret", Verdict.DENIED),
        (SecretStr("s3cret"), "bearer s3cret", Verdict.ALLOWED),
    ],
)
def test_authorize(token, header, verdict):
    assert authorize(token, header) is verdict


def test_a_listening_port_is_reported_even_with_so_reuseport():
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as gRPC does
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert listen_problem("127.0.0.1", port) == "already in use"
        with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port} \\(gRPC port\\)"):
            check_ports("127.0.0.1", {"HTTP": None, "gRPC": port})
    assert listen_problem("127.0.0.1", port) is None
