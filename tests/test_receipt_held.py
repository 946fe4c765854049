"""Held readings in receipts: encoded bounded, decoded by both sides, explained to the school."""

from __future__ import annotations

import json
import logging
import socket
import ssl

import pytest

from agent.advice import advice
from agent.contract.wire import (
    MAX_HELD_RANGES,
    Identity,
    decode_receipt,
    decode_receipt_full,
    encode_receipt,
)
from agent.linkcause import describe, describe_connack
from collector.ingest.stats import Stats

SCHOOL = Identity("37", "3701", "370102", "370102-0099")


def test_held_round_trip_with_the_collectors_clock() -> None:
    body = encode_receipt([1, 2], held={"unknown_school": [3, 4, 5]}, now_ns=123)
    receipt = decode_receipt_full(body)
    assert receipt.stored == [(1, 2)]
    assert receipt.held == {"unknown_school": [(3, 5)]}
    assert receipt.now_ns == 123
    assert decode_receipt(body) == [(1, 2)]  # what older agents read: nothing held is stored


def test_held_ranges_are_bounded_whatever_seqs_arrive() -> None:
    scattered = list(range(0, 20_000, 2))  # every other seq: 10,000 ranges
    reasons = {f"reason_{i}": scattered for i in range(50)}
    body = encode_receipt([], held=reasons)
    held = json.loads(body)["held"]
    assert len(held) == MAX_HELD_RANGES
    assert all(len(r) == MAX_HELD_RANGES for r in held.values())
    assert len(body) < 16 * 1024


def test_receipt_without_held_holds_nothing() -> None:
    receipt = decode_receipt_full(b'{"v":1,"ranges":[[1,1]]}')
    assert receipt.held == {} and receipt.now_ns is None


def test_unknown_school_advice_names_the_school_and_who_fixes_it() -> None:
    text = advice("unknown_school", SCHOOL)
    assert text == ("this school id is not in the county's registry: ask the county network "
                    "centre to add 370102-0099 (37/3701/370102)")
    assert "370102-0099" in advice("some_new_reason", SCHOOL)


def test_connection_causes_are_named() -> None:
    dns = describe(socket.gaierror(-2, "Name or service not known"), "mqtt.example", 8883, True)
    assert dns[0] == "dns" and "cannot resolve the broker's name 'mqtt.example'" in dns[1]
    refused = describe(ConnectionRefusedError(111, "Connection refused"), "h", 1883, False)
    assert refused[0] == "refused" and "no broker listens on port 1883" in refused[1]
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.verify_message = "unable to get local issuer certificate"
    verify = describe(err, "h", 8883, True)
    assert verify[0] == "tls_verify" and "ca_file" in verify[1]
    assert describe(ConnectionResetError(104, "reset"), "h", 1883, True)[0] == "tls"
    assert describe_connack("Not authorized", "h:1")[0] == "auth"


def test_rejections_name_the_school_once_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    stats = Stats()
    with caplog.at_level(logging.WARNING, "collector.ingest.stats"):
        for _ in range(100):
            stats.count("370102-0099", "unknown_school")
        stats.count("370102-0002", "region_mismatch")
    assert [r.getMessage() for r in caplog.records] == [
        "school 370102-0099: 1 readings rejected (unknown_school)",
        "school 370102-0002: 1 readings rejected (region_mismatch)"]
    assert stats.by_school[("370102-0099", "unknown_school")] == 100


def test_split_receipts_carry_held_and_the_clock_once() -> None:
    from agent.contract.wire import RECEIPT_MAX_RANGES, encode_receipts
    scattered = list(range(0, 4 * RECEIPT_MAX_RANGES, 2))  # two bodies of ranges
    bodies = [decode_receipt_full(b) for b in encode_receipts(
        scattered, held={"unknown_school": [9001, 9002]}, now_ns=5)]
    assert len(bodies) == 2
    assert bodies[0].held == {"unknown_school": [(9001, 9002)]} and bodies[0].now_ns == 5
    assert bodies[1].held == {} and bodies[1].now_ns is None
    assert sum(len(b.stored) for b in bodies) == len(scattered)
