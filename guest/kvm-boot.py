# airlock's kvm boot program (airlock-image(5), DESIGN.md section 8).
#
# The kvm backend's python-safe-boot snapshot is this program, run by the
# image's own python3.11 under airlock-vmm -S, caught at the moment it first
# reads stdin.  Everything above that read is done once, when the snapshot
# is built: the interpreter starts, the snapshot's preload modules (the
# arguments) are imported, the compiler is warmed.  Everything below it
# runs in every woken VM, on that VM's own copy of memory: fresh
# randomness, then the payload, with the process backend's conventions
# (python-runner.c): the same __main__, sys.argv, exit status, traceback
# and flushing.
#
# Nothing here is a security boundary: the VMM enforces the policy on every
# system call, this program's included.
import sys


def _boot(preload):
    import gc
    import importlib
    for name in preload:
        importlib.import_module(name)
    # The compiler's first use faults in its pages here, not in a run.
    exec(compile("x = [str(i) for i in range(9)]\n", "<warm-up>", "exec"),
         {})
    sys.argv = ["<payload>"]
    gc.collect()
    gc.freeze()


def _run(src):
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
        exec(compile(src, "<string>", "exec"), main.__dict__)
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


_boot(sys.argv[1:])
del _boot
# The snapshot point: airlock-vmm -S saves the VM when this read begins.
_run(sys.stdin.buffer.read())
