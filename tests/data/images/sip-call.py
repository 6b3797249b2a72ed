# A call:voice:* payload (tests/58-images-pipeline.bats, README.md): the
# call's SIP dialog from the pcap, its RTP stream decoded from G.711 mu-law
# to /output/call.wav, the tones' frequencies by scipy, and OpenBLAS at work
# (an SVD through numpy); none of it may start a thread.
import audioop
import json

import dpkt
import numpy as np
import scipy.signal
import soundfile

sip, rtp, ssrcs = [], bytearray(), set()
with open("/input/call.pcap", "rb") as f:
    for ts, frame in dpkt.pcap.Reader(f):
        udp = dpkt.ethernet.Ethernet(frame).data.data
        if 5060 in (udp.sport, udp.dport):
            try:
                m = dpkt.sip.Request(udp.data)
                sip.append(m.method)
            except dpkt.UnpackError:
                m = dpkt.sip.Response(udp.data)
                sip.append(int(m.status))
        else:
            packet = dpkt.rtp.RTP(udp.data)
            ssrcs.add("%08x" % packet.ssrc)
            if packet.pt == 0:		# PCMU
                rtp += packet.data
audio = np.frombuffer(audioop.ulaw2lin(bytes(rtp), 2), "<i2") / 32768
soundfile.write("/output/call.wav", audio, 8000, subtype="PCM_16")


def peak(samples, rate):
    f, p = scipy.signal.welch(samples, fs=rate, nperseg=1024)
    return float(f[np.argmax(p)])


tone, rate = soundfile.read("/input/tone.wav")
sv = np.linalg.svd(np.outer(audio[:256], audio[:256]) + np.eye(256),
                   compute_uv=False)
stats = {"sip": sip, "ssrcs": sorted(ssrcs), "rtp_bytes": len(rtp),
         "call_seconds": len(audio) / 8000, "call_peak_hz": peak(audio, 8000),
         "tone_peak_hz": peak(tone, rate), "tone_rate": rate,
         "svd_rank": int((sv > 1e-9).sum())}
with open("/output/stats.json", "w") as f:
    json.dump(stats, f)
print(json.dumps(stats))
