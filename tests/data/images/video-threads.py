# A call:video:* payload that asks FFmpeg for four decoding threads: the
# first one dies as clone (tests/58-images-pipeline.bats).
import av

with av.open("/input/clip.mp4") as c:
    s = c.streams.video[0]
    s.codec_context.thread_type = "FRAME"
    s.codec_context.thread_count = 4
    print(sum(1 for _ in c.decode(s)))
