"""Reading and writing photos: formats, metadata, conversions, every unreadable input,
decompression bombs, and safe (atomic, never clobbering) writes."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from wmark.errors import InputError, OutputError, UsageError
from wmark.imageio import (DEFAULT_MAX_PIXELS, LoadedImage, _reset_orientation, default_output_path,
                           iter_image_paths, read_image, write_image)
from wmark.metrics import psnr

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6" tiff:Make="wmark"/>'
       b"</rdf:RDF></x:xmpmeta>")


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int | None = None, make: str = "wmark-test") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def exif_dict(raw: bytes | None) -> dict:
    exif = Image.Exif()
    if raw:
        exif.load(raw)
    return dict(exif)


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def one_line_input_error(path: Path, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        read_image(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext,fmt,lossless", [(".png", "PNG", True), (".bmp", "BMP", True),
                                              (".tif", "TIFF", True), (".tiff", "TIFF", True),
                                              (".jpg", "JPEG", False), (".jpeg", "JPEG", False),
                                              (".webp", "WEBP", False), (".PNG", "PNG", True)])
def test_round_trip_every_format(tmp_path, kodak_rgb, ext, fmt, lossless):
    out = write_image(tmp_path / f"out{ext}", kodak_rgb)
    assert out == tmp_path / f"out{ext}" and files_in(tmp_path) == {out.name}
    back = read_image(out)
    assert back.format == fmt and back.path == out and back.source_mode == "RGB"
    assert back.rgb.dtype == np.uint8 and back.rgb.shape == kodak_rgb.shape and back.alpha is None
    if lossless:
        assert np.array_equal(back.rgb, kodak_rgb)
    else:
        assert psnr(back.rgb, kodak_rgb) > 38


def test_jpeg_defaults_to_quality_95_and_full_chroma(tmp_path, kodak_rgb):
    from PIL import JpegImagePlugin

    out = write_image(tmp_path / "out.jpg", kodak_rgb)
    assert read_image(out).jpeg_quality == 95
    with Image.open(out) as image:
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4
    low = write_image(tmp_path / "low.jpg", kodak_rgb, quality=40)
    assert read_image(low).jpeg_quality == 40 and low.stat().st_size < out.stat().st_size
    with pytest.raises(UsageError):
        write_image(tmp_path / "bad.jpg", kodak_rgb, quality=0)


def test_as_saved_is_what_a_written_jpeg_reads_back_as(tmp_path, kodak_rgb):
    from wmark.imageio import as_saved

    written = read_image(write_image(tmp_path / "out.jpg", kodak_rgb, quality=92)).rgb
    assert np.array_equal(as_saved(kodak_rgb, 92), written) and not np.array_equal(written, kodak_rgb)


@pytest.mark.parametrize("quality", [10, 35, 50, 75, 88, 90, 95, 99, 100])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_jpeg_quality_is_estimated_from_the_tables(kodak_rgb, quality, subsampling, tmp_path):
    path = tmp_path / "q.jpg"
    Image.fromarray(kodak_rgb).save(path, quality=quality, subsampling=subsampling)
    assert read_image(path).jpeg_quality == quality
    Image.fromarray(kodak_rgb).save(tmp_path / "q.png")
    assert read_image(tmp_path / "q.png").jpeg_quality is None


def test_gif_gives_its_first_frame(tmp_path, kodak_rgb):
    frames = [Image.fromarray(kodak_rgb).quantize(64), Image.new("P", (256, 171), 3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    image = read_image(tmp_path / "anim.gif")
    assert image.format == "GIF" and image.rgb.shape == kodak_rgb.shape
    assert np.array_equal(image.rgb, np.asarray(frames[0].convert("RGB")))


# --------------------------------------------------------------------------- metadata


def test_exif_icc_dpi_xmp_kept_through_every_format(tmp_path, kodak_rgb):
    icc = srgb_icc()
    source = tmp_path / "src.jpg"
    xmp = XMP.replace(b'Orientation="6"', b'Orientation="1"')  # Pillow reads XMP's orientation too
    Image.fromarray(kodak_rgb).save(source, quality=90, exif=exif_bytes(), icc_profile=icc, dpi=(300, 300), xmp=xmp)
    image = read_image(source)
    assert image.icc == icc and image.dpi == (300.0, 300.0) and image.xmp == xmp and image.jpeg_quality == 90
    assert image.rgb.shape == kodak_rgb.shape
    assert exif_dict(image.exif)[0x010F] == "wmark-test"
    keeps = {".jpg": ("exif", "icc", "dpi", "xmp"), ".png": ("exif", "icc", "dpi", "xmp"),
             ".webp": ("exif", "icc", "xmp"), ".tif": ("icc", "dpi", "xmp"), ".bmp": ("dpi",)}
    for ext, kept in keeps.items():
        back = read_image(write_image(tmp_path / f"out{ext}", image.rgb, like=image))
        if "exif" in kept:
            assert exif_dict(back.exif)[0x010F] == "wmark-test", ext
        if "icc" in kept:
            assert back.icc == icc, ext
        if "dpi" in kept:
            assert back.dpi is not None and np.allclose(back.dpi, (300, 300), atol=0.01), ext
        if "xmp" in kept:
            assert back.xmp is not None and b'tiff:Make="wmark"' in back.xmp, ext


def test_xmp_orientation_alone_is_applied(tmp_path, kodak_rgb):
    path = tmp_path / "xmp.jpg"
    Image.fromarray(kodak_rgb).save(path, exif=exif_bytes(), xmp=XMP)  # EXIF without orientation
    image = read_image(path)
    assert image.rgb.shape == (256, 171, 3) and b'tiff:Orientation="1"' in image.xmp


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_reset(tmp_path, kodak_rgb, orientation):
    path = tmp_path / "rotated.jpg"
    Image.fromarray(kodak_rgb).save(path, quality=95, exif=exif_bytes(orientation), dpi=(72, 300),
                                    xmp=XMP.replace(b'Orientation="6"', f'Orientation="{orientation}"'.encode()))
    image = read_image(path)
    with Image.open(path) as reference:
        expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
    assert np.array_equal(image.rgb, expected)
    assert image.rgb.shape[:2] == ((256, 171) if orientation >= 5 else (171, 256))
    assert image.dpi == ((300.0, 72.0) if orientation >= 5 else (72.0, 300.0))
    exif = exif_dict(image.exif)
    assert exif[0x0112] == 1 and exif[0x010F] == "wmark-test"
    assert b'tiff:Orientation="1"' in image.xmp
    back = read_image(write_image(tmp_path / "out.png", image.rgb, like=image))
    assert np.array_equal(back.rgb, image.rgb)  # not rotated a second time


@pytest.mark.parametrize("endian", ["<", ">"])
def test_orientation_is_patched_in_place(endian):
    mark = b"II" if endian == "<" else b"MM"
    raw = b"Exif\x00\x00" + mark + struct.pack(endian + "HIH", 42, 8, 2)
    raw += struct.pack(endian + "HHIHH", 0x010F, 2, 4, 0, 0) + struct.pack(endian + "HHIHH", 0x0112, 3, 1, 8, 0)
    raw += struct.pack(endian + "I", 0)
    patched = _reset_orientation(raw)
    assert len(patched) == len(raw) and exif_dict(patched)[0x0112] == 1
    assert _reset_orientation(b"garbage") == b"garbage"


# --------------------------------------------------------------------------- conversions


def test_alpha_is_split_out_and_written_back_untouched(tmp_path, kodak_rgb):
    rng = np.random.default_rng(0)
    alpha = rng.integers(0, 256, kodak_rgb.shape[:2], dtype=np.uint8)
    source = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([kodak_rgb, alpha]), "RGBA").save(source)
    image = read_image(source)
    assert image.source_mode == "RGBA" and np.array_equal(image.alpha, alpha)
    assert np.array_equal(image.rgb, kodak_rgb)
    marked = image.rgb // 2 + 10  # whatever the marker did to the colours
    for ext in (".png", ".tif", ".webp"):
        back = read_image(write_image(tmp_path / f"out{ext}", marked, like=image))
        assert np.array_equal(back.alpha, alpha), ext
        if ext != ".webp":
            assert np.array_equal(back.rgb, marked), ext
    for ext in (".jpg", ".bmp"):  # no alpha there
        assert read_image(write_image(tmp_path / f"out{ext}", marked, like=image)).alpha is None
    smaller = write_image(tmp_path / "crop.png", np.ascontiguousarray(marked[:50, :50]), like=image)
    assert read_image(smaller).alpha is None  # alpha of another size is dropped


def test_greyscale_palette_and_la(tmp_path, kodak_rgb):
    grey = Image.fromarray(kodak_rgb).convert("L")
    grey.save(tmp_path / "grey.png", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes())
    image = read_image(tmp_path / "grey.png")
    assert image.source_mode == "L" and image.icc is None  # a non-RGB profile no longer fits
    assert (image.rgb == np.asarray(grey)[..., None]).all()

    palette = Image.fromarray(kodak_rgb).quantize(32)
    palette.save(tmp_path / "palette.png")
    image = read_image(tmp_path / "palette.png")
    assert image.source_mode == "P" and image.alpha is None
    assert np.array_equal(image.rgb, np.asarray(palette.convert("RGB")))

    palette.info["transparency"] = 0
    palette.save(tmp_path / "transparent.png", transparency=0)
    image = read_image(tmp_path / "transparent.png")
    assert np.array_equal(image.alpha, np.where(np.asarray(palette) == 0, 0, 255))

    la = Image.merge("LA", [grey, Image.new("L", grey.size, 77)])
    la.save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.source_mode == "LA" and (image.alpha == 77).all()
    assert (image.rgb[..., 0] == image.rgb[..., 2]).all()


def test_16_bit_greyscale_and_rgb(tmp_path):
    import cv2

    ramp = (np.arange(64 * 96, dtype=np.uint32) * 11 % 65536).astype(np.uint16).reshape(64, 96)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    image = read_image(tmp_path / "grey16.png")
    assert image.source_mode.startswith("I") and image.rgb.dtype == np.uint8
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert all(np.array_equal(image.rgb[..., c], expected) for c in range(3))

    colour = np.dstack([ramp, ramp[::-1], 65535 - ramp])
    cv2.imwrite(str(tmp_path / "rgb16.png"), colour[..., ::-1])  # OpenCV writes BGR
    image = read_image(tmp_path / "rgb16.png")
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (64, 96, 3)
    assert np.abs(image.rgb.astype(int) - colour / 257.0).max() <= 1.0


def test_cmyk_becomes_rgb(tmp_path, kodak_rgb):
    Image.fromarray(kodak_rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    Image.fromarray(kodak_rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    for name in ("cmyk.jpg", "cmyk.tif"):
        image = read_image(tmp_path / name)
        assert image.source_mode == "CMYK" and image.rgb.shape == kodak_rgb.shape
        assert psnr(image.rgb, kodak_rgb) > 30


def test_float_images_are_refused(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.float32)).save(tmp_path / "float.tif")
    assert "floating-point" in one_line_input_error(tmp_path / "float.tif")


# --------------------------------------------------------------------------- unreadable inputs


def test_missing_folder_empty_inputs(tmp_path):
    assert "no such file" in one_line_input_error(tmp_path / "nope.jpg")
    (tmp_path / "dir.png").mkdir()
    assert "folder" in one_line_input_error(tmp_path / "dir.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert "empty" in one_line_input_error(tmp_path / "empty.jpg")


def test_text_and_garbage_are_refused(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a photo\n" * 20)
    assert "not a supported image" in one_line_input_error(tmp_path / "notes.jpg")
    (tmp_path / "noise.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    one_line_input_error(tmp_path / "noise.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "pic.ppm")  # a format wmark does not read
    assert "not a supported image" in one_line_input_error(tmp_path / "pic.ppm")


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_truncated_files_are_refused(tmp_path, kodak_rgb, fmt, ext):
    buffer = io.BytesIO()
    Image.fromarray(kodak_rgb).save(buffer, format=fmt)
    data = buffer.getvalue()
    for cut in (len(data) // 2, 200, 30):
        path = tmp_path / f"cut{cut}{ext}"
        path.write_bytes(data[:cut])
        one_line_input_error(path)
    path = tmp_path / f"half{ext}"
    path.write_bytes(data[: len(data) // 2])
    if fmt in ("JPEG", "PNG"):
        assert "truncated" in one_line_input_error(path)


def fake_png_header(width: int, height: int) -> bytes:
    """A PNG that declares width×height but holds no pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(fake_png_header(20000, 20000))
    message = one_line_input_error(bomb)
    assert "20000×20000" in message and "100 MP limit" in message and "WMARK_MAX_PIXELS" in message
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_pixel_limit_is_ours_not_pillows(tmp_path, kodak_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_image(kodak_path, max_pixels=None).rgb.shape == (171, 256, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000
    assert "limit" in one_line_input_error(kodak_path, max_pixels=40_000)
    monkeypatch.setenv("WMARK_MAX_PIXELS", "40000")
    assert "0.04 MP limit" in one_line_input_error(kodak_path)
    monkeypatch.setenv("WMARK_MAX_PIXELS", "0")
    assert read_image(kodak_path).rgb.shape == (171, 256, 3)


# --------------------------------------------------------------------------- writing safely


def test_never_overwrites_an_input(kodak_file, kodak_rgb):
    original = kodak_file.read_bytes()
    for force in (False, True):
        with pytest.raises(OutputError, match="input"):
            write_image(kodak_file, kodak_rgb, inputs=[kodak_file], force=force)
        with pytest.raises(OutputError, match="input"):
            write_image(kodak_file, kodak_rgb, like=read_image(kodak_file), force=force)
    link = kodak_file.with_name("link.png")
    link.symlink_to(kodak_file)
    with pytest.raises(OutputError, match="input"):
        write_image(link, kodak_rgb, inputs=[kodak_file], force=True)
    relative = Path(os.path.relpath(kodak_file))
    with pytest.raises(OutputError, match="input"):
        write_image(kodak_file.parent / ".." / kodak_file.parent.name / kodak_file.name, kodak_rgb,
                    inputs=[relative], force=True)
    assert kodak_file.read_bytes() == original
    assert files_in(kodak_file.parent) == {"photo.png", "link.png"}


def test_existing_output_needs_force(tmp_path, kodak_rgb):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--force"):
        write_image(out, kodak_rgb)
    assert out.read_bytes() == b"keep me"
    write_image(out, kodak_rgb, force=True)
    assert np.array_equal(read_image(out).rgb, kodak_rgb) and files_in(tmp_path) == {"out.png"}


def test_bad_destinations(tmp_path, kodak_rgb):
    with pytest.raises(UsageError, match=r"\.jpg"):
        write_image(tmp_path / "out.xyz", kodak_rgb)
    with pytest.raises(UsageError):
        write_image(tmp_path / "noextension", kodak_rgb)
    with pytest.raises(UsageError):
        write_image(tmp_path / "out.gif", kodak_rgb)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputError, match="folder"):
        write_image(tmp_path / "folder.png", kodak_rgb, force=True)
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "no" / "such" / "out.png", kodak_rgb)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError):
        write_image(tmp_path / "file" / "out.png", kodak_rgb)
    with pytest.raises(ValueError):
        write_image(tmp_path / "out.png", kodak_rgb.astype(np.float32))
    assert files_in(tmp_path) == {"folder.png", "file"}


def test_unwritable_folder(tmp_path, kodak_rgb, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        write_image(tmp_path / "out.png", kodak_rgb)
    assert files_in(tmp_path) == set()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder(tmp_path, kodak_rgb):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError):
            write_image(locked / "out.png", kodak_rgb)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), ValueError("encoder broke"),
                                   KeyboardInterrupt()])
def test_failed_write_leaves_nothing_behind(tmp_path, kodak_rgb, monkeypatch, error):
    out = tmp_path / "out.jpg"
    out.write_bytes(b"previous")

    def broken_save(self, fp, format=None, **params):
        fp.write(b"partial data")
        raise error

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(type(error) if isinstance(error, KeyboardInterrupt) else OutputError):
        write_image(out, kodak_rgb, force=True)
    assert files_in(tmp_path) == {"out.jpg"} and out.read_bytes() == b"previous"


def test_output_permissions_follow_the_umask(tmp_path, kodak_rgb):
    old = os.umask(0o027)
    try:
        out = write_image(tmp_path / "out.png", kodak_rgb)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640


def test_loaded_image_can_be_written_directly(tmp_path, kodak_file):
    image = read_image(kodak_file)
    out = write_image(tmp_path / "copy.webp", image)
    assert read_image(out).format == "WEBP" and image.size == (256, 171)
    with pytest.raises(OutputError):
        write_image(kodak_file, image, force=True)


# --------------------------------------------------------------------------- helpers


def test_default_output_path():
    assert default_output_path(Path("/a/photo.jpg")) == Path("/a/photo.wm.jpg")
    assert default_output_path(Path("x.y.PNG"), ".marked") == Path("x.y.marked.PNG")


def test_iter_image_paths(tmp_path):
    for name in ("b.png", "a.JPG", "c.webp", "notes.txt", ".hidden.png", "sub/d.tif", "sub/deeper/e.bmp",
                 ".git/f.png", "glob/g.png"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    top = [tmp_path / name for name in ("a.JPG", "b.png", "c.webp")]
    assert iter_image_paths([str(tmp_path)]) == top
    assert iter_image_paths([tmp_path], recursive=True) == [
        *top, tmp_path / "glob/g.png", tmp_path / "sub/d.tif", tmp_path / "sub/deeper/e.bmp"]
    assert iter_image_paths([str(tmp_path / "*.png")]) == [tmp_path / "b.png"]
    assert iter_image_paths([str(tmp_path / "**" / "*.png")], recursive=True) == [
        tmp_path / "b.png", tmp_path / "glob/g.png"]
    missing, no_match = tmp_path / "missing.jpg", tmp_path / "*.heic"
    explicit = tmp_path / "notes.txt"
    assert iter_image_paths([str(missing), str(no_match), str(explicit)]) == [missing, no_match, explicit]
    assert iter_image_paths([str(tmp_path / "b.png"), str(tmp_path), str(tmp_path / "b.png")]) == [
        tmp_path / "b.png", tmp_path / "a.JPG", tmp_path / "c.webp"]
    assert iter_image_paths([]) == []


def test_loaded_image_defaults():
    image = LoadedImage(rgb=np.zeros((2, 3, 3), np.uint8))
    assert image.size == (3, 2) and image.alpha is None and image.exif is None
