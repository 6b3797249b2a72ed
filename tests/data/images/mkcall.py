"""Write call.pcap into the directory argv[1]: a SIP call between two
hosts, as Ethernet/IPv4/UDP frames built by hand: INVITE with an SDP
offer (PCMU), 180, 200 with an SDP answer, ACK, one second of RTP (50
packets of 20 ms of G.711 mu-law carrying a 440 Hz tone) and BYE/200."""
import math
import os
import struct
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import audioop  # noqa: E402  (deprecated in 3.11, gone in 3.13)

A, B = "192.0.2.10", "192.0.2.20"
CALL_ID = "a84b4c76e66710@airlock.test"


def ip(a):
    return bytes(int(x) for x in a.split("."))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def udp_frame(src, sport, dst, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64,
                      17, 0, ip(src), ip(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + hdr + udp


def sdp(addr, port, sess):
    return ("v=0\r\no=- %d 1 IN IP4 %s\r\ns=airlock\r\nc=IN IP4 %s\r\n"
            "t=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            % (sess, addr, addr, port))


def sip(first, headers, body=""):
    lines = [first] + ["%s: %s" % h for h in headers]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def dialog(method, cseq, branch, extra=()):
    return [("Via", "SIP/2.0/UDP %s:5060;branch=z9hG4bK%s" % (A, branch)),
            ("From", "<sip:alice@%s>;tag=1928301774" % A),
            ("To", "<sip:bob@%s>%s" % (B, ";tag=a6c85cf" if method != "INVITE" or cseq > 1 else "")),
            ("Call-ID", CALL_ID), ("CSeq", "%d %s" % (cseq, method))] + list(extra)


packets = []
t = 1_700_000_000.0
packets.append((t, udp_frame(A, 5060, B, 5060, sip(
    "INVITE sip:bob@%s SIP/2.0" % B,
    dialog("INVITE", 1, "776asdhds", [("Contact", "<sip:alice@%s>" % A),
                                      ("Max-Forwards", "70")]),
    sdp(A, 49170, 2890844526)))))
packets.append((t + 0.1, udp_frame(B, 5060, A, 5060, sip(
    "SIP/2.0 180 Ringing", dialog("INVITE", 1, "776asdhds")))))
packets.append((t + 0.5, udp_frame(B, 5060, A, 5060, sip(
    "SIP/2.0 200 OK", dialog("INVITE", 1, "776asdhds",
                             [("Contact", "<sip:bob@%s>" % B)]),
    sdp(B, 3456, 2890844527)))))
packets.append((t + 0.6, udp_frame(A, 5060, B, 5060, sip(
    "ACK sip:bob@%s SIP/2.0" % B, dialog("ACK", 1, "776asdhdt")))))
# One second of a 440 Hz tone at 8 kHz, as 50 RTP packets of 160 samples.
pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
               for i in range(8000))
ulaw = audioop.lin2ulaw(pcm, 2)
for n in range(50):
    rtp = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0x00, 1000 + n,
                      160 * n, 0x11223344) + ulaw[160 * n:160 * (n + 1)]
    packets.append((t + 0.7 + 0.02 * n, udp_frame(A, 49170, B, 3456, rtp)))
packets.append((t + 2.0, udp_frame(A, 5060, B, 5060, sip(
    "BYE sip:bob@%s SIP/2.0" % B, dialog("BYE", 2, "776asdhdu")))))
packets.append((t + 2.1, udp_frame(B, 5060, A, 5060, sip(
    "SIP/2.0 200 OK", dialog("BYE", 2, "776asdhdu")))))

with open(os.path.join(sys.argv[1], "call.pcap"), "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for ts, frame in packets:
        sec = int(ts)
        f.write(struct.pack("<IIII", sec, int(round((ts - sec) * 1e6)),
                            len(frame), len(frame)))
        f.write(frame)
