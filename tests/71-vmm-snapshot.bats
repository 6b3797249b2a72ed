#!/usr/bin/env bats
# airlock-vmm's snapshots under a real /dev/kvm (on a host without one, in
# the kvm test bed: make check-kvm): images/snapshot-kvm builds the
# airlock-python image's python-safe-boot snapshot, airlock-vmm -R wakes
# it with a payload, and a served pool VM (-c) answers a real
# airlock-snaft, as airlock-wake is to start one.

load helpers
load process
load vmm

setup_file() {
	have_kvm || skip "/dev/kvm cannot be opened"
	needs_image
	# The snapshot, built by the project's own script into a scratch
	# image directory whose rootfs is the built image's.
	local out=$BATS_FILE_TMPDIR/images
	mkdir -p "$out/airlock-python"
	ln -s "$PYROOT" "$out/airlock-python/rootfs"
	local t0 t1
	t0=$(cut -d' ' -f1 /proc/uptime)
	(cd "$TOP" && images/snapshot-kvm "$BIN/airlock-vmm" "$out" \
	    airlock-python python-safe-boot) >"$BATS_FILE_TMPDIR/build.log" 2>&1
	t1=$(cut -d' ' -f1 /proc/uptime)
	BUILD_S=$(echo "$t0 $t1" | awk '{print $2 - $1}')
	export SNAP=$out/airlock-python/snapshots/python-safe-boot.kvm BUILD_S
	# The table of tests/51-files.bats's files intent, for the same
	# cases on the kvm backend: 3 files, 64 KiB in and out.
	{
		cat "$TOP/etc/intents"
		printf 'intent code:files\n\timage airlock-python\n\tsnapshot python-safe-boot\n\tbackend auto\n'
		printf '\tlimits wall=10s cpu=5s memory=256M output=64K payload=64K files=3 input=64K outdir=64K\n'
		printf '\tallow open stat close getpid\n'
	} >"$BATS_FILE_TMPDIR/intents"
	export FTABLE=$BATS_FILE_TMPDIR/intents
}

setup() {
	have_kvm || skip "/dev/kvm cannot be opened"
	[ -f "$SNAP" ] || { cat "$BATS_FILE_TMPDIR/build.log" >&2; false; }
	JSONF=$BATS_TEST_TMPDIR/json
	export JSONF
}

# wake STATUS PAYLOAD: restore the snapshot, run PAYLOAD; the report is
# in $json.
wake() {
	printf '%s' "$2" >"$BATS_TEST_TMPDIR/payload"
	wake_file "$1" "$BATS_TEST_TMPDIR/payload" "$SNAP" "$PYROOT"
}

# wake_file STATUS FILE SNAPSHOT ROOT: the payload from FILE.
wake_file() {
	run_tool "$1" sh -c '"$@" 3>"$JSONF" <"$0"' "$2" airlock-vmm -j \
	    -R "$3" -r "$4"
	json=$(cat "$JSONF")
}

@test "vmm snapshot: built with a digest, and a tampered one is refused" {
	grep -q '^sha256:[0-9a-f]\{64\}$' "$SNAP.digest"
	cp "$SNAP" "$BATS_TEST_TMPDIR/bad.kvm"
	cp "$SNAP.digest" "$BATS_TEST_TMPDIR/bad.kvm.digest"
	printf 'x' | dd of="$BATS_TEST_TMPDIR/bad.kvm" bs=1 seek=70000 \
	    conv=notrunc 2>/dev/null
	run_tool 112 airlock-vmm -R "$BATS_TEST_TMPDIR/bad.kvm" -r "$PYROOT" \
	    </dev/null
	[[ "$stderr" == *digest* ]]
}

@test "vmm snapshot: a restored VM runs its payload: print(6*7) is 42" {
	wake 0 'print(6*7)'
	[ "$output" = 42 ]
	[ "$(jq -r .outcome <<<"$json")" = exited ]
	[ "$(jq -r .snapshot_digest <<<"$json")" = "$(cat "$SNAP.digest")" ]
}

# The read that the snapshot stopped in is completed with the payload's
# length in RAX: a VM that ran the stub's instruction again would take
# that length for a system call number.  One payload per kind of number:
# dangerous calls (socket 41, fork 57), calls that end the run (exit 60,
# exit_group 231), allowed ones (getpid 39, write 1), unknown ones (335,
# 1000) and lengths no call has (4096, 70000).
@test "vmm snapshot: a payload of any length runs, whatever call its length names" {
	local n f=$BATS_TEST_TMPDIR/payload
	for n in 11 39 41 57 60 231 335 1000 4096 70000; do
		python3 -c 'import sys; n = int(sys.argv[1])
p = "print(6*7)\n"
if n > len(p):
    p += "#" * (n - len(p) - 1) + "\n"
open(sys.argv[2], "w").write(p)' "$n" "$f"
		[ "$(stat -c %s "$f")" -eq "$n" ]
		wake_file 0 "$f" "$SNAP" "$PYROOT"
		[ "$output" = 42 ] || { echo "length $n: $output" >&2; false; }
		[ "$(jq -c .violations <<<"$json")" = '[]' ]
	done
}

# The same with a tiny guest of our own (tests/vmm/snapread.S) that reads
# its payload, writes it back and checks a hostile madvise in memory
# restored from the snapshot: the stub's instruction must not run twice
# whatever the length, and the madvise must not be the VMM's failure.
@test "vmm snapshot: a tiny guest restored with payloads of every length class" {
	local root=$BATS_TEST_TMPDIR/root n
	mkdir -p "$root"
	cp "$TOP/build/tests/vmm/snapread" "$root/"
	run_tool 0 airlock-vmm -S "$BATS_TEST_TMPDIR/s.kvm" -r "$root" \
	    -- /snapread </dev/null
	for n in 1 39 41 57 60 62 231 335 1000; do
		head -c "$n" /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/p"
		wake_file 0 "$BATS_TEST_TMPDIR/p" "$BATS_TEST_TMPDIR/s.kvm" \
		    "$root"
		[ "${#output}" -eq "$n" ] ||
		    { echo "length $n: ${#output} bytes back" >&2; false; }
		[ "$(jq -r .outcome <<<"$json")" = exited ]
	done
}

@test "vmm snapshot: madvise that page rounding would wrap is EINVAL, not a VMM failure" {
	wake 0 'import ctypes, ctypes.util
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
print(libc.madvise(0x400000, 0xfffffffffffff001, 4), ctypes.get_errno())'
	[ "$output" = "-1 22" ]
	[ "$(jq -r .outcome <<<"$json")" = exited ]
}

@test "vmm snapshot: two wakes of one snapshot see different randomness" {
	local code='import os, random, uuid
print(os.urandom(16).hex(), random.getrandbits(64), uuid.uuid4())'
	wake 0 "$code"
	a=$output
	wake 0 "$code"
	b=$output
	[ -n "$a" ] && [ -n "$b" ]
	read -r u1 r1 i1 <<<"$a"
	read -r u2 r2 i2 <<<"$b"
	[ "$u1" != "$u2" ] && [ "$r1" != "$r2" ] && [ "$i1" != "$i2" ]
}

@test "vmm snapshot: socket() in a restored VM is a violation" {
	wake 137 'import socket; socket.socket()'
	[ "$(jq -c '.violations[0] | [.family, .syscall, .nr]' <<<"$json")" = \
	    '["socket","socket",41]' ]
	[ "$(jq -r .kill_reason <<<"$json")" = violation ]
}

@test "vmm snapshot: dlopen is a violation after the snapshot point" {
	# _lsprof is a C extension module the snapshot did not preload.
	wake 137 'import _lsprof'
	[ "$(jq -r '.violations[0].family' <<<"$json")" = dlopen ]
}

@test "vmm snapshot: the guest's monotonic clock goes on from the snapshot, not the host's uptime" {
	local t0 t1
	t0=$(cut -d' ' -f1 /proc/uptime)
	wake 0 'import time; print(time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME))'
	t1=$(cut -d' ' -f1 /proc/uptime)
	read -r m b <<<"$output"
	# Less than the snapshot's build and this run took; the host's
	# uptime is more than that.
	python3 -c 'import sys; m, b, t0, t1, built = map(float, sys.argv[1:])
sys.exit(not (0 < m < built + (t1 - t0) and 0 < b < built + (t1 - t0)))' \
	    "$m" "$b" "$t0" "$t1" "$BUILD_S"
}

# served PAYLOAD: a pool VM of the python snapshot (vmm.bash).
served() {
	served_run "$SNAP" "$PYROOT" "$1"
	[ "$vmm_status" != none ] || { cat "$BATS_TEST_TMPDIR/vmm.log" >&2;
	    echo "record: $rec" >&2; false; }
}

@test "vmm snapshot: a served pool VM runs a record through airlock-snaft: print is 200" {
	served 'print(6*7)'
	[ "$(jq -r .verdict.status <<<"$rec")" = 200 ] ||
	    { jq -c '[.verdict, .exec.error, .exec.violations]' <<<"$rec" >&2;
	    cat "$BATS_TEST_TMPDIR/vmm.log" >&2; false; }
	[ "$(jq -r .exec.backend <<<"$rec")" = kvm ]
	[ "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$rec")" = 42 ]
	# 0, or 137 where snaft's kill of what is left of a finished run
	# (airlock-snaft(1)) came before the VMM's own exit.
	[ "$vmm_status" = 0 ] || [ "$vmm_status" = 137 ]
}

@test "vmm snapshot: a served pool VM runs a record through airlock-snaft: socket is 403" {
	served 'import socket; socket.socket()'
	[ "$(jq -r .verdict.status <<<"$rec")" = 403 ] ||
	    { jq -c '[.verdict, .exec.error]' <<<"$rec" >&2;
	    cat "$BATS_TEST_TMPDIR/vmm.log" >&2; false; }
	[ "$(jq -c '.exec.violations[0] | [.family, .syscall]' <<<"$rec")" = \
	    '["socket","socket"]' ]
	[ "$vmm_status" = 137 ]
}

@test "vmm snapshot: a served run's memory limit counts what the run maps, not its snapshot's, and holds" {
	# code:execute's limit is 256 MiB; the snapshot maps about 36 MiB of
	# its own.  240 MiB fits only if those are not counted, as a process
	# sandbox's cgroup does not count its zygote's.  The VMM counts what
	# is mapped, touched or not: mmap, not a bytearray, whose 240 MiB of
	# zeroes took more than the 5 s CPU limit under the test bed's
	# emulation.
	local m='import mmap; m = mmap.mmap(-1, 240 << 20, flags=mmap.MAP_PRIVATE); m[-1] = 1'
	served "$m; print(len(m) >> 20)"
	[ "$(jq -c '[.verdict.status, (.exec.stdout.b64 | @base64d)]' <<<"$rec")" = '[200,"240\n"]' ] ||
	    { jq -c '[.verdict, .exec.error, (.exec.stderr.b64 | @base64d)]' <<<"$rec" >&2; false; }
	# Past the limit, on top of the same: refused, a 413.
	served "$m; n = mmap.mmap(-1, 32 << 20, flags=mmap.MAP_PRIVATE)"
	[ "$(jq -c '[.verdict.status, .exec.kill_reason]' <<<"$rec")" = '[413,"memory"]' ] ||
	    { jq -c '[.verdict, .exec.error]' <<<"$rec" >&2; false; }
}

@test "vmm snapshot: a served run's violation with a -1 argument is a 403, not a report snaft cannot read" {
	served 'import ctypes
ctypes.CDLL(None).syscall(41, -1, -2, 0)'
	[ "$(jq -r .verdict.status <<<"$rec")" = 403 ] ||
	    { jq -c '[.verdict, .exec.error]' <<<"$rec" >&2; false; }
	[ "$(jq -r '.exec.violations[0].arg' <<<"$rec")" = \
	    "domain=18446744073709551615 type=0xfffffffffffffffe" ]
}

# Files in and out on the kvm backend: the cases of tests/51-files.bats,
# through a real airlock-vmm -R -c and a real airlock-snaft, with the same
# answers and the same words.

# files_served PAYLOAD FILES: a served run of the code:files intent.
files_served() {
	served_run "$SNAP" "$PYROOT" "$1" "$2" "$FTABLE" code:files
	[ "$vmm_status" != none ] || { cat "$BATS_TEST_TMPDIR/vmm.log" >&2;
	    echo "record: $rec" >&2; false; }
	[ "$(jq -r .exec.backend <<<"$rec")" = kvm ]
}

@test "vmm files: input files are under /input; /output comes back with each file's digest" {
	files_served "import os
print(sorted(os.listdir('/input')), open('/input/a.txt').read())
open('/output/upper.txt', 'w').write(open('/input/a.txt').read().upper())
open('/output/empty', 'w')" '{"a.txt": "aGVsbG8=", "b.bin": "AAEC"}'
	[ "$(jq -r .verdict.status <<<"$rec")" = 200 ] ||
	    { jq -c '[.verdict, .exec.error, .exec.stderr.b64]' <<<"$rec" >&2;
	    false; }
	[ "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$rec")" = \
	    "['a.txt', 'b.bin'] hello" ]
	[ "$(jq -c .exec.input_files <<<"$rec")" = \
	    "[{\"name\":\"a.txt\",\"bytes\":5,\"sha256\":\"$(printf hello | sha256sum | cut -c1-64)\"},{\"name\":\"b.bin\",\"bytes\":3,\"sha256\":\"$(printf '\0\1\2' | sha256sum | cut -c1-64)\"}]" ]
	[ "$(jq -c '[.exec.output_files[] | [.name, .bytes, (.b64 | @base64d), .sha256]]' <<<"$rec")" = \
	    "[[\"empty\",0,\"\",\"$(printf '' | sha256sum | cut -c1-64)\"],[\"upper.txt\",5,\"HELLO\",\"$(printf HELLO | sha256sum | cut -c1-64)\"]]" ]
	[ "$(jq -c .exec.output_refused <<<"$rec")" = null ]
}

@test "vmm files: /input cannot be written, and /output gives back only regular files with good names" {
	files_served "import errno, os
for f in ('/input/a.txt', '/input/new'):
    try:
        open(f, 'w')
    except OSError as e:
        print(errno.errorcode[e.errno])
for f in (lambda: os.unlink('/input/a.txt'), lambda: os.mkdir('/input/d'),
        lambda: os.chmod('/input/a.txt', 0o777), lambda: os.chmod('/input', 0o777)):
    try:
        f()
    except OSError as e:
        print(errno.errorcode[e.errno])
os.mkdir('/output/dir')
open('/output/bad\x01name', 'w')
open('/output/ok', 'w').write('ok')" '{"a.txt": "aGVsbG8="}'
	[ "$(jq -r .verdict.status <<<"$rec")" = 200 ] ||
	    { jq -c '[.verdict, .exec.error, .exec.stderr.b64]' <<<"$rec" >&2;
	    false; }
	[ "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$rec")" = \
	    $'EROFS\nEROFS\nEROFS\nEROFS\nEROFS\nEROFS' ]
	[ "$(jq -c '[.exec.output_files[].name]' <<<"$rec")" = '["ok"]' ]
	[ "$(jq -c '.exec.output_refused | sort_by(.why)' <<<"$rec")" = \
	    '[{"name":"?","why":"a name that is not printable UTF-8 of at most 128 bytes"},{"name":"dir","why":"not a regular file"}]' ]
}

@test "vmm files: /output holds the intent's file count and size, no more" {
	files_served "import errno
for i in range(5):
    try:
        open('/output/f%d' % i, 'w').write('x')
    except OSError as e:
        print(i, errno.errorcode[e.errno])
try:
    open('/output/f0', 'wb').write(b'x' * 100000)
except OSError as e:
    print('big', errno.errorcode[e.errno])" '{}'
	[ "$(jq -r .verdict.status <<<"$rec")" = 200 ] ||
	    { jq -c '[.verdict, .exec.error, .exec.stderr.b64]' <<<"$rec" >&2;
	    false; }
	[ "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$rec")" = \
	    $'3 ENOSPC\n4 ENOSPC\nbig ENOSPC' ]
	[ "$(jq -r '.exec.output_files | length' <<<"$rec")" = 3 ]
	[ "$(jq -c .exec.input_files <<<"$rec")" = '[]' ]
}

# Killed mid-run, the run still hands back what /output holds, as a
# process sandbox's does.
@test "vmm files: a run killed for a violation still hands back its /output" {
	files_served "open('/output/before', 'w').write('kept')
import socket
socket.socket()" '{}'
	[ "$(jq -r .verdict.status <<<"$rec")" = 403 ]
	[ "$(jq -c '[.exec.output_files[] | [.name, (.b64 | @base64d)]]' <<<"$rec")" = \
	    '[["before","kept"]]' ]
}

# /input and /output are the VMM's whatever the image holds: the test
# guests' root has neither directory.
@test "vmm files: /input and /output exist in an image without them" {
	local root=$BATS_TEST_TMPDIR/root
	mkdir -p "$root"
	cp "$TOP/build/tests/vmm/filecopy" "$root/"
	[ ! -e "$root/input" ] && [ ! -e "$root/output" ]
	run_tool 0 airlock-vmm -S "$BATS_TEST_TMPDIR/f.kvm" -r "$root" \
	    -- /filecopy </dev/null
	served_run "$BATS_TEST_TMPDIR/f.kvm" "$root" 'payload' \
	    '{"in": "Y29weSBtZQ=="}'
	[ "$(jq -r .verdict.status <<<"$rec")" = 200 ] ||
	    { jq -c '[.verdict, .exec.error, .exec.exit_code]' <<<"$rec" >&2;
	    cat "$BATS_TEST_TMPDIR/vmm.log" >&2; false; }
	[ "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$rec")" = payload ]
	[ "$(jq -c '[.exec.output_files[] | [.name, (.b64 | @base64d)]]' <<<"$rec")" = \
	    '[["out","copy me"]]' ]
	[ "$(jq -c '[.exec.input_files[] | [.name, .bytes]]' <<<"$rec")" = \
	    '[["in",7]]' ]
}

# The VMM checks the input files it is sent as the process backend's
# runner does, whoever sends them: kvmpeer -r stands in for an
# airlock-snaft that would send what snaft never sends.  Each is refused
# with SB_ERROR before the guest runs, and the VMM exits 112.
@test "vmm files: input records that are not one file per path component are refused before the run" {
	local root=$BATS_TEST_TMPDIR/root in=$BATS_TEST_TMPDIR/in h bad want
	mkdir -p "$root"
	cp "$TOP/build/tests/vmm/filecopy" "$root/"
	run_tool 0 airlock-vmm -S "$BATS_TEST_TMPDIR/f.kvm" -r "$root" \
	    -- /filecopy </dev/null
	h=$BATS_TEST_TMPDIR/sb.sock
	while IFS='|' read -r bad want; do
		sb_records "$in" "$bad"
		rm -f "$h"
		pool_vm "$BATS_TEST_TMPDIR/f.kvm" "$root" "$h"
		run_tool 0 "$TOP/build/tests/kvmpeer" -r "$h" "$in" 3
		wait
		assert_equal "$output" "error: input files: $want"
		assert_equal "$(cat "$BATS_TEST_TMPDIR/vmm.status")" 112
	done <<'RECORDS'
[["a/b", 0, "x"]]|a malformed name
[[".", 0, "x"]]|a malformed name
[["..", 0, "x"]]|a malformed name
[["a\u0000b", 0, "x"]]|a malformed name
[["", 0, "x"]]|a malformed record
[["in", 1, ""]]|a malformed record
[["in", 0, "x", 300]]|a malformed record
[["in", 0, "x"], ["in", 0, "y"]]|a name given twice
[["a", 0, ""], ["b", 0, ""], ["c", 0, ""], ["d", 0, ""]]|a malformed record
[["in", 0, 8389000]]|more than the sandbox takes
RECORDS
	# A record cut short.
	sb_records "$in" '[["in", 0, "xyz"]]'
	truncate -s -1 "$in"
	rm -f "$h"
	pool_vm "$BATS_TEST_TMPDIR/f.kvm" "$root" "$h"
	run_tool 0 "$TOP/build/tests/kvmpeer" -r "$h" "$in" 3
	wait
	assert_equal "$output" "error: input files: a malformed record"
	# And one that is good runs, and the report brings one descriptor.
	sb_records "$in" '[["in", 0, "x"]]'
	rm -f "$h"
	pool_vm "$BATS_TEST_TMPDIR/f.kvm" "$root" "$h"
	run_tool 0 "$TOP/build/tests/kvmpeer" -r "$h" "$in" 3
	wait
	assert_equal "$output" $'started\nreport 1'
}
