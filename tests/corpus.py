"""A corpus of bad and odd inputs, generated (no committed binaries) for tests/test_reliability.py.

Every :class:`Item` builds itself in a folder (``item.make(folder)``) and says which exit
status each command may give on it. Three kinds:

- ``bad``: unreadable (empty, truncated, corrupt, not an image, not a file, too large
  from its header, too small): every command exits 3 with one ``error:`` line;
- ``ok``: valid but odd (16-bit, CMYK, palette with transparency, animated, extreme
  aspect ≥ 32 px, corrupt EXIF, strange names): every command succeeds (extract and
  verify may say "no watermark", exit 1, since these photos are not marked);
- ``either``: damaged in a way a decoder may or may not notice (bit flips inside the
  compressed data): success or exit 3, never anything else.

A few items override one command (a GIF has no GIF output: ``embed`` beside it is a
usage error; a 255-byte name has no room for ``.wm``: exit 4).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

COMMANDS = ("embed", "extract", "verify", "attack", "bench")
OK = {"embed": {0}, "extract": {0, 1}, "verify": {0, 1}, "attack": {0}, "bench": {0}}
BAD = {command: {3} for command in COMMANDS}
EITHER = {command: OK[command] | {3} for command in COMMANDS}
KODAK = Path(__file__).resolve().parent / "data" / "kodim01.png"


@dataclass
class Item:
    """One corpus entry: ``make(folder)`` creates it and returns the command-line words
    that name it (usually one path; ``--`` first for a name starting with a dash)."""

    name: str
    make: Callable[[Path], list[str]]
    expect: dict[str, set[int]]
    note: str = ""
    needs: str = ""  # "non-root": skipped as root (permissions do not stop root)
    overrides: dict[str, set[int]] = field(default_factory=dict)

    def codes(self, command: str) -> set[int]:
        return self.overrides.get(command, self.expect[command])


# --------------------------------------------------------------------------- encoders


def photo(width: int = 96, height: int = 64) -> Image.Image:
    """kodim01 resized to ``width`` × ``height`` (a real photo, small enough to be fast)."""
    with Image.open(KODAK) as image:
        return image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)


def encoded(fmt: str, image: Image.Image | None = None, **options) -> bytes:
    buffer = io.BytesIO()
    (image or photo()).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    """A PNG from raw scanlines (each starting with its filter byte), any bit depth."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def png16_rgb() -> bytes:
    rgb = np.asarray(photo(), dtype=np.uint16) * 257
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb)
    return png(rgb.shape[1], rgb.shape[0], 16, 2, rows)


def png_bomb() -> bytes:
    """A PNG header claiming 100000 × 100000 (10 GP) with next to no data."""
    return png(100_000, 100_000, 8, 2, b"\x00" * 16)


def jpeg_bomb() -> bytes:
    """A valid small JPEG whose frame header is patched to claim 65000 × 65000 (4 GP)."""
    data = bytearray(encoded("JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65000, 65000)
    return bytes(data)


def corrupt_exif_jpeg() -> bytes:
    garbage = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + b"\xff\x13" + bytes(range(256)) * 2
    return encoded("JPEG", quality=90, exif=garbage)


def animated(fmt: str) -> bytes:
    frames = [photo().rotate(angle) for angle in (0, 90, 180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def palette_with_transparency() -> bytes:
    image = photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    return encoded("PNG", image, transparency=0)


def flip(data: bytes, positions: list[int]) -> bytes:
    out = bytearray(data)
    for position in positions:
        out[position] ^= 0x10
    return bytes(out)


def data_flips(data: bytes, seed: int, count: int = 4) -> bytes:
    """``count`` bit flips in the second half of ``data`` (the compressed pixels, not the header)."""
    rng = np.random.default_rng(seed)
    return flip(data, sorted(int(p) for p in rng.integers(len(data) // 2, len(data) - 4, count)))


# --------------------------------------------------------------------------- makers


def file(name: str | bytes, content: Callable[[], bytes]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        path = os.path.join(os.fsencode(folder), name) if isinstance(name, bytes) else folder / name
        with open(path, "wb") as handle:
            handle.write(content())
        return [os.fsdecode(path)]
    return make


def folder_named(name: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        (folder / name).mkdir()
        return [str(folder / name)]
    return make


def symlink_loop(folder: Path) -> list[str]:
    (folder / "loop.png").symlink_to("loop.png")
    return [str(folder / "loop.png")]


def dangling_symlink(folder: Path) -> list[str]:
    (folder / "gone.png").symlink_to("nowhere.png")
    return [str(folder / "gone.png")]


def fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "pipe.png")
    return [str(folder / "pipe.png")]


def unreadable(folder: Path) -> list[str]:
    path = folder / "locked.png"
    path.write_bytes(encoded("PNG"))
    path.chmod(0)
    return [str(path)]


def dashed(folder: Path) -> list[str]:
    (folder / "-rf.png").write_bytes(encoded("PNG"))
    return ["--", "-rf.png"]  # relative: the test runs in ``folder``


def dashed_bare(folder: Path) -> list[str]:
    (folder / "-rf.png").write_bytes(encoded("PNG"))
    return ["-rf.png"]  # without ``--``: an unknown option, a usage error


def _formats() -> dict[str, tuple[str, dict]]:
    return {"jpg": ("JPEG", {"quality": 90}), "png": ("PNG", {}), "webp": ("WEBP", {"quality": 90}),
            "tif": ("TIFF", {})}


def build() -> list[Item]:
    items: list[Item] = []
    for ext, (fmt, options) in _formats().items():
        def good(fmt=fmt, options=options) -> bytes:
            return encoded(fmt, **options)

        items += [
            Item(f"empty-{ext}", file(f"empty.{ext}", lambda: b""), BAD),
            Item(f"truncated-{ext}", file(f"truncated.{ext}", lambda good=good: good()[:len(good()) // 2]), BAD),
            Item(f"header-flip-{ext}", file(f"header.{ext}", lambda good=good: flip(good(), [0, 1, 2])), BAD),
            Item(f"data-flips-{ext}", file(f"flipped.{ext}", lambda good=good: data_flips(good(), 7)), EITHER,
                 "bit flips in the compressed pixels: a decoder may not notice"),
        ]
    items += [
        Item("truncated-tif-lzw", file("lzw.tif", lambda: encoded("TIFF", compression="tiff_lzw")[:900]), BAD),
        Item("png-named-jpg", file("really-png.jpg", lambda: encoded("PNG")), OK),
        Item("jpeg-named-txt", file("photo.txt", lambda: encoded("JPEG", quality=90)), OK,
             "read by its content; embed beside it has no .txt format", overrides={"embed": {2}}),
        Item("text-as-jpg", file("notes.jpg", lambda: b"just some text\n" * 20), BAD),
        Item("html-as-png", file("page.png", lambda: b"<!doctype html><html><body>hi</body></html>\n"), BAD),
        Item("pdf-as-webp", file("doc.webp", lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), BAD),
        Item("gzip-as-tif", file("archive.tif", lambda: zlib.compress(b"x" * 1000)), BAD),
        Item("folder-as-image", folder_named("album.jpg"), BAD, "an empty folder named like an image"),
        Item("symlink-loop", symlink_loop, BAD),
        Item("dangling-symlink", dangling_symlink, BAD),
        Item("fifo", fifo, BAD, "a named pipe: must be refused, never opened (it would block)"),
        Item("unreadable", unreadable, BAD, needs="non-root"),
        Item("1x1", file("dot.png", lambda: encoded("PNG", Image.new("RGB", (1, 1), "red"))), BAD,
             "under 32 px per side: no mark; attack needs no mark", overrides={"attack": {0}}),
        Item("1x300", file("line.png", lambda: encoded("PNG", photo(300, 1))), BAD, "1 px tall",
             overrides={"attack": {0}}),
        Item("32x2048", file("strip.png", lambda: encoded("PNG", photo(2048, 32))), OK, "extreme aspect, 32 px"),
        Item("1500x32", file("column.jpg", lambda: encoded("JPEG", photo(32, 1500), quality=90)), OK),
        Item("png-16bit-rgb", file("deep.png", png16_rgb), OK),
        Item("png-16bit-grey", file("grey16.png",
                                    lambda: encoded("PNG", Image.fromarray(
                                        (np.asarray(photo().convert("L"), np.uint16) * 257)))), OK),
        Item("cmyk-jpeg", file("cmyk.jpg", lambda: encoded("JPEG", photo().convert("CMYK"), quality=90)), OK),
        Item("palette-transparency", file("palette.png", palette_with_transparency), OK),
        Item("animated-gif", file("anim.gif", lambda: animated("GIF")), OK,
             "first frame; embed beside it has no GIF output", overrides={"embed": {2}}),
        Item("animated-webp", file("anim.webp", lambda: animated("WEBP")), OK, "first frame"),
        Item("png-bomb", file("bomb.png", png_bomb), BAD, "header says 10 GP: refused before decoding"),
        Item("jpeg-bomb", file("bomb.jpg", jpeg_bomb), BAD, "header says 4 GP: refused before decoding"),
        Item("corrupt-exif", file("exif.jpg", corrupt_exif_jpeg), OK, "the pixels are fine"),
        Item("non-utf8-name", file(b"photo-\xff\xfe.png", lambda: encoded("PNG")), OK),
        Item("long-name", file("n" * 240 + ".png", lambda: encoded("PNG")), OK,
             "244 bytes: the output name fits, a naive temporary name does not"),
        Item("longest-name", file("n" * 251 + ".png", lambda: encoded("PNG")), OK,
             "255 bytes: no room for .wm beside it", overrides={"embed": {4}}),
        Item("spaces", file("my photo (1).png", lambda: encoded("PNG")), OK),
        Item("leading-dash", dashed, OK, "after --"),
        Item("leading-dash-bare", dashed_bare, {command: {2} for command in COMMANDS},
             "an unknown option: a usage error"),
    ]
    names = [item.name for item in items]
    assert len(names) == len(set(names)), names
    return items


ITEMS = build()
