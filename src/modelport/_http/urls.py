"""URL helpers: validation of base URLs, Ollama's ``OLLAMA_HOST`` rules, loopback tests.

All pure; specified by the doctest tables below.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..errors import ConfigurationError

__all__ = [
    "basic_auth_forms",
    "connectable_host",
    "normalize_base_url",
    "parse_ollama_host",
    "shown_url",
    "url_credentials",
]

_UNSPECIFIED = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "[::1]"}


def normalize_base_url(url: str, *, what: str = "base URL") -> str:
    """Validate a server URL and return it without a trailing slash.

    Only ``http`` and ``https`` are accepted; anything else raises
    :class:`~modelport.errors.ConfigurationError`. A URL without a scheme gets
    ``http://``. Bind-all addresses are rewritten to loopback.

    >>> normalize_base_url("http://127.0.0.1:11434/")
    'http://127.0.0.1:11434'
    >>> normalize_base_url("localhost:8080")
    'http://localhost:8080'
    >>> normalize_base_url("https://example.com/ollama/")
    'https://example.com/ollama'
    >>> normalize_base_url("http://0.0.0.0:1234")
    'http://127.0.0.1:1234'
    >>> normalize_base_url("http://user:pw@127.0.0.1:8080")  # credentials: url_credentials()
    'http://127.0.0.1:8080'
    >>> normalize_base_url("ftp://example.com")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.ConfigurationError: Invalid base URL 'ftp://example.com': the scheme must be...
    >>> normalize_base_url("http://u:s3cret@127.0.0.1:abc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modelport.errors.ConfigurationError: Invalid base URL 'http://u:***@127.0.0.1:abc': ...
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            f"Invalid {what} {url!r:.80}: expected a URL like http://127.0.0.1:11434."
        )
    text = url.strip()
    shown = shown_url(text)
    if any(char <= " " or char == "\x7f" for char in text):
        raise ConfigurationError(
            f"Invalid {what} {shown!r}: it has a space or a control character.",
            hint="Use a URL like http://127.0.0.1:11434.",
        )
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"Invalid {what} {shown!r}: {shown_url(str(exc))}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigurationError(
            f"Invalid {what} {shown!r}: the scheme must be http or https.",
            hint="Use a URL like http://127.0.0.1:11434.",
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"Invalid {what} {shown!r}: it has no host.")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"Invalid {what} {shown!r}: a base URL has no query or fragment.")
    if port == 0:
        raise ConfigurationError(f"Invalid {what} {shown!r}: port 0 is not a port to connect to.")
    _check_host(host, what, shown)
    host = connectable_host(host)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{netloc}{path}"


def _check_host(host: str, what: str, shown: str) -> None:
    """A host a connection can be made to: a valid IP address, or a name."""
    if host.replace(".", "").isdigit() or ":" in host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigurationError(
                f"Invalid {what} {shown!r}: {host!r} is not a valid IP address."
            ) from None
        return
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-._~%")
    if not all(char in allowed or ord(char) > 127 for char in host.lower()):
        raise ConfigurationError(f"Invalid {what} {shown!r}: {host!r} is not a valid host name.")


def shown_url(url: str) -> str:
    """A URL with any password in it masked, for messages.

    >>> shown_url("http://user:s3cret@host:1/x"), shown_url("http://host:1")
    ('http://user:***@host:1/x', 'http://host:1')
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    userinfo, _, hostport = authority.rpartition("@")
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return f"{scheme}{sep}{masked}{slash}{path}"


def url_credentials(url: str) -> tuple[str, str] | None:
    """The ``user:password`` in a URL, to send as HTTP Basic auth (``None`` if none).

    >>> url_credentials("http://me:p%40ss@host:1"), url_credentials("http://host")
    (('me', 'p@ss'), None)
    """
    from urllib.parse import unquote

    text = url.strip()
    try:
        parts = urlsplit(text if "://" in text else "http://" + text)
    except ValueError:
        return None
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def basic_auth_forms(user: str, password: str) -> list[str]:
    """Every form in which ``user:password`` sent as HTTP Basic auth may come back in a
    server's text: the password, and the base64 token with and without its padding
    (as httpx encodes it: UTF-8).

    >>> basic_auth_forms("alice", "s3cret")
    ['s3cret', 'YWxpY2U6czNjcmV0', 'YWxpY2U6czNjcmV0']
    """
    from base64 import b64encode

    token = b64encode(f"{user}:{password}".encode()).decode()
    return [password, token, token.rstrip("=")]


def connectable_host(host: str) -> str:
    """Map a bind-all address to the loopback address a client can connect to.

    >>> connectable_host("0.0.0.0"), connectable_host("::"), connectable_host("10.0.0.2")
    ('127.0.0.1', '::1', '10.0.0.2')
    """
    return _UNSPECIFIED.get(host, host)


def parse_ollama_host(value: str | None, default_port: int = 11434) -> str:
    """Parse ``OLLAMA_HOST`` the way Ollama does, for connecting to it.

    Quotes and spaces are stripped; a bare host gets port 11434; a scheme without a
    port gets that scheme's default port; a path prefix is kept; IPv6 is bracketed;
    the bind addresses ``0.0.0.0`` and ``::`` mean loopback (unlike ollama-python,
    which tries to connect to ``0.0.0.0``).

    >>> table = [
    ...     "", "1.2.3.4", ":1234", "example.com:1234", "0.0.0.0", "http://1.2.3.4",
    ...     "https://1.2.3.4", "https://example.com/ollama", "::1", "[::1]", "[::]",
    ...     '"1.2.3.4"', "'1.2.3.4'", " 1.2.3.4 ", "ollama.com", ":66000",
    ...     "https://0.0.0.0:4321", "http://[::1]:8000/", "0.0.0.0:11434",
    ... ]
    >>> for value in table:
    ...     print(f"{value!r:32} {parse_ollama_host(value)}")
    ''                               http://127.0.0.1:11434
    '1.2.3.4'                        http://1.2.3.4:11434
    ':1234'                          http://127.0.0.1:1234
    'example.com:1234'               http://example.com:1234
    '0.0.0.0'                        http://127.0.0.1:11434
    'http://1.2.3.4'                 http://1.2.3.4:80
    'https://1.2.3.4'                https://1.2.3.4:443
    'https://example.com/ollama'     https://example.com:443/ollama
    '::1'                            http://[::1]:11434
    '[::1]'                          http://[::1]:11434
    '[::]'                           http://[::1]:11434
    '"1.2.3.4"'                      http://1.2.3.4:11434
    "'1.2.3.4'"                      http://1.2.3.4:11434
    ' 1.2.3.4 '                      http://1.2.3.4:11434
    'ollama.com'                     https://ollama.com:443
    ':66000'                         http://127.0.0.1:11434
    'https://0.0.0.0:4321'           https://127.0.0.1:4321
    'http://[::1]:8000/'             http://[::1]:8000
    '0.0.0.0:11434'                  http://127.0.0.1:11434
    """
    text = (value or "").strip().strip("\"'").strip()
    if not text:
        return f"http://127.0.0.1:{default_port}"
    if text == "ollama.com":
        return "https://ollama.com:443"
    scheme = "http"
    explicit_scheme = "://" in text
    if explicit_scheme:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
    hostport, slash, path = text.partition("/")
    path = (slash + path).rstrip("/")
    host, port = _split_host_port(hostport)
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, default_port) if explicit_scheme else None
    if port is None or not 0 < port < 65536:
        port = default_port
    host = connectable_host(host or "127.0.0.1")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{path}"


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    """Split ``host[:port]``, understanding bare and bracketed IPv6."""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif hostport.count(":") > 1:  # bare IPv6 such as ::1
        return hostport, None
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host, None
    try:
        return host, int(port_text)
    except ValueError:
        return host, None
