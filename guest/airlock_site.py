"""What site.py would do for an airlock image, minus what a sandbox forbids.

The runner starts Python isolated and without site, so Debian's
/usr/lib/python3/dist-packages is not on sys.path; importing this module,
first in a snapshot's preload list, puts it there.  It also replaces
ctypes.util.find_library: the standard one runs /sbin/ldconfig, gcc and ld
as subprocesses, which an image does not have and a sandbox may not start
(fork is always dangerous), and libraries such as python3-magic and
soundfile call it when they are imported.  This one looks for the library
in the image's library directories and returns its file name, as the
standard one does.
"""
import ctypes.util
import os
import re
import sys

DIST = "/usr/lib/python3/dist-packages"
LIBDIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib")

if os.path.isdir(DIST) and DIST not in sys.path:
    sys.path.append(DIST)


def find_library(name):
    """The file name of lib<name>.so.N in the image, or None."""
    pat = re.compile(r"lib%s\.so\.(\d+)$" % re.escape(name))
    for d in LIBDIRS:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found = sorted((int(m.group(1)), n) for n in names
                       if (m := pat.match(n)))
        if found:
            return found[-1][1]
        if "lib%s.so" % name in names:
            return "lib%s.so" % name
    return None


ctypes.util.find_library = find_library
