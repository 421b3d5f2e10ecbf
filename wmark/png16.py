"""16-bit PNG: the samples Pillow cannot give, and a PNG writer that keeps them.

Pillow reads a 48-bit RGB or 64-bit RGBA PNG as 8-bit and cannot write one; OpenCV
decodes and encodes them but keeps no metadata. So a 16-bit PNG is read twice: Pillow
for the metadata, OpenCV (:func:`read_samples`) for the 16-bit samples. The model marks
their 8-bit rendering (:func:`eight_bit`: value / 257, rounded), and the output is
rebuilt at 16 bits (:func:`rebuild`): ``samples + (marked - rendering) * 257``, so that
its 8-bit rendering is exactly the marked image while every sample keeps its low byte.
:func:`encode` writes it with OpenCV and adds the chunks Pillow would have written (ICC,
pHYs, EXIF, XMP) and the source's text chunks (:func:`kept_text`).

Greyscale becomes RGB (the mark is in colour), as it does at 8 bits.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STALE_TEXT = frozenset(key.lower() for key in (  # carried otherwise, or could undo the orientation applied
    "XML:com.adobe.xmp", "Raw profile type exif", "Raw profile type APP1", "Raw profile type xmp"))
_OURS = frozenset({  # written here, or stale once the samples change (sBIT): never taken from OpenCV's output
    b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"eXIf", b"iTXt", b"tEXt", b"zTXt", b"sBIT"})


def bit_depth(header: bytes) -> int | None:
    """The bit depth in a PNG's first 26 bytes (its IHDR), or None when they are no PNG."""
    if len(header) < 26 or not header.startswith(SIGNATURE) or header[12:16] != b"IHDR":
        return None
    return header[24]


def read_samples(stream: BinaryIO) -> np.ndarray | None:
    """H×W×C uint16 samples of the 16-bit PNG in ``stream`` (read from its start), in RGB(A)
    order (grey repeated as R = G = B), C = 4 with alpha, else 3; None when it is not a
    16-bit PNG or OpenCV cannot decode it (Pillow's 8-bit reading then stands)."""
    stream.seek(0)
    if bit_depth(stream.read(26)) != 16:
        return None
    import cv2

    stream.seek(0)
    data = np.frombuffer(stream.read(), np.uint8)
    try:
        samples = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # as stored: EXIF orientation not applied
    except cv2.error:  # e.g. over OpenCV's own pixel limit
        return None
    if samples is None or samples.dtype != np.uint16:
        return None
    if samples.ndim == 2:
        samples = samples[..., None]
    if samples.shape[2] in (1, 2):  # grey (OpenCV gives grey + alpha as BGRA already)
        grey = np.repeat(samples[..., :1], 3, axis=2)
        return np.ascontiguousarray(np.concatenate([grey, samples[..., 1:]], axis=2))
    order = [2, 1, 0, 3][:samples.shape[2]]
    return np.ascontiguousarray(samples[..., order])


def eight_bit(samples: np.ndarray) -> np.ndarray:
    """The 8-bit rendering of 16-bit ``samples``: value / 257, rounded (exact in integers)."""
    return ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8)


def rebuild(samples: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """16-bit RGB(A) whose 8-bit rendering is ``rgb`` (H×W×3 uint8) and which keeps the low
    byte of ``samples`` (H×W×C uint16) wherever the value fits; alpha untouched."""
    out = samples.copy()
    for row in range(0, rgb.shape[0], 256):  # bounded temporaries on a large photo
        block = samples[row:row + 256, :, :3].astype(np.int32)
        delta = rgb[row:row + 256].astype(np.int32) - (block + 128) // 257
        out[row:row + 256, :, :3] = np.clip(block + delta * 257, 0, 65535)
    return out


def encode_like(rgb: np.ndarray, like: Any, compress_level: int = 6) -> bytes:
    """``rgb`` (H×W×3 uint8: the marked rendering of ``like.deep``) as a 16-bit PNG with
    the alpha, ICC, DPI, EXIF, XMP and text of ``like`` (a :class:`wmark.imageio.LoadedImage`)."""
    samples = rebuild(like.deep, rgb)
    alpha = like.alpha
    if samples.shape[2] == 3 and alpha is not None and alpha.shape == rgb.shape[:2]:  # colour-key (tRNS) alpha
        samples = np.dstack([samples, alpha if alpha.dtype == np.uint16 else alpha.astype(np.uint16) * 257])
    return encode(samples, icc=like.icc, exif=like.exif, xmp=like.xmp, dpi=like.dpi, text=like.text,
                  compress_level=compress_level)


def kept_text(image: Any) -> dict[str, str] | None:
    """The text chunks of a Pillow PNG worth writing back (XMP and raw EXIF/XMP profiles
    are carried otherwise), or None."""
    try:
        text = dict(getattr(image, "text", None) or {})
    except Exception:  # a broken text chunk must not lose a readable photo
        return None
    text = {key: value for key, value in text.items() if key.lower() not in _STALE_TEXT and _keyword_ok(key)}
    return text or None


def _keyword_ok(key: str) -> bool:
    try:
        return 1 <= len(key.encode("latin-1")) <= 79
    except UnicodeEncodeError:
        return False


def encode(samples: np.ndarray, *, icc: bytes | None = None, exif: bytes | None = None, xmp: bytes | None = None,
           dpi: tuple[float, float] | None = None, text: Mapping[str, str] | None = None,
           compress_level: int = 6) -> bytes:
    """A 16-bit PNG of ``samples`` (H×W×3 or ×4 uint16 RGB(A)) holding the metadata given.

    OpenCV (libpng) encodes the pixels; the ICC profile (iCCP), DPI (pHYs), EXIF (eXIf),
    XMP (iTXt ``XML:com.adobe.xmp``) and text (tEXt, or iTXt beyond Latin-1) chunks go
    right after IHDR, where every reader finds them.
    """
    import cv2

    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (3, 4):
        raise ValueError(f"encode wants H×W×3 or ×4 uint16 samples, got {samples.dtype} {samples.shape}")
    order = [2, 1, 0, 3][:samples.shape[2]]
    try:
        ok, buffer = cv2.imencode(".png", np.ascontiguousarray(samples[..., order]),
                                  [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    except cv2.error as error:  # e.g. over OpenCV's size limits
        raise ValueError(" ".join(str(error).split())) from None
    if not ok:
        raise ValueError(f"OpenCV could not encode a {samples.shape[1]}×{samples.shape[0]} 16-bit PNG")
    chunks = list(_chunks(buffer.tobytes()))
    extra = _metadata_chunks(icc, exif, xmp, dpi, text)
    body = [_chunk(kind, data) for kind, data in chunks[:1]] + extra
    body += [_chunk(kind, data) for kind, data in chunks[1:] if kind not in _OURS]
    return SIGNATURE + b"".join(body)


def _metadata_chunks(icc: bytes | None, exif: bytes | None, xmp: bytes | None,
                     dpi: tuple[float, float] | None, text: Mapping[str, str] | None) -> list[bytes]:
    chunks = []
    if icc:
        chunks.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if dpi:
        chunks.append(_chunk(b"pHYs", struct.pack(">IIB", *(int(v / 0.0254 + 0.5) for v in dpi), 1)))
    if exif:
        chunks.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    if xmp:
        chunks.append(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp))
    for key, value in (text or {}).items():
        keyword = key.encode("latin-1")
        lang, tkey = getattr(value, "lang", None), getattr(value, "tkey", None)  # Pillow's iTXt values
        try:
            if lang is None and tkey is None:
                chunks.append(_chunk(b"tEXt", keyword + b"\x00" + str(value).encode("latin-1")))
                continue
        except UnicodeEncodeError:
            pass
        chunks.append(_chunk(b"iTXt", keyword + b"\x00\x00\x00" + (lang or "").encode("ascii", "replace") + b"\x00"
                             + (tkey or "").encode("utf-8") + b"\x00" + str(value).encode("utf-8")))
    return chunks


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a well-formed PNG (OpenCV's own output)."""
    offset = len(SIGNATURE)
    while offset + 8 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, offset)
        yield kind, png[offset + 8:offset + 8 + length]
        offset += 12 + length
