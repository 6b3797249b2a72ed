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
