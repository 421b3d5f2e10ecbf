"""C2PA provenance: a signed manifest whose soft-binding assertion records the watermark.

A C2PA manifest binds claims to a file with a hash ("hard binding"), which any re-encoding
breaks. A *soft binding* survives it: the watermark itself. :func:`write_signed` (used by
``wmark embed --c2pa-sign CERT KEY``) writes a marked photo with a manifest, signed with
``CERT``/``KEY``, that holds

- a ``c2pa.soft-binding`` assertion (C2PA 2.x): ``alg`` = ``com.wmark.<model>`` and one
  block whose ``value`` is the hex of the raw bits embedded (4 bits a digit, MSB first:
  what ``wmark extract --raw`` reads back), so a stripped copy can still be matched to it;
- a ``c2pa.actions`` assertion: ``c2pa.opened`` (the input photo, as the parent
  ingredient; its own manifest, if any, is kept inside it) then ``c2pa.watermarked``.

:func:`read_manifest` gives the active manifest of a file: its soft binding, signer and
validation state. JPEG, PNG, WebP and TIFF hold a manifest; BMP does not.

Needs the ``c2pa`` extra (``pip install 'wmark[c2pa]'``: c2pa-python and cryptography),
imported on first use. The certificate must suit C2PA: an end-entity certificate (not a
CA, not self-signed) with the digitalSignature key usage and an extended key usage such
as emailProtection or documentSigning, followed in the PEM file by its issuing CA(s).
Keys: EC P-256/384/521 (ES256/384/512), RSA (PS256) or Ed25519, unencrypted PEM.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError, OutputError, UsageError

INSTALL_HINT = "pip install 'wmark[c2pa]'"
SOFT_BINDING = "c2pa.soft-binding"
ALG_PREFIX = "com.wmark."
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
              ".tif": "image/tiff", ".tiff": "image/tiff"}
"""Output formats that hold a C2PA manifest, by extension."""
_INGREDIENT_TYPES = {**MIME_TYPES, ".gif": "image/gif"}  # parents c2pa can read; others are named only
_OTHER_TYPES = {".bmp": "image/bmp"}


def _c2pa() -> Any:
    """The c2pa module; UsageError naming the extra when it is not installed."""
    try:
        import c2pa
    except ImportError:
        raise UsageError(f"C2PA needs the c2pa extra: {INSTALL_HINT}") from None
    return c2pa


def available() -> bool:
    """Whether the c2pa extra is installed (reading manifests is possible)."""
    try:
        _c2pa()
    except UsageError:
        return False
    return True


# --------------------------------------------------------------------------- the soft binding


@dataclass(frozen=True)
class SoftBinding:
    """What the ``c2pa.soft-binding`` assertion records: the algorithm and the embedded bits (hex)."""

    alg: str
    value: str

    @classmethod
    def for_watermark(cls, model: str, bits: Iterable[int] | str) -> SoftBinding:
        """The binding of a mark made by ``model`` with these raw bits (0/1, any length)."""
        text = "".join(str(int(bit)) for bit in bits)
        if not text or set(text) - {"0", "1"}:
            raise UsageError(f"a soft binding needs raw bits (0 and 1), got {text!r}")
        text += "0" * (-len(text) % 4)
        return cls(ALG_PREFIX + model, f"{int(text, 2):0{len(text) // 4}x}")

    @classmethod
    def from_hex(cls, model: str, payload_hex: str) -> SoftBinding:
        """The binding of ``model`` with the embedded bits given as hex digits."""
        digits = payload_hex.strip().lower().removeprefix("0x")
        if not digits or set(digits) - set("0123456789abcdef"):
            raise UsageError(f"a soft binding needs hex digits, got {payload_hex!r}")
        return cls(ALG_PREFIX + model, digits)

    @property
    def bits(self) -> str:
        """The value as a bit string (4 bits a hex digit)."""
        return "".join(f"{int(digit, 16):04b}" for digit in self.value)

    def assertion(self) -> dict[str, Any]:
        """The assertion as the c2pa Builder takes it (C2PA 2.x soft-binding-map)."""
        return {"label": SOFT_BINDING, "data": {"alg": self.alg, "blocks": [{"scope": {}, "value": self.value}]}}

    def to_dict(self) -> dict[str, Any]:
        return {"alg": self.alg, "value": self.value, "bits": self.bits}


# --------------------------------------------------------------------------- signing


def signable_mime(path: str | os.PathLike[str]) -> str:
    """MIME type of a manifest-holding output; UsageError for a format that cannot hold one."""
    suffix = Path(path).suffix.lower()
    if suffix not in MIME_TYPES:
        raise UsageError(f"cannot sign {Path(path).name}: a C2PA manifest fits a JPEG, PNG, WebP or TIFF "
                         "output, not this format")
    return MIME_TYPES[suffix]


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise UsageError(f"{what} {path} is not a PEM file")
    return data


class ManifestSigner:
    """A certificate chain and its private key, checked and ready to sign manifests.

    Made by :func:`load_signer`; one signer serves many files (and threads). It pickles
    as its two (absolute) paths, loaded again where it is unpickled (a Ray worker).
    """

    def __init__(self, signer: Any, alg: str, cert: Path, key: Path, subject: str) -> None:
        self._signer = signer
        self._lock = threading.Lock()
        self.alg = alg
        self.cert = cert
        self.key = key
        self.subject = subject

    def __reduce__(self) -> tuple[Any, tuple[Path, Path]]:
        return load_signer, (self.cert, self.key)

    def sign(self, source: str | os.PathLike[str], destination: str | os.PathLike[str], binding: SoftBinding, *,
             parent: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
        """Write ``source`` with a signed manifest to ``destination``, atomically.

        ``parent`` is the photo the mark was made on (the manifest's parent ingredient);
        without it, ``source`` itself is. ``destination`` may be ``source`` (signing in
        place, which needs ``force``); otherwise an existing one needs ``force``
        (OutputExistsError). The signed file is complete and synced before it takes
        the name; nothing is left behind on failure.
        """
        from .safefile import atomic_file

        c2pa = _c2pa()
        source, destination = Path(source), Path(destination)
        mime = signable_mime(destination)
        builder = self._builder(binding, parent)
        try:
            with atomic_file(destination, force) as signed, open(source, "rb") as stream:
                with self._lock:
                    builder.sign(self._signer, mime, stream, signed)
        except c2pa.C2paError as error:
            raise OutputError(f"cannot sign {destination}: {_reason(error)}") from None
        return destination

    def _builder(self, binding: SoftBinding, parent: str | os.PathLike[str] | None) -> Any:
        from . import __version__

        c2pa = _c2pa()
        definition: dict[str, Any] = {
            "claim_generator_info": [{"name": "wmark", "version": __version__}],
            "assertions": [binding.assertion()],
        }
        parent_path = Path(parent) if parent is not None else None
        parent_mime = None if parent_path is None else _INGREDIENT_TYPES.get(parent_path.suffix.lower())
        if parent_path is not None and parent_mime is None:  # a format c2pa cannot read: named, not hashed
            mime = _OTHER_TYPES.get(parent_path.suffix.lower(), "application/octet-stream")
            definition["ingredients"] = [{"title": parent_path.name, "format": mime, "relationship": "parentOf"}]
        try:
            builder = c2pa.Builder(definition)
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)  # c2pa.opened of the parent first
            if parent_path is not None and parent_mime is not None:
                with open(parent_path, "rb") as stream:
                    builder.add_ingredient({"title": parent_path.name, "relationship": "parentOf"}, parent_mime,
                                           stream)
            builder.add_action({"action": "c2pa.watermarked", "softwareAgent": {"name": "wmark",
                                                                               "version": __version__}})
        except OSError as error:
            raise UsageError(f"cannot read {parent_path}: {error.strerror or error}") from None
        except c2pa.C2paError as error:
            raise UsageError(f"cannot make a C2PA manifest: {_reason(error)}") from None
        return builder


def load_signer(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ManifestSigner:
    """A :class:`ManifestSigner` for a PEM certificate chain and its PEM private key.

    Everything is checked here, before any file is written, by signing a small test
    image: unreadable files, a key that is not the certificate's, a certificate C2PA
    refuses (self-signed, a CA, no suitable key usage). UsageError, one line, otherwise.
    """
    c2pa = _c2pa()
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    cert, key = Path(os.path.abspath(cert)), Path(os.path.abspath(key))
    cert_pem, key_pem = _read_pem(cert, "certificate"), _read_pem(key, "key")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise UsageError(f"certificate {cert} holds no readable PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise UsageError(f"key {key} is encrypted: wmark needs an unencrypted PEM key") from None
    except Exception as error:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise UsageError(f"key {key} is not a readable PEM private key ({_first_line(error)})") from None
    if isinstance(private, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        alg = algs.get(private.curve.name)
        if alg is None:
            raise UsageError(f"key {key}: curve {private.curve.name} is not one C2PA signs with (P-256/384/521)")
    elif isinstance(private, rsa.RSAPrivateKey):
        alg = "ps256"
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    else:
        raise UsageError(f"key {key}: {type(private).__name__} keys cannot sign C2PA manifests (EC, RSA or Ed25519)")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (chain[0].public_key().public_bytes(serialization.Encoding.DER, public)
            != private.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise UsageError(f"key {key} is not the key of certificate {cert} (the first one in the file)")
    pkcs8 = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, cert_pem, pkcs8, None))
    except c2pa.C2paError as error:
        raise UsageError(f"cannot sign with {cert}: {_reason(error)}") from None
    result = ManifestSigner(signer, alg.upper(), cert, key, chain[0].subject.rfc4514_string())
    _dry_run(result, cert)
    return result


def _dry_run(signer: ManifestSigner, cert: Path) -> None:
    """Sign a small in-memory PNG: C2PA checks the certificate profile only when signing."""
    import numpy as np
    from PIL import Image

    c2pa = _c2pa()
    png = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(png, format="PNG")
    png.seek(0)
    builder = signer._builder(SoftBinding.for_watermark("test", "0000"), None)
    try:
        with signer._lock:
            builder.sign(signer._signer, "image/png", png, io.BytesIO())
    except c2pa.C2paError as error:
        raise UsageError(f"cannot sign C2PA manifests with {cert}: {_reason(error)} (C2PA wants an end-entity "
                         "certificate with digitalSignature and e.g. emailProtection usage, then its CA)") from None


def write_signed(destination: str | os.PathLike[str], write: Callable[[Path], object], signer: ManifestSigner,
                 binding: SoftBinding, *, parent: str | os.PathLike[str] | None = None,
                 force: bool = False) -> Path:
    """Write an image with ``write(path)`` to a hidden file beside ``destination``, then
    publish it signed (:meth:`ManifestSigner.sign`) under ``destination``.

    So the output appears once, complete and signed; an unsigned copy never takes its
    name, even when interrupted (a resumed batch would skip it). The hidden file keeps
    ``destination``'s extension, so that ``write`` picks the same format, and is removed.
    """
    from .safefile import hidden_prefix

    destination = Path(destination)
    signable_mime(destination)
    try:
        handle, staged = tempfile.mkstemp(prefix=hidden_prefix(destination),
                                          suffix=".unsigned" + destination.suffix, dir=destination.parent)
    except OSError as error:
        raise OutputError(f"cannot write {destination}: {error.strerror or error}") from None
    os.close(handle)
    try:
        write(Path(staged))
        return signer.sign(staged, destination, binding, parent=parent, force=force)
    finally:
        try:
            os.unlink(staged)
        except OSError:
            pass


def sign_with_soft_binding(path: str | os.PathLike[str], cert: str | os.PathLike[str],
                           key: str | os.PathLike[str], *, model: str, payload_hex: str,
                           parent: str | os.PathLike[str] | None = None) -> Path:
    """Sign the marked photo ``path`` in place: a manifest recording the mark of ``model``
    whose embedded bits are ``payload_hex`` (``parent``: the unmarked photo, if known)."""
    binding = SoftBinding.from_hex(model, payload_hex)
    signable_mime(path)
    return load_signer(cert, key).sign(path, path, binding, parent=parent, force=True)


# --------------------------------------------------------------------------- reading


def read_manifest(path: str | os.PathLike[str], *,
                  trust_anchors: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The active C2PA manifest of ``path`` in brief; None when it has none.

    ``{"label", "claim_generator", "signer": {"common_name", "issuer", "alg", "time"},
    "soft_binding": {"alg", "value", "bits"} | None, "actions", "validation_state",
    "failures"}``. ``validation_state`` is ``Invalid`` (a check failed, e.g. the pixels
    changed after signing), ``Valid`` (intact, signer not known to be trusted) or
    ``Trusted`` (the chain ends at one of ``trust_anchors``, a PEM file of CA
    certificates); ``failures`` lists the failed checks' codes (an untrusted signer is
    one). A manifest c2pa cannot parse gives ``{"error": ...}``.
    """
    c2pa = _c2pa()
    path = Path(path)
    context = None
    if trust_anchors is not None:
        anchors = _read_pem(Path(trust_anchors), "trust anchors").decode("ascii", "replace")
        context = c2pa.Context.from_dict({"trust": {"trust_anchors": anchors}})
    try:
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(_INGREDIENT_TYPES.get(path.suffix.lower(), ""), stream, None,
                                            context=context)
            if reader is None:
                return None
            with reader:
                manifest = reader.get_active_manifest() or {}
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    except c2pa.C2paError as error:
        if type(error).__name__.endswith("NotSupported"):  # a format that holds no manifest (BMP, ...)
            return None
        return {"error": _reason(error)}
    return _summary(manifest, state, results)


def _summary(manifest: dict[str, Any], state: str | None, results: dict[str, Any]) -> dict[str, Any]:
    binding = None
    actions: list[str] = []
    for assertion in manifest.get("assertions", []):
        label = str(assertion.get("label", "")).split("__")[0]
        data = assertion.get("data") or {}
        if label == SOFT_BINDING and binding is None:
            blocks = data.get("blocks") or [{}]
            value = str(blocks[0].get("value", ""))
            try:
                binding = SoftBinding(str(data.get("alg", "")), value).to_dict()
            except ValueError:  # not hex: another algorithm's value
                binding = {"alg": data.get("alg"), "value": value, "bits": None}
        elif label.startswith("c2pa.actions"):
            actions += [str(action.get("action")) for action in data.get("actions", [])]
    info = manifest.get("signature_info") or {}
    generator = (manifest.get("claim_generator_info") or [{}])[0]
    active = results.get("activeManifest") or {}
    return {
        "label": manifest.get("label"),
        "claim_generator": " ".join(str(generator[k]) for k in ("name", "version") if generator.get(k)) or None,
        "signer": {"common_name": info.get("common_name"), "issuer": info.get("issuer"), "alg": info.get("alg"),
                   "time": info.get("time")},
        "soft_binding": binding,
        "actions": actions,
        "validation_state": state,
        "failures": [item.get("code") for item in active.get("failure", [])],
    }


def _reason(error: BaseException) -> str:
    """c2pa's message on one line, without its ``Kind:`` prefix."""
    text = " ".join(str(error).split())
    head, _, rest = text.partition(": ")
    return rest if rest and head.isalpha() else text or type(error).__name__


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
