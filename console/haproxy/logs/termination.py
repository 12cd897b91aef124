"""Termination states (``%ts``, 2 characters, and ``%tsc``, 4) explained in words.

From HAProxy's configuration manual, section "Stream state at disconnection"
(8.5, the same in 2.6 to 3.4): the first character is the event that ended the
stream, the second the stream's phase at that moment, the third and fourth (HTTP
only) what happened to the persistence cookie. The common two-letter
combinations have a sentence of their own (:data:`COMBINED`).
"""

from __future__ import annotations

FIRST: dict[str, str] = {
    "C": "the client aborted the connection",
    "S": "the server aborted or refused the connection",
    "P": "the proxy aborted the stream (a deny rule, a connection limit, or a security check)",
    "L": "the stream was processed locally by HAProxy",
    "R": "a resource on the proxy was exhausted (memory, sockets, source ports)",
    "I": "an internal error of the proxy (a bug: report it)",
    "D": "the stream was killed because the server was detected as down",
    "U": "the stream was killed on this backup server because an active server came up",
    "K": "the stream was killed by an administrator",
    "c": "the client-side timeout expired",
    "s": "the server-side timeout expired",
    "-": "normal completion",
}

SECOND: dict[str, str] = {
    "R": "while waiting for a complete, valid request from the client",
    "Q": "while waiting in the queue for a connection slot",
    "C": "while waiting for the connection to the server to establish",
    "H": "while waiting for complete, valid response headers from the server",
    "D": "during the data phase",
    "L": "while sending the last data to the client",
    "T": "while the request was tarpitted",
    "-": "after the end of the data transfer",
}

COOKIE_CLIENT: dict[str, str] = {
    "N": "the client sent no persistence cookie",
    "I": "the client sent an invalid persistence cookie",
    "D": "the client's cookie named a server that was down",
    "V": "the client sent a valid cookie",
    "E": "the client's cookie had expired (maxidle)",
    "O": "the client's cookie was too old (maxlife)",
    "U": "the client's cookie was not used (another rule chose the server)",
    "-": "",
}

COOKIE_SERVER: dict[str, str] = {
    "N": "no cookie from the server, none inserted",
    "I": "the proxy inserted a cookie",
    "U": "the proxy updated the cookie's date",
    "P": "the server provided a cookie, passed as is",
    "R": "the proxy rewrote the server's cookie",
    "D": "the proxy deleted the server's cookie",
    "-": "",
}

COMBINED: dict[str, str] = {
    "--": "normal termination",
    "CC": "the client aborted before the connection to the server was established",
    "CD": "the client aborted during the data transfer",
    "cD": "the client timeout expired during the data transfer",
    "CH": "the client aborted while waiting for the server's response",
    "cH": "the client timeout expired while waiting for client data (e.g. during a POST)",
    "CQ": "the client aborted while its request was queued",
    "CR": "the client aborted before sending a full request",
    "cR": "the http-request timeout expired before the client sent a full request",
    "CT": "the client aborted while its request was tarpitted",
    "LC": "the request was handled locally (a server redir)",
    "LR": "the request was handled locally (a redirect, a return, or an applet)",
    "LH": "the response was handled locally (a redirect or a return)",
    "SC": "the server refused the connection",
    "sC": "the connect timeout expired before the server answered the connection",
    "SD": "the server closed the connection while sending data",
    "sD": "the server timeout expired during the data transfer",
    "SH": "the server aborted before sending its full response headers",
    "sH": "the server timeout expired before the response headers",
    "sQ": "the request spent too long in the queue (timeout queue)",
    "PC": "the proxy's socket limit was reached while connecting to the server",
    "PD": "the proxy blocked an invalid chunked message",
    "PH": "the proxy blocked the server's response (invalid or dangerous)",
    "PR": "the proxy blocked the request (invalid, or a deny rule)",
    "PT": "the proxy tarpitted the request",
    "RC": "a local resource was exhausted before the connection to the server",
}


def explain_termination(state: str) -> str:
    """*state* (``"SD--"``, ``"sH"``…) in words: ``"SD: the server closed the connection
    while sending data"``. Unknown characters are named as such; never raises."""
    state = state or ""
    code = state[:2]
    if len(code) < 2:
        return f"{code or '(none)'}: not a termination state"
    text = COMBINED.get(code)
    if text is None:
        first = FIRST.get(code[0], f"unknown event {code[0]!r}")
        second = SECOND.get(code[1], f"in unknown phase {code[1]!r}")
        text = f"{first}, {second}"
    parts = [f"{code}: {text}"]
    if len(state) >= 4:
        for ch, table in ((state[2], COOKIE_CLIENT), (state[3], COOKIE_SERVER)):
            words = table.get(ch, f"unknown cookie flag {ch!r}")
            if words:
                parts.append(words)
    return "; ".join(parts)


def is_error(state: str) -> bool:
    """Whether the two first characters tell of an abnormal end (anything but ``--``
    and the locally processed ``L*``)."""
    return bool(state) and state[0] not in "-L"
