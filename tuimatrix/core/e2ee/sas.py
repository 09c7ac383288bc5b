"""The SAS protocol's names, strings and hashes (spec "Short Authentication String (SAS)
verification"), pure: what both sides must compute alike, tested on their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

PREFIX = "m.key.verification."
REQUEST = PREFIX + "request"
READY = PREFIX + "ready"
START = PREFIX + "start"
ACCEPT = PREFIX + "accept"
KEY = PREFIX + "key"
MAC = PREFIX + "mac"
DONE = PREFIX + "done"
CANCEL = PREFIX + "cancel"

METHOD_SAS = "m.sas.v1"
KEY_AGREEMENT = "curve25519-hkdf-sha256"
HASH = "sha256"
MAC_V2 = "hkdf-hmac-sha256.v2"
MAC_V1 = "hkdf-hmac-sha256"
#: in order of preference (v1 only for old clients: its base64 is broken)
MAC_METHODS = (MAC_V2, MAC_V1)
SAS_METHODS = ("emoji", "decimal")


def canonical_json(value: Any) -> str:
    """The spec's canonical JSON (sorted keys, no spaces, UTF-8 as it stands)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def commitment(public_key: str, start_content: dict[str, Any]) -> str:
    """The accept's commitment: hash of the accepter's key and the start's canonical JSON."""
    digest = hashlib.sha256((public_key + canonical_json(start_content)).encode("utf-8"))
    return unpadded_b64(digest.digest())


def sas_info(
    starter: tuple[str, str, str], accepter: tuple[str, str, str], transaction_id: str
) -> str:
    """HKDF info for ``curve25519-hkdf-sha256``; each side is (user, device, SAS public key)."""
    return "MATRIX_KEY_VERIFICATION_SAS|" + "|".join((*starter, *accepter, transaction_id))


def mac_info(
    sender: tuple[str, str], receiver: tuple[str, str], transaction_id: str, key_id: str
) -> str:
    """HKDF info for a MAC: of ``key_id`` (or ``KEY_IDS``) sent by ``sender`` (user, device)."""
    return "MATRIX_KEY_VERIFICATION_MAC" + "".join((*sender, *receiver, transaction_id, key_id))


def calculate_mac(sas: Any, method: str, message: str, info: str) -> str:
    """A MAC with the agreed method (``hkdf-hmac-sha256`` keeps libolm's broken base64)."""
    if method == MAC_V2:
        return str(sas.calculate_mac_fixed_base64(message, info))
    return str(sas.calculate_mac(message, info))


def key_ids(mac: Iterable[str]) -> str:
    """The list of MAC'd key ids as the ``keys`` MAC covers it: sorted, comma-separated."""
    return ",".join(sorted(mac))
