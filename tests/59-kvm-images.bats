#!/usr/bin/env bats
# The images' functional frames on both backends: every frame of
# tests/58-images-pipeline.bats (images.bash) runs through wake | snaft |
# triage once with the process backend and once with the kvm backend,
# from the same images and the shipped rows of etc/intents, and each must
# come out the same on both: the verdict (status, exit code, first
# violation's family, kill reason), the report summary, and the very
# bytes of standard output, standard error and every output file.  58
# says what those must be; this file says kvm gives the same.  The kvm
# records go on through airlock-sign: their tokens name backend kvm and
# the .kvm snapshot's digest.
#
# No difference is expected, and none is listed: any is a failure (see
# SECURITY.md, "The kvm backend gives the process backend's verdicts").
#
# It needs a /dev/kvm that opens (PVM's counts); where there is none it is
# skipped.  It builds four kvm snapshots of 120 to 330 MiB, minutes of
# work, and so is not in the kvm test bed's list (tests/kvm/kvm.mk): under
# software emulation it would take far too long.

load helpers
load process
load vmm
load images

SNAPS="airlock-scanner/scanner-ready airlock-scanner/malware-analysis
    airlock-sip/sip-ready airlock-webrtc/webrtc-ready"

setup_file() {
	have_kvm || skip "/dev/kvm cannot be opened"
	needs_image
	images_needed
	local t=$BATS_FILE_TMPDIR
	# shellcheck disable=SC2086 # the snapshots are words
	kvm_images "$t/kimages" $SNAPS
	# A sanitizer build's VMM (make SANITIZE=1) spends several times the
	# CPU on each call it emulates, and the scanner makes many: both
	# backends get room enough, so that what is compared is the work,
	# not a limit only one of them meets.
	local slow=
	export SANITIZED=
	grep -q __asan_init "$BIN/airlock-vmm" && SANITIZED=1 &&
	    slow='/^\tlimits/{s/wall=[0-9]*[a-z]*/wall=10m/;s/cpu=[0-9]*[a-z]*/cpu=8m/}'
	sed -e 's/^\(\tbackend *\)auto/\1process/' -e "$slow" "$TOP/etc/intents" >"$t/pintents"
	sed -e 's/^\(\tbackend *\)auto/\1kvm/' -e "$slow" "$TOP/etc/intents" >"$t/kintents"
	cp "$DATA/test.sec" "$DATA/test.pub" "$t/"
	images_frames "$t" >"$t/frames.jsonl"
	# Each backend in turn, two runs at a time.
	mkdir -p "$t/run"
	PTABLE=$t/pintents pipeline -p 2 <"$t/frames.jsonl" >"$t/process.jsonl"
	airlock-wake -q -t "$t/kintents" -I "$t/kimages" -r "$t/run" -p 2 \
	    <"$t/frames.jsonl" |
	    airlock-snaft -q -t "$t/kintents" -r "$t/run" |
	    airlock-triage -q |
	    airlock-sign -q -k "$t/test.sec" -s "$t/chain" >"$t/kvm.jsonl"
}

# outcome FILE: one line per frame, by channel: what must be the same on
# both backends.
outcome() {
	jq -c '{c: .frame.channel_id, status: .verdict.status,
	    report: .verdict.report, outcome: .exec.outcome,
	    exit_code: .exec.exit_code, signal: .exec.signal,
	    family: .exec.violations[0].family, kill: .exec.kill_reason,
	    stdout: .exec.stdout.sha256, stderr: .exec.stderr.sha256,
	    input: [.exec.input_files[]? | [.name, .sha256]],
	    output: [.exec.output_files[]? | [.name, .sha256]],
	    refused: .exec.output_refused}' "$1" | sort -t: -k2 -n
}

@test "kvm images: every frame has one record on each backend, on that backend, none a 500" {
	local t=$BATS_FILE_TMPDIR
	both_backends_ran "$t" "$(wc -l <"$t/frames.jsonl")"
	# Every frame of these got a sandbox, and ran on it.
	assert_equal "$(jq -r .frame.channel_id "$t/kvm.jsonl" | sort -u | wc -l)" \
	    "$(wc -l <"$t/frames.jsonl")"
	assert_equal "$(jq -r .wake.backend "$t/kvm.jsonl" | sort -u)" kvm
	assert_equal "$(jq -r .exec.backend "$t/kvm.jsonl" | sort -u)" kvm
}

@test "kvm images: every frame earns the process backend's verdict, report and bytes on kvm" {
	local t=$BATS_FILE_TMPDIR
	# The scanner gives libclamav 15 s a scan (airlock_scanner.py), and a
	# sanitizer build's VMM is slow enough to meet that limit, which
	# then adds a detection of its own: byte for byte, only in a plain
	# build (every make check).
	[ -z "$SANITIZED" ] ||
	    skip "a sanitizer build's VMM meets libclamav's scan-time limit"
	outcome "$t/process.jsonl" >"$t/process.out"
	outcome "$t/kvm.jsonl" >"$t/kvm.out"
	# Not vacuous: every frame ran, and the scans found what 58 says.
	assert_equal "$(jq -r 'select(.stdout == null) | .c' "$t/kvm.out")" ""
	run_tool 0 diff "$t/process.out" "$t/kvm.out"
}

@test "kvm images: the scanner reports the EICAR file, a video frame comes back as a PNG, a thread dies as clone" {
	local t=$BATS_FILE_TMPDIR r
	r=$(record 1 "$t/kvm.jsonl")
	jq -e '.verdict.status == 200 and
	    (.verdict.report.summary.detections | index("Airlock.Test.EICAR.UNOFFICIAL")) and
	    (.verdict.report.summary.matches | index("airlock:EICAR_test_file"))' <<<"$r"
	r=$(record 30 "$t/kvm.jsonl")
	jq -r '.exec.output_files[] | select(.name == "frame25.png") | .b64' <<<"$r" |
	    base64 -d | head -c 8 | od -An -tx1 | tr -d ' \n' >"$t/png"
	assert_equal "$(cat "$t/png")" 89504e470d0a1a0a
	r=$(record 31 "$t/kvm.jsonl")
	assert_equal "$(jq -c '[.verdict.status, .exec.violations[0].family]' <<<"$r")" '[403,"clone"]'
	# numpy's OpenBLAS asked for its memory on one NUMA node: emulated,
	# not an unknown call.
	r=$(record 20 "$t/kvm.jsonl")
	jq -e '.exec.observed_syscalls.mbind > 0' <<<"$r"
}

@test "kvm images: each token names backend kvm and its image's .kvm snapshot digest, and verifies" {
	local t=$BATS_FILE_TMPDIR c r img snap
	for c in 1 10 20 30; do
		r=$(record "$c" "$t/kvm.jsonl")
		img=$(jq -r .route.image <<<"$r")
		snap=$(jq -r .route.snapshot <<<"$r")
		assert_equal "$(jq -r .token.eromheen.backend <<<"$r")" kvm
		assert_equal "$(jq -r .token.eraan.snapshot <<<"$r")" "$snap"
		assert_equal "$(jq -r .token.eraan.snapshot_digest <<<"$r")" \
		    "$(cat "$t/kimages/$img/snapshots/$snap.kvm.digest")"
		assert_equal "$(jq -r .token.eraan.kernel_digest <<<"$r")" \
		    "sha256:$(sha256sum "$BIN/airlock-vmm" | cut -d' ' -f1)"
	done
	# The four images' rows, each snapshot its own.
	assert_equal "$(jq -r '.route.image + "/" + .route.snapshot' "$t/kvm.jsonl" | sort -u | tr '\n' ' ')" \
	    "airlock-scanner/malware-analysis airlock-scanner/scanner-ready airlock-sip/sip-ready airlock-webrtc/webrtc-ready "
	run_tool 0 airlock-sign -V -p "$t/test.pub" "$t/kvm.jsonl"
}

@test "kvm images: nothing is left behind: no VMM, no socket file" {
	run_tool 0 find "$BATS_FILE_TMPDIR/run" -mindepth 1
	assert_output ""
}
