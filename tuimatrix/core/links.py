"""The links of a message: ``<a href>`` in its HTML and bare URLs in its plain body.

Only web pages, mail addresses and matrix.to links are offered for opening; a link is shown
and opened in one printable-ASCII form (:func:`safe_link`), so a look-alike host made of
other scripts shows as percent escapes and no control character reaches the terminal or the
opener.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from tuimatrix.core.sanitize import MAX_HTML_LEN, _normalise, clean_text, strip_reply_fallback

#: schemes a link may have to be opened (matrix.to links are https)
SCHEMES: Final = frozenset({"http", "https", "mailto"})
MAX_LINKS: Final = 50
MAX_URL: Final = 2048
# RFC 3986 reserved and unreserved characters stay; everything else is percent-encoded.
_URL_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"
_BARE_URL_RE: Final = re.compile(r"(?:https?://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING: Final = ".,;:!?'\""
#: what a mailto link may fill in (RFC 6068 "hfields" that only write the mail)
_MAILTO_FIELDS: Final = frozenset({"subject", "body", "cc", "bcc"})


def safe_link(url: str) -> str | None:
    """``url`` as printable ASCII if its scheme is allowed and it has a target; else None."""
    url = clean_text(url).strip()
    if not url or len(url) > MAX_URL:
        return None
    # Whitespace inside a URL is not part of it; a browser would drop it too.
    url = "".join(url.split())
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    if scheme == "mailto":
        if not parts.path:
            return None
        url = _mailto(parts)
    return quote(url, safe=_URL_SAFE)


def _mailto(parts: SplitResult) -> str:
    """A mailto link with only the fields that fill in a mail: some mail programs take others
    (``attach=~/.ssh/id_rsa``) as files to send along."""
    kept = [
        field
        for field in parts.query.split("&")
        if unquote(field.partition("=")[0]).strip().lower() in _MAILTO_FIELDS
    ]
    return urlunsplit(parts._replace(query="&".join(kept), fragment=""))


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self._drop = 0  # inside <mx-reply>: the quoted message's links are not this one's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self._drop += 1
        elif tag == "a" and not self._drop:
            href = next((v for k, v in attrs if k == "href"), None)
            if href:
                self.hrefs.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply" and self._drop:
            self._drop -= 1


def _trim(url: str) -> str:
    """A bare URL without the punctuation that ends its sentence; a ")" only if unbalanced."""
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


def message_links(content: Mapping[str, Any]) -> list[str]:
    """The openable links of a message's content, in order, each once, already safe."""
    found: list[str] = []
    formatted = content.get("formatted_body")
    if (
        content.get("format") == "org.matrix.custom.html"
        and isinstance(formatted, str)
        and len(formatted) <= MAX_HTML_LEN
    ):
        parser = _Hrefs()
        try:
            parser.feed(_normalise(clean_text(formatted)))
            parser.close()
        except Exception:
            pass  # what was found before the error still counts
        found.extend(parser.hrefs)
    body = content.get("body")
    if isinstance(body, str):
        relates = content.get("m.relates_to")
        if isinstance(relates, dict) and "m.in_reply_to" in relates:
            body = strip_reply_fallback(body)
        found.extend(_trim(m.group()) for m in _BARE_URL_RE.finditer(body[:MAX_HTML_LEN]))
    links: list[str] = []
    for url in found:
        safe = safe_link(url)
        if safe is not None and safe not in links:
            links.append(safe)
            if len(links) >= MAX_LINKS:
                break
    return links
