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
  --workers N                  N aiosmtpd processes (this one and N-1 forked), each with its
                               own listening socket on the port (SO_REUSEPORT: the kernel
                               spreads connections); for benchmarks, with --discard and
                               without --stats (counters are per process)
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
                # Never answer; the client is expected to time out and close. Replies held
                # for the pipelined group (MAIL) still go out, as before batching.
                if getattr(server, "_held", None):
                    server._writer.write(b"".join(server._held))
                    server._held.clear()
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


# Replies after which the client changes state or waits (greeting, QUIT, TLS start, AUTH): never held.
HOLD_NEVER = (b"220", b"221", b"235", b"421")


class CountingSMTP(SMTP):
    """SMTP with connection accounting (STARTTLS re-entry is not counted twice)."""

    stats = None

    async def push(self, status):
        """Sends a reply, holding it back while the next command line has already arrived:
        the answers to a pipelined group (MAIL, RCPT..., DATA) then leave in one segment, as
        RFC 2920 (3.2) asks of a server, instead of one write and one client wake-up each.
        The last reply of a group (nothing complete left to read) flushes everything."""
        if isinstance(status, str):
            status = bytes(status, "utf-8" if self.enable_SMTPUTF8 else "ascii")
        self._held.append(status + b"\r\n")
        if (status[:1] in b"245" and status[:3] not in HOLD_NEVER and len(self._held) < 64
                and b"\n" in self._reader._buffer):
            return
        self._writer.write(b"".join(self._held))
        self._held.clear()
        await self._writer.drain()

    def _getaddr(self, arg):
        match = SIMPLE_ADDR.match(arg) if arg else None
        if match:
            return match.group(1), match.group(2)
        return super()._getaddr(arg)

    async def _handle_client(self):
        self._held = []
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


async def main(args, listen_socket=None, parent_pid=None):
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
    if listen_socket is not None:
        server = await loop.create_server(
            lambda: CountingSMTP(handler, loop=loop, **smtp_kwargs),
            sock=listen_socket, backlog=512, ssl=tls_context if args.smtps else None,
        )
    else:
        server = await loop.create_server(
            lambda: CountingSMTP(handler, loop=loop, **smtp_kwargs),
            host=args.host, port=args.port, reuse_address=True, backlog=512,
            ssl=tls_context if args.smtps else None,
        )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if parent_pid is not None:
        # A forked worker: stop when the first process is gone.
        async def watch_parent():
            while os.getppid() == parent_pid:
                await asyncio.sleep(0.5)
            stop.set()
        loop.create_task(watch_parent())
    else:
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


def listening_sockets(args):
    """With --workers N > 1: N sockets listening on one port with SO_REUSEPORT, made before
    forking so that every worker accepts by the time `ready` is printed; else none."""
    if args.workers <= 1:
        return []
    sockets, port = [], args.port
    for _ in range(args.workers):
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((args.host, port))
        sock.listen(512)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        sockets.append(sock)
    return sockets


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
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    if args.workers > 1 and (args.stats or args.maildir or args.smtps):
        p.error("--workers needs --discard and excludes --stats and --smtps")
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
    sockets, children = listening_sockets(args), []
    listen_socket, parent_pid = (sockets[0] if sockets else None), None
    for extra in sockets[1:]:
        pid = os.fork()
        if pid == 0:
            listen_socket, parent_pid, children = extra, os.getppid(), []
            break
        children.append(pid)
    for sock in sockets:
        if sock is not listen_socket:
            sock.close()
    try:
        asyncio.run(main(args, listen_socket, parent_pid))
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
