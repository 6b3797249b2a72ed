#!/usr/bin/env bats
# airlock-vmm's own seccomp filter (airlock-vmm/jail.c): every rule is
# needed.  Each rule is left out in turn (AIRLOCK_VMM_JAIL_DROP, which can
# only make the filter stricter) and a set of runs that together make
# every call the jailed VMM makes must then see one of them die of SIGSYS,
# as Firecracker's tests fail on rules nobody needs.  This holds for a
# sanitizer build too (make SANITIZE=1), which is jailed the same way.

load helpers
load process
load vmm

SIGSYS_STATUS=159	# 128 + SIGSYS

# Rules a run here need not reach, each with why: left in, not tested.
EXEMPT="
clock_gettime	the host's vDSO answers it where its clock source allows
snap_get_xsave	one of the two, by the size of the host's XSAVE area
snap_get_xsave2	one of the two, by the size of the host's XSAVE area
"
# ...and in a sanitizer build, whose allocator replaces malloc(3).
EXEMPT_SAN="
brk	the sanitizer's allocator maps its memory with mmap
mremap	the sanitizer's allocator maps its memory with mmap
madvise_dontneed	san_madvise allows every advice
"

setup_file() {
	have_kvm || skip "/dev/kvm cannot be opened"
	needs_image
	guest_root
	# A snapshot of the tiny reading guest, for the served runs.
	airlock-vmm -S "$BATS_FILE_TMPDIR/s.kvm" -r "$GROOT" -- /snapread \
	    </dev/null
}

setup() {
	have_kvm || skip "/dev/kvm cannot be opened"
}

# The runs, each printing its exit status.  Together they make every call
# of the filter: the run loop, output and the -j report (hello); a timer
# that fires (spin); image files, links, directories, a rewound directory,
# /tmp growing past what brk serves, sleeps, randomness, munmap and the FS
# base (python3.11); a snapshot (-S); a served run (-R -c) through snaft.
run_hello() {
	airlock-vmm -j -t 5000 -r "$GROOT" -- /hello </dev/null \
	    >/dev/null 2>&1 3>/dev/null
	echo $?
}

run_spin() {
	airlock-vmm -t 200 -r "$GROOT" -- /spin </dev/null >/dev/null 2>&1
	echo $?
}

run_python() {
	airlock-vmm -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c '
import os, time, mmap
os.listdir("/usr/lib/python3.11")
fd = os.open("/usr", os.O_RDONLY)
os.lseek(fd, 0, os.SEEK_SET)
os.close(fd)
with open("/tmp/big", "wb") as f:
    for i in range(8):
        f.write(b"x" * (1 << 20))
os.unlink("/tmp/big")
time.sleep(0.001)
os.urandom(8)
m = mmap.mmap(-1, 1 << 20)
m.close()' </dev/null >/dev/null 2>&1
	echo $?
}

run_snapshot() {
	airlock-vmm -S "$BATS_TEST_TMPDIR/t.kvm" -r "$GROOT" -- /snapread \
	    </dev/null >/dev/null 2>&1
	echo $?
}

# 0 if the VMM exited 0, or was killed (137) by snaft, which kills what is
# left of a run once it has the report; else the VMM's status.
run_served() {
	served_run "$BATS_FILE_TMPDIR/s.kvm" "$GROOT" 'x' >/dev/null 2>&1
	if [ "$vmm_status" = 137 ] && [ "$(jq -r .verdict.status <<<"$rec")" = 200 ]; then
		echo 0
	else
		echo "$vmm_status"
	fi
}

RUNS="run_hello run_spin run_python run_snapshot run_served"

@test "vmm jail: with every rule in, every run succeeds" {
	[ "$(run_hello)" = 7 ]
	[ "$(run_spin)" = 137 ]
	[ "$(run_python)" = 0 ]
	[ "$(run_snapshot)" = 0 ]
	[ "$(run_served)" = 0 ]
}

@test "vmm jail: each rule of the filter is needed: without it a run dies of SIGSYS" {
	local rules rule r st unneeded=
	rules=$(grep -o 'RULE("[a-z0-9_]*"' "$TOP/airlock-vmm/jail.c" |
	    cut -d'"' -f2)
	# The san_ rules are in a sanitizer build only (make SANITIZE=1).
	if grep -q __asan_init "$BIN/airlock-vmm"; then
		EXEMPT=$EXEMPT$EXEMPT_SAN
	else
		rules=$(grep -v '^san_' <<<"$rules")
	fi
	[ "$(echo "$rules" | wc -l)" -gt 20 ]
	for rule in $rules; do
		st=
		for r in $RUNS; do
			st=$(AIRLOCK_VMM_JAIL_DROP=$rule "$r")
			[ "$st" = "$SIGSYS_STATUS" ] && break
		done
		[ "$st" = "$SIGSYS_STATUS" ] && continue
		grep -q "^$rule	" <<<"$EXEMPT" && continue
		unneeded="$unneeded $rule"
	done
	[ -z "$unneeded" ] ||
	    { echo "rules no run needs:$unneeded" >&2; false; }
}
