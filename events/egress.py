"""The only way the API calls out: a POST to a URL someone gave us, never to a place inside our own network.

A URL is checked when a subscription is made and again at every delivery, after DNS resolution: https only (plain
http where DEBUG is on), and every address the name resolves to must be public — not loopback, private,
link-local (169.254.169.254, the cloud metadata service), multicast, reserved or unspecified. The request then goes
to the address that was checked (the name is not looked up a second time, so a DNS answer that changes in between
cannot redirect it), with the name as Host and, for https, as the TLS server name the certificate must match.
Redirects are not followed. WEBHOOK_ALLOWED_TARGETS names `host:port` pairs allowed anyway, for a receiver on the
developer's own machine (`make run`'s demo allows 127.0.0.1:8765).
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

TIMEOUT_SECONDS = 10
ANSWER_BYTES = 1024  # of the receiver's answer, kept for the deliveries list


class TargetRefused(ValueError):
    """The URL points somewhere the API must not call."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address the request goes to


@dataclass(frozen=True)
class Answer:
    status: int | None
    latency_ms: int
    error: str = ""


def _allowed_anyway(host: str, port: int) -> bool:
    return f"{host}:{port}" in getattr(settings, "WEBHOOK_ALLOWED_TARGETS", ())


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check(url: str) -> Target:
    """The target of `url` if the API may call it; TargetRefused (saying why) otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("An https URL with a host name.")
    if parts.username or parts.password:
        raise TargetRefused("No credentials in the URL; the signature authenticates each delivery.")
    host = parts.hostname.lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused("The port is not a number from 1 to 65535.") from exc
    allowed_anyway = _allowed_anyway(host, port)
    if parts.scheme == "http" and not (settings.DEBUG or allowed_anyway):
        raise TargetRefused("https only: deliveries must not travel in clear text.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"The host name {host} does not resolve.") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not allowed_anyway:
        inside = [address for address in addresses if not _public(address)]
        if inside:
            raise TargetRefused(f"{host} resolves to an address inside a private network ({inside[0]}).")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to the checked address of `url`; the receiver's status, or the error that stopped it."""
    target = check(url)  # again, at every delivery: a name may resolve elsewhere since
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    headers = {**headers, "Host": host_header, "Content-Type": "application/json", "User-Agent": "couples-api"}
    timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    started = time.monotonic()
    try:
        with pool:
            response = pool.urlopen(
                "POST", target.path, body=body, headers=headers, redirect=False, preload_content=False
            )
            response.read(ANSWER_BYTES, decode_content=False)
            response.release_conn()
            status = response.status
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, _ms(started), f"{type(exc).__name__}: {exc}"[:300])
    return Answer(status, _ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
