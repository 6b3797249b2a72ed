#!/usr/bin/env bats
# What a sandbox holds at its payload's first instruction, seen from both
# sides: from inside by a payload that reports what it can find, and from
# the host by reading /proc of the live payload process and of its zygote.
# Every item here is listed in airlock-snaft(1), "WHAT A PAYLOAD STARTS
# WITH", with the reason it is safe.  Nothing of another sandbox and
# nothing of the zygote's bookkeeping may be among it.

load helpers
load process

setup_file() {
	needs_image
}

# The payload's own report.  Its first line takes the globals before it
# defines anything.
REPORT='G = sorted(globals())
import os, signal, sys, resource, json, socket, random
def isopen(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
R = resource
print(json.dumps({
 "globals": G,
 "fds": [fd for fd in range(64) if isopen(fd)],
 "stdin_is_null": os.fstat(0).st_rdev == os.makedev(1, 3),
 "env": dict(os.environ),
 "argv": sys.argv,
 "cwd": os.getcwd(),
 "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
 "ppid": os.getppid(),
 "host": socket.gethostname(),
 "tmp": os.listdir("/tmp"),
 "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
 "handlers": {signal.Signals(s).name: str(signal.getsignal(s)) for s in range(1, 32) if s not in (9, 19) and signal.getsignal(s) not in (signal.SIG_DFL, None)},
 "rlimits": {n[7:]: R.getrlimit(getattr(R, n)) for n in ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE")},
 "uname": list(os.uname()),
 "cpus": os.cpu_count(),
}, sort_keys=True))'

@test "a payload finds only its own descriptors, environment, limits and a fresh __main__" {
	# The host ignores and blocks signals of its own; none of that may
	# reach the sandbox.
	run_tool 0 bash -c "$(declare -f frame pipeline); IMAGES='$IMAGES' \
	    PTABLE='$PTABLE' BATS_FILE_TMPDIR='$BATS_TEST_TMPDIR'
	    trap '' HUP USR1
	    frame 1 code:execute '$REPORT' | pipeline |
	    jq -c '[.verdict.status, (.exec.stdout.b64 | @base64d | fromjson)]'"
	json_eq "$(jq -c '.[0]' <<<"$output")" 200
	local r
	r=$(jq -c '.[1]' <<<"$output")
	json_eq "$(jq -c .globals <<<"$r")" '["__annotations__","__builtins__","__doc__","__loader__","__name__","__package__","__spec__"]'
	# stdin is /dev/null, stdout and stderr snaft's pipes: nothing else.
	json_eq "$(jq -c .fds <<<"$r")" '[0,1,2]'
	json_eq "$(jq -c .stdin_is_null <<<"$r")" true
	json_eq "$(jq -c .env <<<"$r")" '{"HOME":"/tmp","LANG":"C.UTF-8","PATH":"/usr/bin:/bin"}'
	json_eq "$(jq -c .argv <<<"$r")" '["<payload>"]'
	json_eq "$(jq -c .cwd <<<"$r")" '"/"'
	# Root of its user namespace, which the host maps to nobody; the
	# zygote, its parent, is that pid namespace's init.
	json_eq "$(jq -c .ids <<<"$r")" '[0,0,0,0]'
	json_eq "$(jq -c .ppid <<<"$r")" 1
	json_eq "$(jq -c .host <<<"$r")" '"airlock"'
	json_eq "$(jq -c .tmp <<<"$r")" '[]'
	# Nothing blocked; CPython's own handlers, and SIGXFSZ back to default.
	json_eq "$(jq -c .mask <<<"$r")" '[]'
	json_eq "$(jq -c .handlers <<<"$r")" '{"SIGINT":"<built-in function default_int_handler>","SIGPIPE":"1"}'
	# The memory limit is the cgroup's here (AS unlimited); the rest as
	# the runner sets them.
	json_eq "$(jq -c .rlimits <<<"$r")" '{"AS":[-1,-1],"CORE":[0,0],"MEMLOCK":[0,0],"MSGQUEUE":[0,0],"NOFILE":[64,64],"NPROC":[0,0]}'
	json_eq "$(jq -c .uname <<<"$r")" '["Linux","airlock","6.1.0-airlock","#1 SMP airlock","x86_64"]'
	json_eq "$(jq -c .cpus <<<"$r")" 1
}

# The host's look at a live payload process and its zygote: run with the
# pipeline in a pid namespace of its own, so that every python-runner seen
# is this test's.  The payload sleeps; the audit reads /proc meanwhile.
AUDIT='import os, re, sys
pid, zyg = int(sys.argv[1]), int(sys.argv[2])
bad = []
def status(p):
    return dict(l.rstrip("\n").split(":\t", 1) for l in open(f"/proc/{p}/status"))
st = status(pid)
for k, want in (("Seccomp", "2"), ("NoNewPrivs", "1"), ("CapInh", "0" * 16),
                ("CapPrm", "0" * 16), ("CapEff", "0" * 16), ("CapBnd", "0" * 16),
                ("CapAmb", "0" * 16), ("SigBlk", "0" * 16), ("SigIgn", "%016x" % (1 << 12)),
                ("Uid", "65534\t65534\t65534\t65534"), ("Gid", "65534\t65534\t65534\t65534"),
                ("Groups", "")):
    if st.get(k, "").strip() != want:
        bad.append(f"{k} is {st.get(k)!r}, not {want}")
# No shared mapping at all: nothing another process could write into.
for l in open(f"/proc/{pid}/maps"):
    if l.split()[1][3] == "s":
        bad.append("shared mapping: " + l.strip())
fds = sorted(int(f) for f in os.listdir(f"/proc/{pid}/fd"))
if fds != [0, 1, 2]:
    bad.append(f"descriptors {fds}")
links = [os.readlink(f"/proc/{pid}/fd/{f}") for f in (0, 1, 2)]
if links[0] != "/dev/null" or not all(x.startswith("pipe:") for x in links[1:]):
    bad.append(f"descriptors are {links}")
env = sorted(open(f"/proc/{pid}/environ", "rb").read().split(b"\0")[:-1])
if env != [b"HOME=/tmp", b"LANG=C.UTF-8", b"PATH=/usr/bin:/bin"]:
    bad.append(f"environment {env}")
# The zygote keeps its bookkeeping in wipe-on-fork memory; at the same
# addresses the payload process has only zeros.
wf, cur = [], None
for l in open(f"/proc/{zyg}/smaps"):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", l)
    if m:
        cur = (int(m[1], 16), int(m[2], 16))
    elif l.startswith("VmFlags:") and " wf" in l:
        wf.append(cur)
if not wf:
    bad.append("the zygote has no wipe-on-fork mapping")
for lo, hi in wf:
    with open(f"/proc/{zyg}/mem", "rb") as f:
        f.seek(lo)
        z = f.read(hi - lo)
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(lo)
        p = f.read(hi - lo)
    if z.count(0) == len(z):
        bad.append("the zygote'"'"'s bookkeeping is all zeros: not it")
    if p.count(0) != len(p):
        bad.append(f"payload holds {len(p) - p.count(0)} nonzero bytes of the zygote'"'"'s bookkeeping")
print("\n".join(bad) or "clean")'

# Run a command with signal 33 ignored, set through the system call.
IGNORE33='import ctypes, os, sys
sa = (ctypes.c_ulong * 4)(1, 0, 0, 0)
assert ctypes.CDLL(None).syscall(13, 33, sa, None, 8) == 0
os.execvp(sys.argv[1], sys.argv[1:])'

@test "from the host: a running payload holds no shared mapping, descriptor, capability or bookkeeping of anyone else" {
	local p
	p="$(declare -f frame pipeline); IMAGES='$IMAGES' PTABLE='$PTABLE'
	    BATS_FILE_TMPDIR='$BATS_TEST_TMPDIR'
	    trap '' HUP USR1
	    { frame 1 code:execute 'import time; time.sleep(1)'
	      frame 2 code:execute 'import time; time.sleep(3)'; } |
		pipeline -p 4 >'$BATS_TEST_TMPDIR/out.jsonl' &
	    for i in \$(seq 200); do
		for q in \$(pgrep -x python-runner); do
		    grep -qs '^Seccomp:\s*2' /proc/\$q/status && pid=\$q
		done
		[ -n \"\$pid\" ] && break
		sleep 0.02
	    done
	    [ -n \"\$pid\" ] || { echo 'no running payload'; exit 1; }
	    # Both runs started: the later fork knows of the earlier sandbox.
	    sleep 0.5
	    python3 -c '$(sed "s/'/'\\\\''/g" <<<"$AUDIT")' \$pid \
		\$(awk '/^PPid:/ { print \$2 }' /proc/\$pid/status)
	    wait"
	# The host ignores signals of its own (above), and one that glibc
	# reserves for itself, which its sigaction can neither set nor reset:
	# none of that may reach the sandbox.
	run_tool 0 python3 -c "$IGNORE33" unshare --pid --fork --mount-proc \
	    bash -c "$p"
	assert_output clean
	run_tool 0 jq -r .verdict.status "$BATS_TEST_TMPDIR/out.jsonl"
	assert_output $'200\n200'
}
