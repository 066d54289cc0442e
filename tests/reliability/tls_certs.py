"""A throw-away certificate authority with server and client certificates, made with ``cryptography``.

The TLS tests need a CA, a server certificate valid for 127.0.0.1 and
localhost, a client certificate from the same CA, and a second, unrelated
CA to prove that trust is checked. Keys are EC P-256; everything is valid
for one day and written as PEM files under the given folder.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str
    other_client_cert: str
    other_client_key: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, *, ca=False, usage=None, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder, name, cert=None, key=None) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        else:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return path


def _authority(folder, label):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(f"tfrec test CA {label}", key, _name(f"tfrec test CA {label}"), key, ca=True)
    return cert, key, _write(folder, f"{label}-ca.pem", cert=cert)


def _leaf(folder, label, subject, ca_cert, ca_key, usage, sans=()):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(subject, key, ca_cert.subject, ca_key, usage=usage, sans=sans)
    return _write(folder, f"{label}.pem", cert=cert), _write(folder, f"{label}.key", key=key)


def make_pki(folder: str) -> Pki:
    ca_cert, ca_key, ca = _authority(folder, "main")
    server_cert, server_key = _leaf(folder, "server", "localhost", ca_cert, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                                    sans=[x509.DNSName("localhost"),
                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client_cert, client_key = _leaf(folder, "client", "tfrec client", ca_cert, ca_key,
                                    ExtendedKeyUsageOID.CLIENT_AUTH)
    other_cert, other_key, other = _authority(folder, "other")
    other_client_cert, other_client_key = _leaf(folder, "other-client", "stranger", other_cert, other_key,
                                                ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca, server_cert, server_key, client_cert, client_key, other, other_client_cert, other_client_key)
