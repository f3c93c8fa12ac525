#!/usr/bin/env python3
"""Local SMTP sink for Funnel development and tests (aiosmtpd based).

Accepts mail on --host/--port and either stores every message in a Maildir
(--maildir DIR) or only counts it (--discard). Prints exactly ``ready PORT``
on stdout once listening and exits cleanly on SIGTERM/SIGINT.

Options for tests:
  --tls-cert/--tls-key         offer STARTTLS with this certificate
  --require-starttls           refuse commands other than EHLO/STARTTLS/... before TLS
  --smtps                      implicit TLS from the first byte (with --tls-cert/--tls-key)
  --auth USER:PASS             offer AUTH PLAIN and LOGIN, require authentication
  --auth-insecure              allow AUTH without TLS
  --auth-exclude MECH          do not offer this AUTH mechanism (repeatable; e.g. PLAIN)
  --fail SUBSTR=CODE[:TIMES]   answer RCPT for recipients containing SUBSTR with CODE
                               (the first TIMES times only, when given); repeatable
  --stall SUBSTR               never answer RCPT for recipients containing SUBSTR
  --no-pipelining              do not advertise PIPELINING (advertised by default;
                               aiosmtpd processes pipelined commands in order)
  --stats FILE                 write JSON counters to FILE (periodically and on exit)
"""

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult

ENHANCED = {
    "421": "4.3.2", "450": "4.2.0", "451": "4.7.1", "452": "4.2.2",
    "550": "5.1.1", "551": "5.1.6", "552": "5.2.2", "553": "5.1.3", "554": "5.7.1",
}


class Stats:
    def __init__(self):
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.messages = 0
        self.rcpt_attempts = 0
        self.by_code = {}
        self.auth_failures = 0

    def code(self, code):
        self.by_code[code] = self.by_code.get(code, 0) + 1

    def as_dict(self):
        return {
            "connections": self.connections,
            "active": self.active,
            "max_active": self.max_active,
            "messages": self.messages,
            "rcpt_attempts": self.rcpt_attempts,
            "by_code": self.by_code,
            "auth_failures": self.auth_failures,
        }


class FailRule:
    def __init__(self, spec):
        try:
            substring, rest = spec.rsplit("=", 1)
            if ":" in rest:
                code, times = rest.split(":", 1)
                self.times = int(times)
            else:
                code, self.times = rest, None
            int(code)
        except ValueError:
            raise SystemExit(f"--fail: bad rule {spec!r} (want SUBSTR=CODE[:TIMES])")
        if not substring:
            raise SystemExit(f"--fail: empty substring in {spec!r}")
        self.substring = substring
        self.code = code
        self.used = 0

    def applies(self, address):
        if self.substring not in address:
            return False
        if self.times is not None and self.used >= self.times:
            return False
        self.used += 1
        return True

    def reply(self):
        enhanced = ENHANCED.get(self.code, f"{self.code[0]}.0.0")
        return f"{self.code} {enhanced} sink: rejected by --fail rule"


class Handler:
    def __init__(self, args, stats):
        self.stats = stats
        self.maildir = args.maildir
        self.rules = [FailRule(s) for s in args.fail]
        self.stalls = list(args.stall)
        self.pipelining = not args.no_pipelining
        self.counter = 0
        self.pid = os.getpid()
        self.hostname = socket.gethostname().replace("/", "_").replace(":", "_")

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.stats.rcpt_attempts += 1
        for substring in self.stalls:
            if substring in address:
                # Never answer; the client is expected to time out and close.
                await asyncio.Event().wait()
        for rule in self.rules:
            if rule.applies(address):
                self.stats.code(rule.code)
                return rule.reply()
        envelope.rcpt_tos.append(address)
        self.stats.code("250")
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.counter += 1
        self.stats.messages += 1
        if self.maildir is not None:
            name = f"{self.counter:010d}.P{self.pid}.{self.hostname}"
            tmp = os.path.join(self.maildir, "tmp", name)
            with open(tmp, "wb") as fh:
                fh.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(self.maildir, "new", name))
        return f"250 2.0.0 OK queued as {self.counter}"


# Plain `<local@domain>` (optionally followed by parameters): parsed without the (slow)
# email header parser; anything else goes through aiosmtpd's full parser.
SIMPLE_ADDR = re.compile(r"\s*<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+)>(.*)\Z", re.S)


class CountingSMTP(SMTP):
    """SMTP with connection accounting (STARTTLS re-entry is not counted twice)."""

    stats = None

    def _getaddr(self, arg):
        match = SIMPLE_ADDR.match(arg) if arg else None
        if match:
            return match.group(1), match.group(2)
        return super()._getaddr(arg)

    async def _handle_client(self):
        stats = self.stats
        stats.connections += 1
        stats.active += 1
        stats.max_active = max(stats.max_active, stats.active)
        try:
            await super()._handle_client()
        finally:
            stats.active -= 1


def make_authenticator(user, password, stats):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (getattr(auth_data, "login", None) == user.encode()
              and getattr(auth_data, "password", None) == password.encode())
        if not ok:
            stats.auth_failures += 1
        return AuthResult(success=ok, handled=False)
    return authenticator


def prepare_maildir(path):
    if os.path.exists(path):
        if not os.path.isdir(path) or os.listdir(path):
            raise SystemExit(f"--maildir: {path} exists and is not an empty directory")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def write_stats(path, stats):
    if path is None:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(stats.as_dict(), fh)
    os.replace(tmp, path)


async def main(args):
    stats = Stats()
    handler = Handler(args, stats)
    CountingSMTP.stats = stats

    tls_context = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise SystemExit("--tls-cert and --tls-key go together")
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    smtp_kwargs = dict(
        hostname="sink.funnel.local",
        tls_context=None if args.smtps else tls_context,
        require_starttls=args.require_starttls,
        decode_data=False,
    )
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            raise SystemExit("--auth wants USER:PASS")
        smtp_kwargs.update(
            authenticator=make_authenticator(user, password, stats),
            auth_required=True,
            auth_require_tls=not args.auth_insecure,
            auth_exclude_mechanism=[m.upper() for m in args.auth_exclude] or None,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, loop=loop, **smtp_kwargs),
        host=args.host, port=args.port, reuse_address=True, backlog=512,
        ssl=tls_context if args.smtps else None,
    )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    print(f"ready {port}", flush=True)

    async def periodic_stats():
        while True:
            await asyncio.sleep(0.2)
            write_stats(args.stats, stats)

    ticker = loop.create_task(periodic_stats()) if args.stats else None
    await stop.wait()
    if ticker:
        ticker.cancel()
    server.close()
    write_stats(args.stats, stats)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Local SMTP sink (aiosmtpd)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--maildir")
    mode.add_argument("--discard", action="store_true")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--smtps", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--auth-insecure", action="store_true")
    p.add_argument("--auth-exclude", action="append", default=[])
    p.add_argument("--fail", action="append", default=[])
    p.add_argument("--stall", action="append", default=[])
    p.add_argument("--no-pipelining", action="store_true",
                   help="do not advertise PIPELINING")
    p.add_argument("--stats")
    args = p.parse_args(argv)
    if (args.require_starttls or args.smtps) and not args.tls_cert:
        p.error("--require-starttls and --smtps need --tls-cert/--tls-key")
    if args.require_starttls and args.smtps:
        p.error("--require-starttls and --smtps exclude each other")
    return args


if __name__ == "__main__":
    # A parent that spawns us from a thread with blocked signals (e.g. a libdispatch worker)
    # passes its signal mask on: make sure SIGTERM/SIGINT reach us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    args = parse_args(sys.argv[1:])
    if args.maildir:
        prepare_maildir(args.maildir)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    try:
        asyncio.run(main(args))
    except KeyboardInterrupt:
        pass
