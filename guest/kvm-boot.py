# airlock's kvm boot program (airlock-image(5), DESIGN.md section 8).
#
#   kvm-boot.py [-e NAME=VALUE]... [-p PROGRAM] MODULE...
#
# An image's kvm snapshot is this program, run by the image's own
# python3.11 under airlock-vmm -S, caught at the moment it first reads
# stdin.  images/snapshot-kvm gives it the snapshot description's lines:
# each "env" line as -e, the "program" line as -p, the "preload" modules
# last.  Everything above that read is done once, when the snapshot is
# built: the environment is set (before any module is imported, so that a
# library that reads it when it is loaded, OpenBLAS for one, sees it), the
# image's Debian packages are put on the path, the preload modules are
# imported, the program is compiled, the compiler is warmed.  Everything
# below it runs in every woken VM, on that VM's own copy of memory: fresh
# randomness, then the payload, with the process backend's conventions
# (guest/python.c): the same __main__, sys.argv, exit status, traceback
# and flushing.  With a program, the payload is not code: the program runs
# as __main__ with sys.argv [PROGRAM, payload], as python-runner -p runs it.
#
# Nothing here is a security boundary: the VMM enforces the policy on every
# system call, this program's included.
import sys


def _boot(args):
    import os
    program = None
    while len(args) >= 2 and args[0] in ("-e", "-p"):
        if args[0] == "-e":
            name, eq, value = args[1].partition("=")
            if not name or not eq:
                raise SystemExit("kvm-boot: -e %s: not NAME=VALUE" % args[1])
            # os.environ also calls putenv(3): C libraries see it too.
            os.environ[name] = value
        else:
            program = args[1]
        args = args[2:]
    # As python-runner: Python runs without site, and Debian's python3-*
    # packages live here.
    dist = "/usr/lib/python3/dist-packages"
    if os.path.isdir(dist) and dist not in sys.path:
        sys.path.append(dist)
    if program is not None:
        # Compiled once, here, so that a program that does not compile is
        # the snapshot's failure and no run pays for it.
        with open(program, "rb") as f:
            program = (program, compile(f.read(), program, "exec"))
    import gc
    import importlib
    for name in args:
        importlib.import_module(name)
    # The compiler's first use faults in its pages here, not in a run.
    exec(compile("x = [str(i) for i in range(9)]\n", "<warm-up>", "exec"),
         {})
    sys.argv = ["<payload>"]
    gc.collect()
    gc.freeze()
    return program


def _run(program, src):
    import os
    import random
    import traceback
    import types
    # This VM's own randomness: never the snapshot's generator state.
    random.seed()
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    code = 0
    try:
        if program is None:
            exec(compile(src, "<string>", "exec"), main.__dict__)
        else:
            # The image's program, with the payload as its one argument.
            sys.argv = [program[0], src.decode("utf-8", "surrogateescape")]
            exec(program[1], main.__dict__)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code & 0xff
        else:
            # sys.exit("message") prints the message and exits 1.
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException as e:
        # As PyErr_Print would, without this program's own frame.
        tb = e.__traceback__
        if tb is not None and tb.tb_frame.f_code is _run.__code__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        code = 1
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            pass
    os._exit(code)


_program = _boot(sys.argv[1:])
del _boot
# The snapshot point: airlock-vmm -S saves the VM when this read begins.
_run(_program, sys.stdin.buffer.read())
