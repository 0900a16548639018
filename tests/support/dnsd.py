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
# Every query is appended to --log (one line "NAME TYPE") when given, so tests can count queries.
#
# A zone FILE ending in .json holds records as data (see Zones.load_json), for byte-exact TXT strings.
# Usage: dnsd.py --zone FILE [--zone FILE ...] [--port 0] --port-file PATH [--log PATH]
# Stops on SIGTERM/SIGINT. Reloads the zone files on SIGHUP.
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

from dnslib import A, DNSRecord, QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer


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
                if rtype == "TIMEOUT":
                    self.special[norm(name)] = ("drop", None)
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
    def __init__(self, zones, log_path):
        self.zones = zones
        self.log_path = log_path
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        q = request.q
        qname = norm(q.qname)
        zones = self.zones
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{qname.rstrip('.') or '.'} {QTYPE[q.qtype]}\n")
        special = zones.special.get(qname)
        if special:
            kind, arg = special
            if kind == "servfail":
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if kind == "refused":
                reply.header.rcode = RCODE.REFUSED
                return reply
            if kind == "drop":
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", action="append", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--address", default="127.0.0.1")
    args = ap.parse_args()

    resolver = Resolver(Zones(args.zone), args.log)
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
    udp = DNSServer(resolver, port=port, address=args.address, logger=quiet)
    tcp = DNSServer(resolver, port=port, address=args.address, tcp=True, logger=quiet)
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
