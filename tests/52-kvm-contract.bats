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

KVMPEER=$TOP/build/tests/kvmpeer

setup_file() {
	needs_image
	local d=$BATS_FILE_TMPDIR
	# One real record from wake, to rewrite: its route and policy digest
	# are what snaft checks.
	frame 7 code:execute 'print(1)' |
	    airlock-wake -q -p 0 -l 1000 -t "$TOP/etc/intents" -I "$IMAGES" \
	    -r "$d/wr" >"$d/rec.json"
}

setup() {
	mkdir -p "$BATS_TEST_TMPDIR/run/wake-4242-0123abcd"
	H=$BATS_TEST_TMPDIR/run/wake-4242-0123abcd/sb-1.sock
}

# kvmrun REPORT [OUTPUT]: one run against kvmpeer answering REPORT (JSON);
# the record's exec section is in $BATS_TEST_TMPDIR/exec.json, what the
# peer received in seen.json.
kvmrun() {
	local t=$BATS_TEST_TMPDIR i
	printf '%s' "$1" >"$t/report.json"
	"$KVMPEER" "$H" "$t/report.json" "$t/seen.json" "${2:-}" 3>&- &
	for i in $(seq 100); do
		[ -S "$H" ] && break
		sleep 0.05
	done
	jq -c --arg h "$H" '.wake = {backend: "kvm", handle: $h, pool: "hit",
	    wake_us: 5, cgroup: null}' "$BATS_FILE_TMPDIR/rec.json" |
	    airlock-snaft -q -t "$TOP/etc/intents" -r "$t/run" |
	    jq -c .exec >"$t/exec.json"
	wait 2>/dev/null || true
}

ex() {
	jq -c "$1" "$BATS_TEST_TMPDIR/exec.json"
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
	    .wall_ms, .payload_bytes, .read]' "$BATS_TEST_TMPDIR/seen.json"
	assert_output '[1,0,1048576,16777216,10000,8,8]'
	[ "$(jq .allowed "$BATS_TEST_TMPDIR/seen.json")" -gt 20 ]
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

@test "kvm contract: the VMM's violation is recorded in snaft's own form" {
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "socket",
	    syscall: "socket", nr: 41, arch: "x86_64",
	    args: [2, 524289, 0, 0, 0, 0], at_us: 120}]}')"
	assert_equal "$(ex '[.outcome, .signal, .kill_reason]')" '["killed",9,"violation"]'
	assert_equal "$(ex '.violations[0]')" \
	    '{"family":"socket","syscall":"socket","nr":41,"arch":"x86_64","arg":"domain=2 type=0x80001","at_us":120}'
}

@test "kvm contract: the VMM names x32, i386 and unlisted calls in the record's own terms" {
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "foreign_abi",
	    syscall: "x32:39", nr: 39, arch: "x32", args: [0, 0, 0, 0, 0, 0],
	    at_us: 5}]}')"
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arch]')" \
	    '["foreign_abi","x32:39","x32"]'
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "foreign_abi",
	    syscall: "i386:20", nr: 20, arch: "i386", args: [1, 0, 0, 0, 0, 0],
	    at_us: 5}]}')"
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arch]')" \
	    '["foreign_abi","i386:20","i386"]'
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "unlisted",
	    syscall: "chdir", nr: 80, arch: "x86_64", args: [1, 2, 3, 0, 0, 0],
	    at_us: 5}]}')"
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .arg]')" \
	    '["unlisted","chdir","args=0x1,0x2,0x3"]'
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "unlisted",
	    syscall: "-1", nr: -1, arch: "x86_64", args: [0, 0, 0, 0, 0, 0],
	    at_us: 5}]}')"
	assert_equal "$(ex '.violations[0] | [.family, .syscall, .nr]')" \
	    '["unlisted","-1",-1]'
	# Registers are signed 64-bit in the report: -1 is 0xffff...ffff.
	kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
	    kill_reason: "violation", violations: [{family: "socket",
	    syscall: "socket", nr: 41, arch: "x86_64",
	    args: [-1, -2, 0, 0, 0, 0], at_us: 5}]}')"
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
		kvmrun "$(report '{outcome: "killed", exit_code: null, signal: 9,
		    kill_reason: "violation", violations: [('"$v"') +
		    {args: [0, 0, 0, 0, 0, 0], at_us: 5}]}')"
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
