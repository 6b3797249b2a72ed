#!/usr/bin/env bats
# The kvm backend in the pipeline (airlock-wake(1), "Backends"): airlock-wake
# hands out pool VMs restored from the image's kvm snapshot, one
# airlock-vmm each, and the same airlock-snaft, airlock-triage and
# airlock-sign make their records and tokens.  On a host without a usable
# /dev/kvm this runs in the kvm test bed (make check-kvm).

load helpers
load process
load vmm

# The muxd test's daemon ends here even when the test fails half-way, so
# that the last test sees only what the pipeline itself left.
teardown() {
	stop_pipeline
	unset MUXPID
}

setup_file() {
	have_kvm || skip "/dev/kvm cannot be opened"
	needs_image
	local d=$BATS_FILE_TMPDIR/images
	# An images directory with the built image and its kvm snapshot,
	# built by the project's own script.
	kvm_images "$d"
	# A snapshot with no kvm snapshot beside it.
	cp "$IMAGES/airlock-python/snapshots/python-safe-boot" \
	    "$d/airlock-python/snapshots/python-nokvm"
	{
		sed 's/^\(\tbackend *\)process$/\1kvm/' "$PTABLE"
		printf 'intent code:auto\n\timage airlock-python\n\tsnapshot python-safe-boot\n\tbackend auto\n'
		printf 'intent code:process\n\timage airlock-python\n\tsnapshot python-safe-boot\n\tbackend process\n'
		printf 'intent kvm:nosnapshot\n\timage airlock-python\n\tsnapshot no-such-snapshot\n\tbackend kvm\n'
		printf 'intent kvm:nokvm\n\timage airlock-python\n\tsnapshot python-nokvm\n\tbackend kvm\n'
		printf 'intent auto:nokvm\n\timage airlock-python\n\tsnapshot python-nokvm\n\tbackend auto\n'
	} >"$BATS_FILE_TMPDIR/intents"
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_FILE_TMPDIR/"
	export KIMAGES=$d KTABLE=$BATS_FILE_TMPDIR/intents
	{
		frame 1 code:execute "print(6 * 7)"
		frame 2 code:execute "import socket; socket.socket()"
		frame 3 code:execute "import os; print(os.urandom(16).hex())"
		frame 4 code:execute "import os; print(os.urandom(16).hex())"
		frame 5 code:execute "raise SystemExit(3)"
		frame 6 code:execute "import time; time.sleep(60)" '{"wall_ms": 1000}'
		frame 7 code:execute "import sys
while True: sys.stdout.write('x' * 4096)"
		frame 8 code:execute "import os; os.fork()"
		frame 10 code:auto "print('auto')"
		frame 11 code:process "print('process')"
		frame 12 kvm:nosnapshot "print(1)"
		jq -cn '{channel_id: 13, intent: "code:process", from_aint: "a", payload: "1", backend: "kvm"}'
		frame 14 kvm:nokvm "print(1)"
		frame 15 auto:nokvm "print('auto')"
	} >"$BATS_FILE_TMPDIR/frames.jsonl"
	mkdir -p "$BATS_FILE_TMPDIR/run"
	AIRLOCK_SIGN_TIME=2026-01-01T00:00:00Z \
	    airlock-wake -q -t "$KTABLE" -I "$KIMAGES" -r "$BATS_FILE_TMPDIR/run" \
	    <"$BATS_FILE_TMPDIR/frames.jsonl" |
	    airlock-snaft -q -t "$KTABLE" -r "$BATS_FILE_TMPDIR/run" |
	    airlock-triage -q |
	    airlock-sign -q -k "$BATS_FILE_TMPDIR/test.sec" \
	    -s "$BATS_FILE_TMPDIR/chain" >"$BATS_FILE_TMPDIR/out.jsonl"
}

rec() {
	record "$1" "$BATS_FILE_TMPDIR/out.jsonl"
}

@test "kvm pipeline: every frame has its signed record, and the tokens verify" {
	assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/out.jsonl")" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
	run_tool 0 airlock-sign -V -p "$BATS_FILE_TMPDIR/test.pub" \
	    "$BATS_FILE_TMPDIR/out.jsonl"
}

@test "kvm pipeline: a payload runs in a VM restored from the snapshot, and the token says so" {
	local r
	r=$(rec 1)
	assert_equal "$(jq -r .verdict.status <<<"$r")" 200
	assert_equal "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$r")" 42
	assert_equal "$(jq -r .wake.backend <<<"$r")" kvm
	assert_equal "$(jq -r .exec.backend <<<"$r")" kvm
	# The snapshot named is the VM's, its kernel the VMM.
	assert_equal "$(jq -r .route.snapshot_digest <<<"$r")" \
	    "$(cat "$KIMAGES/airlock-python/snapshots/python-safe-boot.kvm.digest")"
	assert_equal "$(jq -r .wake.kernel_digest <<<"$r")" \
	    "sha256:$(sha256sum "$BIN/airlock-vmm" | cut -d' ' -f1)"
	assert_equal "$(jq -r .token.eromheen.backend <<<"$r")" kvm
	assert_equal "$(jq -r .token.eraan.snapshot_digest <<<"$r")" \
	    "$(jq -r .route.snapshot_digest <<<"$r")"
	assert_equal "$(jq -r .token.eraan.kernel_digest <<<"$r")" \
	    "$(jq -r .wake.kernel_digest <<<"$r")"
}

@test "kvm pipeline: socket() and fork are violations the VMM stops" {
	assert_equal "$(rec 2 | jq -r '[.verdict.status, .exec.violations[0].family] | join(" ")')" "403 socket"
	assert_equal "$(rec 8 | jq -r .verdict.status)" 403
}

@test "kvm pipeline: two VMs of one snapshot never share randomness" {
	local a b
	a=$(rec 3 | jq -r '.exec.stdout.b64 | @base64d')
	b=$(rec 4 | jq -r '.exec.stdout.b64 | @base64d')
	[ "${#a}" -eq 32 ] && [ "${#b}" -eq 32 ]
	[ "$a" != "$b" ]
}

@test "kvm pipeline: exit codes, the wall limit and the output limit" {
	assert_equal "$(rec 5 | jq -c '[.verdict.status, .exec.exit_code]')" '[200,3]'
	assert_equal "$(rec 6 | jq -c '[.verdict.status, .exec.kill_reason]')" '[408,"wall_time"]'
	assert_equal "$(rec 7 | jq -c '[.verdict.status, .exec.kill_reason]')" '[413,"output"]'
}

@test "kvm pipeline: auto is kvm where the snapshot can run; process is process" {
	assert_equal "$(rec 10 | jq -r '[.wake.backend, (.exec.stdout.b64 | @base64d)] | join(" ")')" "kvm auto"
	assert_equal "$(rec 11 | jq -r '[.wake.backend, (.exec.stdout.b64 | @base64d)] | join(" ")')" "process process"
}

@test "kvm pipeline: kvm that cannot run is a clear 500 or 400, never a weaker sandbox" {
	assert_equal "$(rec 12 | jq -r .verdict.status)" 500
	[[ $(rec 12 | jq -r .verdict.reason) == *"no-such-snapshot"* ]]
	assert_equal "$(rec 12 | jq -r .wake)" null
	assert_equal "$(rec 13 | jq -c '[.verdict.status, .reject.error]')" '[400,"bad_backend"]'
	assert_equal "$(rec 14 | jq -r .verdict.status)" 500
	[[ $(rec 14 | jq -r .verdict.reason) == *"python-nokvm.kvm"* ]]
	# auto, for an image without a kvm snapshot, is the process backend.
	assert_equal "$(rec 15 | jq -r .wake.backend)" process
}

@test "kvm pipeline: muxd with the shipped table (backend auto) answers 200 on kvm; the token names kvm and the snapshot's digest" {
	local a
	# muxd serves as its own system user (mk/deps makes it on the host).
	getent passwd _airlock >/dev/null ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin _airlock
	IMAGES=$KIMAGES serve_pipeline
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	frame 40 code:execute "print(6 * 7)" >&5
	a=$(timeout 60 head -n 1 <&5)
	exec 5>&-
	jq -e --arg d "$(cat "$KIMAGES/airlock-python/snapshots/python-safe-boot.kvm.digest")" '
	    .status == 200 and .result.stdout == "42\n" and
	    .tibet_provenance.eromheen.backend == "kvm" and
	    .tibet_provenance.eraan.snapshot == "python-safe-boot" and
	    .tibet_provenance.eraan.snapshot_digest == $d' <<<"$a"
	jq -c .tibet_provenance <<<"$a" >"$BATS_TEST_TMPDIR/t.jsonl"
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/t.jsonl"
}

@test "kvm pipeline: nothing is left behind: no VMM, no socket file" {
	run_tool 0 find "$BATS_FILE_TMPDIR/run" -mindepth 1
	assert_output ""
	run pgrep -f "airlock-vmm -R /dev/fd/3"
	assert_output ""
}
