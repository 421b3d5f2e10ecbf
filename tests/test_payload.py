"""Payload coding: round trips, error and erasure correction, limits, and noise that must not decode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wmark.errors import PayloadError
from wmark.payload import ALPHABETS, Capacity, Message, capacity, decode, encode, form, parse_bits

RAW = (32, 64, 100, 128, 256)
FAST = settings(max_examples=40, deadline=None)


def messages(raw_bits: int) -> st.SearchStrategy[Message]:
    """Messages that fit ``raw_bits``: UTF-8 text and bytes as version 1, and compact texts."""
    cap = capacity(raw_bits)
    limit = cap.max_bytes
    text = st.text(max_size=limit).filter(lambda s: len(s.encode("utf-8")) <= limit).map(Message.from_text)
    data = st.binary(max_size=limit).map(lambda b: Message.from_hex(b.hex()))
    compact = [st.text(alphabet.letters, min_size=limit + 1, max_size=chars).map(Message.from_text)
               for alphabet, chars in zip(ALPHABETS, cap.compact_chars) if chars]
    return st.one_of(text, data, *compact)


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
        max_bit_errors=5, length_bits=2, false_alarm=capacity(64).false_alarm, compact_chars=(4, 0),
        compact_correctable=3, compact_max_bit_errors=6,
    )
    assert capacity(64).code_bits == 60 and capacity(64).false_alarm < 1e-3
    assert capacity(64).byte_codewords == 2 * (1 + 256 + 256**2 + 256**3)
    assert capacity(64).codewords == capacity(64).byte_codewords + sum(41**i for i in range(5))
    cap = capacity(100)
    assert (cap.symbol_bits, cap.symbols, cap.parity_symbols, cap.max_bytes, cap.correctable) == (5, 20, 10, 5, 5)
    assert cap.max_bit_errors == 11 and cap.code_bits == 100
    assert [capacity(r).max_bytes for r in RAW] == [1, 3, 5, 7, 16]
    assert [capacity(r).correctable for r in RAW] == [2, 3, 5, 6, 9]
    assert [capacity(r).max_bit_errors for r in RAW] == [2, 5, 11, 13, 24]
    assert [capacity(r).compact_chars for r in RAW] == [(2, 0), (4, 0), (8, 7), (11, 9), (25, 20)]
    assert [capacity(r).max_chars() for r in RAW] == [1, 3, 7, 9, 20]
    assert [capacity(r).compact_correctable for r in RAW] == [1, 3, 4, 5, 8]
    assert [capacity(r).compact_max_bit_errors for r in RAW] == [1, 6, 9, 11, 22]
    for r in RAW:  # compact text accepts random words no more often than bytes do (each term of the bound)
        cap = capacity(r)
        ball = lambda t: sum(math.comb(cap.symbols, i) * (2**cap.symbol_bits - 1) ** i for i in range(t + 1))
        assert cap.compact_codewords * ball(cap.compact_correctable) <= cap.byte_codewords * ball(cap.correctable)
    assert all(capacity(r).false_alarm < 1e-3 for r in (*RAW, 160, 192, 200, 320, 512, 1000))
    for raw in (8, 16, 5000):
        with pytest.raises(PayloadError, match="cannot hold"):
            capacity(raw)


def user_bytes(symbol_bits: int, data_symbols: int) -> int:
    """Bytes after a version 1 header (3 + 1 + length bits) in that many data symbols."""
    data = symbol_bits * data_symbols - 4
    return (data - next(b for b in range(1, 9) if (data - b) // 8 < 2**b)) // 8


@pytest.mark.parametrize("raw", [32, 64, 100, 128, 160, 192, 256, 320, 512])
def test_the_layout_rule(raw: int) -> None:
    """Half the symbols are parity, unless fewer make room for 16 user bytes and still correct
    4 symbols: then the most parity that leaves that room (DESIGN.md: 256 bits, 16 bytes, >= 4)."""
    cap = capacity(raw)
    c, n, half = cap.symbol_bits, cap.symbols, cap.symbols // 2
    assert cap.max_bytes == user_bytes(c, cap.data_symbols)
    if cap.parity_symbols == half:
        assert user_bytes(c, n - half) >= 16 or all(user_bytes(c, n - p) < 16 for p in range(8, half))
    else:
        assert cap.parity_symbols < half and cap.max_bytes >= 16 and cap.correctable >= 4
        assert user_bytes(c, cap.data_symbols - 1) < 16  # one more parity symbol would not leave the room
    assert (capacity(256).max_bytes, capacity(256).correctable, capacity(256).parity_symbols) == (16, 9, 19)


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
    limit = cap.correctable if form(message, raw) == "bytes" else cap.compact_correctable
    positions = data.draw(st.sets(st.integers(0, cap.symbols - 1), max_size=limit))
    errors = {i: data.draw(st.integers(1, 2**cap.symbol_bits - 1)) for i in positions}
    received = flip_symbols(encode(message, raw), cap, errors)
    decoded = decode(received.astype(float))
    assert decoded.found and decoded.message == message
    assert decoded.corrected_symbols == len(errors)


@pytest.mark.parametrize("compact", [False, True], ids=["bytes", "compact"])
@pytest.mark.parametrize("raw", [64, 100, 256])
def test_erasures_correct_more_than_plain_decoding(raw: int, compact: bool) -> None:
    cap = capacity(raw)
    rng = np.random.default_rng(raw)
    if compact:  # a lower-case text one letter longer than bytes hold; its own bit limit
        letters = ALPHABETS[0].letters
        message = Message.from_text("".join(rng.choice(list(letters), cap.max_bytes + 1)))
        count = min(cap.parity_symbols, cap.compact_max_bit_errors)
        assert form(message, raw) == "lower"
    else:
        message = Message.from_hex(rng.bytes(cap.max_bytes).hex())
        count = min(cap.parity_symbols, cap.max_bit_errors)
    assert count > (cap.compact_correctable if compact else cap.correctable)
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
    with pytest.raises(PayloadError, match=r"message is 9 bytes; a model of 64 raw bits holds at most 3$"):
        encode(Message.from_text("too long!"), 64)
    with pytest.raises(PayloadError, match=r"model 'tiny' holds at most 5$"):
        encode(Message.from_hex("00" * 6), 100, model="tiny")
    assert encode(Message.from_hex("00" * 5), 100).shape == (100,)
    with pytest.raises(PayloadError, match=r"message is 16 bytes; model 'm' holds at most 5 "
                                           r"\(7 characters of plain ASCII\)$"):
        encode(Message.from_text("(c) J. Doe 2026!"), 100, model="m")
    with pytest.raises(PayloadError, match=r"holds at most 5 \(8 characters of a-z 0-9 -\./@ and space\)$"):
        encode(Message.from_text("j.doe@example.org"), 100)
    with pytest.raises(PayloadError, match=r"message is 12 bytes; .* holds at most 5$"):
        encode(Message.from_text("éééééé"), 100)  # no compact alphabet holds it


# Words wmark wrote before compact text (version 1): they must keep decoding, and encode the same.
V1_WORDS = [
    (100, Message.from_text("owner"), "0c7dc64abcbc74c21f069c09a0", None),
    (100, Message.from_hex("00ff10"), "10a2d6b676587dfe8c08d95a20", None),
    (100, Message.from_text(""), "06a32896765855273a359eef40", None),
    (100, Message.from_text("hé!"), "0e72afc43458734b24eab037d0", None),
    (64, Message.from_text("abc"), "0b26a11b99808010", None),
    (128, Message.from_text("seven77"), "0845e27abc8417a5e9178f7feafb7548", None),
    (100, Message.from_text("owner"), "a139c6db19ef008322edc3fa30", b"k" * 16),
]


@pytest.mark.parametrize(("raw", "message", "packed", "key"), V1_WORDS)
def test_version_1_words_are_unchanged(raw: int, message: Message, packed: str, key: bytes | None) -> None:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), np.uint8))[:raw]
    np.testing.assert_array_equal(encode(message, raw, key=key), bits)
    decoded = decode(np.where(bits == 1, 0.8, 0.2), key=key)
    assert decoded.found and decoded.message == message


def reference_v1(message: Message, raw: int) -> np.ndarray:
    """Version 1 as wmark wrote it before compact text (32 to 128 raw bits: half parity), from
    reedsolo and SHAKE-256 directly."""
    import hashlib

    from reedsolo import RSCodec

    c = next(c for c in (4, 5, 6, 7, 8) if raw // c <= 2**c - 1)
    n = raw // c
    parity = n // 2
    data_bits = (n - parity) * c - 4
    length_bits = next(b for b in range(1, 9) if (data_bits - b) // 8 < 2**b)
    room = (data_bits - length_bits) // 8
    word = (1 << 1) | (0 if message.kind == "text" else 1)
    word = (word << length_bits) | len(message.data)
    word = (word << 8 * room) | int.from_bytes(message.data.ljust(room, b"\0"), "big")
    word <<= data_bits - length_bits - 8 * room
    symbols = [(word >> (c * (n - parity - 1 - i))) & (2**c - 1) for i in range(n - parity)]
    codec = RSCodec(parity, nsize=n, prim={4: 0x13, 5: 0x25}[c], c_exp=c)
    coded = np.array([(s >> (c - 1 - j)) & 1 for s in codec.encode(bytearray(symbols)) for j in range(c)], np.uint8)
    mask = np.unpackbits(np.frombuffer(hashlib.shake_256(b"wmark payload whitening v1").digest((n * c + 7) // 8),
                                       np.uint8))[: n * c]
    return np.concatenate([coded ^ mask, np.zeros(raw - n * c, np.uint8)])


@FAST
@given(st.data())
def test_old_format_payloads_decode_unchanged(data: st.DataObject) -> None:
    """Any version 1 word of the layouts marks were made with (32 to 128 bits) decodes to its
    message, through the bytes path, with the same code as before."""
    raw = data.draw(st.sampled_from((32, 64, 100, 128)))
    limit = capacity(raw).max_bytes
    text = st.text(max_size=limit).filter(lambda s: len(s.encode("utf-8")) <= limit).map(Message.from_text)
    message = data.draw(st.one_of(text, st.binary(max_size=limit).map(lambda b: Message("bytes", b))))
    old = reference_v1(message, raw)
    np.testing.assert_array_equal(encode(message, raw), old)
    assert form(message, raw) == "bytes"
    decoded = decode(np.where(old == 1, 0.9, 0.1))
    assert decoded.found and decoded.message == message and decoded.bit_errors == 0


TEXTS = st.one_of(st.text(max_size=40), *(st.text(alphabet.letters, max_size=40) for alphabet in ALPHABETS))


@FAST
@given(st.sampled_from(RAW), TEXTS)
def test_any_text_round_trips_or_is_refused(raw: int, text: str) -> None:
    """Compact text is chosen only when the bytes do not fit, the smallest alphabet holding the
    text holds it, and its number is shorter than the bytes; otherwise the form is bytes or an error."""
    from wmark.payload import _rank

    cap = capacity(raw)
    message = Message.from_text(text)
    smallest = next((i for i, alphabet in enumerate(ALPHABETS) if alphabet.holds(text)), None)
    chosen = form(message, raw)
    if len(message.data) <= cap.max_bytes:
        assert chosen == "bytes"
    elif smallest is not None and len(text) <= cap.compact_chars[smallest]:
        assert chosen == ALPHABETS[smallest].name
        assert _rank(text, ALPHABETS[smallest]).bit_length() <= cap.value_bits
        assert _rank(text, ALPHABETS[smallest]).bit_length() < 8 * len(message.data)  # shorter than the bytes
    else:
        assert chosen is None
        with pytest.raises(PayloadError, match="holds at most"):
            encode(message, raw)
        return
    bits = encode(message, raw)
    decoded = decode(np.where(bits == 1, 0.9, 0.1))
    assert decoded.found and decoded.message == message and decoded.bits.tolist() == bits.tolist()


def compact_word(raw: int, index: int, value: int) -> np.ndarray:
    """The bits a version 2 data word (alphabet ``index``, number ``value``) is coded to."""
    from wmark.payload import _codec, _to_bits, _whitening

    cap = capacity(raw)
    word = (((2 << 1) | index) << cap.value_bits) | value
    c, k = cap.symbol_bits, cap.data_symbols
    data = [(word >> (c * (k - 1 - i))) & (2**c - 1) for i in range(k)]
    codeword = _codec(c, cap.symbols, cap.parity_symbols).encode(bytearray(data))
    bits = np.zeros(raw, np.uint8)
    bits[: cap.code_bits] = _to_bits(list(codeword), c) ^ _whitening(cap.code_bits)
    return bits


@FAST
@given(st.data())
def test_only_the_form_encode_writes_is_read(data: st.DataObject) -> None:
    """Every accepted compact word re-encodes to itself: no message has two forms."""
    raw = data.draw(st.sampled_from((64, 100, 128, 256)))
    cap = capacity(raw)
    index = data.draw(st.integers(0, len(ALPHABETS) - 1))
    bits = compact_word(raw, index, data.draw(st.integers(0, 2**cap.value_bits - 1)))
    decoded = decode(np.where(bits == 1, 0.9, 0.1))
    if decoded.found:
        np.testing.assert_array_equal(encode(decoded.message, raw), bits)


def test_non_canonical_compact_words_are_refused() -> None:
    from wmark.payload import _rank, _texts

    lower, ascii_ = ALPHABETS
    cases = [
        compact_word(100, 0, _rank("abc", lower)),  # bytes hold it
        compact_word(100, 1, _rank("owner12", ascii_)),  # the smaller alphabet holds it
        compact_word(100, 0, _texts(lower.size, capacity(100).compact_chars[0])),  # one letter too many
        compact_word(64, 1, _rank("Abcd", ascii_)),  # 64 bits offer no ascii alphabet
    ]
    for bits in cases:
        assert not decode(np.where(bits == 1, 0.9, 0.1)).found
    good = compact_word(100, 1, _rank("Owner12", ascii_))
    assert decode(good.astype(float)).message == Message.from_text("Owner12")
    np.testing.assert_array_equal(encode(Message.from_text("Owner12"), 100), good)


def test_compact_capacity_in_characters() -> None:
    """What each width holds: 100 bits 5 bytes or 7 ASCII / 8 lower-case characters; 256 bits
    16 bytes (a 128-bit ID) or 20 / 25 characters, with 9 symbols correctable."""
    for raw, chars in ((100, (8, 7)), (256, (25, 20))):
        cap = capacity(raw)
        for alphabet, most in zip(ALPHABETS, chars):
            longest = Message.from_text(alphabet.letters[-1] * most)
            assert form(longest, raw) == alphabet.name and decode(encode(longest, raw).astype(float)).found
            with pytest.raises(PayloadError):
                encode(Message.from_text(alphabet.letters[-1] * (most + 1)), raw)
        assert cap.max_chars("ascii") == chars[1] and cap.max_chars("lower") == chars[0]
    assert decode(encode(Message.from_hex("ab" * 16), 256).astype(float)).message == Message.from_hex("ab" * 16)


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
