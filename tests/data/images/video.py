# A call:video:* payload (tests/58-images-pipeline.bats, README.md): probe
# clip.mp4, decode every frame, write frame 25 to /output/frame25.png, and
# transcode clip.webm (VP8) to a smaller H.264 in /output/small.mp4.
# airlock_av keeps FFmpeg's decoders at one thread; single_threaded() does
# it for libx264, which counts CPUs itself.
import json

import airlock_av
import av
from PIL import Image

out = {}
with av.open("/input/clip.mp4") as c:
    v = c.streams.video[0]
    out["probe"] = {"format": c.format.name, "seconds": c.duration / 1e6,
                    "video": [v.codec_context.name, v.width, v.height,
                              float(v.average_rate)],
                    "audio": [a.codec_context.name for a in c.streams.audio]}
    frames = list(c.decode(video=0))
    out["frames"] = len(frames)
    Image.fromarray(frames[25].to_ndarray(format="rgb24")).save(
        "/output/frame25.png")
with av.open("/input/clip.webm") as src, \
        av.open("/output/small.mp4", "w") as dst:
    s = airlock_av.single_threaded(dst.add_stream("libx264", rate=10))
    s.width, s.height, s.pix_fmt = 80, 60, "yuv420p"
    n = 0
    for frame in src.decode(video=0):
        dst.mux(s.encode(frame.reformat(width=80, height=60)))
        n += 1
    dst.mux(s.encode())
    out["transcoded"] = n
print(json.dumps(out))
