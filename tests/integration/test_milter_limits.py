#!/usr/bin/python3
# tests/integration/test_milter_limits.py - the milters' max-connections setting, against the real
# daemons over TCP: with max-connections = 1 a second MTA connection gets no negotiation answer while the
# first is open (it waits in the listen queue, nothing is refused or lost), and is served as soon as the
# first ends. Checked for mailmoat-checks, mailmoat-dkim and mailmoat-dmarc, which share the setting.
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest  # noqa: E402

# SMFIC_OPTNEG: protocol version 6, every action, every protocol step (what Postfix offers).
OPTNEG = b"O" + struct.pack(">III", 6, 0x1FF, 0x1FFFFF)


def connect(spec):
    _, host, port = spec.split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(struct.pack(">I", len(OPTNEG)) + OPTNEG)
    return s


def reply_command(s, timeout):
    """The command byte of the first reply packet, or None if nothing came within timeout."""
    s.settimeout(timeout)
    try:
        head = b""
        while len(head) < 5:
            chunk = s.recv(5 - len(head))
            if not chunk:
                return b"EOF"
            head += chunk
    except socket.timeout:
        return None
    return head[4:5]


class MilterLimitsTest(mmtest.TestCase):
    def check_daemon(self, program, args):
        with mmtest.Daemon(program, ["--max-connections", "1", *args]) as d:
            first = connect(d.socket)
            self.addCleanup(first.close)
            self.assertEqual(reply_command(first, 5), b"O")
            second = connect(d.socket)
            self.addCleanup(second.close)
            self.assertIsNone(reply_command(second, 1.0), "a second connection was served over max-connections=1")
            first.close()
            self.assertEqual(reply_command(second, 5), b"O", "the waiting connection was not served")

    def test_checks(self):
        self.check_daemon("mailmoat-checks", [])

    def test_dkim(self):
        self.check_daemon("mailmoat-dkim", ["--mode", "v"])

    def test_dmarc(self):
        self.check_daemon("mailmoat-dmarc", ["--store", "none"])


if __name__ == "__main__":
    mmtest.run()
