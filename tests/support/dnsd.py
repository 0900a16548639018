#!/usr/bin/python3
# tests/support/dnsd.py - a small authoritative DNS server for tests and the demo (python3-dnslib).
#
# Serves master-file zone text on 127.0.0.1 (UDP and TCP) on a free port and writes the port to
# --port-file once it is listening. Answers as an authoritative server would: the records of the asked
# type (following CNAMEs inside the data), NODATA (NOERROR + SOA) when the name exists with other types
# or is an empty non-terminal, NXDOMAIN (+ SOA) otherwise. Negative answers carry the SOA of the closest
# enclosing zone so resolvers can cache them for the SOA minimum.
#
# Special directives, written as comment lines in a zone file, make failure cases testable:
#   ;@servfail NAME     answer SERVFAIL for NAME (any type)
#   ;@drop NAME         never answer queries for NAME (the client times out)
#   ;@refused NAME      answer REFUSED for NAME
#   ;@delay NAME SECS   answer NAME after SECS seconds
#   ;@ad NAME           set AD in answers for NAME when the query set AD or DO (RFC 6840 §5.7);
#                       other answers never carry AD
#   ;@truncate NAME     over UDP answer NAME with TC=1 and no records (the question kept); TCP answers fully
#   ;@badid NAME        over UDP first send a reply with another ID and other data, then the real reply
#   ;@badquestion NAME  over UDP first send a reply for another question (right ID), then the real reply
#   ;@garbage NAME      over UDP answer only with undecodable bytes carrying the query's ID
#   ;@formerr NAME      answer FORMERR for NAME
#   ;@stray NAME        answers for NAME also carry "stray.invalid. A 192.0.2.250" and "NAME TXT stray"
#                       (records a client must not take as the answer to an A query for NAME)
# Every query is appended to --log (one line "NAME TYPE") when given, so tests can count queries.
# With --log-detail each line goes on with the transport and query flags:
#   "NAME TYPE proto=udp rd=1 ad=1 edns=1232 do=0" (edns=0 when the query had no OPT record).
#
# A zone FILE ending in .json holds records as data (see Zones.load_json), for byte-exact TXT strings.
# Usage: dnsd.py --zone FILE [--zone FILE ...] [--port 0] --port-file PATH [--log PATH] [--log-detail]
# Stops on SIGTERM/SIGINT. Reloads the zone files on SIGHUP.
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

from dnslib import DNSError, DNSRecord, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer


def norm(name):
    return str(name).lower().rstrip(".") + "."


class Zones:
    def __init__(self, files):
        self.records = {}   # name -> [RR]
        self.names = set()  # every name incl. empty non-terminals
        self.soas = {}      # zone apex -> SOA RR
        self.special = {}   # name -> (kind, arg)
        for path in files:
            if path.endswith(".json"):
                self.load_json(path)
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for line in text.splitlines():
                s = line.strip()
                if s.startswith(";@"):
                    parts = s[2:].split()
                    if len(parts) >= 2:
                        arg = float(parts[2]) if len(parts) > 2 else None
                        self.special[norm(parts[1])] = (parts[0], arg)
            for rr in RR.fromZone(text):
                name = norm(rr.rname)
                self.records.setdefault(name, []).append(rr)
                if rr.rtype == QTYPE.SOA:
                    self.soas[name] = rr
                labels = name.rstrip(".").split(".")
                for i in range(len(labels)):
                    self.names.add(".".join(labels[i:]) + ".")

    def add(self, rr):
        name = norm(rr.rname)
        self.records.setdefault(name, []).append(rr)
        labels = name.rstrip(".").split(".")
        for i in range(len(labels)):
            self.names.add(".".join(labels[i:]) + ".")

    def load_json(self, path):
        # Records given as data rather than master-file text, for byte-exact TXT strings:
        # [{"name": "x.example", "type": "TXT", "ttl": 300, "data": ["str", ...]},
        #  {"name": ..., "type": "MX", "data": [10, "mx.example"]}, {"name": ..., "type": "TIMEOUT"}]
        # TXT/SPF strings are taken byte for byte as latin-1.
        from dnslib import AAAA, CNAME, MX, PTR, TXT
        with open(path, encoding="utf-8") as f:
            items = json.load(f)
        for it in items:
            name, rtype, ttl = it["name"], it["type"].upper(), int(it.get("ttl", 300))
            if rtype in ("TIMEOUT", "NAME"):  # NAME: the name exists, without records
                if rtype == "TIMEOUT":  # as the SPF suite's driver: types with records still answer
                    self.special[norm(name)] = ("timeout", None)
                labels = norm(name).rstrip(".").split(".")
                for i in range(len(labels)):
                    self.names.add(".".join(labels[i:]) + ".")
                continue
            data = it.get("data")
            if rtype in ("TXT", "SPF"):
                strings = data if isinstance(data, list) else [data]
                rdata = TXT([x.encode("latin-1") for x in strings])
            elif rtype == "A":
                rdata = A(data)
            elif rtype == "AAAA":
                rdata = AAAA(data)
            elif rtype == "MX":
                rdata = MX(data[1], data[0])
            elif rtype == "PTR":
                rdata = PTR(data)
            elif rtype == "CNAME":
                rdata = CNAME(data)
            else:
                raise ValueError(f"{path}: unsupported record type {rtype}")
            self.add(RR(name, getattr(QTYPE, rtype), ttl=ttl, rdata=rdata))

    def soa_for(self, name):
        labels = name.rstrip(".").split(".")
        for i in range(len(labels) + 1):
            apex = ".".join(labels[i:]) + "."
            if apex == ".":
                apex = "."
            if apex in self.soas:
                return self.soas[apex]
        return None


class Resolver(BaseResolver):
    def __init__(self, zones, log_path, log_detail=False):
        self.zones = zones
        self.log_path = log_path
        self.log_detail = log_detail
        self.lock = threading.Lock()

    @staticmethod
    def query_flags(request, handler):
        opt = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        edns = opt[0].edns_len if opt else 0
        do = opt[0].edns_do if opt else 0
        return (f"proto={handler.protocol} rd={request.header.rd} ad={request.header.ad} "
                f"edns={edns} do={do}")

    @staticmethod
    def send_raw(handler, data):
        handler.request[1].sendto(data, handler.client_address)

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        reply.header.ad = 0  # request.reply() copies the query's flags; AD only where ;@ad says so
        q = request.q
        qname = norm(q.qname)
        zones = self.zones
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as f:
                extra = " " + self.query_flags(request, handler) if self.log_detail else ""
                f.write(f"{qname.rstrip('.') or '.'} {QTYPE[q.qtype]}{extra}\n")
        special = zones.special.get(qname)
        udp = handler.protocol == "udp"
        if special:
            kind, arg = special
            if kind == "ad":
                opt = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
                if request.header.ad or (opt and opt[0].edns_do):
                    reply.header.ad = 1
            if kind == "truncate" and udp:
                reply.header.tc = 1
                return reply
            if kind == "garbage" and udp:
                self.send_raw(handler, request.pack()[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07garb")
                return None
            if kind == "badid" and udp:
                bogus = request.reply()
                bogus.header.id = request.header.id ^ 0x5A5A
                bogus.add_answer(RR(q.qname, QTYPE.A, rdata=A("192.0.2.254"), ttl=60))
                self.send_raw(handler, bogus.pack())
            if kind == "badquestion" and udp:
                bogus = DNSRecord.question("bogus.invalid", QTYPE[q.qtype]).reply()
                bogus.header.id = request.header.id
                bogus.add_answer(RR("bogus.invalid", QTYPE.A, rdata=A("192.0.2.253"), ttl=60))
                self.send_raw(handler, bogus.pack())
            if kind == "servfail":
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if kind == "refused":
                reply.header.rcode = RCODE.REFUSED
                return reply
            if kind == "formerr":
                reply.header.rcode = RCODE.FORMERR
                return reply
            if kind == "stray":
                reply.add_answer(RR("stray.invalid.", QTYPE.A, rdata=A("192.0.2.250"), ttl=60))
                reply.add_answer(*RR.fromZone(f'{qname} 60 IN TXT "stray"'))
            if kind == "drop":
                return None
            if kind == "timeout":  # JSON TIMEOUT: silent unless the asked type has records here
                if not any(rr.rtype == q.qtype for rr in zones.records.get(qname, [])):
                    return None
            if kind == "delay":
                time.sleep(arg or 1.0)
        name = qname
        for _ in range(8):  # follow CNAMEs within our data
            rrs = zones.records.get(name, [])
            match = [rr for rr in rrs if rr.rtype == q.qtype or q.qtype == QTYPE.ANY]
            cname = [rr for rr in rrs if rr.rtype == QTYPE.CNAME]
            if match:
                for rr in match:
                    reply.add_answer(rr)
                return reply
            if cname and q.qtype != QTYPE.CNAME:
                reply.add_answer(cname[0])
                name = norm(cname[0].rdata.label)
                continue
            break
        soa = zones.soa_for(name)
        if soa is not None:
            reply.add_auth(soa)
        if name not in zones.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class Handler(DNSHandler):
    """Leaves a query unanswered, without a traceback, when the resolver returns None."""

    def get_reply(self, data):
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        if reply is None:
            raise DNSError("no answer on purpose")
        return reply.pack()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", action="append", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--log-detail", action="store_true")
    ap.add_argument("--address", default="127.0.0.1")
    args = ap.parse_args()

    resolver = Resolver(Zones(args.zone), args.log, args.log_detail)
    port = args.port
    if port == 0:
        # Find a port free for both UDP and TCP.
        for _ in range(50):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((args.address, 0))
            port = u.getsockname()[1]
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind((args.address, port))
                t.close()
                u.close()
                break
            except OSError:
                t.close()
                u.close()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    udp = DNSServer(resolver, port=port, address=args.address, logger=quiet, handler=Handler)
    tcp = DNSServer(resolver, port=port, address=args.address, tcp=True, logger=quiet, handler=Handler)
    udp.start_thread()
    tcp.start_thread()

    def reload(*_):
        resolver.zones = Zones(args.zone)

    stop = threading.Event()
    signal.signal(signal.SIGHUP, reload)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)
    while not stop.is_set():
        stop.wait(0.5)
    udp.stop()
    tcp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
