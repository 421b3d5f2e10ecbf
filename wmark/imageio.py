"""Reading and writing photos: one RGB array to mark, and everything else kept aside.

Reading (:func:`read_image`) gives a :class:`LoadedImage`: ``rgb`` (H×W×3 uint8, EXIF
orientation already applied) plus what must survive a round trip untouched: alpha,
EXIF (orientation reset to 1), ICC profile, DPI, XMP and the JPEG quality of the source.

Conversion rule for the pixels that get marked:

- RGB as is; greyscale (``1``, ``L``), palette (``P``) and ``RGBX``/``YCbCr`` become RGB
  (a grey photo comes out with R = G = B);
- 16-bit samples are scaled to 8 bits (value / 257, rounded) for marking; a 16-bit PNG
  (grey, RGB, with or without alpha) also keeps its samples in ``deep``, and a PNG output
  of the marked pixels is then 16-bit RGB(A) again, its low bytes kept (:mod:`wmark.png16`);
- CMYK is converted to sRGB through its ICC profile when it has one (the CMYK profile
  is then dropped), otherwise with Pillow's plain formula;
- alpha (``RGBA``, ``LA``, ``PA``, palette with transparency) is split out into
  ``alpha`` and written back untouched by :func:`write_image` when the output format
  has alpha (PNG, WebP, TIFF); JPEG and BMP drop it;
- an ICC profile that is not an RGB profile (grey, CMYK) is dropped, since it no longer
  describes the pixels; 32-bit float images are refused.

Multi-frame files (GIF, animated WebP, multi-page TIFF) give their first frame. For TIFF
the EXIF is not carried (its tags are the file's own structure), only ICC, DPI and XMP.

Writing (:func:`write_image`) picks the format from the extension, never writes over an
input, refuses an existing file unless ``force``, and is atomic (:mod:`wmark.safefile`):
a temporary file in the same folder, complete and synced, gets the destination's name in
one step, and is removed on any failure, Ctrl-C and SIGTERM included. A PNG output keeps
a PNG input's text chunks too.

Reading opens the file without blocking and refuses what is not a regular file (a
named pipe or a device would block or never end).
"""

from __future__ import annotations

import errno
import glob
import io
import math
import os
import re
import stat
import struct
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import png16
from .errors import InputError, OutputError, UsageError
from .safefile import atomic_file, check_destination

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image :func:`read_image` decodes by default (100 MP); ``WMARK_MAX_PIXELS``
in the environment overrides it (0 or ``none``: no limit)."""
MAX_PIXELS_ENV = "WMARK_MAX_PIXELS"
DEFAULT_JPEG_QUALITY = 95
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP",
                  ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_READ_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")  # JPEG covers MPO (camera JPEGs)
_ORIENTATION = 0x0112
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation="|<tiff:Orientation>)[0-9]')
_PIL_LIMIT_LOCK = threading.Lock()


@dataclass
class LoadedImage:
    """A decoded photo: the pixels to mark and the metadata to write back."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    format: str = "PNG"
    exif: bytes | None = None
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None
    jpeg_quality: int | None = None
    source_mode: str = "RGB"
    path: Path | None = None
    deep: np.ndarray | None = None  # a 16-bit PNG's samples (H×W×3|4 uint16); rgb is their rendering
    text: dict[str, str] | None = None  # a PNG's text chunks

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow gives it."""
        return self.rgb.shape[1], self.rgb.shape[0]


# --------------------------------------------------------------------------- reading


def _limit_from_env() -> int | None:
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_MAX_PIXELS
    if raw in ("0", "none", "off"):
        return None
    try:
        return int(float(raw))
    except ValueError:
        raise UsageError(f"{MAX_PIXELS_ENV}={raw!r} is not a number of pixels") from None


def read_image(path: str | os.PathLike[str], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` (JPEG, PNG, WebP, TIFF, BMP, GIF) into a :class:`LoadedImage`.

    Images over ``max_pixels`` (``None``: no limit) are refused from their header,
    before any decoding; when ``max_pixels`` is left at its default,
    ``WMARK_MAX_PIXELS`` may change it. Every failure is an :class:`InputError` with
    a one-line message: missing, a folder, empty, truncated, corrupt, unsupported.
    """
    from PIL import Image, UnidentifiedImageError

    Image.init()  # registers every plugin: ``formats=`` only finds registered ones
    path = Path(path)
    if max_pixels == DEFAULT_MAX_PIXELS:
        max_pixels = _limit_from_env()
    if os.path.isdir(path):
        raise InputError(f"cannot read {path}: it is a folder, not an image")
    try:
        with _open_regular(path) as stream, _pil_limit_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(stream, formats=_READ_FORMATS) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise InputError(f"cannot read {path}: the image has no pixels ({width}×{height})")
                if max_pixels is not None and width * height > max_pixels:
                    raise InputError(
                        f"cannot read {path}: {width}×{height} is {width * height / 1e6:.1f} MP, over the "
                        f"{max_pixels / 1e6:g} MP limit (set {MAX_PIXELS_ENV} to raise it, 0 for no limit)")
                image.load()
                return _to_loaded(image, path, png16.read_samples(stream) if image.format == "PNG" else None)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"cannot read {path}: not a supported image (JPEG, PNG, WebP, TIFF, BMP, GIF)") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except MemoryError:
        raise InputError(f"cannot read {path}: not enough memory to decode it") from None
    except Exception as error:  # Pillow's plugins raise OSError, SyntaxError, ValueError, EOFError, ...
        raise InputError(f"cannot read {path}: {_reason(error)}") from None


@contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for reading, if it is a non-empty regular file; InputError otherwise.

    Opened without blocking and checked on the open descriptor, so that a named pipe or
    a device (which would block or never end) is refused, never read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        broken = os.path.islink(path)
        raise InputError(f"cannot read {path}: {'a broken symbolic link' if broken else 'no such file'}") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as error:
        reason = "a symbolic link loop" if error.errno == errno.ELOOP else (error.strerror or str(error))
        raise InputError(f"cannot read {path}: {reason}") from None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"cannot read {path}: it is a folder, not an image")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"cannot read {path}: not a regular file (a pipe, socket or device)")
        if info.st_size == 0:
            raise InputError(f"cannot read {path}: empty file")
        yield stream


@contextmanager
def _pil_limit_off() -> Iterator[None]:
    """Pillow's own decompression-bomb limit off while opening: ours applies instead."""
    from PIL import Image

    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if "truncated" in text or isinstance(error, EOFError):
        return "the file is truncated"
    return f"corrupt or unsupported image ({text or type(error).__name__})"


def _to_loaded(image, path: Path, deep: np.ndarray | None = None) -> LoadedImage:
    """Apply the orientation, split alpha, convert to RGB and collect the metadata; ``deep``:
    the 16-bit samples of a 16-bit PNG, whose rendering replaces Pillow's 8 bits."""
    info = image.info
    fmt = {"MPO": "JPEG"}.get(image.format or "", image.format or "PNG")
    source_mode = image.mode
    try:
        orientation = image.getexif().get(_ORIENTATION, 1) if fmt != "GIF" else 1
    except Exception:  # a broken EXIF block must not lose a readable photo
        orientation = 1
    exif = info.get("exif") if fmt != "TIFF" else None
    xmp = info.get("xmp")
    xmp = xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    icc = info.get("icc_profile") or None
    dpi = _dpi(info.get("dpi"))
    quality = _estimate_jpeg_quality(getattr(image, "quantization", None)) if fmt == "JPEG" else None

    rgb, alpha, icc = _pixels(image, icc, path)
    if deep is not None and deep.shape[:2] == rgb.shape[:2]:
        eight = png16.eight_bit(deep)
        rgb, alpha = eight[..., :3], eight[..., 3] if deep.shape[2] == 4 else alpha
    else:
        deep = None
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        rgb = _transpose(rgb, orientation)
        deep = _transpose(deep, orientation) if deep is not None else None
        alpha = _transpose(alpha, orientation) if alpha is not None else None
        if orientation >= 5 and dpi is not None:
            dpi = (dpi[1], dpi[0])
        exif = _reset_orientation(exif) if exif else exif
        xmp = _XMP_ORIENTATION.sub(rb"\g<1>1", xmp) if xmp else xmp
    return LoadedImage(rgb=np.ascontiguousarray(rgb), alpha=None if alpha is None else np.ascontiguousarray(alpha),
                       format=fmt, exif=exif or None, icc=icc, dpi=dpi, xmp=xmp or None,
                       jpeg_quality=quality, source_mode=source_mode, path=path,
                       deep=None if deep is None else np.ascontiguousarray(deep),
                       text=png16.kept_text(image) if fmt == "PNG" else None)


def _transpose(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` (H×W or H×W×C) shown upright for EXIF ``orientation`` 2..8."""
    if orientation in (5, 6, 7, 8):
        array = np.swapaxes(array, 0, 1)  # transpose, then as orientations 2, 3, 4 below
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation in (2, 3):
        array = array[:, ::-1]
    if orientation in (3, 4):
        array = array[::-1]
    return array


def _pixels(image, icc: bytes | None, path: Path) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """(rgb uint8, alpha or None, icc still valid for rgb) following the module's rule."""
    mode = image.mode
    alpha = None
    if mode == "F":
        raise InputError(f"cannot read {path}: 32-bit floating-point images are not supported")
    if mode.startswith("I"):  # 16-bit (or 32-bit int holding 16-bit) greyscale
        grey = np.asarray(image, dtype=np.float64)
        grey = np.clip(np.round(grey / 257.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), None, _rgb_icc(icc)
    if mode == "CMYK":
        converted = _cmyk_to_srgb(image, icc)
        if converted is not None:
            return np.asarray(converted), None, None
        return np.asarray(image.convert("RGB")), None, None
    if mode == "PA" or (mode in ("1", "L", "P", "RGB") and "transparency" in image.info):
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "RGBa", "LA", "La"):
        if mode in ("RGBa", "La"):  # premultiplied: un-premultiply first
            image = image.convert("RGBA" if mode == "RGBa" else "LA")
        alpha = np.asarray(image.getchannel("A"))
        image = image.convert("RGB")
    elif mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image), alpha, _rgb_icc(icc)


def _rgb_icc(icc: bytes | None) -> bytes | None:
    """``icc`` if it is an RGB profile (header bytes 16..20), else None."""
    return icc if icc and len(icc) >= 20 and icc[16:20] == b"RGB " else None


def _cmyk_to_srgb(image, icc: bytes | None):
    if not icc:
        return None
    try:
        import io

        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception:  # no littlecms, or a broken profile: Pillow's plain formula instead
        return None


def _dpi(value: object) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y) else None


def _reset_orientation(exif: bytes) -> bytes:
    """``exif`` with its orientation tag set to 1, patched in place (nothing else moves)."""
    head = 6 if exif.startswith(b"Exif\x00\x00") else 0
    data = bytearray(exif)
    try:
        endian = {b"II": "<", b"MM": ">"}[bytes(data[head:head + 2])]
        offset = head + struct.unpack_from(endian + "I", data, head + 4)[0]
        for index in range(struct.unpack_from(endian + "H", data, offset)[0]):
            entry = offset + 2 + 12 * index
            tag, kind = struct.unpack_from(endian + "HH", data, entry)
            if tag == _ORIENTATION and kind == 3:
                struct.pack_into(endian + "H", data, entry + 8, 1)
                return bytes(data)
    except (KeyError, struct.error):
        pass
    try:  # an unusual layout: let Pillow rewrite the block (maker-note offsets may move)
        from PIL import Image

        parsed = Image.Exif()
        parsed.load(exif)
        if parsed.get(_ORIENTATION, 1) != 1:
            parsed[_ORIENTATION] = 1
            return parsed.tobytes()
    except Exception:
        pass
    return exif


# IJG's standard luminance and chrominance tables (quality 50), natural order.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
_STD_CHROMA = np.array([17, 18, 24, 47] + [99] * 4 + [18, 21, 26, 66] + [99] * 4 + [24, 26, 56] + [99] * 5
                       + [47, 66] + [99] * 38, dtype=np.float64)


def _ijg_table(std: np.ndarray, quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((std * scale + 50) / 100), 1, 255)


def _estimate_jpeg_quality(tables: dict[int, Sequence[int]] | None) -> int | None:
    """The IJG quality (1..100) whose tables are nearest to the file's (exact for libjpeg)."""
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    luma = np.asarray(tables[0], dtype=np.float64)
    chroma = np.asarray(tables[1], dtype=np.float64) if len(tables.get(1, ())) == 64 else None

    def error(quality: int) -> float:
        total = np.abs(_ijg_table(_STD_LUMA, quality) - luma).sum()
        if chroma is not None:
            total += np.abs(_ijg_table(_STD_CHROMA, quality) - chroma).sum()
        return float(total)

    return min(range(1, 101), key=lambda q: (error(q), -q))


# --------------------------------------------------------------------------- writing


def output_format(path: str | os.PathLike[str]) -> str:
    """Pillow format name for the extension of ``path``; UsageError when unknown."""
    suffix = Path(path).suffix.lower()
    try:
        return OUTPUT_FORMATS[suffix]
    except KeyError:
        raise UsageError(f"cannot tell the output format from {Path(path).name!r}: "
                         "use .jpg, .png, .webp, .tif or .bmp") from None


def write_image(path: str | os.PathLike[str], rgb: np.ndarray | LoadedImage, *, like: LoadedImage | None = None,
                quality: int | None = None, force: bool = False,
                inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write ``rgb`` (H×W×3 uint8) to ``path``, atomically; returns the path.

    The format follows the extension (.jpg/.jpeg, .png, .webp, .tif/.tiff, .bmp).
    ``like`` (or ``rgb`` itself when it is a LoadedImage) gives the metadata to keep:
    EXIF, ICC, DPI and XMP where the format holds them, and alpha when the format has
    alpha and the size is unchanged; a PNG keeps PNG text, and is 16-bit when ``like`` is
    a 16-bit PNG of that size (``rgb`` is then taken as its marked 8-bit rendering). JPEG
    and WebP: lossy at :func:`output_quality`, JPEG with 4:4:4 chroma; other formats are
    lossless and ignore ``quality``.
    Never writes over ``like.path`` or any of ``inputs``; an existing file needs ``force``.
    """
    from PIL import Image

    path = Path(path)
    if isinstance(rgb, LoadedImage):
        like = like if like is not None else rgb
        rgb = rgb.rgb
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValueError(f"write_image wants H×W×3 uint8 pixels, got {rgb.dtype} {rgb.shape}")
    fmt = output_format(path)
    if quality is not None and not 1 <= int(quality) <= 100:
        raise UsageError(f"quality must be between 1 and 100 (got {quality})")
    check_destination(path, [*inputs, *([like.path] if like is not None and like.path else [])], force)

    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    alpha = like.alpha if like is not None else None
    if alpha is not None and fmt in ALPHA_FORMATS and alpha.shape == rgb.shape[:2]:
        if alpha.dtype != np.uint8:
            alpha = np.clip(np.round(alpha.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        image.putalpha(Image.fromarray(np.ascontiguousarray(alpha), "L"))
    options = _save_options(fmt, like, quality)
    sixteen = like is not None and like.deep is not None and fmt == "PNG" and like.deep.shape[:2] == rgb.shape[:2]

    try:
        data = png16.encode_like(rgb, like) if sixteen else None  # 16 bits in, 16 bits out
        with atomic_file(path, force) as stream:
            if data is not None:
                stream.write(data)
            else:
                image.save(stream, format=fmt, **options)
    except (ValueError, TypeError, struct.error) as error:  # e.g. too large for WebP/JPEG
        raise OutputError(f"cannot write {path} as {fmt}: {error}") from None
    return path


def output_quality(fmt: str, like: LoadedImage | None = None, quality: int | None = None) -> int | None:
    """The quality a JPEG/WebP output is written at: ``quality`` when given, else a JPEG
    source's own (estimated from its tables) for a JPEG output, else 95; None when lossless."""
    if fmt not in ("JPEG", "WEBP"):
        return None
    if quality is not None:
        return int(quality)
    if fmt == "JPEG" and like is not None and like.format == "JPEG" and like.jpeg_quality:
        return like.jpeg_quality
    return DEFAULT_JPEG_QUALITY


def as_saved(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` (H×W×3 uint8) as it reads back from a JPEG that :func:`write_image` writes at ``quality``."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, "JPEG", **_save_options("JPEG", None, quality))
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def _save_options(fmt: str, like: LoadedImage | None, quality: int | None) -> dict[str, object]:
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options.update(quality=output_quality(fmt, like, quality), subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=output_quality(fmt, like, quality), method=4)
    elif fmt == "TIFF":
        options.update(compression="tiff_lzw")
    elif fmt == "PNG":
        options.update(compress_level=6)
    if like is None:
        return options
    if like.dpi and fmt in ("JPEG", "PNG", "TIFF", "BMP"):
        options["dpi"] = tuple(like.dpi)
    if like.icc and fmt != "BMP":
        options["icc_profile"] = like.icc
    if like.exif and fmt in ("JPEG", "PNG", "WEBP"):
        options["exif"] = like.exif
    if like.xmp and fmt in ("JPEG", "WEBP"):
        options["xmp"] = like.xmp
    elif like.xmp and fmt == "TIFF":
        options["tiffinfo"] = {700: like.xmp}
    if fmt == "PNG" and (like.xmp or like.text):
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in (like.text or {}).items():
            info.add_text(key, value)
        if like.xmp:
            info.add_itxt("XML:com.adobe.xmp", like.xmp.decode("utf-8", "replace"))
        options["pnginfo"] = info
    return options


# --------------------------------------------------------------------------- helpers


def default_output_path(source: str | os.PathLike[str], suffix: str = ".wm") -> Path:
    """``NAME<suffix>.EXT`` beside ``source`` (``photo.jpg`` → ``photo.wm.jpg``)."""
    source = Path(source)
    return source.with_name(f"{source.stem}{suffix}{source.suffix}")


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """True for a visible file name with an image extension (case-insensitive)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def iter_image_paths(args: Sequence[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Expand files, folders and globs into image paths, in a stable order, each once.

    - a file is kept whatever its extension (reading it will say if it is no image);
    - a folder gives its images (by extension, hidden files skipped), sorted, and with
      ``recursive`` those of its sub-folders (hidden ones skipped) too;
    - a glob (``*``, ``?``, ``[``) gives the images it matches, sorted (``**`` with
      ``recursive``); folders it matches are expanded only with ``recursive``;
    - a path that does not exist, or a glob that matches nothing, is kept as it is, so
      that the caller reports it as one unreadable input and goes on with the others.
    """
    found: list[Path] = []
    for arg in args:
        text = os.fspath(arg)
        path = Path(text)
        if path.is_dir():
            found.extend(_folder_images(path, recursive))
        elif path.exists() or not glob.has_magic(text):
            found.append(path)
        else:
            matches = sorted(glob.glob(text, recursive=recursive))
            if not matches:
                found.append(path)
            for match in map(Path, matches):
                if match.is_dir():
                    found.extend(_folder_images(match, recursive) if recursive else [])
                elif is_image_name(match):
                    found.append(match)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.normcase(os.path.abspath(path)), path)
    return list(unique.values())


def _folder_images(folder: Path, recursive: bool) -> list[Path]:
    images = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith(".")) if recursive else []
        images.extend(Path(root) / name for name in sorted(files) if is_image_name(name))
    return images
