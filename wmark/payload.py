"""Messages <-> a model's raw bits: a tiny header, Reed-Solomon, whitening, soft decoding.

Layout of the ``raw_bits`` a model carries::

    [ RS codeword: n symbols of c bits, XOR a fixed whitening mask ][ padding: zeros ]
    data symbols, version 1 = [ version:3 | kind:1 | length:L | message bytes, zero-filled | zeros ]
    data symbols, version 2 = [ version:3 | alphabet:1 | text as one number, bijective base A ]

* Symbols are as small as fit one codeword (smallest ``c`` with ``n = raw_bits // c`` at most
  ``2**c - 1``): independent bit errors then spoil fewer symbols. Simulated soft bits with ~5 %
  bit errors decode 88 % of the time at 64 raw bits with 5-bit symbols, 65 % with 8-bit ones
  (100 bits: 82 % against 68 %). Half the symbols (``n // 2``) are parity, unless that leaves
  fewer than :data:`TARGET_BYTES` user bytes (16: a 128-bit ID, a name and a year) while fewer
  parity symbols hold them and still correct :data:`MIN_CORRECTABLE` (4): then the most parity
  that leaves room for 16 bytes (256 raw bits: 19 parity symbols of 42, 16 bytes, where half
  would hold 14). Up to 128 raw bits nothing changes: half parity, as always.
* Version 1 (kind text | bytes, length in bytes) is every mark made before compact text, and
  still every message whose bytes fit: bytes after the length and spare bits must be zero,
  text must be valid UTF-8.
* Version 2, compact text: a text too long in UTF-8 whose characters all belong to an alphabet
  of :data:`ALPHABETS` (``lower``: a-z 0-9 -./@ and space, 41 letters, 5.36 bits each;
  ``ascii``: printable ASCII but the backtick, 94 letters, 6.55 bits) is written as one number,
  in bijective base ``A`` (a letter's digit is its index + 1, so every text of at most
  ``compact_chars`` letters has one number and needs no length field). The header bit names
  the alphabet. Only the form :func:`encode` writes is read back (bytes when they fit, then the
  smaller alphabet): every accepted word re-encodes to itself.
* The codeword is XORed with a fixed pseudo-random mask (SHAKE-256): constant outputs never
  decode and the embedded bits are balanced. Padding bits are zero and ignored on decode.
* Decoding corrects the hard bits, then erases the 1, 2, ... ``parity`` least confident
  symbols (confidence: min over its bits of ``|p - 0.5|``). A candidate is accepted when its
  header is valid and it is within ``correctable`` symbols or ``max_bit_errors`` bits of the
  hard bits (version 2: ``compact_correctable``, ``compact_max_bit_errors``). The limits keep
  the union bound on decoding random bits (``Capacity.false_alarm``) under 1e-3: erasing all
  parity symbols would otherwise accept any word with a valid header. Version 1 keeps the
  limits it always had. Version 2's words are more numerous (100 bits: ~35 times), so its
  limits are the largest whose terms of the bound stay within version 1's: compact text does
  not make random words decode more often than bytes do (with version 1's radius it did: 8 of
  200,000 uniform random reads at 100 bits decoded as compact text, nearly all 5-symbol corrections).
  Where that leaves no room, or the alphabet holds no more than bytes do, a width offers no
  compact text (64 bits: only ``lower``).

Capacity (raw bits: symbol bits, user bytes, correctable symbols, max bit errors; compact
characters lower / ascii, their correctable symbols and max bit errors; false-alarm bound):

    32:  4, 1, 2, 2;    2 / -,  1, 1;  8.9e-4      64: 5, 3, 3, 5;   4 / -, 3, 6;  5.3e-4
    100: 5, 5, 5, 11;   8 / 7,  4, 9;  4.0e-4     128: 5, 7, 6, 13; 11 / 9, 5, 11; 6.4e-4
    256: 6, 16, 9, 24; 25 / 20, 8, 22; 3.2e-4

Measured false decodes (200,000 trials each, seed 0): uniform random probabilities decode as
found 1.05e-4 of the time at 64 bits (21 trials: 20 as bytes, as before compact text, 1 as
compact), 5e-6 at 100 bits (1, compact; 0 before compact text, 9 with version 1's radius for
compact); random hard bits 8.0e-5 at 64 bits (16, all bytes) and 0 at 100 bits. 256 bits: 0
of 20,000 of each.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from reedsolo import ReedSolomonError, RSCodec

from .errors import PayloadError

Kind = Literal["text", "bytes", "bits"]
VERSION = 1  # header version of bytes and UTF-8 text (every mark made before compact text)
COMPACT_VERSION = 2  # header version of text in a compact alphabet
FALSE_ALARM_TARGET = 1e-3  # union bound on false decodes that sets max_bit_errors
TARGET_BYTES = 16  # user bytes a layout makes room for when parity allows (see the module docstring)
MIN_CORRECTABLE = 4  # symbols the parity must still correct to make that room
_VERSION_BITS = 3
_KINDS: tuple[Kind, Kind] = ("text", "bytes")  # 1-bit kind code in the header
# Primitive polynomials of GF(2**c), pinned so that codewords never depend on reedsolo's search.
_PRIMITIVE = {4: 0x13, 5: 0x25, 6: 0x43, 7: 0x89, 8: 0x11D}
_RS_LOCK = threading.RLock()  # reedsolo keeps its Galois tables in module globals


@dataclass(frozen=True)
class Alphabet:
    """The letters of a compact text form; ``label`` names them in messages."""

    name: str
    label: str
    letters: str

    @property
    def size(self) -> int:
        return len(self.letters)

    def holds(self, text: str) -> bool:
        """Whether every character of ``text`` is a letter of this alphabet."""
        return all(ch in self.letters for ch in text)


# Compact alphabets, smallest first; the header's alphabet bit is the index. Never reorder.
ALPHABETS: tuple[Alphabet, ...] = (
    Alphabet("lower", "a-z 0-9 -./@ and space", "abcdefghijklmnopqrstuvwxyz0123456789 -./@"),
    Alphabet("ascii", "plain ASCII", "".join(chr(code) for code in range(32, 127) if chr(code) != "`")),
)
Form = Literal["bits", "bytes", "lower", "ascii"]


@dataclass(frozen=True)
class Capacity:
    """Code layout for a model's raw bits; see the module docstring for the table."""

    raw_bits: int
    symbol_bits: int
    data_symbols: int
    parity_symbols: int
    max_bytes: int
    correctable: int
    max_bit_errors: int
    length_bits: int
    false_alarm: float
    compact_chars: tuple[int, ...] = (0,) * len(ALPHABETS)  # per alphabet; 0: not offered
    compact_correctable: int = -1  # symbol errors a compact text is accepted with
    compact_max_bit_errors: int = -1

    @property
    def symbols(self) -> int:
        return self.data_symbols + self.parity_symbols

    @property
    def code_bits(self) -> int:
        """Bits covered by the codeword; the remaining ``raw_bits - code_bits`` are padding."""
        return self.symbols * self.symbol_bits

    @property
    def data_bits(self) -> int:
        return self.data_symbols * self.symbol_bits

    @property
    def value_bits(self) -> int:
        """Bits of a compact text's number (the data after version and alphabet bit)."""
        return self.data_bits - _VERSION_BITS - 1

    @property
    def byte_codewords(self) -> int:
        """Number of valid version 1 words (2 kinds, every length)."""
        return 2 * sum(256**length for length in range(self.max_bytes + 1))

    @property
    def compact_codewords(self) -> int:
        """Number of version 2 words that can decode (a bound: non-canonical ones are refused)."""
        return sum(_texts(alphabet.size, chars) for alphabet, chars in zip(ALPHABETS, self.compact_chars) if chars)

    @property
    def codewords(self) -> int:
        """Number of valid messages, every version: the union bound's multiplier."""
        return self.byte_codewords + self.compact_codewords

    @property
    def spare_bits(self) -> int:
        """Data bits after a version 1 header and message bytes, fixed zero."""
        header = _VERSION_BITS + 1 + self.length_bits
        return self.data_bits - header - 8 * self.max_bytes

    def max_chars(self, alphabet: str = "ascii") -> int:
        """The most characters of a text in ``alphabet`` (``lower`` or ``ascii``): as bytes or compact."""
        index = [a.name for a in ALPHABETS].index(alphabet)
        return max(self.max_bytes, self.compact_chars[index])


def _ball(n: int, radius: int, q: int) -> int:
    """Number of words of length ``n`` over ``q`` letters within ``radius`` of a given one."""
    return sum(math.comb(n, i) * (q - 1) ** i for i in range(radius + 1))


def _texts(size: int, length: int) -> int:
    """Number of texts of at most ``length`` letters over ``size`` letters."""
    return (size ** (length + 1) - 1) // (size - 1)


def _bit_radius(words: int, symbol_ball: int, nbits: int, limit: int) -> tuple[int, int]:
    """(largest bit distance r, or -1, and the count it spends) with ``words`` x (symbol ball +
    bit ball of radius r) at most ``limit``: the union bound on random words accepted."""
    radius, ball = -1, 0
    while words * (symbol_ball + ball + math.comb(nbits, radius + 1)) <= limit:
        radius += 1
        ball += math.comb(nbits, radius)
    return radius, words * (symbol_ball + max(ball, 1))


def _header(data_bits: int) -> tuple[int, int]:
    """(length bits, user bytes) of a version 1 header in ``data_bits``."""
    data = data_bits - _VERSION_BITS - 1
    length_bits = next(b for b in range(1, 9) if (data - b) // 8 < 2**b)
    return length_bits, (data - length_bits) // 8


def _layout(raw_bits: int) -> tuple[int, int, int]:
    """(symbol bits, symbols, parity symbols) for ``raw_bits``; see the module docstring."""
    c = next((c for c in _PRIMITIVE if 4 <= raw_bits // c <= 2**c - 1), None)
    if c is None:
        raise PayloadError(f"{raw_bits} raw bits cannot hold a protected message (use raw bits instead)")
    n = raw_bits // c
    half = n // 2
    if _header((n - half) * c)[1] >= TARGET_BYTES:
        return c, n, half
    room = [p for p in range(2 * MIN_CORRECTABLE, half) if _header((n - p) * c)[1] >= TARGET_BYTES]
    return c, n, max(room, default=half)


@lru_cache(maxsize=64)
def capacity(raw_bits: int) -> Capacity:
    """The layout for ``raw_bits`` (PayloadError when too few or too many for one codeword)."""
    raw_bits = int(raw_bits)
    c, n, parity = _layout(raw_bits)
    length_bits, max_bytes = _header((n - parity) * c)
    if max_bytes < 1:
        raise PayloadError(f"{raw_bits} raw bits cannot hold a protected message (use raw bits instead)")
    correctable = parity // 2
    code_bits, budget = n * c, 2 ** (n * c)
    limit = budget // round(1 / FALSE_ALARM_TARGET)
    symbol_ball = _ball(n, correctable, 2**c)
    bytes_words = 2 * sum(256**length for length in range(max_bytes + 1))
    bit_errors, spent = _bit_radius(bytes_words, symbol_ball, code_bits, limit)
    # Compact text: the most letters whose texts all have a number in the value bits.
    value_bits = (n - parity) * c - _VERSION_BITS - 1
    chars = []
    for alphabet in ALPHABETS:
        most = 0
        while _texts(alphabet.size, most + 1) <= 2**value_bits:
            most += 1
        chars.append(most if most > max_bytes else 0)
    # Version 2 may accept random words no more often than version 1 does: within its share of
    # each term of the bound (the symbol ball decides most false decodes, measured), and the total.
    compact_words = sum(_texts(a.size, m) for a, m in zip(ALPHABETS, chars) if m)
    share = min(spent, limit - spent)
    compact_correctable = next((t for t in range(correctable, -1, -1)
                                if compact_words * _ball(n, t, 2**c) <= bytes_words * symbol_ball), -1)
    compact_errors = -1
    if compact_words and compact_correctable >= 0 and compact_words * _ball(n, compact_correctable, 2**c) <= share:
        compact_errors, compact_spent = _bit_radius(compact_words, _ball(n, compact_correctable, 2**c), code_bits,
                                                    share)
        spent += compact_spent
    else:
        chars, compact_correctable = [0] * len(ALPHABETS), -1
    return Capacity(raw_bits, c, n - parity, parity, max_bytes, correctable, bit_errors, length_bits,
                    spent / budget, tuple(chars), compact_correctable, compact_errors)


@dataclass(frozen=True)
class Message:
    """A payload: UTF-8 ``text``, arbitrary ``bytes``, or ``bits`` (one 0/1 byte per raw bit)."""

    kind: Kind
    data: bytes

    def __post_init__(self) -> None:
        if self.kind not in ("text", "bytes", "bits"):
            raise PayloadError(f"unknown message kind {self.kind!r}")
        if not isinstance(self.data, bytes):
            raise PayloadError("message data must be bytes")
        if self.kind == "bits" and not set(self.data) <= {0, 1}:
            raise PayloadError("bits must be 0 or 1")
        if self.kind == "text" and self.text() is None:
            raise PayloadError("text message is not valid UTF-8")

    @classmethod
    def from_text(cls, text: str) -> Message:
        try:
            return cls("text", text.encode("utf-8"))
        except UnicodeEncodeError as error:
            raise PayloadError(f"text cannot be encoded as UTF-8: {error.reason}") from None

    @classmethod
    def from_hex(cls, text: str) -> Message:
        """Bytes from hex digits; an optional ``0x`` prefix and whitespace are ignored."""
        digits = "".join(text.split())
        if digits[:2].lower() == "0x":
            digits = digits[2:]
        bad = next((ch for ch in digits if ch not in "0123456789abcdefABCDEF"), None)
        if bad is not None:
            raise PayloadError(f"bad hex {text!r}: {bad!r} is not a hex digit")
        if len(digits) % 2:
            raise PayloadError(f"bad hex {text!r}: odd number of digits")
        return cls("bytes", bytes.fromhex(digits))

    @classmethod
    def from_bits(cls, bits: str | Sequence[int] | np.ndarray) -> Message:
        """Raw bits, written to the model as they are (no header, no error correction)."""
        array = parse_bits(bits) if isinstance(bits, str) else np.asarray(bits).ravel()
        if array.size == 0 or not np.isin(array, (0, 1)).all():
            raise PayloadError("bits must be a non-empty sequence of 0 and 1")
        return cls("bits", array.astype(np.uint8).tobytes())

    def text(self) -> str | None:
        """The data as UTF-8 text, None when it is not (or for raw bits)."""
        if self.kind == "bits":
            return None
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def hex(self) -> str:
        """The data as hex (raw bits packed MSB first, zero-filled to whole bytes)."""
        if self.kind == "bits":
            return np.packbits(np.frombuffer(self.data, np.uint8)).tobytes().hex()
        return self.data.hex()

    def display(self) -> str:
        """Printable text for text messages, ``0101`` for bits, hex otherwise."""
        if self.kind == "bits":
            return "".join("01"[b] for b in self.data)
        text = self.text()
        if self.kind == "text" and text is not None and text.isprintable():
            return text
        return self.hex()


@dataclass(frozen=True, eq=False)
class Decoded:
    """Outcome of :func:`decode`; ``bits`` are the hard decisions of the input."""

    found: bool
    message: Message | None
    corrected_symbols: int
    bits: np.ndarray
    bit_errors: int | None = None  # hard bits that differ from the decoded codeword


def parse_bits(text: str) -> np.ndarray:
    """``"0101 1100"`` -> uint8 array of 0/1 (whitespace ignored; PayloadError otherwise)."""
    digits = "".join(text.split())
    bad = next((ch for ch in digits if ch not in "01"), None)
    if bad is not None:
        raise PayloadError(f"bad bits {text!r}: {bad!r} is not 0 or 1")
    if not digits:
        raise PayloadError("bits are empty")
    return (np.frombuffer(digits.encode("ascii"), np.uint8) - ord("0")).astype(np.uint8)


@lru_cache(maxsize=16)
def _codec(symbol_bits: int, symbols: int, parity: int) -> RSCodec:
    with _RS_LOCK:
        return RSCodec(parity, nsize=symbols, prim=_PRIMITIVE[symbol_bits], c_exp=symbol_bits)


@lru_cache(maxsize=16)
def _whitening(nbits: int) -> np.ndarray:
    digest = hashlib.shake_256(b"wmark payload whitening v1").digest((nbits + 7) // 8)
    mask = np.unpackbits(np.frombuffer(digest, np.uint8))[:nbits]
    mask.setflags(write=False)
    return mask


def _to_bits(symbols: Sequence[int], width: int) -> np.ndarray:
    values = np.asarray(symbols, dtype=np.int64)[:, None]
    return ((values >> np.arange(width - 1, -1, -1)) & 1).astype(np.uint8).ravel()


def _to_symbols(bits: np.ndarray, width: int) -> list[int]:
    weights = 1 << np.arange(width - 1, -1, -1)
    return (bits.reshape(-1, width).astype(np.int64) @ weights).tolist()


def key_schedule(key: bytes, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """(XOR mask, permutation) of ``nbits`` coded bits for a secret key: bit ``i`` the model
    carries is coded bit ``permutation[i]`` XOR ``mask[i]``."""
    if not key:
        raise PayloadError("the secret key is empty")
    mask = np.unpackbits(np.frombuffer(hashlib.shake_256(b"wmark key mask v1" + key).digest((nbits + 7) // 8),
                                       np.uint8))[:nbits]
    seed = int.from_bytes(hashlib.sha256(b"wmark key permutation v1" + key).digest(), "big")
    return mask, np.random.default_rng(seed).permutation(nbits)


def form(message: Message, raw_bits: int) -> Form | None:
    """How :func:`encode` writes ``message`` in ``raw_bits``: ``bits`` (raw), ``bytes`` (version 1,
    text or bytes, whenever they fit), ``lower`` or ``ascii`` (compact text, only a text too
    long as bytes, in the smaller alphabet that holds it); None when it does not fit."""
    if message.kind == "bits":
        return "bits" if len(message.data) == raw_bits else None
    cap = capacity(raw_bits)
    if len(message.data) <= cap.max_bytes:
        return "bytes"
    text = message.text() if message.kind == "text" else None
    for alphabet, chars in zip(ALPHABETS, cap.compact_chars):
        if text is not None and alphabet.holds(text):  # the smallest alphabet that holds it decides
            return alphabet.name if len(text) <= chars else None  # type: ignore[return-value]
    return None


def alphabet_of(message: Message) -> Alphabet | None:
    """The smallest alphabet of :data:`ALPHABETS` that holds a text message; None for bytes,
    bits, or text with a character none holds."""
    text = message.text() if message.kind == "text" else None
    return None if text is None else next((a for a in ALPHABETS if a.holds(text)), None)


def _too_long(message: Message, cap: Capacity, model: str | None) -> str:
    holder = f"model {model!r}" if model else f"a model of {cap.raw_bits} raw bits"
    text = f"message is {len(message.data)} bytes; {holder} holds at most {cap.max_bytes}"
    alphabet = alphabet_of(message)
    if alphabet is not None and cap.max_chars(alphabet.name) > cap.max_bytes:
        text += f" ({cap.max_chars(alphabet.name)} characters of {alphabet.label})"
    return text


def _rank(text: str, alphabet: Alphabet) -> int:
    """``text`` as a number in bijective base ``alphabet.size`` ("" is 0, letters' digits are index + 1)."""
    value = 0
    for letter in text:
        value = value * alphabet.size + alphabet.letters.index(letter) + 1
    return value


def _unrank(value: int, alphabet: Alphabet) -> str:
    """The text of :func:`_rank`'s number ``value``."""
    letters = []
    while value:
        value, digit = divmod(value - 1, alphabet.size)
        letters.append(alphabet.letters[digit])
    return "".join(reversed(letters))


def _data_word(message: Message, cap: Capacity) -> int | None:
    """The data symbols' bits of ``message`` as one integer, None when it does not fit."""
    written = form(message, cap.raw_bits)
    if written is None or written == "bits":
        return None
    if written == "bytes":
        word = (VERSION << 1) | _KINDS.index(message.kind)  # type: ignore[arg-type]
        word = (word << cap.length_bits) | len(message.data)
        word = (word << 8 * cap.max_bytes) | int.from_bytes(message.data.ljust(cap.max_bytes, b"\0"), "big")
        return word << cap.spare_bits
    index = [a.name for a in ALPHABETS].index(written)
    header = (COMPACT_VERSION << 1) | index
    return (header << cap.value_bits) | _rank(message.text() or "", ALPHABETS[index])


def encode(message: Message, raw_bits: int, *, model: str | None = None, key: bytes | None = None) -> np.ndarray:
    """The ``raw_bits`` (uint8 0/1) that carry ``message``; PayloadError when it does not fit.

    Text too long as UTF-8 bytes goes compact when its alphabet holds it (:func:`form`).
    With a secret ``key`` the coded bits are permuted and masked (:func:`key_schedule`):
    without the key they read as noise. Raw ``bits`` messages are never keyed.
    """
    if message.kind == "bits":
        if len(message.data) != raw_bits:
            raise PayloadError(f"bits are {len(message.data)} long; the model takes exactly {raw_bits}")
        return np.frombuffer(message.data, np.uint8).copy()
    cap = capacity(raw_bits)
    word = _data_word(message, cap)
    if word is None:
        raise PayloadError(_too_long(message, cap, model))
    c, k = cap.symbol_bits, cap.data_symbols
    data = [(word >> (c * (k - 1 - i))) & (2**c - 1) for i in range(k)]
    with _RS_LOCK:
        codeword = list(_codec(c, cap.symbols, cap.parity_symbols).encode(bytearray(data)))
    bits = np.zeros(raw_bits, np.uint8)
    bits[: cap.code_bits] = _to_bits(codeword, c) ^ _whitening(cap.code_bits)
    if key is not None:
        mask, permutation = key_schedule(key, raw_bits)
        bits = bits[permutation] ^ mask
    return bits


def _parse_bytes(word: int, cap: Capacity) -> Message | None:
    """The message of a version 1 data word, None when its length or zero fill is wrong."""
    if word & ((1 << cap.spare_bits) - 1):
        return None
    word >>= cap.spare_bits
    payload = (word & ((1 << 8 * cap.max_bytes) - 1)).to_bytes(cap.max_bytes, "big")
    word >>= 8 * cap.max_bytes
    length = word & ((1 << cap.length_bits) - 1)
    kind = _KINDS[(word >> cap.length_bits) & 1]
    if word >> (cap.length_bits + 1) != VERSION or length > cap.max_bytes or any(payload[length:]):
        return None
    try:
        return Message(kind, payload[:length])
    except PayloadError:  # text that is not UTF-8
        return None


def _parse_compact(word: int, cap: Capacity) -> Message | None:
    """The text of a version 2 data word, None when it is out of range or not what encode writes."""
    index = (word >> cap.value_bits) & 1
    value = word & ((1 << cap.value_bits) - 1)
    chars = cap.compact_chars[index]
    if not chars or value >= _texts(ALPHABETS[index].size, chars):
        return None
    message = Message.from_text(_unrank(value, ALPHABETS[index]))
    return message if _data_word(message, cap) == word else None


def _parse(data: Sequence[int], cap: Capacity) -> tuple[int, Message] | None:
    """(header version, message) of corrected data symbols, None when the header is wrong."""
    word = 0
    for symbol in data:
        word = (word << cap.symbol_bits) | symbol
    version = word >> (cap.data_bits - _VERSION_BITS)
    message = (_parse_bytes(word, cap) if version == VERSION
               else _parse_compact(word, cap) if version == COMPACT_VERSION else None)
    return None if message is None else (version, message)


def _correct(received: list[int], erasures: list[int], cap: Capacity) -> list[int] | None:
    codec = _codec(cap.symbol_bits, cap.symbols, cap.parity_symbols)
    try:
        with _RS_LOCK:
            _, full, _ = codec.decode(bytearray(received), erase_pos=erasures or None)
    except (ReedSolomonError, ValueError, IndexError, ZeroDivisionError):
        return None
    return list(full)


def decode(probabilities: np.ndarray, raw_bits: int | None = None, *, key: bytes | None = None) -> Decoded:
    """Find a message in per-bit probabilities P(bit = 1); never raises on their values.

    Non-finite values count as 0.5 and values are clipped to [0, 1]. ValueError when
    ``raw_bits`` is given and differs from the number of probabilities. ``key``: the
    secret key the message was encoded with (a wrong one finds nothing).
    """
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if raw_bits is not None and p.size != raw_bits:
        raise ValueError(f"expected {raw_bits} probabilities, got {p.size}")
    cap = capacity(p.size)
    p = np.clip(np.nan_to_num(p, nan=0.5, posinf=1.0, neginf=0.0), 0.0, 1.0)
    observed = (p > 0.5).astype(np.uint8)  # what the model read, before any key
    if key is not None:
        mask, permutation = key_schedule(key, p.size)
        unkeyed = np.empty_like(p)
        unkeyed[permutation] = np.where(mask == 1, 1.0 - p, p)
        p = unkeyed
    hard = (p > 0.5).astype(np.uint8)
    code = hard[: cap.code_bits] ^ _whitening(cap.code_bits)
    received = _to_symbols(code, cap.symbol_bits)
    confidence = np.abs(p[: cap.code_bits] - 0.5).reshape(cap.symbols, cap.symbol_bits).min(axis=1)
    order = np.argsort(confidence, kind="stable").tolist()
    # Equal confidences (hard 0/1 input) say nothing about where the errors are.
    tries = cap.parity_symbols if np.ptp(confidence) > 0 else 0
    for erased in range(tries + 1):
        codeword = _correct(received, sorted(order[:erased]), cap)
        if codeword is None:
            continue
        parsed = _parse(codeword[: cap.data_symbols], cap)
        if parsed is None:
            continue
        version, message = parsed
        symbol_errors = sum(a != b for a, b in zip(codeword, received))
        bit_errors = int(np.count_nonzero(_to_bits(codeword, cap.symbol_bits) != code))
        if version == VERSION:
            symbol_limit, bit_limit = cap.correctable, cap.max_bit_errors
        else:
            symbol_limit, bit_limit = cap.compact_correctable, cap.compact_max_bit_errors
        if symbol_errors > symbol_limit and bit_errors > bit_limit:
            continue
        return Decoded(True, message, symbol_errors, observed, bit_errors)
    return Decoded(False, None, 0, observed)
