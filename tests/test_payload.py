"""Payload coding: round trips, error and erasure correction, limits, and noise that must not decode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wmark.errors import PayloadError
from wmark.payload import Capacity, Message, capacity, decode, encode, parse_bits

RAW = (32, 64, 100, 128, 256)
FAST = settings(max_examples=40, deadline=None)


def messages(raw_bits: int) -> st.SearchStrategy[Message]:
    limit = capacity(raw_bits).max_bytes
    text = st.text(max_size=limit).filter(lambda s: len(s.encode("utf-8")) <= limit).map(Message.from_text)
    data = st.binary(max_size=limit).map(lambda b: Message.from_hex(b.hex()))
    return st.one_of(text, data)


def flip_symbols(bits: np.ndarray, cap: Capacity, errors: dict[int, int]) -> np.ndarray:
    """Hard bits with symbol ``i`` XORed by ``errors[i]`` (non-zero)."""
    out = bits.copy()
    c = cap.symbol_bits
    for index, value in errors.items():
        out[index * c : (index + 1) * c] ^= ((value >> np.arange(c - 1, -1, -1)) & 1).astype(np.uint8)
    return out


def test_capacity_table() -> None:
    assert capacity(64) == Capacity(
        raw_bits=64, symbol_bits=5, data_symbols=6, parity_symbols=6, max_bytes=3, correctable=3,
        max_bit_errors=5, length_bits=2, false_alarm=capacity(64).false_alarm,
    )
    assert capacity(64).code_bits == 60 and capacity(64).false_alarm < 1e-3
    assert capacity(64).codewords == 2 * (1 + 256 + 256**2 + 256**3)
    cap = capacity(100)
    assert (cap.symbol_bits, cap.symbols, cap.parity_symbols, cap.max_bytes, cap.correctable) == (5, 20, 10, 5, 5)
    assert cap.max_bit_errors == 11 and cap.code_bits == 100
    assert [capacity(r).max_bytes for r in RAW] == [1, 3, 5, 7, 14]
    assert [capacity(r).correctable for r in RAW] == [2, 3, 5, 6, 10]
    for raw in (8, 16, 5000):
        with pytest.raises(PayloadError, match="cannot hold"):
            capacity(raw)


@FAST
@given(st.data())
def test_round_trip(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(RAW))
    message = data.draw(messages(raw))
    bits = encode(message, raw)
    assert bits.dtype == np.uint8 and bits.shape == (raw,) and set(np.unique(bits)) <= {0, 1}
    assert not bits[capacity(raw).code_bits :].any()  # padding stays zero
    decoded = decode(bits.astype(np.float32))
    assert decoded.found and decoded.message == message
    assert decoded.corrected_symbols == 0 and decoded.bit_errors == 0
    np.testing.assert_array_equal(decoded.bits, bits)


@FAST
@given(st.data())
def test_raw_bits_round_trip(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(RAW))
    bits = data.draw(arrays(np.uint8, raw, elements=st.integers(0, 1)))
    message = Message.from_bits("".join(map(str, bits)))
    assert message == Message.from_bits(bits.tolist())
    np.testing.assert_array_equal(encode(message, raw), bits)
    assert Message.from_bits(decode(bits.astype(float)).bits) == message
    with pytest.raises(PayloadError, match=f"exactly {raw + 1}"):
        encode(message, raw + 1)


@FAST
@given(st.data())
def test_corrects_up_to_correctable_symbol_errors(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(RAW))
    cap = capacity(raw)
    message = data.draw(messages(raw))
    positions = data.draw(st.sets(st.integers(0, cap.symbols - 1), max_size=cap.correctable))
    errors = {i: data.draw(st.integers(1, 2**cap.symbol_bits - 1)) for i in positions}
    received = flip_symbols(encode(message, raw), cap, errors)
    decoded = decode(received.astype(float))
    assert decoded.found and decoded.message == message
    assert decoded.corrected_symbols == len(errors)


@pytest.mark.parametrize("raw", [64, 100, 256])
def test_erasures_correct_more_than_plain_decoding(raw: int) -> None:
    cap = capacity(raw)
    rng = np.random.default_rng(raw)
    count = min(cap.parity_symbols, cap.max_bit_errors)
    assert count > cap.correctable
    message = Message.from_hex(rng.bytes(cap.max_bytes).hex())
    bits = encode(message, raw)
    wrong = rng.choice(cap.symbols, count, replace=False) * cap.symbol_bits + rng.integers(0, cap.symbol_bits, count)
    received = bits.copy()
    received[wrong] ^= 1
    probabilities = np.where(received == 1, 0.95, 0.05)
    assert decode(probabilities).message != message  # beyond plain correction
    probabilities[wrong] = np.where(received[wrong] == 1, 0.55, 0.45)  # the wrong bits are unsure
    decoded = decode(probabilities)
    assert decoded.found and decoded.message == message
    assert decoded.corrected_symbols == count and decoded.bit_errors == count


def test_too_long_message_names_the_limit() -> None:
    with pytest.raises(PayloadError, match="message is 9 bytes; a model of 64 raw bits holds at most 3"):
        encode(Message.from_text("too long!"), 64)
    with pytest.raises(PayloadError, match="model 'tiny' holds at most 5"):
        encode(Message.from_hex("00" * 6), 100, model="tiny")
    assert encode(Message.from_hex("00" * 5), 100).shape == (100,)


@pytest.mark.parametrize("raw", [64, 100])
def test_random_noise_rarely_decodes(raw: int) -> None:
    rng = np.random.default_rng(1)
    trials = 2000 if raw == 64 else 500
    found = sum(decode(rng.random(raw)).found for _ in range(trials))
    found += sum(decode(rng.integers(0, 2, raw)).found for _ in range(trials))
    assert found < 0.01 * trials
    for constant in (0.0, 0.5, 1.0):
        assert not decode(np.full(raw, constant)).found


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(RAW).flatmap(
        lambda raw: arrays(np.float64, raw, elements=st.floats(allow_nan=True, allow_infinity=True, width=64))
    )
)
def test_decode_never_raises(probabilities: np.ndarray) -> None:
    decoded = decode(probabilities)
    assert decoded.bits.shape == probabilities.shape and decoded.found == (decoded.message is not None)


def test_decode_checks_length() -> None:
    with pytest.raises(ValueError, match="expected 64"):
        decode(np.zeros(63), raw_bits=64)


@pytest.mark.parametrize("text", ["xyz", "0x0", "12 3", "0xg0", "é"])
def test_bad_hex(text: str) -> None:
    with pytest.raises(PayloadError, match="bad hex"):
        Message.from_hex(text)


@pytest.mark.parametrize("text", ["0102", "01x", "", "  ", "1,0"])
def test_bad_bits(text: str) -> None:
    with pytest.raises(PayloadError, match="bits"):
        parse_bits(text)


def test_message_helpers() -> None:
    assert Message.from_hex(" 0xDE AD be ef ").data == b"\xde\xad\xbe\xef"
    assert Message.from_hex("00ff").display() == "00ff"
    assert Message.from_text("héllo").display() == "héllo" and Message.from_text("héllo").text() == "héllo"
    assert Message.from_text("a\nb").display() == "610a62"  # not printable: shown as hex
    assert Message.from_hex("ff").text() is None
    bits = Message.from_bits("1010 0000 1")
    assert bits.display() == "101000001" and bits.hex() == "a080" and bits.text() is None
    np.testing.assert_array_equal(parse_bits(" 1 0 "), [1, 0])
    with pytest.raises(PayloadError, match="UTF-8"):
        Message.from_text("\ud800")
    with pytest.raises(PayloadError, match="0 and 1"):
        Message.from_bits([0, 2])
    with pytest.raises(PayloadError, match="kind"):
        Message("json", b"{}")  # type: ignore[arg-type]


@pytest.mark.parametrize("raw_bits", [64, 100])
def test_a_key_round_trips_and_a_wrong_key_finds_nothing(raw_bits):
    from wmark.payload import key_schedule

    rng = np.random.default_rng(raw_bits)
    false_decodes = 0
    for trial in range(200):
        key, wrong = rng.bytes(16), rng.bytes(16)
        message = Message("bytes", rng.bytes(int(rng.integers(0, capacity(raw_bits).max_bytes + 1))))
        bits = encode(message, raw_bits, key=key)
        assert not np.array_equal(bits, encode(message, raw_bits))  # the key changes what is embedded
        soft = np.where(bits == 1, 0.9, 0.1)
        assert decode(soft, key=key).message == message
        false_decodes += decode(soft, key=wrong).found + decode(soft).found
    assert false_decodes == 0
    mask, permutation = key_schedule(b"k" * 16, raw_bits)
    assert sorted(permutation.tolist()) == list(range(raw_bits)) and set(mask.tolist()) <= {0, 1}
    with pytest.raises(PayloadError):
        key_schedule(b"", raw_bits)
