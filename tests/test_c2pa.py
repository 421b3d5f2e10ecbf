"""C2PA soft binding: `wmark embed --c2pa-sign CERT KEY` and the manifest in `extract --json`.

The certificates are made here: a CA, and an end-entity certificate it issued with the
profile C2PA asks for (digitalSignature, emailProtection, not a CA).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from wmark.errors import EXIT_USAGE
from helpers import invoke, records

def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wmark tests")])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if not ca:
        builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> dict[str, Path]:
    """``chain`` (signer then CA, PEM), ``key`` (the signer's EC P-256 key), ``ca`` (the CA
    alone, a trust anchor and a self-signed certificate), ``ca_key`` and ``other_key``."""
    pytest.importorskip("c2pa")
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = tmp_path_factory.mktemp("pki")
    ca_key, key, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("wmark test CA", ca_key, None, ca_key, ca=True)
    signer = _certificate("wmark test signer", key, ca.subject, ca_key, ca=False)
    files = {"chain": b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (signer, ca)),
             "ca": ca.public_bytes(serialization.Encoding.PEM), "key": _pem(key), "ca_key": _pem(ca_key),
             "other_key": _pem(other)}
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return {name: folder / f"{name}.pem" for name in files}


@pytest.fixture
def photo(tmp_path: Path, kodak_path: Path) -> Path:
    return Path(shutil.copy(kodak_path, tmp_path / "photo.png"))


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


@pytest.mark.parametrize("ext", ["png", "jpg", "png16"])
def test_embed_signs_a_manifest_that_extract_reports(tiny_zoo, pki, photo, ext):
    from wmark.provenance import read_manifest

    source = photo
    if ext == "jpg":
        source = photo.with_suffix(".jpg")
        Image.open(photo).convert("RGB").save(source, quality=92)
    if ext == "png16":  # a 48-bit PNG stays 48-bit when signed
        import cv2

        source = photo.with_name("photo16.png")
        deep = (cv2.imread(str(photo)).astype("uint32") * 257 + 100).clip(0, 65535).astype("uint16")
        cv2.imwrite(str(source), deep)
    result = invoke("embed", source, "--msg", "hi", "--c2pa-sign", pki["chain"], pki["key"], "--json")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    output = Path(record["output"])
    assert output.suffix == f".{ext[:3]}" and output.is_file() and leftovers(output.parent) == []
    if ext == "png16":
        assert output.read_bytes()[24] == 16  # IHDR bit depth
    assert record["c2pa"]["alg"] == "com.wmark.tiny"
    assert record["c2pa"]["bits"] == record["bits"] and len(record["c2pa"]["value"]) == 16

    extracted = invoke("extract", output, "--json")
    (found,) = records(extracted)
    assert extracted.exit_code == 0 and found["found"] and found["message"] == "hi"
    manifest = found["c2pa"]
    assert manifest["soft_binding"] == record["c2pa"]
    assert manifest["validation_state"] == "Valid" and manifest["failures"] == ["signingCredential.untrusted"]
    assert manifest["signer"]["common_name"] == "wmark test signer" and manifest["signer"]["alg"] == "Es256"
    assert manifest["actions"] == ["c2pa.opened", "c2pa.watermarked"]
    assert manifest["claim_generator"].startswith("wmark ")
    # The manifest is hash-bound to the bytes: trusted with its CA, invalid once they change.
    assert read_manifest(output, trust_anchors=pki["ca"])["validation_state"] == "Trusted"
    data = bytearray(output.read_bytes())
    data[-200] ^= 0xFF  # inside the image data (the manifest comes before it)
    output.write_bytes(bytes(data))
    tampered = read_manifest(output)
    assert tampered["validation_state"] == "Invalid" and "assertion.dataHash.mismatch" in tampered["failures"]


def test_unsigned_photo_has_no_manifest_and_outputs_resume(tiny_zoo, pki, photo):
    plain = invoke("extract", photo, "--json")
    assert "c2pa" not in records(plain)[0]
    first = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", pki["chain"], pki["key"])
    assert first.exit_code == 0, first.output
    again = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", pki["chain"], pki["key"])
    assert again.exit_code == 0 and "exists, skipped" in again.stderr
    forced = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", pki["chain"], pki["key"], "--force", "--json")
    assert forced.exit_code == 0, forced.output
    (record,) = records(forced)
    assert records(invoke("extract", record["output"], "--json"))[0]["c2pa"]["soft_binding"] == record["c2pa"]
    assert leftovers(photo.parent) == []


def test_many_photos_in_threads(tiny_zoo, pki, kodak_paths, tmp_path):
    out = tmp_path / "out"
    result = invoke("embed", *kodak_paths, "--hex", "beef", "-o", out, "-j", "2", "--c2pa-sign", pki["chain"],
                    pki["key"])
    assert result.exit_code == 0, result.output
    found = records(invoke("extract", out, "--json"))
    assert len(found) == 3 and all(r["c2pa"]["validation_state"] == "Valid" for r in found)
    assert {r["c2pa"]["soft_binding"]["alg"] for r in found} == {"com.wmark.tiny"} and leftovers(out) == []


def test_signer_pickles_as_its_paths(pki):
    import pickle

    from wmark.provenance import load_signer

    signer = load_signer(pki["chain"], pki["key"])
    again = pickle.loads(pickle.dumps(signer))  # as --ray sends it to the workers
    assert (again.cert, again.key, again.alg, again.subject) == (signer.cert, signer.key, "ES256", signer.subject)


def test_sign_in_place_with_the_library(pki, photo):
    from wmark.provenance import read_manifest, sign_with_soft_binding

    sign_with_soft_binding(photo, pki["chain"], pki["key"], model="wmark-v1", payload_hex="c0ffee")
    manifest = read_manifest(photo)
    assert manifest["soft_binding"] == {"alg": "com.wmark.wmark-v1", "value": "c0ffee",
                                        "bits": "110000001111111111101110"}
    assert manifest["validation_state"] == "Valid" and leftovers(photo.parent) == []
    with Image.open(photo) as image:  # still an ordinary PNG
        assert image.size == (256, 171)


@pytest.mark.parametrize("case", ["missing key", "wrong key", "self-signed", "not pem"])
def test_bad_certificate_or_key_is_one_line_and_writes_nothing(tiny_zoo, pki, photo, tmp_path, case):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cert, key, expected = {
        "missing key": (pki["chain"], tmp_path / "nope.pem", "cannot read key"),
        "wrong key": (pki["chain"], pki["other_key"], "is not the key of certificate"),
        "self-signed": (pki["ca"], pki["ca_key"], "self-signed"),
        "not pem": (junk, pki["key"], "is not a PEM file"),
    }[case]
    result = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", cert, key)
    assert result.exit_code == EXIT_USAGE
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line
    assert not photo.with_name("photo.wm.png").exists() and leftovers(tmp_path) == []


def test_format_without_manifests_is_refused_before_writing(tiny_zoo, pki, photo):
    target = photo.with_name("out.bmp")
    result = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", pki["chain"], pki["key"], "-o", target)
    assert result.exit_code == EXIT_USAGE and "JPEG, PNG, WebP or TIFF" in result.stderr
    assert not target.exists() and leftovers(photo.parent) == []


def test_without_the_extra(tiny_zoo, photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # `import c2pa` raises ImportError
    result = invoke("embed", photo, "--msg", "hi", "--c2pa-sign", photo, photo)
    assert result.exit_code == EXIT_USAGE
    (line,) = result.stderr.strip().splitlines()
    assert "pip install 'wmark[c2pa]'" in line
    assert not photo.with_name("photo.wm.png").exists()
    extracted = invoke("extract", photo, "--json")  # reading marks needs no extra
    assert "c2pa" not in records(extracted)[0] and "found" in records(extracted)[0]
