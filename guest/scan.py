"""file:scan's program in the airlock-scanner image (airlock-image(5)).

The runner compiles this file once in the zygote and runs it as __main__
for every frame, with the frame's payload as sys.argv[1]: YARA rules to use
beside the shipped ones, or nothing.  It examines every file under /input
and writes the report to /output/report.json and to standard output,
followed by a line with the summary and the report's SHA-256.  Exit status:
0 when the report is complete or cut short by a cap (which it says), 2 when
the payload's rules do not compile (the files are still scanned with the
shipped rules).  The engine, already loaded in the zygote, is
airlock_scanner.
"""
import sys

import airlock_scanner

sys.exit(airlock_scanner.main(sys.argv[1] if len(sys.argv) > 1 else ""))
