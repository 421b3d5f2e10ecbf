"""A command's inputs and outputs: paths expanded, photos read, output paths checked, the key read.

Inputs (:func:`expand_inputs`, :func:`read_input`): files, folders and globs to image
paths; a path that does not exist is kept, so that the batch runner reports it (exit 3)
and goes on. Outputs (:func:`output_path_for`, :func:`check_output`): where each result
goes, refused before any work when it would overwrite an input, a folder or (without
``--force``) a file (exit 4). Nothing heavy is imported here: NumPy and Pillow load inside
the helpers that need them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError, UsageError
from .settings import settings


def expand_inputs(inputs: Sequence[str | os.PathLike[str]], *, recursive: bool = False) -> list[Path]:
    """Files, folders and globs to image paths, in a stable order, each once.

    Folders give the images in them (and below with ``recursive``); a quoted glob is
    expanded (see :func:`wmark.imageio.iter_image_paths`). A path that does not exist is
    kept, so that :func:`wmark.cli.runner.run_per_input` reports it (exit 3) and goes on
    with the others. UsageError (exit 2) when nothing is given; InputError (exit 3) when
    folders hold no image.
    """
    if not inputs:
        raise UsageError("no input given")
    from ..imageio import iter_image_paths

    paths = list(iter_image_paths([os.fspath(item) for item in inputs], recursive=recursive))
    if not paths:
        raise InputError(f"no image found in {', '.join(os.fspath(item) for item in inputs)}")
    return paths


def names_many(inputs: Sequence[str | os.PathLike[str]], paths: Sequence[Path]) -> bool:
    """Whether the inputs name several photos: more than one found, or a folder or a glob
    (which may hold one photo today and more tomorrow: its ``-o`` is a folder either way)."""
    import glob

    return len(paths) > 1 or any(Path(item).is_dir() or glob.has_magic(os.fspath(item)) for item in inputs)


def read_input(path: str | os.PathLike[str]) -> Any:
    """:func:`wmark.imageio.read_image` with the run's pixel limit (``wmark --max-pixels N``).

    Returns a LoadedImage; InputError (exit 3, one line naming the path) when unreadable.
    """
    from ..imageio import read_image

    limit = settings().max_pixels
    if limit is None:
        return read_image(path)
    return read_image(path, max_pixels=limit or None)


def output_path_for(source: Path, output: Path | None, *, many: bool = False, suffix: str = ".wm") -> Path:
    """Where the result for ``source`` goes (the folder is created when needed).

    - no ``output``: ``NAME<suffix>.EXT`` beside the input (``photo.jpg`` → ``photo.wm.jpg``);
    - ``output`` an existing folder, or any ``output`` with ``many`` inputs: inside that
      folder, under the input's name (``NAME<suffix>.EXT`` if it is the input's own folder);
    - otherwise ``output`` itself (one input).
    """
    if output is None:
        return source.with_name(f"{source.stem}{suffix}{source.suffix}")
    if many or output.is_dir():
        ensure_folder(output, "several inputs need -o DIR")
        same_folder = os.path.realpath(source.parent) == os.path.realpath(output)
        return output / (f"{source.stem}{suffix}{source.suffix}" if same_folder else source.name)
    return output


def ensure_folder(folder: Path, hint: str = "") -> None:
    """Create ``folder`` (and its parents) if needed; OutputError when it is a file or cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is not a folder" + (f" ({hint})" if hint else ""))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create folder {folder}: {error.strerror or error}") from None


def check_output(source: Path | None, destination: Path, *, force: bool = False) -> None:
    """Before any work: refuse to write over the input (always), over a folder, over an
    existing file (without ``force``) or into a missing folder (OutputError, exit 4).

    :func:`wmark.imageio.write_image` checks again when it writes (atomically).
    """
    from ..imageio import output_format
    from ..safefile import check_destination

    check_destination(destination, [source] if source is not None else [], force)
    output_format(destination)  # UsageError for an extension with no image format


def load_key(path: Path | None) -> bytes | None:
    """The secret key of ``--key FILE`` (None without one)."""
    if path is None:
        return None
    from ..keys import read_key

    return read_key(path)
