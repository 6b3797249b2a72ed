# Helpers for the tests of airlock-vmm (tests/7x-vmm*.bats).
#
#   guest_root                         copy the tiny test guests
#                                      (tests/vmm/*.S, built) into a root of
#                                      their own, $GROOT, like an image
#   needs_python                       skip unless the airlock-python image
#                                      is built ($PYROOT)
#   served_run SNAPSHOT ROOT PAYLOAD   a pool VM started by hand, as
#                                      airlock-wake is to start one, and one
#                                      record through the real airlock-snaft
#                                      and airlock-triage: the record in
#                                      $rec, the VMM's exit status (128 + n
#                                      for signal n) in $vmm_status
#
# served_run needs process.bash (frame, $IMAGES) loaded first.

GUESTS=$TOP/build/tests/vmm
PYROOT=${AIRLOCK_TEST_IMAGES:-$TOP/build/images}/airlock-python/rootfs

guest_root() {
	export GROOT="$BATS_FILE_TMPDIR/root"
	mkdir -p "$GROOT"
	if [ -d "$GUESTS" ]; then
		cp "$GUESTS"/* "$GROOT"/
	fi
}

needs_python() {
	[ -x "$PYROOT/usr/bin/python3.11" ] ||
	    skip "the airlock-python image is not built (make images)"
}

served_run() {
	local snap=$1 root=$2 payload=$3
	local run=$BATS_TEST_TMPDIR/run i
	local h=$run/wake-4242-0123abcd/sb-1.sock
	rm -rf "$run" "$BATS_TEST_TMPDIR/wr" "$BATS_TEST_TMPDIR/vmm.status"
	mkdir -p "$run/wake-4242-0123abcd"
	# A real record from wake, for its route and policy: snaft checks
	# them; its wake section is then made to name the pool VM.
	frame 7 code:execute "$payload" |
	    airlock-wake -q -p 0 -l 1000 -t "$TOP/etc/intents" -I "$IMAGES" \
	    -r "$BATS_TEST_TMPDIR/wr" >"$BATS_TEST_TMPDIR/rec.json"
	# The VMM's side: a listening socket where wake puts its handles and
	# a ready pipe, held and awaited by a small python3 program.
	python3 - "$h" "$snap" "$root" "$BATS_TEST_TMPDIR/vmm.status" \
	    >"$BATS_TEST_TMPDIR/vmm.log" 2>&1 <<'PY' &
import os, socket, subprocess, sys
h, snap, root, stf = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(h)
s.listen(1)
r, w = os.pipe()
# Descriptors 10 and 11, above anything this program holds.
os.dup2(s.fileno(), 10)
os.dup2(w, 11)
p = subprocess.Popen(["airlock-vmm", "-R", snap, "-c", "10", "-w", "11",
    "-l", "60000", "-r", root], pass_fds=(10, 11), stdin=subprocess.DEVNULL)
for fd in (10, 11, w):
    os.close(fd)
s.close()
print("ready", os.read(r, 1), flush=True)
rc = p.wait()
open(stf, "w").write("%d\n" % (128 - rc if rc < 0 else rc))
PY
	for i in $(seq 600); do
		grep -q "^ready" "$BATS_TEST_TMPDIR/vmm.log" && break
		sleep 0.1
	done
	jq -c --arg h "$h" '.wake = {backend: "kvm", handle: $h, pool: "hit",
	    wake_us: 5, cgroup: null}' "$BATS_TEST_TMPDIR/rec.json" |
	    airlock-snaft -q -t "$TOP/etc/intents" -r "$run" |
	    airlock-triage -q >"$BATS_TEST_TMPDIR/out.json"
	wait
	rec=$(cat "$BATS_TEST_TMPDIR/out.json")
	vmm_status=$(cat "$BATS_TEST_TMPDIR/vmm.status" 2>/dev/null ||
	    echo none)
}
