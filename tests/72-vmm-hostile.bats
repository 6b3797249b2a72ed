#!/usr/bin/env bats
# airlock-vmm against a hostile guest: what running the VMM under
# emulation showed (issue 13), each pinned.  A guest must never pass for a
# VMM failure, must end as Linux would end it, must not see the host
# (clocks, inodes, owners, devices), and must not make the VMM slow.

load helpers
load vmm

PY="/usr/bin/python3.11 -S -I"

setup_file() {
	guest_root
}

setup() {
	have_kvm || skip "/dev/kvm cannot be opened"
	[ -x "$GROOT/linuxerr" ] || skip "test guests not built"
	JSONF=$BATS_TEST_TMPDIR/json
	export JSONF
}

# vmm STATUS ROOT ARGS...: run airlock-vmm -j on ROOT; the report in $json.
vmm() {
	local want=$1 root=$2
	shift 2
	run_tool "$want" sh -c '"$@" 3>"$JSONF" </dev/null' sh \
	    airlock-vmm -j -r "$root" "$@"
	json=$(cat "$JSONF")
}

@test "vmm hostile: int3 ends the run like SIGTRAP, as under Linux" {
	vmm 133 "$GROOT" -- /int3
	[ "$(jq -c '[.outcome, .signal]' <<<"$json")" = '["signaled",5]' ]
	[[ "$(jq -r .reason <<<"$json")" == "#BP"* ]]
}

@test "vmm hostile: wrapped lengths are Linux's errors, empty buffers at NULL no fault" {
	vmm 0 "$GROOT" -- /linuxerr
	[ "$(jq -r .outcome <<<"$json")" = exited ]
}

@test "vmm hostile: the system call number is RAX's low 32 bits; -1 is ENOSYS" {
	vmm 0 "$GROOT" -- /sysnum
	[ "$(jq -r .unknown_syscalls <<<"$json")" = 1 ]
}

@test "vmm hostile: with an allow list, system call -1 is a violation named -1, as on the process backend" {
	printf 'getpid exit_group\n' >"$BATS_TEST_TMPDIR/allow"
	vmm 137 "$GROOT" -a "$BATS_TEST_TMPDIR/allow" -- /sysnum
	[ "$(jq -c '.violations[0] | [.family, .syscall, .nr, .arch]' \
	    <<<"$json")" = '["unlisted","-1",-1,"x86_64"]' ]
}

@test "vmm hostile: an x32 call's number is reported without the x32 bit" {
	vmm 137 "$GROOT" -- /x32
	[ "$(jq -c '.violations[0] | [.syscall, .nr, .arch]' <<<"$json")" = \
	    '["x32:39",39,"x32"]' ]
}

@test "vmm hostile: the vDSO's old page is left alone once the guest maps something else there" {
	needs_python
	vmm 0 "$PYROOT" -- $PY -c '
import ctypes, os
libc = ctypes.CDLL(None)
libc.getauxval.restype = ctypes.c_ulong
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
    ctypes.c_int, ctypes.c_int, ctypes.c_long]
v = libc.getauxval(33)			# AT_SYSINFO_EHDR
assert v != 0
# MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED over the vDSO: zeros.
assert libc.mmap(v, 4096, 3, 0x32, -1, 0) == v
for i in range(5):
    os.getpid()				# exits, each a chance to write
os.write(1, b"%d\n" % (ctypes.string_at(v, 4096) == bytes(4096)))
os._exit(0)				# no clock calls: the vDSO is gone'
	[ "$output" = 1 ]
}

@test "vmm hostile: CLOCK_MONOTONIC and CLOCK_BOOTTIME count from the VM's start, not the host's" {
	needs_python
	local t0 t1
	t0=$(cut -d' ' -f1 /proc/uptime)
	vmm 0 "$PYROOT" -- $PY -c 'import time
print(time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME),
    time.clock_gettime(time.CLOCK_MONOTONIC_RAW))'
	t1=$(cut -d' ' -f1 /proc/uptime)
	read -r m b r <<<"$output"
	# Within the run's own duration; the host's uptime is more.
	python3 -c 'import sys; t0, t1 = float(sys.argv[1]), float(sys.argv[2])
sys.exit(not all(0 < float(x) < t1 - t0 for x in sys.argv[3:]))' \
	    "$t0" "$t1" "$m" "$b" "$r"
}

@test "vmm hostile: stat shows the fixed view, not the host's device, inode, owner or time" {
	needs_python
	vmm 0 "$PYROOT" -- $PY -c '
import os
s = os.stat("/usr/bin/python3.11")
d = {e.name: e.inode() for e in os.scandir("/usr/bin")}
t = os.stat("/tmp")
print(hex(s.st_dev), s.st_uid, s.st_gid, int(s.st_mtime), s.st_ino,
    d["python3.11"] == s.st_ino, hex(t.st_dev), os.stat("/").st_ino != s.st_ino)'
	read -r dev uid gid mtime ino same tdev diff <<<"$output"
	[ "$dev" = 0x801 ] && [ "$uid" = 0 ] && [ "$gid" = 0 ]
	[ "$mtime" = 1704067200 ] && [ "$same" = True ] && [ "$tdev" = 0x2a ]
	[ "$diff" = True ]
	[ "$ino" != "$(stat -c %i "$PYROOT/usr/bin/python3.11")" ]
	# Stable: the same number in another run.
	vmm 0 "$PYROOT" -- $PY -c 'import os; print(os.stat("/usr/bin/python3.11").st_ino)'
	[ "$output" = "$ino" ]
}

@test "vmm hostile: an image without /dev still has /dev/null and /dev/urandom" {
	# The test guests' root has no /dev at all.
	[ ! -e "$GROOT/dev" ]
	vmm 0 "$GROOT" -- /devs
}

@test "vmm hostile: a 1000-deep /tmp tree is made, walked and removed" {
	needs_python
	vmm 0 "$PYROOT" -t 120000 -- $PY -c '
import os
p = "/tmp"
for i in range(1000):
    p += "/d"
    os.mkdir(p)
n, q = 0, "/tmp"
while os.listdir(q):
    q += "/" + os.listdir(q)[0]
    n += 1
for i in range(1000):
    os.rmdir(p)
    p = p[:-2]
print(n, os.listdir("/tmp"))'
	[ "$output" = "1000 []" ]
}

@test "vmm hostile: poll of no descriptors sleeps, and for ever is a wall-time kill" {
	needs_python
	vmm 0 "$PYROOT" -- $PY -c 'import select; print(select.poll().poll(1))'
	[ "$output" = "[]" ]
	vmm 137 "$PYROOT" -- $PY -c 'import select; select.poll().poll()'
	[ "$(jq -r .kill_reason <<<"$json")" = wall_time ]
}

@test "vmm hostile: a program that stops itself stays stopped until the wall-clock limit, as under Linux" {
	needs_python
	local sig
	for sig in SIGSTOP SIGTSTP; do
		vmm 137 "$PYROOT" -t 1000 -- $PY -c "import os, signal
os.kill(os.getpid(), signal.$sig)
print('continued')"
		[ "$(jq -c '[.outcome, .kill_reason]' <<<"$json")" = '["killed","wall_time"]' ]
		[ "$output" = "" ]
	done
	# A stop signal it handles or ignores does not stop it.
	vmm 0 "$PYROOT" -- $PY -c "import os, signal
signal.signal(signal.SIGTSTP, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGTSTP)
print('continued')"
	[ "$output" = continued ]
}

@test "vmm hostile: a signal to itself is allowed whatever the allow list; kill(0) and other pids are not" {
	needs_python
	# The calls Python makes to start, without kill.
	printf '%s\n' access arch_prctl brk close fcntl getdents64 getpid \
	    getrandom gettid ioctl lseek mmap mprotect newfstatat openat \
	    pread64 prlimit64 read readlink rseq rt_sigaction set_robust_list \
	    set_tid_address sysinfo time write exit_group munmap \
	    rt_sigprocmask >"$BATS_TEST_TMPDIR/allow"
	vmm 0 "$PYROOT" -a "$BATS_TEST_TMPDIR/allow" -- $PY -c "import os
os.kill(os.getpid(), 0)
print('self')"
	[ "$output" = self ]
	[ "$(jq -r .observed_syscalls.kill <<<"$json")" = 1 ]
	for target in 0 -1 2; do
		vmm 137 "$PYROOT" -a "$BATS_TEST_TMPDIR/allow" -- $PY -c "import os
os.kill($target, 0)"
		[ "$(jq -c '.violations[0] | [.family, .syscall]' <<<"$json")" = \
		    '["unlisted","kill"]' ]
	done
}

@test "vmm hostile: chmod changes only the guest's own files, whose modes open(2) and access(2) then obey; the image stays as it is" {
	needs_python
	local before
	before=$(stat -c %a "$PYROOT/usr/bin/python3.11")
	# The same answers as the process backend's (its /tmp is the
	# sandbox's own tmpfs), for a user without capabilities.
	vmm 0 "$PYROOT" -- $PY -c '
import errno, os, stat
def e(f):
    try:
        f()
        return "ok"
    except OSError as x:
        return errno.errorcode[x.errno]
m = lambda p: oct(stat.S_IMODE(os.stat(p).st_mode))
print(oct(os.umask(0o077)), oct(os.umask(0o022)))
open("/tmp/f", "w").write("x")
os.mkdir("/tmp/d", 0o777)
print(m("/tmp/f"), m("/tmp/d"))
os.umask(0o077)
open("/tmp/g", "w").close()
os.mkdir("/tmp/e")
print(m("/tmp/g"), m("/tmp/e"))
os.chmod("/tmp/f", 0o400)
print(m("/tmp/f"), e(lambda: open("/tmp/f", "w")), e(lambda: open("/tmp/f", "r+")),
    open("/tmp/f").read(), os.access("/tmp/f", os.W_OK), os.access("/tmp/f", os.R_OK))
os.chmod("/tmp/f", 0o7777 | 0o170000)
print(m("/tmp/f"), stat.S_ISREG(os.stat("/tmp/f").st_mode))
os.chmod("/tmp/f", 0o200)
print(e(lambda: open("/tmp/f")), e(lambda: open("/tmp/f", "a").write("y")))
fd = os.open("/tmp/f", os.O_WRONLY)
os.fchmod(fd, 0o644)
os.close(fd)
os.chmod("/tmp/d", 0)
print(m("/tmp/d"), e(lambda: os.listdir("/tmp/d")))
img = os.open("/usr/bin/python3.11", os.O_RDONLY)
for what, f in [("image", lambda: os.chmod("/usr/bin/python3.11", 0o777)),
        ("up", lambda: os.chmod("/tmp/../../usr/bin/python3.11", 0o777)),
        ("root", lambda: os.chmod("/", 0o777)),
        ("null", lambda: os.chmod("/dev/null", 0o777)),
        ("none", lambda: os.chmod("/tmp/none", 0o777)),
        ("fimage", lambda: os.fchmod(img, 0o777)),
        ("fstdout", lambda: os.fchmod(1, 0o777)),
        ("fbad", lambda: os.fchmod(99, 0o777))]:
    print(what, e(f))
os.chmod("/tmp", 0o700)
print(m("/usr/bin/python3.11"), m("/tmp"))'
	assert_output "0o22 0o77
0o644 0o755
0o600 0o700
0o400 EACCES EACCES x False True
0o7777 True
EACCES ok
0o0 EACCES
image EROFS
up EROFS
root EROFS
null EPERM
none ENOENT
fimage EROFS
fstdout EPERM
fbad EBADF
0o755 0o700"
	assert_equal "$(stat -c %a "$PYROOT/usr/bin/python3.11")" "$before"
	# A new run starts from the modes it always had.
	vmm 0 "$PYROOT" -- $PY -c 'import os; print(oct(os.umask(0)), oct(os.stat("/tmp").st_mode))'
	assert_output "0o22 0o41777"
}

@test "vmm hostile: mbind checks its mode, node mask and range as Linux does on one node; hostile pointers and lengths are errors" {
	needs_python
	# Node 0 is the guest's one node; what Linux refuses on a one-node
	# machine is refused with its errors, and nothing is read past the
	# mask's maxnode - 1 bits.
	vmm 0 "$PYROOT" -- $PY -c '
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
sc = libc.syscall
sc.restype = ctypes.c_long
sc.argtypes = [ctypes.c_long] * 7
buf = mmap.mmap(-1, 4 * 4096)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
one, two = ctypes.c_ulong(1), ctypes.c_ulong(2)
big = (ctypes.c_ulong * 512)()
big[511] = 1 << 63
def mb(a, l, mode, mask, maxnode, flags=0):
    r = sc(237, a, l, mode, mask, maxnode, flags, 0)
    return r if r == 0 else -ctypes.get_errno()
p = ctypes.addressof
print(mb(addr, 4 * 4096, 2, p(one), 64), mb(addr, 4 * 4096, 0, 0, 0),
    mb(addr, 4 * 4096, 1, 0, 0), mb(addr, 4 * 4096, 2 | (1 << 14), p(two), 64),
    mb(addr, 0, 2, p(one), 64), mb(addr, 4 * 4096, 4, 0, 0))
print(mb(addr, 4 * 4096, 0, p(one), 64), mb(addr, 4 * 4096, 2, 0, 0),
    mb(addr, 4 * 4096, 2, p(two), 64), mb(addr, 4 * 4096, 9, p(one), 64),
    mb(addr, 4 * 4096, 2, p(one), 64, 8), mb(addr + 1, 4096, 2, p(one), 64),
    mb(addr, 4 * 4096, 4, p(one), 64))
print(mb(addr, 4 * 4096, 2, p(one), 64, 4))
print(mb(addr, 4 * 4096, 2, 8, 64), mb(addr, 4 * 4096, 2, (1 << 47) - 8, 4096),
    mb(0x1000, 4096, 2, p(one), 64), mb(addr, 3 * 4096, 2, p(one), 1 << 40),
    mb(addr, 4 * 4096, 2, p(big), 32769), mb(addr, (1 << 64) - 4096, 2, p(one), 64))'
	# Accepted; EINVAL for what Linux refuses; EPERM for MPOL_MF_MOVE_ALL
	# (no CAP_SYS_NICE); EFAULT and EINVAL for hostile pointers, counts
	# and lengths.
	assert_output "0 0 0 0 0 0
-22 -22 -22 -22 -22 -22 -22
-1
-14 -14 -14 -22 -22 -22"
	[ "$(jq -r .observed_syscalls.mbind <<<"$json")" = 20 ]
	[ "$(jq -r .unknown_syscalls <<<"$json")" = 0 ]
}
