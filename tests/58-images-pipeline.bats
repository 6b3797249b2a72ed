#!/usr/bin/env bats
# file:scan, analyze_malware_sample, call:voice:* and call:video:* through
# the real pipeline (wake | snaft | triage) with the shipped rows of
# etc/intents (on the process backend), with real files made here: the
# EICAR file, an ELF, a PE, ZIPs, a zip bomb, nested and malformed files,
# a pcap of a SIP call, a WAV from sox, videos from ffmpeg's test sources
# (the frames are in images.bash; tests/59-kvm-images.bats runs them on
# the kvm backend too).  Every frame ends in a clear verdict, never a 500.

load helpers
load process
load images

# One batch for the whole file, as in 50-process.bats.
setup_file() {
	needs_image
	images_needed
	local t=$BATS_FILE_TMPDIR
	# The shipped rows, on the process backend.
	sed 's/^\(\tbackend *\)auto/\1process/' "$TOP/etc/intents" >"$t/intents"
	PTABLE=$t/intents
	images_frames "$t" >"$t/frames.jsonl"
	pipeline -p 2 <"$t/frames.jsonl" >"$t/out.jsonl"
}

setup() {
	PTABLE=$BATS_FILE_TMPDIR/intents
}

teardown() {
	[ -z "${MUXPID:-}" ] || stop_pipeline
}

# rec CHANNEL: that channel's record; stdout CHANNEL: its standard output;
# outfile CHANNEL NAME: the content of an output file.
rec() {
	record "$1"
}
stdout() {
	rec "$1" | jq -r '.exec.stdout.b64' | base64 -d
}
outfile() {
	rec "$1" | jq -r --arg n "$2" '.exec.output_files[] | select(.name == $n) | .b64' |
	    base64 -d
}

# ran CHANNEL CODE: the run exited with CODE, without a violation, and its
# verdict is 200.
ran() {
	local r
	r=$(rec "$1")
	jq -e --argjson c "$2" '.verdict.status == 200 and .exec.outcome == "exited" and
	    .exec.exit_code == $c and .exec.violations == []' <<<"$r" || {
		jq -c '{verdict, exec: (.exec | del(.stdout.b64, .output_files))}' <<<"$r" >&2
		echo "stderr: $(jq -r .exec.stderr.b64 <<<"$r" | base64 -d)" >&2
		return 1
	}
}

@test "images pipeline: every frame has its record, none a 500" {
	[ "$(wc -l <"$BATS_FILE_TMPDIR/out.jsonl")" -eq "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")" ]
	[ -z "$(jq -c 'select(.verdict.status >= 500)' "$BATS_FILE_TMPDIR/out.jsonl")" ]
}

@test "file:scan: the scanner reports the EICAR file, the ELF, the PE and the ZIPs, report.json comes back with its digest" {
	ran 1 0
	r=$(rec 1)
	jq -e '.route.image == "airlock-scanner" and .route.snapshot == "scanner-ready" and
	    (.exec.input_files | length) == 9' <<<"$r"
	report=$(outfile 1 report.json)
	summary=$(stdout 1 | tail -n 1)
	# The summary line names the report by the digest the record (and so
	# the token) binds.
	[ "$(jq -r .report_sha256 <<<"$summary")" = \
	    "$(jq -r '.exec.output_files[] | select(.name == "report.json") | "sha256:" + .sha256' <<<"$r")" ]
	[ "$(stdout 1 | head -n 1)" = "$report" ]
	# Triage sums the report up in the verdict, for the token to bind.
	jq -e --argjson s "$summary" '.verdict.report.name == "report.json" and
	    .verdict.report.summary == $s.summary and .verdict.report.error == null and
	    "sha256:" + .verdict.report.sha256 == $s.report_sha256 and
	    .verdict.report.bytes == (.exec.output_files[] | select(.name == "report.json") | .bytes)' <<<"$r"
	# A snapshot without a report line has none.
	jq -e '.verdict | has("report") | not' <<<"$(rec 10)"
	jq -e '.summary.files == 9 and
	    (.summary.detections | index("Airlock.Test.EICAR.UNOFFICIAL")) and
	    (.summary.detections | index("Airlock.Test.EICAR-String.UNOFFICIAL")) and
	    (.summary.matches | index("airlock:EICAR_test_file"))' <<<"$summary"
	jq -e '.files[] | select(.path == "eicar.com") |
	    .sha256 == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" and
	    .type == "EICAR virus test files"' <<<"$report"
	jq -e '.files[] | select(.path == "hello.exe") |
	    (.pe.imports | map(.dll) | index("USER32.dll")) and (.pe.sections | length) > 3' <<<"$report"
	jq -e '.files[] | select(.path == "true.elf") | .elf.needed == ["libc.so.6"]' <<<"$report"
	jq -e '.files[] | select(.path == "samples.zip") | .archive.verdict == "ok" and
	    (.archive.members | length) == 3' <<<"$report"
}

@test "file:scan: a zip bomb, a lying ZIP, ZIPs 20 deep and a malformed PE and ELF each end in a verdict" {
	ran 1 0
	jq -e '.summary.complete == false and
	    .summary.limits == ["bomb.zip/inner.zip/zeros.bin: too large",
	        "liar.zip/small.txt: corrupt",
	        "nested.zip/level01.zip/level02.zip/level03.zip/level04.zip: too deep"] and
	    .summary.errors == 2' <<<"$(stdout 1 | tail -n 1)"
	report=$(outfile 1 report.json)
	jq -e '.files[] | select(.path == "truncated.exe") | (.errors.pe | startswith("PEFormatError"))' <<<"$report"
	jq -e '.files[] | select(.path == "broken.elf") | (.errors.elf | length) > 0 and .sha256' <<<"$report"
}

@test "file:scan: a frame's YARA rules; rules that do not compile are an error in the report and exit 2; no files is an empty report" {
	ran 2 0
	jq -e '.summary.matches == ["payload:calls_messagebox"]' <<<"$(stdout 2 | tail -n 1)"
	ran 3 2
	jq -e '.payload_rules.error | startswith("SyntaxError: line 1: undefined string")' <<<"$(outfile 3 report.json)"
	jq -e '.summary.matches == ["airlock:EICAR_test_file"]' <<<"$(stdout 3 | tail -n 1)"
	ran 4 0
	jq -e '.files == [] and .summary.files == 0 and .summary.complete' <<<"$(outfile 4 report.json)"
}

@test "analyze_malware_sample: the analyst's Python with pefile, Capstone, pyelftools, libmagic, YARA and the scanner's ClamAV" {
	ran 10 0
	jq -e '.route.image == "airlock-scanner" and .route.snapshot == "malware-analysis"' <<<"$(rec 10)"
	out=$(outfile 10 analysis.json)
	[ "$(stdout 10)" = "$out" ]
	jq -e '(.entry | length) == 3 and (.imports | index("USER32.dll")) and
	    .elf_sections > 10 and .elf_text and .magic == "EICAR virus test files" and
	    .yara == ["mz"] and
	    (.clamav.detections | index("Airlock.Test.EICAR.UNOFFICIAL"))' <<<"$out"
}

@test "call:voice:*: a pcap's SIP dialog and RTP stream decoded to a WAV, scipy and OpenBLAS, no thread" {
	ran 20 0
	stats=$(outfile 20 stats.json)
	jq -e '.sip == ["INVITE", 180, 200, "ACK", "BYE", 200] and
	    .ssrcs == ["11223344"] and .rtp_bytes == 8000 and .call_seconds == 1 and
	    (.call_peak_hz > 420 and .call_peak_hz < 460) and .tone_peak_hz == 1000 and
	    .tone_rate == 8000 and .svd_rank == 256' <<<"$stats"
	outfile 20 call.wav >"$BATS_TEST_TMPDIR/call.wav"
	[ "$(soxi -r "$BATS_TEST_TMPDIR/call.wav")" = 8000 ]
	[ "$(soxi -s "$BATS_TEST_TMPDIR/call.wav")" = 8000 ]
}

@test "call:voice:*: a truncated pcap ends early, one that is not a pcap fails in the payload, cleanly" {
	ran 21 1
	[ "$(stdout 21)" = "short.pcap 1" ]
	[[ $(rec 21 | jq -r .exec.stderr.b64 | base64 -d) == *"dpkt.dpkt.NeedData: got 11, 24 needed at least"* ]]
}

@test "call:video:*: probe, decode and transcode with PyAV; a frame comes back as a PNG; no decode dies as clone" {
	ran 30 0
	jq -e '.probe == {format: "mov,mp4,m4a,3gp,3g2,mj2", seconds: 2,
	    video: ["h264", 320, 240, 25], audio: ["aac"]} and .frames == 50 and
	    .transcoded == 10' <<<"$(stdout 30)"
	outfile 30 frame25.png >"$BATS_TEST_TMPDIR/f.png"
	[ "$(head -c 8 "$BATS_TEST_TMPDIR/f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$BATS_TEST_TMPDIR/f.png" |
	    grep -qx '320,240'
	outfile 30 small.mp4 >"$BATS_TEST_TMPDIR/s.mp4"
	[ "$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$BATS_TEST_TMPDIR/s.mp4")" = "h264,80,60" ]
}

@test "call:video:*: a decoder asked for threads dies as clone, which is why the image keeps them off" {
	r=$(rec 31)
	jq -e '.verdict.status == 403 and .exec.kill_reason == "violation" and
	    .exec.violations[0].family == "clone"' <<<"$r"
}

@test "call:video:*: a truncated video and noise are refused by PyAV, cleanly" {
	ran 32 3
	[ "$(stdout 32)" = "broken.mp4 refused: InvalidDataError
noise.mp4 refused: InvalidDataError" ]
}

@test "through muxd as make run serves it: file:scan's findings are in the token, call:video's PNG in result.files" {
	local d=$DATA/images t=$BATS_FILE_TMPDIR a
	serve_pipeline
	a=$(/usr/bin/python3.11 "$d/mkframe.py" 40 file:scan - "$t/samples" eicar.com hello.exe |
	    "$TOP/build/tests/loadgen" -S -x -a "127.0.0.1:$PORT" -T 120)
	jq -e '.status == 200 and .tibet_provenance.token_type == "SAFE_EXECUTION" and
	    .tibet_provenance.erachter.report as $r |
	    ($r.summary.detections | index("Airlock.Test.EICAR.UNOFFICIAL")) and
	    $r.summary.files == 2 and $r.name == "report.json" and
	    $r.sha256 == .result.files["report.json"].sha256 and
	    $r.summary == .result.report.summary and
	    ([.tibet_provenance.erin.output_files[] | select(.name == "report.json") | .sha256] == [$r.sha256])' <<<"$a"
	# The report's bytes are the ones the token binds.
	[ "$(jq -r '.result.files["report.json"].b64' <<<"$a" | base64 -d | sha256sum | cut -d' ' -f1)" = \
	    "$(jq -r .tibet_provenance.erachter.report.sha256 <<<"$a")" ]
	jq -c .tibet_provenance <<<"$a" >"$BATS_TEST_TMPDIR/t.jsonl"
	a=$(/usr/bin/python3.11 "$d/mkframe.py" 41 call:video:webrtc "$d/video.py" "$t/media" clip.mp4 clip.webm |
	    "$TOP/build/tests/loadgen" -S -x -a "127.0.0.1:$PORT" -T 120)
	jq -e '.status == 200 and .tibet_provenance.erachter.report == null' <<<"$a"
	jq -r '.result.files["frame25.png"].b64' <<<"$a" | base64 -d >"$BATS_TEST_TMPDIR/f.png"
	[ "$(head -c 8 "$BATS_TEST_TMPDIR/f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	jq -c .tibet_provenance <<<"$a" >>"$BATS_TEST_TMPDIR/t.jsonl"
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/t.jsonl"
}
