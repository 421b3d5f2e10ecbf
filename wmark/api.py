"""The library: ``embed``, ``extract`` and ``verify`` on photos of any size.

Every model works at a fixed square resolution (DESIGN.md, "Models"). A photo of any
size and aspect ratio is resized to it (area interpolation), the encoder's residual is
computed there, resized back to the photo's size (bicubic), shaped by the photo's
perceptual mask at the strength (never past its per-pixel budget) and added;
extraction resizes the whole suspect photo the same way (:mod:`wmark.geometry`, the one
path). ``strength`` is a ceiling on visibility: ``auto`` tries the :data:`LADDER` of
fainter strengths first. Images whose short side is under :data:`MIN_SIDE` pixels are
refused: too few pixels carry the mark.

Inputs are PIL images or H×W×3 uint8 arrays (greyscale H×W is accepted too); ``embed``
returns the same kind it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import mask, payload
from .errors import AlreadyMarkedError, InputError, PayloadError, UsageError
from .geometry import masked_mark, resize, working
from .imageio import as_saved
from .metrics import psnr
from .payload import Message

if TYPE_CHECKING:  # pragma: no cover
    from .ismark import IsmarkOptions
    from .models.network import WatermarkModel

MIN_SIDE = 32
DEFAULT_FPR = 1e-6
METHODS = ("auto", "encoder", "ismark")  # how ``embed`` makes the mark; ``auto`` first


@dataclass(frozen=True)
class EmbedResult:
    """A marked image and what went into it."""

    image: Any  # same type as the input: PIL image or uint8 array
    psnr: float
    bits: np.ndarray
    model: str
    strength: float
    method: str = "encoder"  # the method that made this mark (``auto`` resolves to one)
    # Self-check: does the mark read back from the output as it is and from a JPEG 75
    # copy of it ({} when not checked)? ``robust`` is True when every check passed.
    survived: dict[str, bool] = field(default_factory=dict)
    replaced: Message | None = None  # the earlier mark that ``force`` removed
    # Why no robust mark fits under the strength ceiling (``auto`` kept the top of the ladder), or None.
    warning: str | None = None
    ssimulacra2: float | None = None  # the marked photo's SSIMULACRA 2 against the original (``score``)
    scored_view: str | None = None  # what was scored: "full" or "fitted 1920x1080"

    @property
    def robust(self) -> bool | None:
        return all(self.survived.values()) if self.survived else None


@dataclass(frozen=True)
class ExtractResult:
    """What the decoder read from one image."""

    found: bool
    message: Message | None
    bits: np.ndarray  # hard decisions of the decoder, uint8 0/1
    probabilities: np.ndarray = field(repr=False)
    confidence: float  # mean |2p - 1| over the raw bits, 0 (noise) .. 1 (certain)
    p_value: float  # chance that an unmarked image decodes to some message this well
    corrected_symbols: int
    model: str

    @property
    def text(self) -> str | None:
        """The message as printable text when it is UTF-8, else its hex."""
        return None if self.message is None else self.message.display()

    @property
    def bit_string(self) -> str:
        return "".join(map(str, self.bits.tolist()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "message": self.text,
            "hex": None if self.message is None else self.message.hex(),
            "bits": self.bit_string,
            "confidence": round(self.confidence, 4),
            "p_value": self.p_value,
            "corrected_symbols": self.corrected_symbols,
            "model": self.model,
        }


@dataclass(frozen=True)
class VerifyResult:
    """Does an image carry a given message? A decision at a false-positive rate."""

    match: bool
    matching_bits: int
    total_bits: int
    p_value: float  # P(an unmarked image matches this many bits or more)
    fpr: float
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"match": self.match, "matching_bits": self.matching_bits, "total_bits": self.total_bits,
                "p_value": self.p_value, "fpr": self.fpr, "model": self.model}


# --------------------------------------------------------------------------- helpers


def _as_rgb(image: Any) -> tuple[np.ndarray, str]:
    """(H×W×3 uint8, kind) from a PIL image or an array; kind says how to give it back."""
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
            raise InputError(f"expected an H×W×3 uint8 array, got {array.dtype} {array.shape}")
        rgb, kind = np.ascontiguousarray(array[:, :, :3]), "array"
    else:
        try:
            rgb, kind = np.asarray(image.convert("RGB")), "pil"
        except AttributeError:
            raise InputError(f"expected a PIL image or a uint8 array, got {type(image).__name__}") from None
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InputError(f"image is {rgb.shape[1]}×{rgb.shape[0]}: wmark needs at least {MIN_SIDE} px per side")
    return rgb, kind


def _model(model: "str | WatermarkModel", device: str) -> tuple["WatermarkModel", str, str]:
    """(model in eval mode, its name, the resolved device)."""
    from . import zoo

    device = zoo.resolve_device(device)
    if isinstance(model, str):
        return zoo.load_model(model, device), zoo.get_entry(model).name, device
    if model.training or next(model.parameters()).device.type != device:  # moving costs ms per call
        model = model.to(device).eval()
    return model, "custom", device


def _readers(model: "str | WatermarkModel", device: str) -> list[tuple["WatermarkModel", str]]:
    """The models that read a photo: the one asked for; for ``default``, the default and
    then every other packaged model, so marks made by an earlier version stay readable."""
    first = _model(model, device)[:2]
    if not (isinstance(model, str) and model == "default"):
        return [first]
    from . import zoo

    others = [name for name in zoo.MODELS if name != first[1]]
    return [first, *(_model(name, device)[:2] for name in others)]


def _as_message(message: Message | str | bytes) -> Message:
    if isinstance(message, str):
        return Message.from_text(message)
    if isinstance(message, (bytes, bytearray)):
        return Message(kind="bytes", data=bytes(message))
    return message


def _message_bits(message: Message | str | bytes, raw_bits: int, model_name: str,
                  key: bytes | None) -> np.ndarray:
    return payload.encode(_as_message(message), raw_bits, model=model_name, key=key)


def encoder_unit(net: "WatermarkModel", rgb: np.ndarray, bits: np.ndarray, device: str) -> np.ndarray:
    """The encoder's residual for ``rgb`` at the working size (S×S×C, unit RMS; one plane
    for a luma model)."""
    import torch

    cover = working(rgb, net.cfg.size).to(device)
    with torch.no_grad():
        unit = net.unit_residual(cover, torch.from_numpy(bits)[None].float().to(device))
    return (unit[:, :1] if net.cfg.luma else unit)[0].permute(1, 2, 0).cpu().numpy()


def encoder_mark(net: "WatermarkModel", rgb: np.ndarray, bits: np.ndarray, strength: float,
                 device: str) -> np.ndarray:
    """The encoder's mark to add to ``rgb`` at ``strength`` (H×W×3 float32, 0..255 levels)."""
    return masked_mark(encoder_unit(net, rgb, bits, device), rgb, strength)


def _read_mark(rgb: np.ndarray, readers: list[tuple["WatermarkModel", str]], keys: list[bytes | None],
               device: str) -> tuple[Message, bytes | None, "WatermarkModel", str] | None:
    """The message of a mark ``rgb`` carries as it is, with the key and the model that
    read it, or None."""
    for net, name in readers:
        rows, _ = decode_probabilities(rgb, model=net, device=device, search=False)
        for key in dict.fromkeys(keys):  # each key once, in order
            decoded = payload.decode(rows[0], key=key)
            if decoded.found and decoded.message is not None:
                return decoded.message, key, net, name
    return None


# Edits ``auto`` also reads its encoder mark back after (the reference columns an encoder
# mark most often fails on; JPEG 50, the hardest codec column, since the ladder tries faint
# marks first): a miss sends the photo up the ladder, then to ISMark.
AUTO_CHECKS = (("jpeg", 50), ("saturation", 0.0), ("brightness", 1.3), ("contrast", 1.3))


# Strengths ``auto`` tries, as shares of the ``strength`` ceiling, faintest first (3 dB apart):
# the first whose mark passes every self-check is kept, then ISMark at the ceiling.
LADDER = (0.5, 0.71, 1.0)
# A rung under the ceiling is kept only with a margin: at most FAINT_MARGIN of its raw bits
# read wrong after a crop keeping FAINT_CROP of the area (resized back) and JPEG 50, read
# realigned to that crop, and after WebP at FAINT_WEBP. A mark that only just reads back
# after one edit is lost after two (a crop of a JPEG) or after another codec: the ceiling is safer.
FAINT_CROP = 0.8
FAINT_WEBP = 75
FAINT_MARGIN = 0.03
# A photo whose mean JND is under this many levels is flat: little texture to hide a mark in.
FLAT_JND = 4.5
# Photos larger than this are scored on a view fitted to it (SSIMULACRA 2 costs ~2.5 s a megapixel).
SCORE_VIEW = (1920, 1080)


def weak_reason(rgb: np.ndarray, heat: np.ndarray, size: int) -> str:
    """Why a photo holds no robust mark under its budget: tiny, flat, or neither."""
    height, width = rgb.shape[:2]
    reasons = []
    if min(height, width) < size:
        reasons.append(f"tiny ({width}×{height} px, under the model's {size} px)")
    mean = float(np.mean(heat))
    if mean < FLAT_JND:
        reasons.append(f"flat (mean JND {mean:.1f} levels: little texture to hide a mark in)")
    return ", ".join(reasons) or "its content takes the mark badly (clipped highlights or shadows, or strong colour)"


def quality_score(original: np.ndarray, marked: np.ndarray) -> tuple[float, str]:
    """(SSIMULACRA 2 of ``marked`` against ``original``, the view scored): the photos as
    they are, or both fitted to :data:`SCORE_VIEW` when larger."""
    from .metrics import ssimulacra2

    height, width = original.shape[:2]
    fit = min(SCORE_VIEW[0] / width, SCORE_VIEW[1] / height, 1.0)
    if fit >= 1.0 or min(height, width) * fit < 8:  # an extreme panorama: its view would be a sliver
        return ssimulacra2(original, marked), "full"
    size = (max(1, round(width * fit)), max(1, round(height * fit)))
    view = [resize(image, *size) for image in (original, marked)]
    return ssimulacra2(*view), f"fitted {SCORE_VIEW[0]}x{SCORE_VIEW[1]}"


# A raw-bits mark (no error correction) reads back when at most this share of its bits is wrong.
RAW_BITS_TOLERANCE = 0.01


def _reads_back(copy: np.ndarray, net: "WatermarkModel", message: Message, bits: np.ndarray,
                key: bytes | None, device: str) -> bool:
    """``extract`` gives ``message`` back from ``copy``; for raw bits (no error correction
    to decode), at most :data:`RAW_BITS_TOLERANCE` of the embedded ``bits`` read wrong."""
    if message.kind == "bits":
        rows, _ = decode_probabilities(copy, model=net, device=device, search=False)
        return float(np.mean((rows[0] > 0.5) != bits.astype(bool))) <= RAW_BITS_TOLERANCE
    found = _read_mark(copy, [(net, "")], [key], device)
    return found is not None and found[0] == message


def _self_check(marked: np.ndarray, net: "WatermarkModel", message: Message, bits: np.ndarray,
                key: bytes | None, device: str, quality: int) -> dict[str, bool]:
    """Whether ``message`` reads back from ``marked`` and from a JPEG copy of it."""
    from .attacks.registry import apply_attack

    copies = {"clean": marked, f"jpeg{quality}": apply_attack("jpeg", marked, quality)}
    return {name: _reads_back(copy, net, message, bits, key, device) for name, copy in copies.items()}


def _holds_colour_edits(marked: np.ndarray, net: "WatermarkModel", message: Message, bits: np.ndarray,
                        key: bytes | None, device: str) -> bool:
    """Whether ``message`` reads back after each edit of :data:`AUTO_CHECKS`, in order."""
    from .attacks.registry import apply_attack

    return all(_reads_back(apply_attack(attack, marked, value), net, message, bits, key, device)
               for attack, value in AUTO_CHECKS)


def _has_margin(marked: np.ndarray, net: "WatermarkModel", bits: np.ndarray, device: str) -> bool:
    """Whether at most :data:`FAINT_MARGIN` of ``bits`` read wrong after a crop of
    :data:`FAINT_CROP` and JPEG 50, and after WebP at :data:`FAINT_WEBP` (one decoder pass:
    the crop's alignment is known)."""
    import torch

    from .attacks.registry import apply_attack
    from .sync import realigned

    cropped = apply_attack("jpeg", apply_attack("crop", marked, FAINT_CROP), 50)
    views = torch.cat([realigned(cropped, net.cfg.size, FAINT_CROP ** -0.5, 0.0),
                       working(apply_attack("webp", marked, FAINT_WEBP), net.cfg.size)]).to(device)
    with torch.no_grad():
        read = (net.decoder(views) > 0).cpu().numpy()
    return bool(np.all(np.mean(read != bits.astype(bool), axis=1) <= FAINT_MARGIN))


def _reading_copy(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb``, or for a photo larger than 4× the working size ``size``, a copy at that
    size: the decoder sees the photo at its working size anyway, so ``embed``'s reads and
    self-checks run on it (JPEG's artefacts weigh more there: the check only gets stricter)."""
    side = 4 * size
    return rgb if rgb.shape[0] * rgb.shape[1] <= side * side else resize(rgb, side, side)


def binomial_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2)."""
    if k <= 0:
        return 1.0
    return math.fsum(math.comb(n, i) for i in range(k, n + 1)) / 2.0 ** n


# --------------------------------------------------------------------------- API


def embed(image: Any, message: Message | str | bytes, *, model: "str | WatermarkModel" = "default",
          strength: float = 1.0, method: str = "auto", key: bytes | None = None,
          device: str = "auto", force: bool = False, check: bool = True,
          saved_quality: int | None = None, ismark: "IsmarkOptions | None" = None,
          score: bool = False) -> EmbedResult:
    """Mark ``image`` with ``message`` (text, bytes or a :class:`Message`).

    ``strength`` is a ceiling on visibility: each pixel changes by at most ``strength ×
    GAIN × JND`` (:mod:`wmark.mask`); 1 is the default visibility target.
    ``key``: a secret key (:func:`wmark.keys.read_key`); only the same key reads it back.

    ``method``: ``encoder`` (one network pass at ``strength``), ``ismark`` (per-image
    optimisation against the decoder under the same budget, up to ~30 s on a CPU;
    :mod:`wmark.ismark`) or ``auto``: the encoder at each strength of the :data:`LADDER`
    up to the ceiling, faintest first, keeping the first mark that passes the self-check
    and reads back after each edit of :data:`AUTO_CHECKS`, made to the output as saved (a
    JPEG at ``saved_quality`` when given: :func:`wmark.imageio.as_saved`; under the
    ceiling, also with the margin of :func:`_has_margin`); then ISMark at the ceiling. When none passes,
    ISMark's mark is kept and ``warning`` says why (:func:`weak_reason`). ``ismark``: the
    ISMark settings (:class:`wmark.ismark.IsmarkOptions`); ignored by the encoder.
    ``score``: also give the SSIMULACRA 2 of the result (:func:`quality_score`).

    An image that already carries a readable mark (with ``key`` or unkeyed) raises
    :class:`~wmark.errors.AlreadyMarkedError`; with ``force`` the old mark is taken out
    (its strength-1 mark, re-made from its decoded message, is subtracted) before the new
    one goes in, and ``replaced`` says which it was. With ``check`` the output is read back
    as it is and after JPEG 75, or at ``saved_quality`` (the JPEG/WebP quality the output
    will be written at) when lower (``survived``, ``robust``); a large photo's reads and
    checks run on a copy at 4× the working size (:func:`_reading_copy`).
    """
    import cv2

    if not (0 < strength <= 10):
        raise UsageError(f"strength must be in (0, 10] (got {strength})")
    if method not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    rgb, kind = _as_rgb(image)
    net, name, device = _model(model, device)
    message = _as_message(message)
    bits = _message_bits(message, net.cfg.bits, name, key)
    cover = rgb
    previous = _read_mark(_reading_copy(rgb, net.cfg.size), _readers(model, device), [key, None], device)
    if previous is not None:
        old_message, old_key, old_net, old_name = previous
        if not force:
            raise AlreadyMarkedError(f"image already carries a wmark mark ({old_message.display()!r}); "
                                     "--force replaces it")
        old_bits = _message_bits(old_message, old_net.cfg.bits, old_name, old_key)
        cover = cv2.subtract(rgb, encoder_mark(old_net, rgb, old_bits, 1.0, device), dtype=cv2.CV_8U)
    check_jpeg = min(75, saved_quality or 100)
    heat = mask.heatmap(cover)
    if method == "auto" and check:  # unchecked, the ceiling: nothing tells a fainter mark holds
        tries = [("encoder", strength * share) for share in LADDER] + [("ismark", strength)]
    elif method == "auto":
        tries = [("encoder", strength)]
    else:
        tries = [(method, strength)]
    unit_mark = None  # the encoder's mark at strength 1: every rung of the ladder is a multiple of it
    warning = None
    for used, rung in tries:
        if used == "ismark":
            from .ismark import IsmarkOptions, mark

            fallback = IsmarkOptions(target_psnr=None) if method == "auto" else None  # the strength's budget
            marked = mark(net, cover, bits, rung, device, ismark or fallback, heat=heat)
        else:
            if unit_mark is None:
                unit_mark = masked_mark(encoder_unit(net, cover, bits, device), cover, 1.0, heat=heat)
            marked = cv2.add(unit_mark * rung, cover, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
        read = _reading_copy(marked, net.cfg.size) if check else marked
        survived = _self_check(read, net, message, bits, key, device, check_jpeg) if check else {}
        colour_checked = check and method == "auto" and used == "encoder"
        if all(survived.values()) and (not colour_checked or (  # the margin first: one pass, fails most
                (rung >= strength or _has_margin(read, net, bits, device))
                and _holds_colour_edits(read if saved_quality is None else as_saved(read, saved_quality),
                                        net, message, bits, key, device))):
            break
    else:
        if check and method == "auto":
            warning = weak_reason(cover, heat, net.cfg.size)
    out: Any = marked
    if kind == "pil":
        from PIL import Image

        out = Image.fromarray(marked, "RGB")
    scored = quality_score(rgb, marked) if score else (None, None)
    return EmbedResult(out, psnr(rgb, marked), bits, name, rung, used, survived,
                       previous[0] if previous else None, warning, *scored)


def decode_probabilities(image: Any, *, model: "str | WatermarkModel" = "default", device: str = "auto",
                         search: bool = True) -> tuple[np.ndarray, str]:
    """P(bit = 1) of every raw bit, one row per tried view (the photo as it is first, then,
    when ``search``, the :mod:`wmark.sync` grid and the despeckled photo), and the model name."""
    import torch

    from .sync import search_views

    rgb, _ = _as_rgb(image)
    net, name, device = _model(model, device)
    work = (search_views(rgb, net.cfg.size) if search else working(rgb, net.cfg.size)).to(device)
    with torch.no_grad():
        logits = net.decoder(work)
    return torch.sigmoid(logits.double()).cpu().numpy(), name


def _read_aligned(rgb: np.ndarray, net: "WatermarkModel", key: bytes | None, device: str,
                  search: bool) -> tuple[payload.Decoded, np.ndarray, int, int]:
    """(decoded, probability rows, the row it came from, alignments tried) for one model:
    the photo as it is, then the :mod:`wmark.sync` grid, most confident first. When nothing
    decodes, the row is the most confident alignment (:func:`wmark.sync.most_confident`, as
    ``wmark bench`` scores raw bits): its bits are what a reader without the message reads."""
    from .sync import confidence, most_confident

    rows, _ = decode_probabilities(rgb, model=net, device=device, search=False)
    decoded = payload.decode(rows[0], key=key)
    if decoded.found or not search:
        return decoded, rows, 0, 1
    rows, _ = decode_probabilities(rgb, model=net, device=device, search=True)
    sure = confidence(rows)
    for tried, index in enumerate(sorted(range(1, len(rows)), key=lambda i: -sure[i]), start=2):
        decoded = payload.decode(rows[index], key=key)
        if decoded.found:
            return decoded, rows, index, tried
    index = most_confident(rows)
    return payload.decode(rows[index], key=key), rows, index, len(rows)


def extract(image: Any, *, model: "str | WatermarkModel" = "default", key: bytes | None = None,
            device: str = "auto", search: bool = True) -> ExtractResult:
    """Read the message of ``image``; ``found`` is False when none decodes.

    With ``search`` the crop/zoom/rotation grid of :mod:`wmark.sync` is tried when the
    photo as it is does not decode. ``default`` reads with every packaged model, newest
    first (:func:`_readers`). The p-value counts every alignment and model tried.
    ``bits``, ``probabilities`` and ``confidence`` come from the alignment the message
    decoded at or, when none decodes (raw ``bits`` marks), from the most confident one of
    the first model (:func:`wmark.sync.most_confident`).
    """
    rgb, _ = _as_rgb(image)
    tried, first = 0, None
    for net, name in _readers(model, device):
        decoded, rows, index, count = _read_aligned(rgb, net, key, device, search)
        tried += count
        if decoded.found:
            break
        first = first or (decoded, rows, index, name)
    else:  # nothing decoded: report what the first model read
        decoded, rows, index, name = first
    cap = payload.capacity(rows.shape[1])
    if decoded.found:
        # Union bound over every codeword the decoder could have landed on, and every alignment tried.
        errors = decoded.bit_errors or 0
        p_value = min(1.0, tried * cap.codewords * binomial_tail(cap.code_bits, cap.code_bits - errors))
    else:
        p_value = 1.0
    confidence = float(np.mean(np.abs(2 * rows[index] - 1)))
    return ExtractResult(decoded.found, decoded.message, decoded.bits, rows[index], confidence,
                         p_value, decoded.corrected_symbols, name)


def verify(image: Any, message: Message | str | bytes, *, model: "str | WatermarkModel" = "default",
           fpr: float = DEFAULT_FPR, key: bytes | None = None, device: str = "auto",
           search: bool = True) -> VerifyResult:
    """Test whether ``image`` carries ``message``: a one-sided binomial test at ``fpr``
    on the best of the alignments (and, for ``default``, packaged models) tried,
    Bonferroni-corrected. For ``default``, models too small for the message are skipped
    (PayloadError when none holds it)."""
    if not (0 < fpr < 1):
        raise UsageError(f"fpr must be between 0 and 1 (got {fpr})")
    rgb, _ = _as_rgb(image)
    trials, best = 0, None
    refused: PayloadError | None = None
    for net, name in _readers(model, device):
        try:
            expected = _message_bits(message, net.cfg.bits, name, key).astype(bool)
        except PayloadError as error:  # a packaged model of fewer bits: the others may hold it
            refused = refused or error
            continue
        rows, _ = decode_probabilities(rgb, model=net, device=device, search=search)
        matching = int(np.max(np.count_nonzero((rows > 0.5) == expected, axis=1)))
        trials += len(rows)
        tail = binomial_tail(rows.shape[1], matching)
        if best is None or tail < best[0]:
            best = (tail, matching, rows.shape[1], name)
    if best is None:  # no model holds the message: the first one's error
        raise refused if refused is not None else PayloadError("no model to verify with")
    tail, matching, total, name = best
    p_value = min(1.0, trials * tail)  # Bonferroni over alignments and models
    return VerifyResult(p_value <= fpr, matching, total, p_value, fpr, name)
