"""16-bit PNG in, 16-bit PNG out: `wmark embed` keeps the bit depth, alpha and metadata,
the low bytes away from the mark, and `wmark extract` reads the mark back.

The inputs are made here with a plain PNG writer (zlib + struct, not wmark's), from a
Kodak photo plus a smooth 16-bit ramp, so that no sample is a multiple of 257.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from wmark.imageio import read_image, write_image
from helpers import invoke, records

KODAK = Path(__file__).resolve().parent / "data" / "kodim23.png"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="wmark16"/></rdf:RDF></x:xmpmeta>')
COLOUR_TYPE = {"grey": 0, "rgb": 2, "grey_alpha": 4, "rgba": 6}
MESSAGE = "hi16"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(samples: np.ndarray, colour_type: int, extra: list[bytes] = ()) -> bytes:
    """A 16-bit PNG of H×W×C ``samples`` (C as the colour type needs), ``extra`` chunks after IHDR."""
    height, width = samples.shape[:2]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples.reshape(height, width, -1))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + b"".join(extra)
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def ihdr(path: Path) -> tuple[int, int]:
    """(bit depth, colour type) of a PNG file."""
    head = path.read_bytes()[:26]
    assert head[12:16] == b"IHDR"
    return head[24], head[25]


@functools.cache
def srgb_icc() -> bytes:
    """One sRGB profile for the module (a new one would carry another creation time)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "wmark16-make"
    exif[0x0112] = orientation
    return exif.tobytes()


def metadata_chunks(orientation: int = 1, icc: bool = True) -> list[bytes]:
    """ICC (an RGB profile: not for grey), 300 dpi, EXIF, XMP, Latin-1 and UTF-8 text."""
    profile = [chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(srgb_icc()))] if icc else []
    return profile + [chunk(b"pHYs", struct.pack(">IIB", 11811, 11811, 1)),  # 300 dpi
                      chunk(b"eXIf", exif_bytes(orientation)[6:]),  # without Pillow's "Exif\0\0" prefix
                      chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP),
                      chunk(b"tEXt", b"Comment\x00shot on a 16-bit scanner"),
                      chunk(b"iTXt", b"Title\x00\x00\x00en\x00\x00" + "Déjà vu – 16 bits".encode())]


def smooth16(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (uint8) at 16 bits plus a smooth ramp of ±~100: no sample a multiple of 257."""
    yy, xx = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
    ramp = 97.0 * np.sin(xx / 9.0 + yy / 13.0) + 31.0 * np.cos(yy / 5.0)
    deep = rgb.astype(np.float64) * 257 + ramp[..., None] + np.array([11.0, 47.0, 83.0])[:rgb.shape[2]]
    return np.clip(np.round(deep), 1, 65534).astype(np.uint16)


def source(kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(16-bit samples to store for ``kind``, 16-bit alpha or None), from kodim23 (256×171)."""
    with Image.open(KODAK) as image:
        rgb = np.asarray(image.convert("RGB"))
    grey = kind.startswith("grey")
    deep = smooth16(np.asarray(Image.fromarray(rgb).convert("L"))[..., None] if grey else rgb)
    alpha = None
    if kind.endswith("alpha") or kind == "rgba":
        yy, xx = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
        alpha = np.clip(20000 + 170 * xx + 3 * yy, 0, 65535).astype(np.uint16)  # a 16-bit gradient
        deep = np.dstack([deep, alpha])
    return deep, alpha


def eight_bit(samples: np.ndarray) -> np.ndarray:
    return np.round(samples / 257.0).astype(np.uint8)


def read16(path: Path) -> np.ndarray:
    """A 16-bit PNG's samples, RGB(A) order."""
    samples = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert samples is not None and samples.dtype == np.uint16, path
    return samples[..., [2, 1, 0, 3][:samples.shape[2]]]


def assert_metadata_kept(path: Path, icc: bool = True) -> None:
    with Image.open(path) as image:
        info, text = image.info, dict(image.text)
        exif = image.getexif()
    assert info.get("icc_profile") == (srgb_icc() if icc else None)
    assert np.allclose(info["dpi"], (300, 300), atol=0.01)
    assert exif[0x010F] == "wmark16-make" and exif.get(0x0112, 1) == 1
    assert b'tiff:Make="wmark16"' in info["xmp"]
    assert text["Comment"] == "shot on a 16-bit scanner" and text["Title"] == "Déjà vu – 16 bits"


@pytest.mark.parametrize("kind", ["rgb", "rgba", "grey", "grey_alpha"])
def test_embed_keeps_a_16_bit_png_16_bit(tmp_path, kind):
    samples, alpha = source(kind)
    path = tmp_path / f"{kind}16.png"
    grey = kind.startswith("grey")
    path.write_bytes(png16(samples, COLOUR_TYPE[kind], metadata_chunks(icc=not grey)))
    assert ihdr(path) == (16, COLOUR_TYPE[kind])

    result = invoke("embed", path, "--msg", MESSAGE, "--method", "encoder", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    out = Path(record["output"])
    # Colour (the mark is in colour, as for 8-bit grey), 16 bits, alpha when the input had it.
    assert ihdr(out) == (16, 6 if alpha is not None else 2)
    marked = read16(out)
    assert marked.shape[:2] == samples.shape[:2]
    if alpha is not None:
        assert np.array_equal(marked[..., 3], alpha)  # alpha untouched, all 16 bits of it
    assert_metadata_kept(out, icc=not grey)

    before = samples[..., :1 if grey else 3].astype(np.int64)
    after = marked[..., :3].astype(np.int64)
    change = after - before
    inside = (after > 0) & (after < 65535)  # (a mark pushing a sample past an end is clipped there)
    assert inside.mean() > 0.95 and (change[inside] % 257 == 0).all()  # whole 8-bit steps: low bytes kept
    unmarked = change == 0  # where the mark rounded to nothing, the sample is the input's, bit for bit
    assert 0.2 < unmarked.mean() < 1.0
    assert (after != eight_bit(after).astype(np.int64) * 257).mean() > 0.9  # not an 8-bit image scaled up
    mse = float(np.mean((change / 257.0) ** 2))
    assert 10 * math.log10(255.0 ** 2 / mse) > 35 and abs(10 * math.log10(255.0 ** 2 / mse) - record["psnr"]) < 1.0

    extracted = invoke("extract", out, "--json")
    assert extracted.exit_code == 0, extracted.output
    assert records(extracted)[0]["found"] and records(extracted)[0]["message"] == MESSAGE


def test_read_gives_the_rounded_rendering_and_write_gives_the_samples_back(tmp_path):
    samples, _ = source("rgba")
    path = tmp_path / "rgba16.png"
    path.write_bytes(png16(samples, 6, metadata_chunks()))
    image = read_image(path)
    assert image.rgb.dtype == np.uint8 and np.array_equal(image.rgb, eight_bit(samples[..., :3]))
    assert np.array_equal(image.alpha, eight_bit(samples[..., 3]))
    assert image.deep is not None and np.array_equal(image.deep, samples)
    assert image.text == {"Comment": "shot on a 16-bit scanner", "Title": "Déjà vu – 16 bits"}

    same = write_image(tmp_path / "same.png", image)  # unchanged pixels: the very samples again
    assert ihdr(same) == (16, 6) and np.array_equal(read16(same), samples)
    assert_metadata_kept(same)

    clipped = image.rgb.copy()
    clipped[:8] = 255
    clipped[8:16] = 0
    out = read16(write_image(tmp_path / "clipped.png", clipped, like=image))
    assert np.array_equal(eight_bit(out[..., :3]), clipped)  # the rendering is exact, even at the ends
    assert np.array_equal(read_image(tmp_path / "clipped.png").rgb, clipped)

    for ext in (".tif", ".jpg"):  # other formats stay as they were: 8-bit
        with Image.open(write_image(tmp_path / f"out{ext}", image)) as other:
            assert other.mode in ("RGB", "RGBA"), ext


def test_16_bit_orientation_is_applied_to_the_samples(tmp_path):
    samples, _ = source("rgb")
    path = tmp_path / "rotated.png"
    path.write_bytes(png16(samples, 2, metadata_chunks(orientation=6)))  # 6: turn 90° clockwise to view
    image = read_image(path)
    upright = np.rot90(samples, k=-1)
    assert image.size == (samples.shape[0], samples.shape[1]) and np.array_equal(image.deep, upright)
    out = write_image(tmp_path / "upright.png", image)
    assert np.array_equal(read16(out), upright)
    assert_metadata_kept(out)  # orientation reset to 1 with the pixels turned


def test_attacked_16_bit_photos_are_8_bit(tmp_path):
    from wmark.attacks import apply_chain

    samples, _ = source("rgb")
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(samples, 2))
    attacked = apply_chain(read_image(path), [("jpeg", 90)])
    assert attacked.deep is None
    assert ihdr(write_image(tmp_path / "attacked.png", attacked)) == (8, 2)


def test_ray_embedder_keeps_16_bits(tmp_path):
    from wmark.distributed import Embedder

    samples, _ = source("rgb")
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(samples, 2, metadata_chunks()))
    row = Embedder(MESSAGE, method="encoder", device="cpu").process(path)  # one map_batches row, no Ray needed
    out = Path(row["output"])
    assert not row["skipped"] and ihdr(out) == (16, 2)
    assert_metadata_kept(out)
    change = read16(out).astype(np.int64) - samples
    assert (change % 257 == 0).mean() > 0.95 and (change == 0).mean() > 0.2


def test_8_bit_png_keeps_its_text_too(tmp_path, kodak_rgb):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "eight bits")
    info.add_itxt("Title", "Déjà vu", lang="fr")
    info.add_text("Raw profile type exif", "exif\n      4\n4d4d002a\n")  # a stale copy of EXIF: dropped
    Image.fromarray(kodak_rgb).save(tmp_path / "in.png", pnginfo=info)
    out = write_image(tmp_path / "out.png", read_image(tmp_path / "in.png"))
    assert ihdr(out) == (8, 2)
    with Image.open(out) as image:
        assert dict(image.text) == {"Comment": "eight bits", "Title": "Déjà vu"}
        assert image.text["Title"].lang == "fr"
