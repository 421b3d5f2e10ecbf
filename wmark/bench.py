"""``wmark bench``: how well the mark survives attacks (the reference columns, social media,
screenshots, any chain), on a folder of photos.

Every photo is centre-cropped to a square and resized to ``size`` x ``size`` (512 for the
reference table of DESIGN.md; ``size=None`` keeps it as it is), then for each system:

* **raw bits** (``message_mode`` ``both`` or ``bits``): random bits, seeded per photo, are
  embedded with :meth:`Message.from_bits`, each attack column is applied (same attack
  seed for every system) and :func:`wmark.api.decode_probabilities` reads the photo as
  it is and the :mod:`wmark.sync` realignment grid. ``accuracy`` is measured on the row
  a user without the bits would pick: the most confident one (largest mean |2p - 1|).
  The records also hold ``accuracy_no_search`` (row 0, the photo as it is),
  ``accuracy_best`` (the best row: an upper bound, choosing it needs the embedded bits)
  and ``verified`` (:func:`wmark.api.verify`'s decision at FPR 1e-6, from the same rows);
* **message** (``both`` or ``text``): a Reed-Solomon protected message as long as the
  model holds (random bytes per photo, or ``text`` on every photo), read by
  :func:`wmark.api.extract` as it is: ``recovered`` when the exact message comes back,
  ``accuracy_message`` the bit accuracy on the row extract chose (row 0 first, then the
  grid by confidence, the first that decodes; the most confident when none does);
* PSNR and SSIM (:mod:`wmark.metrics`) of the marked photos and, unless ``quality=False``,
  their perceptual SSIMULACRA 2 and FLIP (``ssimulacra2``, ``flip``; at the prepared size,
  against the prepared photo; the raw-bits mark when both are embedded), embed and extract seconds per
  photo (and the megapixels embedded and read, for the time per megapixel), and the
  clean photos read too (``clean_found``: a clean photo that decodes;
  ``clean_verified``: one that verifies as carrying the photo's bits) - false
  positives, which must stay at 0.

Deterministic for a seed: the bits of photo ``i`` and its attacks' randomness depend on
``(seed, i)`` only. With a ``journal`` (``REPORT_DIR/images.jsonl`` for ``wmark bench
--out``) each photo's records are appended as it finishes, and a later run with the
same settings takes the photos already there instead of measuring them again.

Peers (``peers=True``, the ``bench`` extra): invisible-watermark's ``dwtDct``,
``dwtDctSvd`` and ``rivaGan`` (32 bits, all it takes; needs onnxruntime) and
blind-watermark, with their default settings, on the same photos, bits and attacks;
the others carry as many bits as the wmark model. Importing blind-watermark sets
multiprocessing's start method to ``fork`` for the whole process.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .bench_report import METRICS, BenchReport, Journal, SystemResult, _mean
from .errors import DependencyError, InputError, UsageError, WmarkError
from .metrics import flip, psnr, require_perceptual, ssim, ssimulacra2

DEFAULT_SIZE = 512
MESSAGE_MODES = ("both", "bits", "text")
PEERS = ("dwtDct", "dwtDctSvd", "rivaGan", "blind-watermark")
JOURNAL = "images.jsonl"
__all__ = ["BenchReport", "METRICS", "PEERS", "SystemResult", "load_peers", "parse_attacks", "prepare",
           "run_benchmark", "ssim"]


def parse_attacks(spec: str | Iterable[str] | None = None) -> dict[str, list[tuple[str, Any]]]:
    """Columns -> attack chains. ``spec``: names separated by commas, each a group of
    columns (``reference``, the default; ``social``; ``screenshot``), a preset (``jpeg50``)
    or ``ATTACK=VALUE`` (``jpeg=30``, any registry attack). UsageError (exit 2) for an
    unknown one."""
    from .attacks import GROUPS, PRESETS, check_chain, preset_chain

    items = spec.split(",") if isinstance(spec, str) else list(spec or [])
    items = [item.strip() for item in items if item.strip()] or ["reference"]
    columns: dict[str, list[tuple[str, Any]]] = {}
    for item in items:
        if item in GROUPS:
            columns.update({name: preset_chain(name) for name in GROUPS[item]})
        elif "=" in item:
            name, _, value = item.partition("=")
            columns[item] = check_chain([(name.strip(), value.strip())])
        elif item in PRESETS:
            columns[item] = preset_chain(item)
        else:
            raise UsageError(f"unknown attack {item!r}: give groups ({', '.join(GROUPS)}), presets "
                             f"({', '.join(p for p in PRESETS if p not in GROUPS)}) or ATTACK=VALUE (jpeg=30)")
    return columns


def _megapixels(rgb: np.ndarray) -> float:
    return rgb.shape[0] * rgb.shape[1] / 1e6


def prepare(rgb: np.ndarray, size: int | None) -> np.ndarray:
    """The centre square of ``rgb`` resized to ``size`` x ``size`` (``rgb`` when None).

    InputError for a photo under 32 px per side, as embed and extract (not blown up to ``size``).
    """
    from .api import MIN_SIDE

    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"image is {width}×{height}: wmark needs at least {MIN_SIDE} px per side")
    if size is None:
        return rgb
    import cv2

    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(rgb[top:top + side, left:left + side])
    if side == size:
        return square
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


# --------------------------------------------------------------------------- systems


def _quality(rgb: np.ndarray, marked: np.ndarray, quality: bool) -> dict[str, float]:
    """SSIMULACRA 2 and FLIP of ``marked`` against ``rgb`` (nothing when ``quality`` is off)."""
    return {"ssimulacra2": ssimulacra2(rgb, marked), "flip": flip(rgb, marked)} if quality else {}


class _Wmark:
    def __init__(self, net: Any, method: str, device: str, mode: str, text: str | None, strength: float,
                 key: bytes | None = None, ismark: Any = None, quality: bool = True):
        from . import payload

        self.net, self.method, self.device, self.mode, self.strength = net, method, device, mode, strength
        self.key, self.ismark, self.quality = key, ismark, quality
        self.name, self.bits, self.text, self.room = f"wmark {method}", net.cfg.bits, text, 0
        if mode != "bits":  # PayloadError (exit 2) now when the model or the text cannot carry a message
            self.room = payload.capacity(self.bits).max_bytes
            if text is not None:
                payload.encode(payload.Message.from_text(text), self.bits)

    def run(self, rgb: np.ndarray, raw: np.ndarray, columns: dict[str, list], seed: int) -> dict[str, Any]:
        from . import api
        from .attacks import apply_chain
        from .payload import Message
        from .sync import most_confident

        rec: dict[str, Any] = {"attacks": {name: {} for name in columns}}
        embed_s, extract_s, extract_mp = [], [], []

        def embed(message: Any) -> Any:
            start = time.perf_counter()
            # The bench reads every mark itself; only ``auto`` needs the self-check (to choose).
            result = api.embed(rgb, message, model=self.net, method=self.method, strength=self.strength,
                               device=self.device, key=self.key, check=self.method == "auto",
                               ismark=self.ismark if self.method != "encoder" else None)
            embed_s.append(time.perf_counter() - start)
            return result

        def timed(function: Callable[..., Any], image: np.ndarray, **options: Any) -> Any:
            start = time.perf_counter()
            out = function(image, model=self.net, device=self.device, **options)
            extract_s.append(time.perf_counter() - start)
            extract_mp.append(_megapixels(image))
            return out

        if self.mode in ("both", "bits"):
            marked = embed(Message.from_bits(raw))
            rec.update(psnr=marked.psnr, ssim=ssim(rgb, marked.image), **_quality(rgb, marked.image, self.quality))
            for name, chain in columns.items():
                rows, _ = timed(api.decode_probabilities, apply_chain(marked.image, chain, seed=seed))
                correct = np.mean((rows > 0.5) == raw.astype(bool), axis=1)
                chosen = most_confident(rows)
                rec["attacks"][name].update(accuracy=float(correct[chosen]), accuracy_no_search=float(correct[0]),
                                            accuracy_best=float(correct.max()), verified=self._verified(rows, raw))
            rows, _ = timed(api.decode_probabilities, rgb)
            rec["clean_verified"] = self._verified(rows, raw)
        if self.mode in ("both", "text"):
            data = np.packbits(raw)[: self.room].tobytes()  # random per photo, from its seeded bits
            message = Message.from_text(self.text) if self.text is not None else Message("bytes", data)
            marked = embed(message)
            rec["psnr_message"] = marked.psnr
            if "psnr" not in rec:  # text only: the message's mark is the one scored
                rec.update(psnr=marked.psnr, ssim=ssim(rgb, marked.image),
                           **_quality(rgb, marked.image, self.quality))
            for name, chain in columns.items():
                found = timed(api.extract, apply_chain(marked.image, chain, seed=seed), key=self.key)
                rec["attacks"][name].update(
                    recovered=bool(found.found and found.message == message),
                    accuracy_message=float(np.mean((found.probabilities > 0.5) == marked.bits.astype(bool))))
            rec["clean_found"] = bool(timed(api.extract, rgb, key=self.key).found)
        rec["embed_s"], rec["extract_s"] = _mean(embed_s), _mean(extract_s)
        rec["megapixels"], rec["extract_megapixels"] = _megapixels(rgb), _mean(extract_mp)
        return rec

    @staticmethod
    def _verified(rows: np.ndarray, raw: np.ndarray) -> bool:
        """:func:`wmark.api.verify`'s decision at its default FPR, from rows already decoded."""
        from .api import DEFAULT_FPR, binomial_tail

        matching = int(np.max(np.count_nonzero((rows > 0.5) == raw.astype(bool), axis=1)))
        return min(1.0, len(rows) * binomial_tail(rows.shape[1], matching)) <= DEFAULT_FPR


class _Peer:
    """A published watermarking tool, through its own Python API, on BGR uint8 arrays."""

    def __init__(self, name: str, bits: int, quality: bool = True):
        self.name, self.bits, self.quality = name, (32 if name == "rivaGan" else bits), quality
        if name == "blind-watermark":
            import blind_watermark

            blind_watermark.bw_notes.close()  # it prints a banner on stdout otherwise
            self.module = blind_watermark
        else:
            import imwatermark

            if name == "rivaGan":
                imwatermark.WatermarkEncoder.loadModel()  # ImportError without onnxruntime
            self.module = imwatermark

    def embed(self, bgr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        if self.name == "blind-watermark":
            mark = self.module.WaterMark(password_wm=1, password_img=1)
            mark.read_img(img=bgr)
            mark.read_wm(bits.astype(bool), mode="bit")
            return np.clip(np.rint(mark.embed()), 0, 255).astype(np.uint8)
        encoder = self.module.WatermarkEncoder()
        encoder.set_watermark("bits", bits.tolist())
        return np.asarray(encoder.encode(bgr, self.name), dtype=np.uint8)

    def extract(self, bgr: np.ndarray) -> np.ndarray:
        if self.name == "blind-watermark":
            found = self.module.WaterMark(password_wm=1, password_img=1).extract(
                embed_img=bgr, wm_shape=self.bits, mode="bit")
        else:
            found = self.module.WatermarkDecoder("bits", self.bits).decode(bgr, self.name)
        return np.asarray(found).astype(bool).ravel()

    def run(self, rgb: np.ndarray, raw: np.ndarray, columns: dict[str, list], seed: int) -> dict[str, Any]:
        from .attacks import apply_chain

        bits = raw[: self.bits] if self.bits <= raw.size else np.resize(raw, self.bits)
        start = time.perf_counter()
        marked = self.embed(np.ascontiguousarray(rgb[:, :, ::-1]), bits)[:, :, ::-1]
        embed_s = time.perf_counter() - start
        rec: dict[str, Any] = {"attacks": {}, "psnr": psnr(rgb, marked), "ssim": ssim(rgb, marked),
                               **_quality(rgb, marked, self.quality),
                               "embed_s": embed_s, "megapixels": _megapixels(rgb)}
        extract_s, extract_mp = [], []
        for name, chain in columns.items():
            attacked = apply_chain(np.ascontiguousarray(marked), chain, seed=seed)
            extract_mp.append(_megapixels(attacked))
            start = time.perf_counter()
            try:
                found = self.extract(np.ascontiguousarray(attacked[:, :, ::-1]))
                rec["attacks"][name] = {"accuracy": float(np.mean(found == bits.astype(bool)))}
            except Exception as error:  # a peer that cannot read an attacked photo (too small, ...)
                rec["attacks"][name] = {"accuracy": None, "error": f"{type(error).__name__}: {error}"}
            extract_s.append(time.perf_counter() - start)
        rec["extract_s"], rec["extract_megapixels"] = _mean(extract_s), _mean(extract_mp)
        return rec


def _run_one(system: Any, rgb: np.ndarray, raw: np.ndarray, columns: dict[str, list], seed: int) -> dict[str, Any]:
    try:
        return system.run(rgb, raw, columns, seed)
    except Exception as error:  # a peer that refuses the photo (imwatermark: under 256x256 px)
        if not isinstance(system, _Peer):
            raise
        return {"attacks": {name: {} for name in columns}, "error": f"{type(error).__name__}: {error}"}


def load_peers(bits: int, names: Sequence[str] = PEERS,
               quality: bool = True) -> tuple[list[_Peer], list[dict[str, str]]]:
    """The peers that import here, and ``{"name", "reason"}`` for those that do not;
    ``quality``: whether they score their marks with SSIMULACRA 2 and FLIP."""
    peers, missing = [], []
    for name in names:
        if name not in PEERS:
            raise UsageError(f"unknown peer {name!r} (known: {', '.join(PEERS)})")
        try:
            peers.append(_Peer(name, bits, quality))
        except (ImportError, RuntimeError, OSError) as error:
            reason = f"{' '.join(str(error).split())}; pip install 'wmark[bench]' (and onnxruntime for rivaGan)"
            missing.append({"kind": "peer", "name": name, "reason": reason})
    return peers, missing


# --------------------------------------------------------------------------- the run


def _fingerprint(net: Any, model: Any) -> str:
    """The packaged model's sha256, or a hash of a custom model's weights."""
    from . import zoo

    if isinstance(model, str):
        return zoo.get_entry(model).sha256
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_benchmark(paths: Sequence[str | os.PathLike[str]], *, attacks: str | Iterable[str] | None = None,
                  method: str | Sequence[str] = "encoder", model: Any = "default", strength: float = 1.0,
                  size: int | None = DEFAULT_SIZE,
                  seed: int = 0, message_mode: str = "both", text: str | None = None,
                  peers: bool | Sequence[str] = False, device: str = "auto", key: bytes | None = None,
                  ismark: Any = None, quality: bool = True,
                  progress: Callable[[int, int, str], None] | None = None,
                  on_error: Callable[[Path, Exception], None] | None = None, command: str = "",
                  journal: str | os.PathLike[str] | None = None,
                  log: Callable[[str], None] | None = None) -> BenchReport:
    """Embed, attack and extract on every photo of ``paths``; see the module docstring.

    ``model``: a packaged model's name or a :class:`WatermarkModel`. ``method``:
    ``encoder``, ``ismark``, ``auto`` or several (a list). ``progress(done, total, label)`` is called
    after each photo and system. ``key``: a secret key the messages are embedded and read
    with (raw bits are never keyed). ``ismark``: :class:`wmark.IsmarkOptions` for the
    ``ismark`` and ``auto`` methods (their defaults otherwise). ``quality``: SSIMULACRA 2 and
    FLIP of every marked photo (DependencyError now when their packages are missing; off
    for speed). A photo that cannot be
    read goes to ``on_error`` (and is skipped) when given, else its InputError is raised.
    ``journal``: a JSON-lines file the per-photo records go to as they finish, and are
    taken from on a re-run with the same settings (``log`` hears which).
    """
    from . import __version__, zoo
    from .imageio import read_image

    methods = [m.strip() for m in method.split(",")] if isinstance(method, str) else list(method)
    from .api import METHODS

    if not methods or set(methods) - set(METHODS):
        raise UsageError(f"method must be {', '.join(METHODS)} or several (got {method!r})")
    if message_mode not in MESSAGE_MODES:
        raise UsageError(f"message_mode must be one of {', '.join(MESSAGE_MODES)} (got {message_mode!r})")
    if not 0 < strength <= 10:
        raise UsageError(f"strength must be in (0, 10] (got {strength})")
    if size is not None and size < 64:
        raise UsageError(f"size must be at least 64 px, or None for the photos as they are (got {size})")
    columns = parse_attacks(attacks)
    if quality:
        try:
            require_perceptual()
        except DependencyError as error:
            raise DependencyError(f"{error}; or leave the scores out (quality=False, --no-quality)") from None
    device = zoo.resolve_device(device)
    if isinstance(model, str):
        model_name, net = zoo.get_entry(model).name, zoo.load_model(model, device)
    else:
        model_name, net = "custom", model.to(device).eval()
    systems: list[Any] = [_Wmark(net, m, device, message_mode, text, strength, key, ismark, quality)
                          for m in methods]
    peer_names = PEERS if peers is True else (peers or ())
    found_peers, skipped = load_peers(net.cfg.bits, peer_names, quality) if peer_names else ([], [])
    systems += found_peers
    results = [SystemResult(system.name, system.bits, isinstance(system, _Peer)) for system in systems]
    total, done, images = len(paths) * len(systems), 0, 0
    from importlib.metadata import version

    packages = {"blind-watermark" if x.name == "blind-watermark" else "invisible-watermark" for x in found_peers}
    peer_versions = {package: version(package) for package in sorted(packages)}
    options = {"keyed": key is not None, "ismark": repr(ismark) if ismark is not None else None}
    # Journals from before the perceptual scores carry no "quality": they are taken (the scores missing).
    scores = {} if quality else {"quality": False}
    same = {"attacks": columns, "methods": methods, "model": model_name, "weights": _fingerprint(net, model),
            "strength": strength, "size": size, "seed": seed, "message_mode": message_mode, "text": text, **options,
            **scores, "systems": [system.name for system in systems], "device": device, "wmark": __version__}
    book = Journal(journal, json.loads(json.dumps(same, default=str)), log) if journal is not None else None
    resumed = 0
    try:
        for index, path in enumerate(map(Path, paths)):
            entry = book.get(index, os.fspath(path)) if book is not None else None
            if entry is not None:
                resumed += 1
                shape, records = entry["shape"], [entry["records"][system.name] for system in systems]
            else:
                raw = np.random.default_rng([seed, index]).integers(0, 2, net.cfg.bits, dtype=np.uint8)
                records = []
                try:
                    rgb = prepare(read_image(path).rgb, size)
                    for system in systems:
                        records.append(_run_one(system, rgb, raw, columns, seed * 1_000_003 + index))
                        if progress is not None:
                            progress(done + len(records), total, f"{path.name}: {system.name}")
                except WmarkError as error:  # unreadable, or too small for wmark after an attack
                    if on_error is None:
                        raise
                    on_error(path, error)
                    skipped.append({"kind": "photo", "name": os.fspath(path), "reason": str(error)})
                    records = []
                shape = [rgb.shape[0], rgb.shape[1]] if records else None
                if book is not None and records:
                    book.add({"index": index, "path": os.fspath(path), "shape": shape,
                              "records": {system.name: record for system, record in zip(systems, records)}})
            if records:
                images += 1
                for result, record in zip(results, records):
                    result.images.append({"path": os.fspath(path), "width": shape[1], "height": shape[0], **record})
            done += len(systems)
            if progress is not None and (entry is not None or not records):
                progress(done, total, f"{path.name}: {'skipped' if not records else 'done earlier'}")
    finally:
        if book is not None:
            book.close()
    import torch

    settings = {
        "command": command or "wmark.bench.run_benchmark", "attacks": columns, "methods": methods,
        "model": model_name, "strength": strength, "raw_bits": net.cfg.bits, "model_size": net.cfg.size,
        "size": size, "seed": seed, "message_mode": message_mode, "text": text, **options, "quality": quality,
        "images": images, "resumed": resumed, "journal": os.fspath(journal) if journal is not None else None,
        "device": device, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"wmark": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version(), **peer_versions},
        "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(),
                     "gpu": torch.cuda.get_device_name() if device == "cuda" else None},
    }
    return BenchReport(settings, results, skipped)

