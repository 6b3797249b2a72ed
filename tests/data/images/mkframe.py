"""Print one frame line: mkframe.py CHANNEL INTENT PAYLOAD DIR [NAME...]:
PAYLOAD is a file whose text is the payload ("-" for none), and each NAME
a file of DIR sent in "files", base64."""
import base64
import json
import os
import sys

channel, intent, payload, d = sys.argv[1:5]
text = ""
if payload != "-":
    with open(payload, encoding="utf-8") as f:
        text = f.read()
files = {}
for name in sys.argv[5:]:
    with open(os.path.join(d, name), "rb") as f:
        files[name] = base64.b64encode(f.read()).decode()
print(json.dumps({"channel_id": int(channel), "intent": intent,
                  "from_aint": "tests.aint", "payload": text, "files": files}))
