# A call:video:* payload given a truncated MP4 and noise: PyAV refuses both
# with an exception the payload can catch (tests/58-images-pipeline.bats).
import sys

import av

for name in ("broken.mp4", "noise.mp4"):
    try:
        with av.open("/input/" + name) as c:
            print(name, "decoded", sum(1 for _ in c.decode(video=0)))
    except av.AVError as e:
        print(name, "refused:", type(e).__name__)
sys.exit(3)
