#!/usr/bin/env bats
# airlock-muxd with the real pipeline, as make run serves it: real
# payloads in real sandboxes, answers with signed tokens that verify with
# airlock-sign -V and with signify.  (60-muxd.bats tests muxd itself with a
# stub first stage; this file tests the whole product over TCP.)

load helpers
load process

LOADGEN=$TOP/build/tests/loadgen

setup_file() {
	needs_image
	serve_pipeline
}

teardown() {
	# A muxd a test started for itself, and the clients it held open.
	exec 5>&- 6>&- 7>&- 8>&-
	[ -z "${TESTPID:-}" ] || end_process "$TESTPID"
}

teardown_file() {
	stop_pipeline
}

# The shipped row's backend is auto: kvm where make images built the kvm
# snapshot (a usable /dev/kvm), the process backend elsewhere.
shipped_backend() {
	if [ -f "$IMAGES/airlock-python/snapshots/python-safe-boot.kvm" ] &&
	    have_kvm; then
		echo kvm
	else
		echo process
	fi
}

# ask FRAME: one original-airlock exchange (no newline, read to EOF).
ask() {
	printf '%s' "$1" | "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 30
}

@test "an original client gets 200 with the payload's output and a signed token" {
	output=$(ask "$(frame 1 code:execute "print('hello world')")")
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" "hello world"
	assert_equal "$(jq -r .tibet_provenance.token_type <<<"$output")" SAFE_EXECUTION
	assert_equal "$(jq -r .tibet_provenance.eromheen.backend <<<"$output")" "$(shipped_backend)"
	jq -c .tibet_provenance <<<"$output" >"$BATS_TEST_TMPDIR/t.jsonl"
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/t.jsonl"
}

@test "a socket payload is killed by the kernel and answered 403 INCIDENT_KILL" {
	output=$(ask "$(frame 2 code:execute "import socket; socket.socket()")")
	assert_equal "$(jq -r .status <<<"$output")" 403
	assert_equal "$(jq -r .tibet_provenance.token_type <<<"$output")" INCIDENT_KILL
	assert_equal "$(jq -r '.tibet_provenance.violations[0].family' <<<"$output")" socket
}

@test "unknown intent and bad JSON get signed 400 rejections" {
	output=$(ask "$(frame 3 code:executeXYZ "print(1)")")
	assert_equal "$(jq -r .status <<<"$output")" 400
	assert_equal "$(jq -r .tibet_provenance.token_type <<<"$output")" INTENT_REJECTED
	output=$(ask '{"channel_id": 4, "intent": ')
	assert_equal "$(jq -r .status <<<"$output")" 400
	[ "$(jq -r .tibet_provenance.signature.sig <<<"$output")" != null ]
}

@test "a JSON-lines client: every frame answered once, every token verifies, chain unbroken" {
	local i
	{
		for i in $(seq 10 29); do
			frame "$i" code:execute "print($i)"
		done
	} | "$LOADGEN" -S -a "127.0.0.1:$PORT" -x -T 60 >"$BATS_TEST_TMPDIR/answers.jsonl"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/answers.jsonl")" 20
	assert_equal "$(jq -r .channel_id "$BATS_TEST_TMPDIR/answers.jsonl" | sort -n | uniq | wc -l)" 20
	assert_equal "$(jq -r 'select(.status == 200 and .result.stdout == "\(.channel_id)\n") | 1' \
	    "$BATS_TEST_TMPDIR/answers.jsonl" | wc -l)" 20
	jq -c .tibet_provenance "$BATS_TEST_TMPDIR/answers.jsonl" |
	    jq -s -c 'sort_by(.seq) | .[]' >"$BATS_TEST_TMPDIR/tokens.jsonl"
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/tokens.jsonl"
	# and one of them, independently
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" -x "$BATS_TEST_TMPDIR/x" "$BATS_TEST_TMPDIR/tokens.jsonl"
	local seq
	seq=$(head -1 "$BATS_TEST_TMPDIR/tokens.jsonl" | jq -r .seq)
	run_tool 0 signify-openbsd -V -p "$DATA/test.pub" \
	    -x "$BATS_TEST_TMPDIR/x/$seq.json.sig" -m "$BATS_TEST_TMPDIR/x/$seq.json"
}

@test "files in and out: the answer carries what the run left in /output, bound by the token" {
	local f src
	src='d = open("/input/in.bin", "rb").read()
open("/output/out.bin", "wb").write(d[::-1])
open("/output/report.json", "w").write("{\"n\": %d}" % len(d))
print(len(d))'
	printf 'ab\0\377cd' >"$BATS_TEST_TMPDIR/in.bin"
	f=$(frame 40 code:execute "$src" | jq -c --arg b "$(base64 -w0 "$BATS_TEST_TMPDIR/in.bin")" \
	    '. + {files: {"in.bin": $b}}')
	output=$(ask "$f")
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" 6
	assert_equal "$(jq -r '.result.files | keys | join(" ")' <<<"$output")" "out.bin report.json"
	jq -r '.result.files["out.bin"].b64' <<<"$output" | base64 -d >"$BATS_TEST_TMPDIR/out.bin"
	printf 'dc\377\0ba' | cmp - "$BATS_TEST_TMPDIR/out.bin"
	assert_equal "$(jq -r '.result.files["report.json"].b64 | @base64d' <<<"$output")" '{"n": 6}'
	# Each file is the one the token binds: same size, same digest.
	jq -e '.tibet_provenance.erin.output_files as $t | .result.files as $f |
	    ($t | length) == 2 and
	    all($t[]; $f[.name].bytes == .bytes and $f[.name].sha256 == .sha256)' \
	    <<<"$output" >/dev/null
	assert_equal "$(sha256sum <"$BATS_TEST_TMPDIR/out.bin" | cut -d' ' -f1)" \
	    "$(jq -r '.result.files["out.bin"].sha256' <<<"$output")"
	assert_equal "$(jq -r '.tibet_provenance.erin.input_files[0].sha256' <<<"$output")" \
	    "$(sha256sum <"$BATS_TEST_TMPDIR/in.bin" | cut -d' ' -f1)"
	jq -c .tibet_provenance <<<"$output" >"$BATS_TEST_TMPDIR/t.jsonl"
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/t.jsonl"
	# A run that leaves nothing has an empty object; one that never ran, null.
	output=$(ask "$(frame 41 code:execute "print(1)")")
	assert_equal "$(jq -c .result.files <<<"$output")" '{}'
	output=$(ask "$(frame 42 code:execute "import socket; socket.socket()")")
	assert_equal "$(jq -c .result.files <<<"$output")" '{}'
	output=$(ask "$(frame 43 code:executeXYZ "print(1)")")
	assert_equal "$(jq -c .result <<<"$output")" null
}

@test "AIRLOCK_TRACE: every stage notes each frame's steps in pipeline order, and its CPU at the end (make bench's breakdown)" {
	local d=$BATS_TEST_TMPDIR log=$BATS_TEST_TMPDIR/muxd.log id
	cp "$DATA/test.sec" "$d/"
	serve_muxd "$log" env AIRLOCK_SIGN_KEY="$d/test.sec" \
	    AIRLOCK_CHAIN="$d/chain" AIRLOCK_TRACE="$d/trace" airlock-muxd
	TESTPID=$MUXPID
	output=$(printf '%s' "$(frame 7 code:execute "print(7)")" |
	    "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 30)
	assert_equal "$(jq -r .status <<<"$output")" 200
	end_process "$TESTPID"
	TESTPID=
	# One record id, and each step once, in the order a frame goes; a
	# process sandbox says when its start went through each of its steps
	# (a kvm sandbox does not).
	id=$(awk '$2 == "muxd.in" { print $1 }' "$d/trace")
	[[ $id =~ ^[0-9a-f-]+$ ]]
	run awk -v id="$id" '$1 == id { print $2 }' "$d/trace"
	local sandbox=
	[ "$(shipped_backend)" = kvm ] || sandbox="zygote.run
payload.run
payload.arming
zygote.arming
zygote.listener
"
	assert_output "muxd.in
wake.in
wake.out
snaft.in
snaft.files
snaft.connected
snaft.cgroup
snaft.run_sent
${sandbox}snaft.started
snaft.exited
snaft.out
triage.in
triage.out
sign.in
sign.sync_start
sign.sync_end
sign.out
muxd.out"
	# Times never go backwards along the way (one monotonic clock).
	awk -v id="$id" '$1 == id { if ($3 < last) exit 1; last = $3 }' \
	    "$d/trace"
	# Each stage says what CPU it used when it ended.
	for s in wake snaft triage sign; do
		grep -Eq "^- $s\.cpu_self_us [0-9]+$" "$d/trace"
		grep -Eq "^- $s\.cpu_children_us [0-9]+$" "$d/trace"
	done
}

@test "a 200 KiB payload in one frame is run (the original read one 8 KiB buffer)" {
	local big
	big=$(head -c 200000 /dev/zero | tr '\0' x)
	# printf, a builtin: the frame is too big for one exec argument
	output=$(ask "$(printf '{"channel_id": 40, "intent": "code:execute", "from_aint": "t", "payload": "s = %s; print(len(s))"}' "'$big'")")
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" 200000
}

@test "unknown intents never trip a watchdog: 20 of them, then a good frame is served" {
	local i
	for i in $(seq 1 20); do
		output=$(ask "$(frame "$((100 + i))" nonexistent:intent "print(1)")")
		assert_equal "$(jq -r .status <<<"$output")" 400
	done
	output=$(ask "$(frame 200 code:execute "print('still here')")")
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" "still here"
}

# bound_kib C M O F R N: airlock-muxd(8)'s bound on its memory (MEMORY),
# in KiB, for -c C -m M -o O -F F -R R and N stages.
bound_kib() {
	local c=$1 m=$2 o=$3 f=$4 r=$5 n=$6 k=1024
	echo $(((8 * k * k + c * (3 * m + o + 512 * k) +
	    f * (r + 8 * m + 512 * k) + (n + 2) * r + n * k * k + 80 * m) / k))
}

@test "clients that read none of their large answers: others are served, and muxd stays within its stated memory bound" {
	ldd "$BIN/airlock-muxd" | grep -q libasan &&
	    skip "a sanitizer's memory is not muxd's"
	local d=$BATS_TEST_TMPDIR port i j log=$BATS_TEST_TMPDIR/muxd.log
	# Caps scaled down, so that the bound is small next to what the
	# answers would take as text; the formula is the same at any caps.
	local c=10 m=4096 o=262144 F=40 f=8 R=3145728
	# A key of its own: the file's muxd holds the other copy's lock.
	cp "$DATA/test.sec" "$d/"
	serve_muxd "$log" env AIRLOCK_SIGN_KEY="$d/test.sec" \
	    AIRLOCK_CHAIN="$d/chain" airlock-muxd -c $c -m $m -o $o -F $F \
	    -f $f -R $R -w 600 -t 600
	TESTPID=$MUXPID
	port=$PORT
	# Four clients send eight frames each whose answers are 11 MB of
	# JSON text (1.8 MB of control bytes, six bytes each as text) and
	# never read.
	local p='import sys; sys.stdout.write(chr(1) * 900000); sys.stderr.write(chr(1) * 900000)'
	exec 5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port" \
	    7<>"/dev/tcp/127.0.0.1/$port" 8<>"/dev/tcp/127.0.0.1/$port"
	for i in 5 6 7 8; do
		for j in 1 2 3 4 5 6 7 8; do
			frame "$((i * 10 + j))" code:execute "$p"
		done >&"$i"
	done
	# All 32 run and are signed; their answers wait for their clients.
	for _ in $(seq 1200); do
		[ "$(grep -c -E ' [0-9]+ sent [0-9]+/[0-9]+$' "$log")" -ge 32 ] && break
		sleep 0.1
	done
	assert_equal "$(grep -c -E ' 200 code:execute [0-9]+ sent [0-9]+/[0-9]+$' "$log")" 32
	# A client that reads is served at once.
	output=$(frame 99 code:execute "print('served')" |
	    "$LOADGEN" -S -x -a "127.0.0.1:$port" -T 60)
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" "served"
	# And muxd never held more than its bound says.
	local hwm bound
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TESTPID/status")
	bound=$(bound_kib $c $m $o $F $R 4)
	echo "peak $hwm KiB, bound $bound KiB" >&2
	[ "$hwm" -le "$bound" ]
}
