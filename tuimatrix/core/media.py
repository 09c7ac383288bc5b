"""Media messages (spec "Content repository", "m.image"/"m.file"/"m.audio"/"m.video").

What a media message holds (name, size, where the bytes are), how it is shown as one line, and
saving it under a name that no event can steer: the sender picks ``body``/``filename``, so
nothing of it is trusted as a path, and an existing file is never overwritten.
"""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rich.text import Text
from yarl import URL

from tuimatrix.core.errors import UserError
from tuimatrix.core.sanitize import clean_line

if TYPE_CHECKING:
    from tuimatrix.core.account import Account

MEDIA_TYPES: Final = ("m.image", "m.file", "m.audio", "m.video")
#: the longest file name we write, in UTF-8 bytes (most file systems allow 255)
MAX_NAME_BYTES: Final = 200
#: the largest download accepted, so a hostile server cannot fill memory
MAX_DOWNLOAD: Final = 512 * 1024 * 1024
FALLBACK_NAME: Final = "download"
#: the picture formats Pillow may read from the network: EPS (and so Ghostscript) and the
#: many rarely used decoders stay out of reach of a hostile file
IMAGE_FORMATS: Final = ("PNG", "JPEG", "GIF", "WEBP")
#: spec grammar: server name (host[:port], IPv6 in brackets) and an opaque media id. A host
#: needs a letter or digit: "." and ".." would make the request path climb.
_MXC_RE: Final = re.compile(
    r"mxc://((?:[A-Za-z0-9.\-]*[A-Za-z0-9][A-Za-z0-9.\-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?)"
    r"/([A-Za-z0-9_\-]+)"
)
# Path separators of every platform, and characters Windows or shells treat specially.
_UNSAFE_CHARS: Final = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')


class MediaTooLarge(UserError):
    """More bytes than the caller accepts: the download stopped there."""


@dataclass(frozen=True, slots=True)
class Media:
    """The downloadable part of a media message."""

    msgtype: str
    #: the file name to show and to save under (untrusted: sanitised before either)
    name: str
    size: int | None
    mimetype: str
    #: ``mxc://`` of an unencrypted file, else of the ciphertext in ``file``
    url: str
    #: the EncryptedFile (key, iv, hashes) of a file sent in an encrypted room
    file: Mapping[str, Any] | None = None
    thumbnail_url: str | None = None
    thumbnail_file: Mapping[str, Any] | None = None
    #: the image's size in pixels, when the sender said
    width: int | None = None
    height: int | None = None

    @property
    def encrypted(self) -> bool:
        return self.file is not None


def media_of(content: Mapping[str, Any]) -> Media | None:
    """The media of a message's content, or None when it is not a (well-formed) media message."""
    msgtype = content.get("msgtype")
    if msgtype not in MEDIA_TYPES:
        return None
    file = content.get("file")
    file = file if isinstance(file, dict) else None
    url = (file or content).get("url")
    if not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    info = content.get("info")
    info = info if isinstance(info, dict) else {}
    size = info.get("size")
    filename = content.get("filename")
    body = content.get("body")
    # Since spec 1.10 ``body`` may be a caption when ``filename`` is given.
    name = filename if isinstance(filename, str) and filename else body
    thumb_file = info.get("thumbnail_file")
    thumb_file = thumb_file if isinstance(thumb_file, dict) else None
    thumb_url = (thumb_file or info).get("thumbnail_url")
    mimetype = info.get("mimetype")
    return Media(
        msgtype=str(msgtype),
        name=name if isinstance(name, str) else "",
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        mimetype=mimetype if isinstance(mimetype, str) else "",
        url=url,
        file=file,
        thumbnail_url=thumb_url if isinstance(thumb_url, str) else None,
        thumbnail_file=thumb_file,
        width=_dimension(info.get("w")),
        height=_dimension(info.get("h")),
    )


def _dimension(value: object) -> int | None:
    """A width or height from ``info``: a positive int of sane size, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1_000_000:
        return value
    return None


def human_size(size: int) -> str:
    """``1536`` → ``"1.5 KB"`` (binary multiples, one decimal above bytes)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def media_line(content: Mapping[str, Any], caption: Text) -> Text:
    """``[image] cat.png (1.2 MB)``, with a caption after it when ``body`` is one."""
    media = media_of(content)
    kind = str(content.get("msgtype", "m.file"))[2:]
    if media is None:
        return Text(f"[{kind}] ", style="dim") + caption
    text = Text(f"[{kind}] ", style="dim")
    text.append(clean_line(media.name) or "(no name)", "bold")
    if media.size is not None:
        text.append(f" ({human_size(media.size)})", "dim")
    body = content.get("body")
    if isinstance(body, str) and body and body != media.name:
        text.append("  ")
        text.append_text(caption)
    return text


# -- saving ----------------------------------------------------------------------------------


def safe_filename(name: str, fallback: str = FALLBACK_NAME) -> str:
    """A file name from ``name`` that cannot leave the directory it is written to.

    Only the last path component survives (either separator); control, bidi and format
    characters and characters special on some file systems go; no leading dots (no hidden
    files, no ``..``); at most :data:`MAX_NAME_BYTES` UTF-8 bytes, the extension kept.
    """
    # Escape sequences go whole (their parameters would otherwise stay behind as text).
    name = clean_line(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    # Cc (controls) and Cf (bidi overrides, zero-width marks) are invisible or deceptive.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = " ".join(name.split())  # unicode spaces and runs of them: one plain space
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 16:
        stem, ext = name, ""
    else:
        ext = "." + ext
    budget = MAX_NAME_BYTES - len(ext.encode())
    stem = stem.encode()[:budget].decode("utf-8", "ignore").rstrip(". ") or fallback
    return stem + ext


#: extensions handed to the system opener without asking, each with the MIME types (a family
#: when it ends in "/") the sender must also have declared. The opener picks the program by
#: extension, and many run code: .desktop, .jar, .command, .html and .svg (file:// access)…
_OPENS_UNASKED: Final[Mapping[str, tuple[str, ...]]] = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".webp"), ("image/",)),
    **dict.fromkeys((".mp3", ".oga", ".opus", ".flac", ".wav", ".m4a"), ("audio/",)),
    **dict.fromkeys((".mp4", ".webm", ".mkv", ".mov", ".ogv"), ("video/",)),
    ".ogg": ("audio/", "video/"),
    ".pdf": ("application/pdf",),
    ".txt": ("text/plain",),
}


def opens_unasked(filename: str, mimetype: str) -> bool:
    """Whether a saved file may go to the system opener without the user confirming: a plain
    media or document extension that agrees with the declared MIME type."""
    accepted = _OPENS_UNASKED.get(Path(filename).suffix.lower())
    declared = mimetype.split(";", 1)[0].strip().lower()
    if accepted is None or not declared:
        return False
    return any(declared.startswith(a) if a.endswith("/") else declared == a for a in accepted)


def create_unique(directory: Path, name: str) -> tuple[int, Path]:
    """Create a new file ``name`` in ``directory`` — or ``name (1)``, ``name (2)``… — and open it.

    ``O_EXCL`` makes creation and the existence check one step, so neither a file that already
    exists nor a symlink planted under that name is ever written through.
    """
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    else:
        ext = "." + ext
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for n in range(10_000):
        candidate = directory / (name if n == 0 else f"{stem} ({n}){ext}")
        try:
            return os.open(candidate, flags, 0o600), candidate
        except FileExistsError:
            continue
    raise UserError(f"too many files named {name} in {directory}")


def write_new_file(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new file in ``directory`` (made if missing); returns its path.

    The file is private (0600: a download may be anything) and fsynced; a failure removes
    the partial file.
    """
    directory = directory.expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    fd, path = create_unique(directory, safe_filename(name))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


# -- downloading -----------------------------------------------------------------------------


def parse_mxc(url: str) -> tuple[str, str]:
    """``mxc://server/id`` → (server, id); anything else (``..``, extra path) is refused."""
    m = _MXC_RE.fullmatch(url)
    if m is None:
        raise UserError(f"not a valid media address: {clean_line(url)[:100]}")
    return m.group(1), m.group(2)


async def _get(
    account: Account, path: str, params: Mapping[str, str], max_bytes: int
) -> tuple[int, bytes]:
    api = account.client.api
    # ``path`` holds only characters parse_mxc allowed: no encoding or normalising needed.
    url = URL(str(api.base_url).rstrip("/") + path, encoded=True)
    headers = {"Authorization": f"Bearer {api.token}"}
    async with account.http.get(url, params=dict(params), headers=headers) as resp:
        declared = resp.content_length
        if declared is not None and declared > max_bytes:
            raise MediaTooLarge(f"the file is too large to download ({human_size(declared)})")
        # Counted as it arrives: the declared length may be absent or a lie.
        chunks, total = [], 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            total += len(chunk)
            if total > max_bytes:
                raise MediaTooLarge("the file is too large to download")
            chunks.append(chunk)
        return resp.status, b"".join(chunks)


def _unrecognised(status: int, body: bytes) -> bool:
    """The server has no authenticated media endpoint (spec: 404 ``M_UNRECOGNIZED``)."""
    return status in (404, 405) or (status == 400 and b"M_UNRECOGNIZED" in body[:500])


def _error(status: int, body: bytes) -> UserError:
    import orjson

    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errcode"), str):
        message = parsed.get("error")
        return UserError(
            clean_line(f"cannot download: {parsed['errcode']}: {message}")[:300]
            if isinstance(message, str)
            else clean_line(f"cannot download: {parsed['errcode']}")[:300]
        )
    return UserError(f"cannot download: HTTP {status}")


async def fetch_mxc(
    account: Account,
    url: str,
    *,
    thumbnail: tuple[int, int] | None = None,
    max_bytes: int = MAX_DOWNLOAD,
) -> bytes:
    """The bytes at ``url``: the authenticated media API, then the legacy one if the server
    does not have it (servers before spec 1.11). More than ``max_bytes``: MediaTooLarge."""
    server, media_id = parse_mxc(url)
    kind = "thumbnail" if thumbnail else "download"
    params = {"allow_redirect": "true"}
    if thumbnail:
        params |= {"width": str(thumbnail[0]), "height": str(thumbnail[1]), "method": "scale"}
    status, body = await _get(
        account, f"/_matrix/client/v1/media/{kind}/{server}/{media_id}", params, max_bytes
    )
    if _unrecognised(status, body):
        status, body = await _get(
            account, f"/_matrix/media/v3/{kind}/{server}/{media_id}", params, max_bytes
        )
    if status != 200:
        raise _error(status, body)
    return body


def decrypt(data: bytes, file: Mapping[str, Any]) -> bytes:
    """Decrypt an attachment with its EncryptedFile (key, iv, SHA-256 of the ciphertext)."""
    from mautrix.crypto.attachments import decrypt_attachment
    from mautrix.errors import DecryptionError

    key = file.get("key")
    hashes = file.get("hashes")
    iv = file.get("iv")
    k = key.get("k") if isinstance(key, dict) else None
    sha = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not (isinstance(k, str) and isinstance(sha, str) and isinstance(iv, str)):
        raise UserError("the encrypted file has no usable key")
    try:
        return decrypt_attachment(data, k, sha, iv)
    except DecryptionError as e:
        raise UserError(f"cannot decrypt the file: {e}") from None


async def download(account: Account, media: Media, max_bytes: int = MAX_DOWNLOAD) -> bytes:
    """The media's plain bytes (decrypted when it was sent encrypted)."""
    data = await fetch_mxc(account, media.url, max_bytes=max_bytes)
    if media.file is not None:
        data = await asyncio.to_thread(decrypt, data, media.file)
    return data


async def thumbnail(
    account: Account,
    media: Media,
    width: int,
    height: int,
    *,
    max_bytes: int = MAX_DOWNLOAD,
    whole_fallback: bool = True,
) -> bytes:
    """A small version of an image: its own thumbnail, the server's, or the image itself.

    At most ``max_bytes`` are fetched. Without ``whole_fallback`` (images nobody asked for)
    the whole image is not downloaded when the server has no thumbnail of it.
    """
    if media.thumbnail_file is not None and media.thumbnail_url:
        data = await fetch_mxc(account, media.thumbnail_url, max_bytes=max_bytes)
        return await asyncio.to_thread(decrypt, data, media.thumbnail_file)
    if media.file is not None:
        return await download(account, media, max_bytes)  # the server cannot scale ciphertext
    try:
        return await fetch_mxc(account, media.url, thumbnail=(width, height), max_bytes=max_bytes)
    except MediaTooLarge:
        raise
    except UserError:
        if not whole_fallback:
            raise
        return await download(account, media, max_bytes)  # a type the server cannot thumbnail


async def save(account: Account, media: Media, directory: Path) -> Path:
    """Download ``media`` into ``directory`` under a safe, new name; returns the path."""
    data = await download(account, media)
    fallback = media.msgtype[2:] if media.msgtype.startswith("m.") else FALLBACK_NAME
    name = safe_filename(media.name, fallback)
    return await asyncio.to_thread(write_new_file, directory, name, data)
