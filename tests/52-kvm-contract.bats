#!/usr/bin/env bats
# airlock-snaft's side of the kvm backend (issue 6), where no /dev/kvm is
# needed: a record whose wake.backend is "kvm" is run by talking to the
# sandbox as to an airlock-vmm -c (airlock-vmm(8), SERVING A RUN).  The
# other end here is build/tests/kvmpeer, a stand-in for the VMM's half of
# the protocol that runs nothing: these tests show what snaft sends a kvm
# sandbox and how it turns the VMM's report into the record's exec
# section, in the same terms as the process backend's.

load helpers
load process
load vmm

KVMPEER=$TOP/build/tests/kvmpeer

setup_file() {
	needs_image
	local d=$BATS_FILE_TMPDIR
	# One real record from wake, to rewrite: its route and policy digest
	# are what snaft checks.
	frame 7 code:execute 'print(1)' |
	    airlock-wake -q -p 0 -l 1000 -t "$TOP/etc/intents" -I "$IMAGES" \
	    -r "$d/wr" >"$d/rec.json"
	# And one with input files: "hello" and three bytes 0, 1, 2.
	frame 8 code:execute 'print(1)' |
	    jq -c '.files = {"a.txt": "aGVsbG8=", "b.bin": "AAEC"}' |
	    airlock-wake -q -p 0 -l 1000 -t "$TOP/etc/intents" -I "$IMAGES" \
	    -r "$d/wr" >"$d/rec-files.json"
}

setup() {
	mkdir -p "$BATS_TEST_TMPDIR/run/wake-4242-0123abcd"
	H=$BATS_TEST_TMPDIR/run/wake-4242-0123abcd/sb-1.sock
}

# kvmrun REPORT [OUTPUT [OUTFILES]]: one run against kvmpeer answering
# REPORT (JSON), handing back OUTFILES (records, as sb_records makes
# them); the record's exec section is in $BATS_TEST_TMPDIR/exec.json, what
# the peer received in seen.json.  $REC names the record (rec.json).
kvmrun() {
	local t=$BATS_TEST_TMPDIR i
	printf '%s' "$1" >"$t/report.json"
	"$KVMPEER" "$H" "$t/report.json" "$t/seen.json" "${2:-}" ${3:+"$3"} \
	    3>&- &
	for i in $(seq 100); do
		[ -S "$H" ] && break
		sleep 0.05
	done
	jq -c --arg h "$H" '.wake = {backend: "kvm", handle: $h, pool: "hit",
	    wake_us: 5, cgroup: null}' "$BATS_FILE_TMPDIR/${REC:-rec.json}" |
	    airlock-snaft -q -t "$TOP/etc/intents" -r "$t/run" |
	    jq -c .exec >"$t/exec.json"
	wait 2>/dev/null || true
}

ex() {
	jq -c "$1" "$BATS_TEST_TMPDIR/exec.json"
}

sha() {
	printf '%s' "$1" | sha256sum | cut -c1-64
}

# A report as airlock-vmm writes it; $1, a jq object, is merged over the
# defaults.
report() {
	jq -cn '{backend: "kvm", outcome: "exited",
	    exit_code: 0, signal: null, kill_reason: null, reason: "exited",
	    snapshot_digest: null, memory_refused: false, mapped_bytes: 4096,
	    exits: 3, create_us: 1, setup_us: 1, jail_us: 1, run_us: 1,
	    first_output_us: 1, stdout: {}, stderr: {},
	    observed_syscalls: {write: 1, exit_group: 1},
	    unknown_syscalls: 0, violations: []} + ('"$1"')'
}

@test "kvm contract: snaft sends the row's allow list and limits, not a filter" {
	kvmrun "$(report '{}')" "hello
"
	run_tool 0 jq -c '[.getpid, .socket, .output_bytes, .tmp_bytes,
	    .wall_ms, .payload_bytes, .read, .files, .outdir_bytes, .inputs,
	    .inputs_sealed]' "$BATS_TEST_TMPDIR/seen.json"
	assert_output '[1,0,1048576,16777216,10000,8,8,16,1048576,[],true]'
	[ "$(jq .allowed "$BATS_TEST_TMPDIR/seen.json")" -gt 20 ]
	# No files in, none out: both lists are there, and empty.
	assert_equal "$(ex '[.input_files, .output_files, .output_refused]')" \
	    '[[],[],null]'
}

@test "kvm contract: input files go to the VMM as a fourth, sealed descriptor; exec.input_files says what went" {
	REC=rec-files.json kvmrun "$(report '{}')"
	run_tool 0 jq -c '[.inputs, .inputs_sealed]' "$BATS_TEST_TMPDIR/seen.json"
	assert_output '[[{"name":"a.txt","bytes":5,"type":0},{"name":"b.bin","bytes":3,"type":0}],true]'
	assert_equal "$(ex .input_files)" \
	    "[{\"name\":\"a.txt\",\"bytes\":5,\"sha256\":\"$(sha hello)\"},{\"name\":\"b.bin\",\"bytes\":3,\"sha256\":\"$(printf '\0\1\2' | sha256sum | cut -c1-64)\"}]"
}

# The same rules and words as a process sandbox's /output
# (tests/51-files.bats): only regular files with good names, within the
# row's files and outdir limits (code:execute: 16 and 1 MiB).
@test "kvm contract: output files come back with the report, taken and refused as from a process sandbox" {
	local o=$BATS_TEST_TMPDIR/out
	sb_records "$o" '[["upper.txt", 0, "HELLO"], ["empty", 0, ""],
	    ["dir", 1, ""], ["bad\u0001name", 0, "x"],
	    ["big", 0, 1048500], ["over", 0, 200]]'
	kvmrun "$(report '{}')" "" "$o"
	assert_equal "$(ex '.outcome')" '"exited"'
	assert_equal "$(ex '[.output_files[] | [.name, .bytes, .sha256]]')" \
	    "[[\"big\",1048500,\"$(head -c 1048500 /dev/zero | tr '\0' x | sha256sum | cut -c1-64)\"],[\"empty\",0,\"$(sha '')\"],[\"upper.txt\",5,\"$(sha HELLO)\"]]"
	assert_equal "$(ex '.output_files[2].b64' | jq -r . | base64 -d)" HELLO
	assert_equal "$(ex '.output_refused | sort_by(.name)')" \
	    '[{"name":"?","why":"a name that is not printable UTF-8 of at most 128 bytes"},{"name":"dir","why":"not a regular file"},{"name":"over","why":"over the intent'"'"'s output files limit"}]'
}

# Records that no VMM writes, a memfd that is not sealed, or none at all:
# the report is malformed, the run fails, and nothing of it is taken.
@test "kvm contract: output records that are not exactly the contract's make a failed run" {
	local o=$BATS_TEST_TMPDIR/out bad
	for bad in '[["a/b", 0, "x"]]' '[[".", 0, ""]]' '[["..", 1, ""]]' \
	    '[["", 0, "x"]]' '[["a", 2, ""]]' '[["d", 1, "data"]]' \
	    '[["a", 0, "x"], ["a", 0, "y"]]' '[["a\u0000b", 0, "x"]]' \
	    '[["a", 0, "x", 200]]' "[$(seq -s, -f '["f%g", 0, ""]' 17)]" \
	    '[["huge", 0, 1053000]]'; do
		sb_records "$o" "$bad"
		kvmrun "$(report '{}')" "" "$o"
		assert_equal "$(ex '[.outcome, .error, .output_files]')" \
		    '["failed","sandbox sent a malformed report",null]'
	done
	# A record cut short.
	sb_records "$o" '[["a", 0, "xyz"]]'
	truncate -s -1 "$o"
	kvmrun "$(report '{}')" "" "$o"
	assert_equal "$(ex .outcome)" '"failed"'
	sb_records "$o" '[["a", 0, "x"]]'
	KVMPEER_OUTFD=unsealed kvmrun "$(report '{}')" "" "$o"
	assert_equal "$(ex '[.outcome, .output_files]')" '["failed",null]'
	KVMPEER_OUTFD=none kvmrun "$(report '{}')" "" "$o"
	assert_equal "$(ex '[.outcome, .output_files]')" '["failed",null]'
}

@test "kvm contract: a clean exit is exited 0, output captured, calls counted, backend kvm" {
	kvmrun "$(report '{}')" "hello
"
	assert_equal "$(ex '[.backend, .outcome, .exit_code, .signal, .kill_reason]')" \
	    '["kvm","exited",0,null,null]'
	assert_equal "$(ex .stdout.b64 | jq -r . | base64 -d)" hello
	assert_equal "$(ex .observed_syscalls)" '{"write":1,"exit_group":1}'
	assert_equal "$(ex .violations)" '[]'
}

# killedby VIOLATION: a run the VMM killed for VIOLATION (a jq object
# over zero arguments and an at_us of 5).
killedby() {
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{args: [0, 0, 0, 0, 0, 0],
	    at_us: 5} + ('"$1"')]}')"
}

@test "kvm contract: the VMM's violation is recorded in snaft's own form" {
	killedby '{family: "socket", syscall: "socket", nr: 41,
	    arch: "x86_64", args: [2, 524289, 0, 0, 0, 0], at_us: 120}'
	assert_equal "$(ex '[.outcome, .signal, .kill_reason]')" '["killed",9,"violation"]'
	assert_equal "$(ex '.violations[0]')" \
	    '{"family":"socket","syscall":"socket","nr":41,"arch":"x86_64","arg":"domain=2 type=0x80001","at_us":120}'
}

@test "kvm contract: the VMM names x32, i386 and unlisted calls in the record's own terms" {
	killedby '{family: "foreign_abi", syscall: "x32:39", nr: 39, arch: "x32"}'
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arch]')" \
	    '["foreign_abi","x32:39","x32"]'
	killedby '{family: "foreign_abi", syscall: "i386:20", nr: 20,
	    arch: "i386", args: [1, 0, 0, 0, 0, 0]}'
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arch]')" \
	    '["foreign_abi","i386:20","i386"]'
	killedby '{family: "unlisted", syscall: "chdir", nr: 80,
	    arch: "x86_64", args: [1, 2, 3, 0, 0, 0]}'
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arg]')" \
	    '["unlisted","chdir","args=0x1,0x2,0x3"]'
	killedby '{family: "unlisted", syscall: "-1", nr: -1, arch: "x86_64"}'
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .nr]')" \
	    '["unlisted","-1",-1]'
	# Registers are signed 64-bit in the report: -1 is 0xffff...ffff.
	killedby '{family: "socket", syscall: "socket", nr: 41,
	    arch: "x86_64", args: [-1, -2, 0, 0, 0, 0]}'
	assert_equal "$(ex '.violations[0].arg')" \
	    '"domain=18446744073709551615 type=0xfffffffffffffffe"'
}

# Names that are not the contract's are a malformed report: never taken
# for a violation of some other kind, never a pass.
@test "kvm contract: a violation not named as the contract names it is a failed run" {
	local v
	for v in '{family: "x32", syscall: "x32", nr: 39, arch: "x32"}' \
	    '{family: null, syscall: "chdir", nr: 80, arch: "x86_64"}' \
	    '{family: "unlisted", syscall: "x32:39", nr: 39, arch: "x32"}' \
	    '{family: "foreign_abi", syscall: "getpid", nr: 39, arch: "x86_64"}' \
	    '{family: "socket", syscall: "getpid", nr: 39, arch: "x86_64"}' \
	    '{family: "open", syscall: "open", nr: 2, arch: "x86_64"}' \
	    '{family: "socket", syscall: "-1", nr: -1, arch: "x86_64"}' \
	    '{family: "unlisted", syscall: "chdir", nr: 80, arch: "arm64"}'; do
		killedby "$v"
		assert_equal "$(ex '[.outcome, .error]')" \
		    '["failed","sandbox sent a malformed report"]'
	done
}

@test "kvm contract: limits and the memory cap become the record's kill reasons" {
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 24,
	    kill_reason: "cpu_time"}')"
	assert_equal "$(ex '[.outcome, .signal, .kill_reason]')" '["killed",24,"cpu_time"]'
	kvmrun "$(report '{exit_code: 1, memory_refused: true}')"
	assert_equal "$(ex '[.outcome, .kill_reason]')" '["killed","memory"]'
	# A kill reason snaft does not know is still a kill, never a pass.
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "something_new"}')"
	assert_equal "$(ex '[.outcome, .kill_reason]')" '["killed","violation"]'
}

@test "kvm contract: a failed VMM or a malformed report is a failed run, never a pass" {
	kvmrun "$(report '{outcome: "failed", exit_code: null,
	    reason: "KVM_RUN: Bad address"}')"
	assert_equal "$(ex '[.outcome, .error]')" '["failed","sandbox: KVM_RUN: Bad address"]'
	kvmrun 'not json'
	assert_equal "$(ex '[.outcome, .error]')" '["failed","sandbox sent a malformed report"]'
	kvmrun "$(report '{exit_code: "0"}')"
	assert_equal "$(ex .outcome)" '"failed"'
	kvmrun "$(report '{observed_syscalls: {no_such_call: 1}}')"
	assert_equal "$(ex .outcome)" '"failed"'
}
