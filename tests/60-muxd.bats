#!/usr/bin/env bats
# airlock-muxd(8): both kinds of client, framing across segments, limits,
# bad input, stage and signer deaths, drain, reload, inetd and socket
# activation.  The pipeline is a test-only stub first stage
# (tests/data/muxd/stub-wake, standing in for airlock-wake and
# airlock-snaft) followed by the real airlock-triage and airlock-sign, so
# every answer carries a real signed token.

load helpers
bats_require_minimum_version 1.5.0

LOADGEN=$TOP/build/tests/loadgen
STUB=$DATA/muxd/stub-wake

setup() {
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_TEST_TMPDIR/"
	KEY=$BATS_TEST_TMPDIR/test.sec
	PUB=$BATS_TEST_TMPDIR/test.pub
	SIGNER="airlock-sign -k $KEY -s $BATS_TEST_TMPDIR/chain"
	PIPE="sh $STUB|airlock-triage|$SIGNER"
	MUXLOG=$BATS_TEST_TMPDIR/muxd.log
	MUXPID=
	MUXSEEN=
}

teardown() {
	stop_muxd || true
	# Under SANITIZE=1 a sanitizer report from muxd fails the test (the
	# stages share its stderr; their reports are theirs).
	if [ -n "$MUXSEEN" ] && grep -E "^==($MUXSEEN)==" "$MUXLOG" >&2; then
		return 1
	fi
}

# Start airlock-muxd on a free port with the stub pipeline (or $PIPE) and
# any extra flags; sets PORT and MUXPID.
start_muxd() {
	serve_muxd "$MUXLOG" airlock-muxd -P "$PIPE" "$@" || return 1
	MUXSEEN=$MUXPID
}

# SIGTERM, and wait for the exit status (in $MUXRC).
stop_muxd() {
	[ -n "$MUXPID" ] || return 0
	end_process "$MUXPID"
	MUXRC=$ENDRC
	MUXPID=
}

# send [loadgen -S flags]: stdin to muxd; output is what came back.
send() {
	"$LOADGEN" -S -a "127.0.0.1:$PORT" "$@"
}

# run_send STATUS [loadgen -S flags]: send under run_tool.
run_send() {
	local want=$1
	shift
	run_tool "$want" "$LOADGEN" -S -a "127.0.0.1:$PORT" "$@"
}

frame() {	# frame CHANNEL PAYLOAD [INTENT]
	printf '{"channel_id": %s, "intent": "%s", "from_aint": "t.aint", "payload": "%s"}' \
	    "$1" "${3:-code:execute}" "$2"
}

# The stage process whose command line contains $1: a child of muxd's
# spawner, the child of muxd that starts the stages (airlock-muxd(8),
# PRIVILEGES).
stage_pid() {
	local p sp
	sp=$(spawner_pid) || return 1
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$sp" ] ||
		    continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "$1" &&
		    { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# muxd's spawner: its child named airlock-spawner.
spawner_pid() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$MUXPID" ] &&
		    [ "$(cat "$p/comm" 2>/dev/null)" = airlock-spawner ] &&
		    { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# Wait until the log has $1 lines matching $2.
wait_log() {
	local i
	for i in $(seq 200); do
		[ "$(grep -c -- "$2" "$MUXLOG")" -ge "$1" ] && return 0
		sleep 0.05
	done
	cat "$MUXLOG" >&2
	return 1
}

# The per-frame log lines: "<id> <channel> <status> <intent> <us> <how> n/m"
frame_lines() {
	grep -E '^airlock-muxd: [0-9a-f]{32} ' "$MUXLOG"
}

@test "muxd: an original client gets one pretty answer with a verifiable token, then EOF" {
	start_muxd
	run_send 0 < <(frame 7 'echo:hello world')
	# Pretty-printed, as the original server did.
	assert_line --index 0 '{'
	assert_line --partial '  "channel_id": 7,'
	run jq -c '[.channel_id, .status, .intent, .result.exit_code, .result.stdout, .result.stderr, .tibet_provenance.token_type]' <<<"$output"
	assert_output '[7,200,"code:execute",0,"hello world","","SAFE_EXECUTION"]'
	jq -c .tibet_provenance <<<"$(send < <(frame 8 echo:x))" >"$BATS_TEST_TMPDIR/tok"
	run_tool 0 airlock-sign -V -p "$PUB" "$BATS_TEST_TMPDIR/tok"
}

@test "muxd: the answer carries status, reason, result and the signed token" {
	start_muxd
	run_send 0 < <(frame 3 exit:3)
	run jq -c '{channel_id, status, intent, reason, result, t: .tibet_provenance.token_type, sig: (.tibet_provenance.signature | type)}' <<<"$output"
	json_eq "$output" '{"channel_id":3,"status":200,"intent":"code:execute","reason":"exited with code 3","result":{"exit_code":3,"signal":null,"stdout_truncated":false,"stdout":"","stderr_truncated":false,"stderr":"err","files":null},"t":"SAFE_EXECUTION","sig":"object"}'
}

@test "muxd: output that is not UTF-8 comes as text with U+FFFD and exact base64" {
	start_muxd
	run_send 0 < <(frame 1 'b64:aGn/Cg==')
	run jq -c '.result | [.stdout, .stdout_b64, has("stderr_b64")]' <<<"$output"
	assert_output '["hi�\n","aGn/Cg==",false]'
}

@test "muxd: a large output is written out a piece at a time, exact in both kinds of answer" {
	# A small output cap (-o): the answers are made a piece at a time.
	start_muxd -o 4096
	# UTF-8 sequences across every decoding window's edge, the quote, the
	# backslash, a control byte, and bytes that are not UTF-8.
	perl -e 'print "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\x01\"\\x\xff\xc3" x 7000' \
	    >"$BATS_TEST_TMPDIR/out"
	perl -e 'print "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\x01\"\\x\xef\xbf\xbd\xef\xbf\xbd" x 7000' \
	    >"$BATS_TEST_TMPDIR/text"
	b=$(base64 -w0 <"$BATS_TEST_TMPDIR/out")
	send < <(frame 1 "b64:$b") >"$BATS_TEST_TMPDIR/single"
	send -x < <(frame 2 "b64:$b"; echo) >"$BATS_TEST_TMPDIR/lines"
	for a in single lines; do
		jq -j .result.stdout "$BATS_TEST_TMPDIR/$a" | cmp - "$BATS_TEST_TMPDIR/text"
		assert_equal "$(jq -r .result.stdout_b64 "$BATS_TEST_TMPDIR/$a")" "$b"
	done
	run head -2 "$BATS_TEST_TMPDIR/single"
	assert_output $'{\n  "channel_id": 1,'
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/lines")" 1
}

@test "muxd: clients that read none of their answers are closed at the write timeout; their frames are signed and logged" {
	start_muxd -c 2 -m 8388608 -w 2
	# Both connections taken by clients that send two frames each, whose
	# answers are 16 MB each (a control byte is six bytes of JSON text),
	# more than the sockets hold, and never read.
	big=$(head -c 2700000 /dev/zero | tr '\0' '\1' | base64 -w0)
	exec 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT"
	{ frame 1 "b64:$big"; echo; frame 2 "b64:$big"; echo; } >&4
	{ frame 3 "b64:$big"; echo; frame 4 "b64:$big"; echo; } >&5
	# Each is closed once nothing has been written to it for 2 s: its
	# tokens are in the chain and the log already.
	wait_log 2 'write timeout'
	exec 4>&- 5>&-
	run frame_lines
	assert_equal "${#lines[@]}" 4
	assert_line --index 3 --regexp ' 200 code:execute [0-9]+ sent 4/4$'
	# Their connections serve others.
	run_send 0 < <(frame 5 echo:next)
	run jq -c '[.channel_id, .status]' <<<"$output"
	assert_output '[5,200]'
}

@test "muxd: an original client that half-closes is answered the same way" {
	start_muxd
	run_send 0 -x < <(frame 9 echo:hi)
	run jq -c '[.channel_id, .status, .result.stdout]' <<<"$output"
	assert_output '[9,200,"hi"]'
}

@test "muxd: a JSON-lines client gets compact answers matched by channel_id and stays connected" {
	start_muxd
	# No half-close: the connection stays open after the answers, so
	# loadgen gives up at its -T timeout with exit 1.
	run_send 1 -T 2 < <(frame 1 echo:a; echo; frame 2 echo:b; echo;
	    frame 3 nope bad:intent; echo)
	assert_equal "${#lines[@]}" 3
	run jq -sc 'sort_by(.channel_id) | map([.channel_id, .status, .result.stdout])' <<<"$output"
	assert_output '[[1,200,"a"],[2,200,"b"],[3,400,null]]'
	# Each answer is one line.
	run_send 0 -x < <(frame 4 echo:d; echo)
	assert_equal "${#lines[@]}" 1
	run jq -c .channel_id <<<"$output"
	assert_output 4
}

@test "muxd: frames sent byte by byte are reassembled, in both modes" {
	start_muxd
	run_send 0 -b 1 -w 1000 < <(frame 5 echo:slow)
	run jq -c '[.channel_id, .status, .result.stdout]' <<<"$output"
	assert_output '[5,200,"slow"]'
	run_send 0 -x -b 1 -w 500 < <(frame 6 echo:x; echo; frame 7 echo:y; echo)
	assert_equal "${#lines[@]}" 2
	run jq -sc 'map(.channel_id) | sort' <<<"$output"
	assert_output '[6,7]'
}

@test "muxd: segment boundaries: after a newline, before a newline, inside a string" {
	start_muxd
	rs=$'\x1e'
	# Frame ends exactly at the boundary, newline first in the next one.
	run_send 0 -x < <(frame 1 echo:a; printf '%s' "$rs"; echo; frame 2 echo:b; echo)
	run jq -sc 'map(.channel_id) | sort' <<<"$output"
	assert_output '[1,2]'
	# Segment ends right after a newline; the next frame follows.
	run_send 0 -x < <(frame 3 echo:c; echo; printf '%s' "$rs"; frame 4 echo:d; echo)
	run jq -sc 'map(.channel_id) | sort' <<<"$output"
	assert_output '[3,4]'
	# Split inside a string holding braces and an escaped quote.
	run_send 0 -w 2000 < <(printf '{"channel_id": 5, "intent": "code:execute", "from_aint": "t", "payload": "echo:{\\"x%s}\\"}"}' "$rs")
	run jq -c '[.channel_id, .result.stdout]' <<<"$output"
	assert_output '[5,"{\"x}\"}"]'
	# Several frames in one segment.
	run_send 0 -x < <(for i in 1 2 3 4 5 6; do frame "$i" echo:n; echo; done)
	assert_equal "${#lines[@]}" 6
}

@test "muxd: bad input gets a 400 with a signed token and never stalls the daemon" {
	start_muxd -m 4096
	big=$(head -c 5000 /dev/zero | tr '\0' a)
	{
		printf 'not json\n'
		printf '[1,2]\n'
		printf '{"channel_id": "one", "intent": "code:execute", "from_aint": "t", "payload": "x"}\n'
		printf '{"channel_id": 4, "payload": "a\0b"}\n'
		printf '{"channel_id": 5, "payload": "\xff"}\n'
		printf '{"channel_id": 6, "payload": "%s"}\n' "$big"
		printf '{"channel_id": 7, "a": 1, "a": 2}\n'
		frame 8 echo:still-alive; echo
	} >"$BATS_TEST_TMPDIR/bad"
	run_send 0 -x <"$BATS_TEST_TMPDIR/bad"
	answers=$output
	assert_equal "${#lines[@]}" 8
	for l in "${lines[@]}"; do
		jq -e '.tibet_provenance.signature != null' <<<"$l" >/dev/null
	done
	run jq -sc 'map(select(.status == 400)) | length' <<<"$answers"
	assert_output 7
	run jq -sc 'map(.reason) | sort' <<<"$answers"
	assert_output --partial '"frame longer than 4096 bytes"'
	assert_output --partial '"NUL byte at offset'
	assert_output --partial '"invalid UTF-8 at offset'
	run jq -sc 'map(select(.status == 200) | .channel_id)' <<<"$(send -x <"$BATS_TEST_TMPDIR/bad")"
	assert_output '[8]'
}

@test "muxd: an original client's bad frame gets a pretty 400, then EOF" {
	start_muxd
	run_send 0 < <(printf '[1, 2, 3]')
	run jq -c '[.status, .reason, .tibet_provenance.token_type]' <<<"$output"
	assert_output --partial '[400,"a line must be a JSON object, not an array"'
}

@test "muxd: half a frame then silence gets 400 incomplete frame at the read timeout" {
	start_muxd -r 1
	run_send 0 -T 10 < <(printf '{"channel_id": 1, "intent": "code:exe')
	run jq -c '[.status, (.reason | startswith("incomplete frame")), (.tibet_provenance | type)]' <<<"$output"
	assert_output '[400,true,"object"]'
}

@test "muxd: blanks are not activity: newlines after a frame, or spaces before one, do not hold a connection" {
	start_muxd -c 2 -t 2
	rs=$'\x1e'
	# Both slots taken by clients that, after a frame or before any,
	# send one blank every half second for longer than they wait (-T).
	# They are closed at the idle timeout (EOF, or a reset if a blank
	# crosses the close), not held while the blanks come (exit 1).
	{ frame 1 echo:a; echo; for _ in $(seq 80); do printf '%s\n' "$rs"; done; } |
	    "$LOADGEN" -S -a "127.0.0.1:$PORT" -w 500000 -T 20 \
	    >"$BATS_TEST_TMPDIR/nl" 3>&- &
	nl=$!
	for _ in $(seq 80); do printf ' %s' "$rs"; done |
	    "$LOADGEN" -S -a "127.0.0.1:$PORT" -w 500000 -T 20 \
	    >"$BATS_TEST_TMPDIR/sp" 3>&- &
	sp=$!
	rc=0
	wait "$nl" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]
	rc=0
	wait "$sp" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]
	# The first one's frame was answered; the other sent none.
	run jq -c '[.channel_id, .status]' "$BATS_TEST_TMPDIR/nl"
	assert_output '[1,200]'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/sp")" ''
	# And their slots serve others.
	run_send 0 < <(frame 2 echo:next)
	run jq -c '[.channel_id, .status]' <<<"$output"
	assert_output '[2,200]'
}

@test "muxd: the rest of an over-long line must come within the read timeout too" {
	start_muxd -m 4096 -r 1
	rs=$'\x1e'
	# After a frame, a refused line that never ends, one byte every half
	# second for longer than the client waits: closed after its 400, not
	# held.
	run_send 0 -w 500000 -T 20 < <(frame 1 echo:a; echo;
	    head -c 5000 /dev/zero | tr '\0' a;
	    for _ in $(seq 80); do printf 'a%s' "$rs"; done)
	run jq -sc 'map([.status, .reason]) | sort' <<<"$output"
	assert_output '[[200,"exited with code 0"],[400,"frame longer than 4096 bytes"]]'
}

@test "muxd: half a frame then half-close gets 400 incomplete frame" {
	start_muxd
	run_send 0 -x < <(printf '{"channel_id": 1, "payload": "}{')
	run jq -c '[.status, .reason]' <<<"$output"
	assert_output '[400,"incomplete frame: the client closed after 32 bytes"]'
}

@test "muxd: a client that disconnects still has its frames signed and logged" {
	PIPE="sh $STUB -d 1.5|airlock-triage|$SIGNER"
	start_muxd
	# Send two frames and leave before either is answered.
	run_send 1 -T 1 < <(frame 1 echo:a; echo; frame 2 echo:b; echo)
	wait_log 1 ' dropped 2/2$'
	run frame_lines
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --regexp ' 200 code:execute [0-9]+ dropped 2/2$'
}

@test "muxd: frames over the per-connection and total caps get 503 tokens at once" {
	PIPE="sh $STUB -d 0.5|airlock-triage|$SIGNER"
	start_muxd -f 2 -F 3
	run_send 0 -x < <(for i in 1 2 3 4 5; do frame "$i" echo:x; echo; done)
	answers=$output
	run jq -sc 'map(.status) | sort' <<<"$answers"
	assert_output '[200,200,503,503,503]'
	run jq -sc 'map(select(.status == 503) | [.reason, .tibet_provenance.token_type]) | unique' <<<"$answers"
	assert_output '[["connection has 2 frames in flight (cap 2)","OVERLOADED"]]'
	# Two frames in flight on one connection, then a second connection:
	# its first frame is the third in flight, its second is over -F.
	send -x -T 30 < <(frame 1 echo:x; echo; frame 2 echo:x; echo) \
	    >"$BATS_TEST_TMPDIR/a" 3>&- &
	client=$!
	sleep 0.3
	run_send 0 -x -T 30 < <(frame 3 echo:x; echo; frame 4 echo:x; echo)
	wait "$client"
	run jq -sc 'map([.channel_id, .status, .reason]) | sort' <<<"$output"
	assert_output '[[3,200,"exited with code 0"],[4,503,"3 frames in flight (cap 3)"]]'
	run jq -sc 'map(.status)' "$BATS_TEST_TMPDIR/a"
	assert_output '[200,200]'
}

@test "muxd: over the connection cap a connection is refused, and a slow client blocks no one" {
	start_muxd -c 2
	# A slowloris holds one slot with half a frame.
	printf '{"channel_id": 1, ' | "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 60 >/dev/null 3>&- &
	slow=$!
	for _ in $(seq 100); do
		[ "$(ss -Htn state established "( dport = :$PORT )" | wc -l)" -ge 1 ] && break
		sleep 0.05
	done
	# The other slot still serves at once.
	run_send 0 < <(frame 2 echo:fast)
	run jq -c .status <<<"$output"
	assert_output 200
	# Two slots held: a third connection is closed unanswered.
	printf '{"channel_id": 3, ' | "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 60 >/dev/null 3>&- &
	slow2=$!
	# Both slow clients connected (not a fixed sleep: sanitizer builds
	# and a loaded machine are slow).
	for _ in $(seq 100); do
		[ "$(ss -Htn state established "( dport = :$PORT )" | wc -l)" -ge 2 ] && break
		sleep 0.05
	done
	sleep 0.1
	# Closed unanswered: EOF (0) or a reset (2), and no bytes.
	run --separate-stderr send < <(frame 4 echo:x)
	[ "$status" -eq 0 ] || [ "$status" -eq 2 ]
	assert_output ''
	grep -q 'refused 1 connections: 2 open (cap 2)' "$MUXLOG"
	kill "$slow" "$slow2" 2>/dev/null || true
	wait "$slow" "$slow2" 2>/dev/null || true
}

# status_field PID NAME: the value of NAME: in /proc/PID/status, blanks
# squeezed.
status_field() {
	awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

@test "muxd: serves without privilege: no root, no capability, no group, no new privileges; the stages keep root" {
	local uid gid z=0000000000000000 st
	uid=$(id -u _airlock)
	gid=$(id -g _airlock)
	start_muxd
	run_send 0 < <(frame 1 echo:unprivileged)
	run jq -c '[.status, .result.stdout]' <<<"$output"
	assert_output '[200,"unprivileged"]'
	# muxd itself, while it serves: every uid and gid _airlock's, no
	# supplementary group, every capability set empty.
	[ "$uid" -ne 0 ]
	assert_equal "$(status_field "$MUXPID" Uid)" "$uid $uid $uid $uid"
	assert_equal "$(status_field "$MUXPID" Gid)" "$gid $gid $gid $gid"
	assert_equal "$(status_field "$MUXPID" Groups)" ''
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		assert_equal "$f $(status_field "$MUXPID" "$f")" "$f $z"
	done
	assert_equal "$(status_field "$MUXPID" NoNewPrivs)" 1
	# The spawner and the stages it started are root.
	st=$(spawner_pid)
	assert_equal "$(status_field "$st" Uid)" "0 0 0 0"
	assert_equal "$(status_field "$(stage_pid airlock-triage)" Uid)" "0 0 0 0"
	assert_equal "$(status_field "$(stage_pid airlock-sign)" Uid)" "0 0 0 0"
	# The spawner holds no socket but its own end to muxd.
	assert_equal "$(find "/proc/$st/fd" -lname 'socket:*' | wc -l)" 1
}

@test "muxd: a first stage killed mid-load: its frames get 500 tokens, it restarts, frames in = tokens out" {
	PIPE="sh $STUB -d 0.3|airlock-triage|$SIGNER"
	start_muxd
	send -x -T 30 < <(for i in $(seq 1 8); do frame "$i" echo:x; echo; done) \
	    >"$BATS_TEST_TMPDIR/answers" 3>&- &
	client=$!
	# Kill it while it holds a frame: after the first answer, the stub
	# is 0.3 s into the next one (on a loaded machine a fixed sleep could
	# fall before the first frame arrived).
	for _ in $(seq 200); do
		[ -s "$BATS_TEST_TMPDIR/answers" ] && break
		sleep 0.05
	done
	kill -KILL "$(stage_pid stub-wake)"
	wait "$client"
	run jq -sc 'map(.status) | unique' "$BATS_TEST_TMPDIR/answers"
	assert_output '[200,500]'
	run jq -sc 'length' "$BATS_TEST_TMPDIR/answers"
	assert_output 8
	run jq -sc 'map(select(.status == 500))[0] | [.reason, .tibet_provenance.token_type]' "$BATS_TEST_TMPDIR/answers"
	assert_output --regexp 'sh \(stage 0\) killed by signal 9.*SANDBOX_FAILURE'
	# The restart may come after a back-off, later than the last answer.
	for _ in $(seq 100); do
		grep -q 'restarted' "$MUXLOG" && break
		sleep 0.05
	done
	grep -q 'restarted' "$MUXLOG"
	# The restarted stage serves, started as root by the spawner while
	# muxd serves unprivileged.
	run_send 0 < <(frame 9 echo:after)
	run jq -c .status <<<"$output"
	assert_output 200
	run frame_lines
	assert_line --index 8 --regexp ' 9/9$'
	assert_equal "$(status_field "$(stage_pid stub-wake)" Uid)" "0 0 0 0"
	[ "$(status_field "$MUXPID" Uid)" != "0 0 0 0" ]
	assert_equal "$(status_field "$MUXPID" CapEff)" 0000000000000000
}

@test "muxd: the signer killed mid-load: every frame still gets one token from the restarted signer" {
	start_muxd
	"$LOADGEN" -a "127.0.0.1:$PORT" -c 4 -d 4 -k lines -t 3 -p echo:x \
	    >"$BATS_TEST_TMPDIR/load" 3>&- &
	lg=$!
	sleep 1
	kill -KILL "$(stage_pid airlock-sign)"
	wait "$lg"
	run jq -c '[.frames == .answers, .errors, (.status | keys)]' "$BATS_TEST_TMPDIR/load"
	assert_output '[true,0,["200"]]'
	grep -q 'airlock-sign restarted' "$MUXLOG"
	stop_muxd
	assert_equal "$MUXRC" 0
	run grep -E 'done: ([0-9]+) frames in, \1 tokens out, 0 unsigned' "$MUXLOG"
	assert_success
}

@test "muxd: SIGTERM drains: in-flight frames are answered, then exit 0" {
	PIPE="sh $STUB -d 0.5|airlock-triage|$SIGNER"
	start_muxd
	send -x -T 30 < <(for i in 1 2 3; do frame "$i" echo:x; echo; done) \
	    >"$BATS_TEST_TMPDIR/answers" 3>&- &
	client=$!
	sleep 0.3
	kill -TERM "$MUXPID"
	wait "$client"
	run jq -sc 'map(.status)' "$BATS_TEST_TMPDIR/answers"
	assert_output '[200,200,200]'
	stop_muxd
	assert_equal "$MUXRC" 0
	grep -q 'done: 3 frames in, 3 tokens out' "$MUXLOG"
}

@test "muxd: frames that arrive during a drain get signed 503s: frames in = tokens out" {
	PIPE="sh $STUB -d 1.5|airlock-triage|$SIGNER"
	start_muxd -v
	# One JSON-lines connection: a frame, then SIGTERM while it runs,
	# then two more frames on the same connection.
	exec 4<>"/dev/tcp/127.0.0.1/$PORT"
	{ frame 1 echo:x; echo; } >&4
	wait_log 1 'JSON-lines client'
	kill -TERM "$MUXPID"
	wait_log 1 'draining'
	{ frame 2 echo:x; echo; frame 3 echo:x; echo; } >&4
	timeout 30 cat <&4 >"$BATS_TEST_TMPDIR/answers"
	exec 4<&-
	run jq -sc 'map([.channel_id, .status, .reason]) | sort' "$BATS_TEST_TMPDIR/answers"
	assert_output '[[1,200,"exited with code 0"],[2,503,"airlock-muxd is shutting down"],[3,503,"airlock-muxd is shutting down"]]'
	jq -c .tibet_provenance "$BATS_TEST_TMPDIR/answers" |
	    jq -s -c 'sort_by(.seq) | .[]' >"$BATS_TEST_TMPDIR/tokens"
	run_tool 0 airlock-sign -V -p "$PUB" "$BATS_TEST_TMPDIR/tokens"
	stop_muxd
	assert_equal "$MUXRC" 0
	grep -q 'done: 3 frames in, 3 tokens out, 0 unsigned' "$MUXLOG"
}

@test "muxd: SIGHUP replaces the stages before the signer without losing a frame" {
	PIPE="sh $STUB -d 0.3|airlock-triage|$SIGNER"
	start_muxd
	old=$(stage_pid stub-wake)
	send -x -T 30 < <(for i in 1 2 3 4; do frame "$i" echo:x; echo; done) \
	    >"$BATS_TEST_TMPDIR/answers" 3>&- &
	client=$!
	sleep 0.2
	kill -HUP "$MUXPID"
	wait "$client"
	run jq -sc 'map(.status)' "$BATS_TEST_TMPDIR/answers"
	assert_output '[200,200,200,200]'
	grep -q 'reload: replacing 2 stages' "$MUXLOG"
	new=$(stage_pid stub-wake)
	[ "$new" != "$old" ]
	run_send 0 < <(frame 5 echo:x)
	run jq -c .status <<<"$output"
	assert_output 200
}

@test "muxd: inetd mode serves one client on stdin and stdout, then exits 0" {
	run_tool 0 airlock-muxd -i -P "$PIPE" < <(frame 1 echo:inetd)
	run jq -c '[.channel_id, .status, .result.stdout]' <<<"$output"
	assert_output '[1,200,"inetd"]'
	run_tool 0 airlock-muxd -i -P "$PIPE" < <(frame 1 echo:a; echo; frame 2 echo:b; echo)
	assert_equal "${#lines[@]}" 2
}

@test "muxd: systemd socket activation on fd 3" {
	local portfile=$BATS_TEST_TMPDIR/port
	perl -MIO::Socket::INET -MPOSIX=dup2 -e '
		$^F = 255;	# fd 3 must survive exec
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		    LocalPort => 0, Listen => 16, ReuseAddr => 1) or die "$!";
		open(my $f, ">", $ARGV[0]) or die; print $f $s->sockport; close $f;
		dup2(fileno($s), 3) or die "dup2: $!";
		$ENV{LISTEN_FDS} = 1; $ENV{LISTEN_PID} = $$;
		shift @ARGV; exec @ARGV or die "exec: $!";
	' "$portfile" airlock-muxd -P "$PIPE" 2>"$MUXLOG" &
	MUXPID=$!
	MUXSEEN=$MUXPID
	wait_log 1 'ready:'
	PORT=$(cat "$portfile")
	grep -q "listening on 127.0.0.1:$PORT" "$MUXLOG"
	run_send 0 < <(frame 1 echo:activated)
	run jq -c .result.stdout <<<"$output"
	assert_output '"activated"'
}

@test "muxd: listens on IPv6 loopback" {
	grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null ||
	    skip "no IPv6 loopback"
	PORT=$((20000 + RANDOM % 40000))
	airlock-muxd -l "[::1]:$PORT" -P "$PIPE" 2>"$MUXLOG" 3>&- &
	MUXPID=$!
	MUXSEEN=$MUXPID
	wait_log 1 'ready:'
	run_tool 0 "$LOADGEN" -S -a "[::1]:$PORT" < <(frame 1 echo:v6)
	run jq -c .result.stdout <<<"$output"
	assert_output '"v6"'
}

@test "muxd: loadgen drives both client kinds; frames in equal tokens out" {
	start_muxd
	run_tool 0 "$LOADGEN" -a "127.0.0.1:$PORT" -c 4 -t 2 -p echo:x
	run jq -c '[.kind, .frames == .answers, .errors, (.status | keys), (.latency_us | keys)]' <<<"$output"
	assert_output '["single",true,0,["200"],["max","p50","p90","p99"]]'
	run_tool 0 "$LOADGEN" -a "127.0.0.1:$PORT" -c 4 -d 8 -k lines -t 2 -p echo:x
	run jq -c '[.kind, .frames == .answers, .errors, (.status | keys)]' <<<"$output"
	assert_output '["lines",true,0,["200"]]'
	stop_muxd
	assert_equal "$MUXRC" 0
	run grep -E 'done: ([0-9]+) frames in, \1 tokens out, 0 unsigned' "$MUXLOG"
	assert_success
}

@test "muxd: bad usage and a stage that cannot start" {
	run_tool 100 airlock-muxd -P airlock-sign
	assert_output ''
	run_tool 100 airlock-muxd -Z
	usage_is_synopsis airlock-muxd.8
	run_tool 100 airlock-muxd -m 1
	run_tool 111 airlock-muxd -l 127.0.0.1:0 -P "no-such-stage-xyz|$SIGNER"
	assert_equal "$stderr" "airlock-muxd: exec no-such-stage-xyz: No such file or directory"
	# Neither root nor nobody (the payloads' user), nor a user that is not.
	run_tool 100 airlock-muxd -u root -P "$PIPE"
	assert_equal "$stderr" "airlock-muxd: -u root: muxd serves as a user of its own, neither root nor nobody"
	run_tool 100 airlock-muxd -u nobody -P "$PIPE"
	run_tool 111 airlock-muxd -u no-such-user-xyz -P "$PIPE"
	assert_equal "$stderr" "airlock-muxd: user no-such-user-xyz does not exist: create it (useradd --system --user-group --no-create-home no-such-user-xyz) or name another with -u"
}
