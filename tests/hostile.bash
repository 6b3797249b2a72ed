# The hostile frames of tests/55-hostile.bats, which checks each one's
# verdict on the process backend, and tests/75-kvm-hostile.bats, which
# checks that the kvm backend gives the same verdicts.  Load after
# process.bash (frame).  hostile_frames reads $BATS_FILE_TMPDIR/host-marker,
# a file only the host has.
# shellcheck shell=bash

# S(nr, ...) is the raw system call, E() the errno name it left.
L='import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); S = libc.syscall; S.restype = ctypes.c_long; E = lambda: errno.errorcode.get(ctypes.get_errno()); '

# An i386 system call: jump to an "int 0x80" found in libc's own code (the
# bytes cd 80 inside its executable segment), so no executable memory has
# to be made for it.
I386='import ctypes, struct
libc = ctypes.CDLL(None)
data = open("/lib/x86_64-linux-gnu/libc.so.6", "rb").read()
phoff, = struct.unpack_from("<Q", data, 0x20)
phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
for i in range(phnum):
    ptype, pflags, poff, pvaddr, _, pfilesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
    if ptype == 1 and pflags & 1:
        break
getpid = ctypes.cast(libc.getpid, ctypes.c_void_p).value
base = getpid - (data.find(ctypes.string_at(getpid, 24), poff, poff + pfilesz) - poff + pvaddr)
gadget = data.find(b"\xcd\x80", poff, poff + pfilesz)
assert gadget > 0
print("found", flush=True)
ctypes.CFUNCTYPE(ctypes.c_long)(base + gadget - poff + pvaddr)()
print("returned")'

# Randomness a run can see, from every source Python offers.
RAND='import os, random, uuid, tempfile, secrets; print(os.urandom(16).hex(), random.getrandbits(64), uuid.uuid4(), tempfile.mktemp(), secrets.token_hex(16))'

hostile_frames() {
	local m=$BATS_FILE_TMPDIR/host-marker
	# ABI escapes and odd numbers.
	frame 100 code:execute "${L}S(0x40000000 | 39)"
	frame 101 code:execute "${L}S(0x40000000 | 1, 1, b'x', 1)"
	frame 102 code:execute "${L}S(0x40000000 | 41, 2, 1, 0)"
	frame 103 code:execute "${L}S(0x40000000 | 257, -100, b'/etc/passwd', 0)"
	frame 104 code:execute "${L}S(0x40000000 | 512, 0, 0, 0)"
	frame 105 code:execute "$I386"
	frame 106 code:execute "${L}S(1000)"
	frame 107 code:execute "${L}S(-1)"
	frame 108 code:execute "${L}S(0xffffffff)"
	frame 109 code:execute "${L}print(S(ctypes.c_long(0x100000000 | 39)) > 0)"
	# Argument tricks.
	frame 110 code:execute "${L}import os
st = os.fstat(0)
print(os.major(st.st_rdev), os.minor(st.st_rdev))
print(S(16, 0, ctypes.c_ulong(0xffffffff00005412), b'x'), E())"
	frame 111 code:execute "${L}import os
fd = os.open('/dev/urandom', os.O_RDWR)
print(S(16, fd, ctypes.c_ulong(0xffffffff00005204), 0), E())"
	frame 112 code:execute "${L}S(435, 0, 0)"
	frame 113 code:execute "${L}
class How(ctypes.Structure):
    _fields_ = [('flags', ctypes.c_uint64), ('mode', ctypes.c_uint64), ('resolve', ctypes.c_uint64)]
h = How(0, 0, 0)
for p in (b'/etc/passwd', b'$m', b'/proc/1/root$m', b'/../../..$m'):
    print(S(437, -100, p, ctypes.byref(h), 24) >= 0, E())"
	frame 114 code:execute "${L}S(9, 0, 4096, 7, 0x22, -1, 0)"
	frame 115 code:execute "${L}import mmap
m = mmap.mmap(-1, 4096)
a = ctypes.addressof(ctypes.c_char.from_buffer(m))
S(10, ctypes.c_ulong(a), 4096, ctypes.c_ulong(0xffffffff00000004 | 1))"
	frame 116 code:execute "${L}S(329, 0, 4096, 4, -1)"
	frame 123 code:execute "${L}import mmap
m = mmap.mmap(-1, 4096)
m[0] = 1
a = ctypes.addressof(ctypes.c_char.from_buffer(m))
print(S(28, ctypes.c_ulong(a), 4096, 100), E(), S(28, ctypes.c_ulong(a), 4096, 101), E())"
	frame 117 code:execute "${L}import resource
r = (ctypes.c_uint64 * 2)(1, 1)
S(302, 1, resource.RLIMIT_NOFILE, r, 0)"
	frame 119 code:execute "${L}S(62, -1, 9)"
	frame 120 code:execute "${L}S(62, 0, 9)"
	frame 121 code:execute "${L}import os; S(234, os.getpid(), os.getpid() + 1, 9)"
	frame 122 code:execute "${L}import os; S(62, os.getppid(), 9)"
	# Kernel surfaces.
	frame 130 code:execute "${L}S(425, 8, 0)"
	frame 131 code:execute "${L}S(321, 0, 0, 0)"
	frame 132 code:execute "${L}S(323, 0)"
	frame 133 code:execute "${L}S(250, 0, 0)"
	frame 134 code:execute "${L}S(248, b'user', b'x', 0, 0, -2)"
	frame 135 code:execute "${L}S(298, 0, 0, -1, -1, 0)"
	frame 136 code:execute "${L}S(272, 0x10000000)"
	frame 137 code:execute "${L}S(308, 0, 0)"
	frame 138 code:execute "${L}S(101, 16, 1, 0, 0)"
	frame 139 code:execute "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"
	frame 140 code:execute "import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)"
	frame 141 code:execute "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)"
	frame 142 code:execute "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)"
	frame 143 code:execute "import socket; socket.socketpair()"
	frame 144 code:execute "${L}S(175, 0, 0, b'')"
	frame 145 code:execute "${L}S(313, 0, b'', 0)"
	frame 146 code:execute "${L}S(246, 0, 0, 0, 0)"
	frame 147 code:execute "${L}S(320, 0, 0, 0, b'', 0)"
	frame 148 code:execute "${L}S(165, b'none', b'/tmp', b'tmpfs', 0, 0)"
	frame 149 code:execute "${L}S(155, b'/tmp', b'/tmp')"
	frame 150 code:execute "import os; os.chroot('/tmp')"
	# reboot with the real magic numbers, asking for something harmless
	# (LINUX_REBOOT_CMD_CAD_OFF), should it ever run.
	frame 151 code:execute "${L}S(169, 0xfee1dead, 672274793, 0, 0)"
	frame 152 code:execute "${L}S(167, b'/tmp/swap', 0)"
	frame 153 code:execute "${L}S(164, 0, 0)"
	frame 154 code:execute "${L}S(310, 1, 0, 1, 0, 1, 0)"
	frame 155 code:execute "import os; os.execv('/usr/bin/python3.11', ['python3', '-c', 'print(1)'])"
	frame 156 code:execute "import os; os.setuid(1)"
	frame 157 code:execute "${L}S(317, 1, 0, 0)"
	frame 158 code:execute "${L}S(135, 0x0400000)"
	# Resource bombs.
	frame 160 code:execute "import os
while True: os.fork()"
	frame 161 code:execute "import threading
ts = [threading.Thread(target=lambda: None) for _ in range(100)]
for t in ts: t.start()"
	frame 162 code:execute "x = bytearray(400 * 2**20)"
	frame 164 code:execute "s = 'x' * 2**30"
	frame 165 code:execute "import errno
try:
    for i in range(8):
        with open('/tmp/f%d' % i, 'wb') as f: f.write(b'x' * 900000)
except OSError as e:
    print(errno.errorcode[e.errno], i)"
	frame 166 code:execute "import errno
n = 0
try:
    while True:
        open('/tmp/i%d' % n, 'w').close()
        n += 1
except OSError as e:
    print(errno.errorcode[e.errno], n > 100)"
	frame 167 code:execute "import errno
fs = []
try:
    while True: fs.append(open('/dev/null'))
except OSError as e:
    print(errno.errorcode[e.errno], len(fs) > 50)"
	frame 168 code:execute "def f(n): return f(n + 1)
f(0)"
	# Time and output.
	frame 171 code:execute "import time; time.sleep(60)" '{"wall_ms": 1000}'
	frame 172 code:execute "import sys
while True: sys.stdout.write('x' * 4096)"
	frame 173 code:execute "import sys
while True: sys.stderr.write('y' * 4096)"
	frame 175 code:execute "import signal, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
    signal.signal(s, signal.SIG_IGN)
time.sleep(60)" '{"wall_ms": 1000}'
	frame 176 code:execute "import os, signal; os.kill(os.getpid(), signal.SIGSTOP)" '{"wall_ms": 1000}'
	frame 178 code:execute "print('x' * 70000)"
	# Host reach.
	frame 180 code:execute "import errno
for p in ('/proc/1/status', '/proc/self/status', '/proc/self/mountinfo',
          '/proc/self/environ', '/sys/kernel/notes', '/dev/mem', '/dev/kmsg',
          '/etc/shadow', '$m'):
    try:
        print(open(p, 'rb').read(64))
    except OSError as e:
        print(errno.errorcode[e.errno])"
	frame 181 code:execute "import errno
for p, v in (('/proc/sysrq-trigger', 'h'),
             ('/proc/sys/kernel/core_pattern', '$(cat /proc/sys/kernel/core_pattern)')):
    try:
        with open(p, 'w') as f: f.write(v)
        print('wrote')
    except OSError as e:
        print(errno.errorcode[e.errno])"
	frame 182 code:execute "import os, hashlib
print(sorted(os.listdir('/etc')))
print(hashlib.sha256(open('/etc/passwd', 'rb').read()).hexdigest())
print(os.path.exists('$m'), os.path.exists('$(dirname "$m")'))"
	frame 183 code:execute "import os; os.symlink('$m', '/tmp/l')"
	frame 184 code:execute "import os
print(sorted(os.listdir('/tmp/' + '../' * 40)))
os.makedirs('/tmp/a/b')
print(sorted(os.listdir('/tmp/a/b/../../../../..')))"
	frame 185 code:execute "import os
for i in range(50): os.chdir('..')
print(sorted(os.listdir('.')))"
	frame 186 code:execute "import os, sys
print(sorted(os.environ.items()))
print([p for p in sys.path if 'evil' in p])"
	frame 187 code:execute "import errno
r = []
for p in ('/etc/passwd', '/usr/bin/python3.11', '/bin/new', '/new', '/proc/new'):
    try:
        with open(p, 'a') as f: f.write('x')
        r.append('wrote')
    except OSError as e:
        r.append(errno.errorcode.get(e.errno))
print(r)"
	frame 188 code:execute "import os
r = []
for fd in range(1024):
    try:
        os.fstat(fd)
        r.append(fd)
    except OSError:
        pass
print(r)"
	# Snapshot hygiene across concurrent runs.
	frame 190 code:execute "import os, time
open('/tmp/left-by-190', 'w').write('x')
time.sleep(1)
print(sorted(os.listdir('/tmp')))"
	frame 191 code:execute "import os, time
time.sleep(0.5)
print(sorted(os.listdir('/tmp')))"
	frame 192 code:execute "$RAND"
	frame 193 code:execute "$RAND"
	frame 194 code:execute "$RAND"
	frame 195 code:fast "$RAND"
	# The core set again in fast mode, where allowed calls never leave
	# the kernel.
	frame 200 code:fast "import socket; socket.socket()"
	frame 201 code:fast "import os; os.fork()"
	frame 202 code:fast "import ctypes; ctypes.CDLL('libssl.so.3')"
	frame 203 code:fast "${L}S(1000)"
	frame 204 code:fast "${L}S(0x40000000 | 39)"
	frame 205 code:fast "$I386"
	frame 206 code:fast "${L}S(62, -1, 9)"
	frame 207 code:fast "${L}import resource
r = (ctypes.c_uint64 * 2)(1, 1)
S(302, 1, resource.RLIMIT_NOFILE, r, 0)"
	frame 208 code:fast "${L}S(435, 0, 0)"
	frame 209 code:fast "${L}S(321, 0, 0, 0)"
	frame 210 code:fast "${L}print(S(ctypes.c_long(0x100000000 | 39)) > 0)"
	frame 211 code:fast "${L}import mmap
m = mmap.mmap(-1, 4096)
a = ctypes.addressof(ctypes.c_char.from_buffer(m))
S(10, ctypes.c_ulong(a), 4096, ctypes.c_ulong(0xffffffff00000004 | 1))"
	frame 212 code:fast "import os; os.chdir('/')"
	frame 214 code:fast "import threading; threading.Thread(target=print).start()"
	# Frames that never reach a sandbox.
	printf '%s\n' '{"channel_id": 220, "intent": "code:execute", "from_aint": "a", "payload": "print(1)\u0000import socket"}'
	printf '{"channel_id": 221, "intent": "code:execute", "from_aint": "a", "payload": "print(1)\xff"}\n'
}

# The payloads that need CPU time to reach their limit (the CPU limit is
# whole seconds, and one more to the hard limit): a batch of their own, one
# at a time, so that on a machine with few and busy cores each reaches its
# CPU limit well before the wall-clock one.
hog_frames() {
	frame 118 code:execute "${L}import resource
r = (ctypes.c_uint64 * 2)(2**64 - 1, 2**64 - 1)
print(S(302, 0, resource.RLIMIT_CPU, r, 0), E(), flush=True)
while True: pass" '{"cpu_ms": 500}'
	frame 163 code:execute "l = []
while True: l.append([0] * 1000)"
	frame 170 code:execute "while True: pass" '{"cpu_ms": 500}'
	frame 174 code:execute "import signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
while True: pass" '{"cpu_ms": 500}'
	frame 179 code:execute "import signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
    signal.signal(s, signal.SIG_IGN)
while True: pass" '{"cpu_ms": 500}'
	frame 177 code:execute "import os; os.close(1); os.close(2)
while True: pass" '{"cpu_ms": 500}'
	frame 213 code:fast "while True: pass" '{"cpu_ms": 500}'
	frame 124 code:execute "import os
while True: os.getpid()" '{"wall_ms": 1500}'
}

# The runner's own symbols, from its ELF file in the image, and the load
# address of the program: what an attacker in one sandbox uses to find the
# zygote's bookkeeping in the memory it inherited.  P(a) reads a pointer.
SYMS='import ctypes, struct, time
data = open("/usr/libexec/airlock/python-runner", "rb").read()
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum = struct.unpack_from("<HH", data, 0x3a)
sec = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
sym = {}
for s in sec:
    if s[1] == 2:
        st = sec[s[6]][4]
        for o in range(s[4], s[4] + s[5], 24):
            n, info, _, _, v, _ = struct.unpack_from("<IBBHQQ", data, o)
            sym[data[st + n:data.index(b"\0", st + n)]] = v
base = ctypes.c_size_t.from_address(ctypes.CDLL(None)._handle).value
P = lambda a: ctypes.c_size_t.from_address(a).value
head = sym.get(b"sandboxes")
print("list" if head else "no list", flush=True)
'

# Runs that collude: started together in one batch, each pair on sandboxes
# of the same zygote, the later one forked after the earlier.  What one
# writes, locks, sets or allocates must reach the other in no way.
collusion_frames() {
	# The red team's verdict forgery: the victim sleeps and exits 3; the
	# attacker walks the sandbox list it inherited from the zygote and
	# sets every older sandbox's memory-error flag, again and again; the
	# reader, a third run, looks for the attacker's mark in those pages.
	frame 300 code:execute "import time; time.sleep(1); raise SystemExit(3)"
	frame 301 code:execute "${SYMS}hits = 0
t = time.time()
while head and time.time() - t < 1.6:
    b = P(base + head)
    while b:
        ho = P(b + 32)
        if ho:
            ctypes.c_int.from_address(ho + 8).value = 1
            ctypes.c_int.from_address(ho + 12).value = 0x5a5a5a5a
            hits += 1
        b = P(b)
print('wrote', hits > 0)"
	frame 302 code:execute "${SYMS}seen = False
t = time.time()
while head and time.time() - t < 1.6:
    b = P(base + head)
    while b:
        ho = P(b + 32)
        if ho and ctypes.c_uint.from_address(ho + 12).value == 0x5a5a5a5a:
            seen = True
        b = P(b)
print('seen' if seen else 'not seen')"
	# Files: one writes its /tmp and the image; the other looks.
	frame 303 code:execute "import errno, time
open('/tmp/collude', 'w').write('secret')
try:
    open('/usr/share/collude', 'w')
except OSError as e:
    print(errno.errorcode[e.errno])
time.sleep(2)"
	frame 304 code:execute "import os, time
t = time.time()
while time.time() - t < 2 and not os.path.exists('/tmp/collude'):
    time.sleep(0.05)
print(os.path.exists('/tmp/collude'))"
	# Locks: a shared lock on a file of the image, and another run
	# asking who holds one there.
	frame 305 code:execute "import fcntl, time
f = open('/usr/lib/python3.11/os.py')
try:
    fcntl.lockf(f, fcntl.LOCK_SH)
    print('locked', flush=True)
except OSError as e:
    print('refused', e.errno, flush=True)
time.sleep(2)"
	frame 306 code:execute "import fcntl, os, struct, time
f = open('/usr/lib/python3.11/os.py')
seen = set()
t = time.time()
while time.time() - t < 2:
    try:
        r = fcntl.fcntl(f, fcntl.F_GETLK, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 0, 0))
        seen.add(struct.unpack('hhqqi4x', r)[0])
    except OSError as e:
        seen.add('refused %d' % e.errno)
    time.sleep(0.05)
print(sorted(map(str, seen)))"
	# Limits: one sets its own, the other reads everyone's.
	frame 307 code:execute "import resource, time
resource.setrlimit(resource.RLIMIT_NOFILE, (37, 64))
time.sleep(2)"
	frame 308 code:execute "import os, resource, time
t = time.time()
found = set()
while time.time() - t < 1.5:
    for pid in range(2, 64):
        if pid != os.getpid():
            try:
                if resource.prlimit(pid, resource.RLIMIT_NOFILE)[0] == 37:
                    found.add(pid)
            except OSError:
                pass
print(sorted(found))"
	# Memory: one allocates, the other watches what the machine says.
	frame 309 code:execute "import time
b = bytearray(96 * 2**20)
for i in range(0, len(b), 4096): b[i] = 1
time.sleep(2)"
	frame 310 code:execute "import os, time
seen = set()
t = time.time()
while time.time() - t < 2:
    seen.add((os.sysconf('SC_PHYS_PAGES'), os.sysconf('SC_AVPHYS_PAGES')))
    time.sleep(0.02)
print(len(seen), os.sysconf('SC_PAGE_SIZE') * next(iter(seen))[0], os.uname().release, os.cpu_count())"
	# Signals to the sandbox next door, SysV shared memory, a POSIX
	# message queue and an abstract socket: all outside every policy.
	frame 311 code:execute "import os
for pid in range(2, 64):
    if pid != os.getpid():
        os.kill(pid, 0)"
	frame 312 code:execute "${L}print(S(29, 0, 4096, 0o1666))"
	frame 313 code:execute "${L}print(S(240, b'/collude', 0o102, 0o666, 0))"
	frame 314 code:execute "import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0collude')"
}
