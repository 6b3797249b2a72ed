"""What site.py would do for an airlock image, minus what a sandbox forbids.

Imported first in the preload list of every snapshot of the images with
Debian's python3-* packages.  It replaces ctypes.util.find_library: the
standard one runs /sbin/ldconfig, gcc and ld as subprocesses, which an image
does not have and a sandbox may not start (fork is always dangerous), and
libraries such as python3-magic and soundfile call it when they are
imported, which is in the zygote.  This one looks for the library in the
image's library directories and returns its file name, as the standard one
does.  It also puts Debian's /usr/lib/python3/dist-packages on sys.path,
as the runner does (Python there runs isolated and without site), for the
image's own python3.11 run by hand or by the tests.
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
