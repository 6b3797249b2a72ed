"""Run inside an image: import the modules named as arguments (a
snapshot's preload list, in order), then print every C extension module
file of the image (under the standard library's lib-dynload and Debian's
dist-packages) that is still not loaded, and exit 1 if there is one.  A
payload importing such a module would have it mapped executable during
its run, which SNAFT stops as dlopen."""
import importlib
import os
import sys
import warnings

warnings.simplefilter("ignore")
for name in sys.argv[1:]:
    importlib.import_module(name)
loaded = {os.path.realpath(m.__file__) for m in list(sys.modules.values())
          if (getattr(m, "__file__", None) or "").endswith(".so")}
found = set()
for top in ("/usr/lib/python3.11/lib-dynload", "/usr/lib/python3/dist-packages"):
    for root, dirs, files in os.walk(top):
        found.update(os.path.realpath(os.path.join(root, f))
                     for f in files if f.endswith(".so"))
missing = sorted(found - loaded)
for f in missing:
    print("not preloaded:", f)
print("%d extension modules, %d preloaded" % (len(found), len(found & loaded)))
sys.exit(1 if missing else 0)
