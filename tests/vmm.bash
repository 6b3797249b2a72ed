# Helpers for the tests of airlock-vmm (tests/7x-vmm*.bats).
#
#   guest_root                         copy the tiny test guests
#                                      (tests/vmm/*.S, built) into a root of
#                                      their own, $GROOT, like an image
#   needs_python                       skip unless the airlock-python image
#                                      is built ($PYROOT)
#   pool_vm SNAPSHOT ROOT SOCKET       a pool VM listening on SOCKET
#   sb_records FILE JSON               input or output file records
#   served_run SNAPSHOT ROOT PAYLOAD [FILES [TABLE INTENT]]
#                                      a pool VM started by hand, as
#                                      airlock-wake is to start one, and one
#                                      record through the real airlock-snaft
#                                      and airlock-triage: the record in
#                                      $rec, the VMM's exit status (128 + n
#                                      for signal n) in $vmm_status.  FILES
#                                      is the frame's files object (JSON),
#                                      TABLE and INTENT the intent table
#                                      and intent (etc/intents,
#                                      code:execute).
#   both_backends_ran DIR N            DIR/process.jsonl and DIR/kvm.jsonl
#                                      hold N records each, one per frame,
#                                      each on its file's backend, none a
#                                      500
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

# pool_vm SNAPSHOT ROOT SOCKET: a pool VM started by hand, as airlock-wake
# is to start one, listening on SOCKET; returns once it is ready.  Its
# diagnostics go to $BATS_TEST_TMPDIR/vmm.log, its exit status (128 + n
# for signal n) to vmm.status once it has exited (wait for it).
pool_vm() {
	local i
	rm -f "$BATS_TEST_TMPDIR/vmm.status"
	# A listening socket where wake puts its handles and a ready pipe,
	# held and awaited by a small python3 program.
	python3 - "$3" "$1" "$2" "$BATS_TEST_TMPDIR/vmm.status" \
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
}

served_run() {
	local snap=$1 root=$2 payload=$3 files=${4:-null}
	local table=${5:-$TOP/etc/intents} intent=${6:-code:execute}
	local run=$BATS_TEST_TMPDIR/run
	local h=$run/wake-4242-0123abcd/sb-1.sock
	rm -rf "$run" "$BATS_TEST_TMPDIR/wr"
	mkdir -p "$run/wake-4242-0123abcd"
	# A real record from wake, for its route and policy: snaft checks
	# them; its wake section is then made to name the pool VM.
	frame 7 "$intent" "$payload" |
	    jq -c --argjson f "$files" 'if $f then .files = $f else . end' |
	    airlock-wake -q -p 0 -l 1000 -t "$table" -I "$IMAGES" \
	    -r "$BATS_TEST_TMPDIR/wr" >"$BATS_TEST_TMPDIR/rec.json"
	pool_vm "$snap" "$root" "$h"
	jq -c --arg h "$h" '.wake = {backend: "kvm", handle: $h, pool: "hit",
	    wake_us: 5, cgroup: null}' "$BATS_TEST_TMPDIR/rec.json" |
	    airlock-snaft -q -t "$table" -r "$run" |
	    airlock-triage -q >"$BATS_TEST_TMPDIR/out.json"
	wait
	rec=$(cat "$BATS_TEST_TMPDIR/out.json")
	vmm_status=$(cat "$BATS_TEST_TMPDIR/vmm.status" 2>/dev/null ||
	    echo none)
}

# sb_records FILE JSON: struct sb_file records (lib/sandbox.h), as snaft
# sends input files and a VMM hands back /output, from [[name, type,
# data], ...]: data a string, or a number, that many bytes of "x"; a
# name or data may hold any code point below 256, written as that byte;
# a fourth member overrides name_len.
sb_records() {
	python3 -c 'import json, struct, sys
out = open(sys.argv[1], "wb")
for e in json.loads(sys.argv[2]):
    name = e[0].encode("latin-1")
    data = b"x" * e[2] if isinstance(e[2], int) else e[2].encode("latin-1")
    nlen = e[3] if len(e) > 3 else len(name)
    out.write(struct.pack("<IIQ", nlen, e[1], len(data)) + name + data)' \
	    "$1" "$2"
}

# kvm_images DIR [IMAGE/SNAPSHOT...]: an images directory with the built
# images (linked) and the kvm snapshots named (airlock-python's
# python-safe-boot if none), built into DIR by the project's own script
# (airlock-image(5)) with the VMM under test, whatever build/images holds.
kvm_images() {
	local dir=$1 spec img snap
	shift
	[ "$#" -gt 0 ] || set -- airlock-python/python-safe-boot
	for spec in "$@"; do
		img=${spec%%/*} snap=${spec#*/}
		mkdir -p "$dir/$img/snapshots"
		[ -e "$dir/$img/digest" ] ||
		    ln -s "$IMAGES/$img/digest" "$IMAGES/$img/rootfs" \
		    "$IMAGES/$img/oci" "$dir/$img/"
		cp "$IMAGES/$img/snapshots/$snap" "$dir/$img/snapshots/"
		(cd "$TOP" && images/snapshot-kvm "$BIN/airlock-vmm" "$dir" \
		    "$img" "$snap") >>"$dir/build.log" 2>&1 ||
		    { cat "$dir/build.log" >&2; return 1; }
	done
}

# both_backends_ran DIR N: the same N frames ran through the pipeline once
# on each backend: DIR/process.jsonl and DIR/kvm.jsonl hold one record per
# frame, every one that got a sandbox got it from its file's backend, and
# none is a 500.
both_backends_ran() {
	local d=$1 n=$2 b
	for b in process kvm; do
		assert_equal "$(wc -l <"$d/$b.jsonl")" "$n"
		assert_equal "$(jq -r .id "$d/$b.jsonl" | sort -u | wc -l)" "$n"
		assert_equal "$(jq -r 'select(.wake) | .wake.backend' \
		    "$d/$b.jsonl" | sort -u)" "$b"
	done
	run_tool 0 jq -c 'select(.verdict.status >= 500) |
	    [.frame.channel_id, .verdict.reason, .exec.error]' \
	    "$d/kvm.jsonl" "$d/process.jsonl"
	assert_output ""
}
