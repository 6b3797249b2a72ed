#!/usr/bin/env bats
# airlock-sign(1), Durability: the sequence lease.  One sync reserves the
# next seqs; a signer that stops uncleanly leaves a lease out, and the
# next one skips past all of it with a signed restart token
# (airlock-token(5), Restarts), which -V reports with the exact range.
# Crashes are real (SIGKILL), at each point where the state on disk
# differs: between tokens, in the middle of writing a batch, right after a
# lease was extended, before the first lease, and twice in a row.  The
# sync per batch (-l 0) is 31-chain.bats's.

load helpers

# helpers.bash's run_tool assigns output=$(...) under bats' errexit, so a
# tool that exits non-zero would end the test before its status is
# compared; called from an || list, errexit is off inside it.
eval "helpers_$(declare -f run_tool)"
run_tool() { helpers_run_tool "$@" || return 1; }

R=$DATA/sign/records.jsonl
KEYID=5160ff7f8a5490ec
GENESIS=sha256:0000000000000000000000000000000000000000000000000000000000000000

setup() {
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_TEST_TMPDIR/"
	D=$BATS_TEST_TMPDIR
	K=$D/test.sec
	P=$D/test.pub
	C=$D/test.chain
	LOG=$D/log.jsonl
	# Fixed, so that a token signed twice comes out byte for byte.
	export AIRLOCK_SIGN_TIME=2026-01-01T00:00:00Z AIRLOCK_SIGN_HOST=test
	unset AIRLOCK_SIGN_KEY AIRLOCK_CHAIN AIRLOCK_SIGN_LEASE AIRLOCK_SIGN_STATS
	PID=
}

teardown() {
	[ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true
}

records() {
	sed -n "$1,$2p" "$R"
}

# sign FROM TO [OPTIONS...]: sign those records onto the log, ending cleanly.
sign() {
	local from=$1 to=$2
	shift 2
	records "$from" "$to" | airlock-sign -q -k "$K" "$@" >>"$LOG"
}

# state: the chain state as [v, seq, lease] (lease null in version 1).
state() {
	jq -c '[.v, .seq, .lease]' "$C"
}

seqs() {
	jq -c .token.seq "$@" | tr '\n' ' '
}

waitlines() {
	local i
	for i in $(seq 200); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "$1 never reached $2 lines" >&2
	return 1
}

# waitcall PID NR: wait (at most 20 s) until PID is blocked in system call
# NR (x86-64: 1 write, 271 ppoll), so that a kill lands at a known point.
waitcall() {
	local i
	for i in $(seq 400); do
		[ "$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)" = "$2" ] &&
		    return 0
		sleep 0.05
	done
	echo "pid $1 never blocked in system call $2: $(cat "/proc/$1/syscall")" >&2
	return 1
}

# kill9: SIGKILL the signer started in the background, and reap it.
kill9() {
	kill -9 "$PID"
	wait "$PID" || true
	PID=
}

# running OUT FROM TO OPTIONS...: a signer with OPTIONS, whose input is
# the fifo $D/in (open on fd 4), signs records FROM to TO onto OUT one at a
# time, and is left waiting for more, everything for the last one done.
running() {
	local out=$1 from=$2 to=$3 base i
	shift 3
	rm -f "$D/in"
	mkfifo "$D/in"
	touch "$out"
	base=$(wc -l <"$out")
	airlock-sign -q -k "$K" "$@" <"$D/in" >>"$out" 3>&- &
	PID=$!
	exec 4>"$D/in"
	for i in $(seq "$from" "$to"); do
		records "$i" "$i" >&4
		waitlines "$out" $((base + i - from + 1))
	done
	waitcall "$PID" 271
}

# killed_after OUT N OPTIONS...: records 1 to N signed, then SIGKILL.
killed_after() {
	local out=$1 n=$2
	shift 2
	running "$out" 1 "$n" "$@"
	kill9
	exec 4>&-
}

# killed_writing FILL FROM TO OPTIONS...: a signer with OPTIONS whose
# output already holds FILL bytes that nobody reads is sent records FROM to
# TO at once; a line that does not fit in the rest of the pipe's 64 KiB
# blocks it in write(2), and there it is killed.  What it got out beyond
# the FILL bytes lands in $D/got.
killed_writing() {
	local fill=$1 from=$2 to=$3
	shift 3
	rm -f "$D/in" "$D/out"
	mkfifo "$D/in" "$D/out"
	exec 4<>"$D/in" 5<>"$D/out"
	{ head -c $((fill - 1)) /dev/zero | tr '\0' x; echo; } >&5
	airlock-sign -q -k "$K" "$@" <"$D/in" >"$D/out" 3>&- 4>&- 5>&- &
	PID=$!
	records "$from" "$to" >&4
	waitcall "$PID" 1
	kill9
	python3 -c '
import os, sys
os.set_blocking(5, False)
out = b""
while True:
    try:
        b = os.read(5, 65536)
    except BlockingIOError:
        break
    if not b:
        break
    out += b
sys.stdout.buffer.write(out[int(sys.argv[1]):])' "$fill" >"$D/got"
	exec 4>&- 5>&-
}

# restart_parent TOKEN: the parent a restart token must have, computed
# with jq and sha256sum alone (airlock-token(5)).
restart_parent() {
	echo "sha256:$(jq -jcS .restart <<<"$1" | sha256sum | cut -d' ' -f1)"
}

# skipped SEQ FROM TO: the line -V prints for the restart token SEQ.
skipped() {
	if [ "$2" -gt "$3" ]; then
		echo "airlock-sign: seq $1: restart after an unclean stop: nothing skipped"
	elif [ "$2" -eq "$3" ]; then
		echo "airlock-sign: seq $1: restart after an unclean stop: seq $2 skipped (lost, or never issued)"
	else
		echo "airlock-sign: seq $1: restart after an unclean stop: seq $2 to $3 skipped (lost, or never issued)"
	fi
}

@test "a lease: one sync per N tokens, a version 2 state while it is out, the exact state at a clean end" {
	AIRLOCK_SIGN_STATS=1 running "$D/out" 1 9 -l 3
	# Seq 1 took a lease to 4, seq 5 one to 8, seq 9 one to 12.
	assert_equal "$(jq -c '[.token.seq, .sign.synced]' "$D/out" | tr '\n' ' ')" \
	    "[1,true] [2,false] [3,false] [4,false] [5,true] [6,false] [7,false] [8,false] [9,true] "
	assert_equal "$(jq -c 'select(.sign.synced | not) | .sign.sync_us' "$D/out" | sort -u)" 0
	# How long the signer held each record counts the sync it waited for.
	jq -se 'all(.[].sign; (.held_us | type) == "number" and
	    .held_us >= .sync_us and .batch == 1 and .batch_index == 0)' \
	    "$D/out" >/dev/null
	# Under the lease, the last token written is noted, unsynced.
	assert_equal "$(state)" '[2,9,12]'
	assert_equal "$(jq -r .last_hash "$C")" "$(tail -n 1 "$D/out" | jq -r .token.content_hash)"
	assert_equal "$(stat -c %s "$C")" 256
	exec 4>&-
	wait "$PID"
	PID=
	# The end of input saves the exact state, version 1, for any signer.
	assert_equal "$(state)" '[1,9,null]'
	records 10 11 | airlock-sign -q -k "$K" -l 3 >"$D/out2"
	assert_equal "$(seqs "$D/out2")" "10 11 "
	cat "$D/out" "$D/out2" >"$LOG"
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" ""
	# -l 0 and AIRLOCK_SIGN_LEASE=0: every batch synced, the state always
	# exact; -l wins over the environment.
	records 1 3 | AIRLOCK_SIGN_STATS=1 airlock-sign -q -k "$K" -l 0 >"$D/out3"
	assert_equal "$(jq -c .sign.synced "$D/out3" | sort -u)" true
	records 1 1 | AIRLOCK_SIGN_LEASE=0 AIRLOCK_SIGN_STATS=1 airlock-sign -q -k "$K" >"$D/out4"
	assert_equal "$(jq -c .sign.synced "$D/out4")" true
	records 1 1 | AIRLOCK_SIGN_LEASE=x airlock-sign -q -k "$K" -l 5 >"$D/out5"
	records 2 2 | AIRLOCK_SIGN_LEASE=5 airlock-sign -q -k "$K" >"$D/out6"
	# The default is a lease too: a clean end leaves the exact state.
	records 3 3 | airlock-sign -q -k "$K" >>"$D/out6"
	assert_equal "$(state)" '[1,18,null]'
	cat "$D/out" "$D/out2" "$D/out3" "$D/out4" "$D/out5" "$D/out6" >"$LOG"
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
}

@test "-l: a number from 0 to 1000000000, for signing only" {
	run_tool 100 airlock-sign -q -k "$K" -l x </dev/null
	assert_equal "$stderr" "airlock-sign: lease: not a number from 0 to 1000000000: x"
	run_tool 100 airlock-sign -q -k "$K" -l 1000000001 </dev/null
	run_tool 100 airlock-sign -q -k "$K" -l -1 </dev/null
	AIRLOCK_SIGN_LEASE=1e3 run_tool 100 airlock-sign -q -k "$K" </dev/null
	assert_equal "$stderr" "airlock-sign: lease: not a number from 0 to 1000000000: 1e3"
	run_tool 100 airlock-sign -V -l 3 -p "$P" </dev/null
	run_tool 100 airlock-sign -G -l 3 -k "$D/g.sec" </dev/null
	run_tool 0 airlock-sign -q -k "$K" -l 1000000000 <"$R"
}

@test "killed between tokens: the next token is a signed restart that skips exactly the rest of the lease" {
	local t x
	killed_after "$D/out1" 3 -l 10
	# Seq 1 took the lease to 11; seq 3 is the last noted as issued.
	assert_equal "$(state)" '[2,3,11]'
	run_tool 0 airlock-sign -k "$K" -l 10 <<<"$(records 4 6)"
	printf '%s\n' "$output" >"$D/out2"
	[[ $stderr == *"airlock-sign: $C: seq 4 to 11 may have been issued before an unclean stop; the next token, seq 12, says so"* ]]
	# Never a seq again: 4 to 11 are gone for good.
	assert_equal "$(seqs "$D/out1" "$D/out2")" "1 2 3 12 13 14 "
	t=$(head -n 1 "$D/out2" | jq -c .token)
	json_eq "$(jq -c .restart <<<"$t")" \
	    "{\"after_seq\":3,\"after_hash\":$(tail -n 1 "$D/out1" | jq .token.content_hash),\"lease\":11}"
	# Its parent is the hash of its restart statement, no token's hash;
	# the token after it links to it as to any other.
	assert_equal "$(jq -r .parent <<<"$t")" "$(restart_parent "$t")"
	assert_equal "$(sed -n 2p "$D/out2" | jq -r .token.parent)" "$(jq -r .content_hash <<<"$t")"
	[ "$(jq -r .parent <<<"$t")" != "$(tail -n 1 "$D/out1" | jq -r .token.content_hash)" ]
	# The token is an ordinary token of its record otherwise.
	head -n 1 "$D/out2" | jq -e '.token.token_type == .verdict.token_type and
	    .token.token_id == .id' >/dev/null
	# No other token has a restart member.
	assert_equal "$(jq -c 'select(.token | has("restart")) | .token.seq' "$D/out1" "$D/out2")" 12
	cat "$D/out1" "$D/out2" >"$LOG"
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 12 4 11)"
	run_tool 0 airlock-sign -V -v -p "$P" "$LOG"
	assert_equal "$(sed -n 2p <<<"$stderr")" \
	    "airlock-sign: 6 tokens, seq 1 to 14, key $KEYID, last $(tail -n 1 "$D/out2" | jq -r .token.content_hash): verified (1 restart, 8 seqs skipped)"
	# -q: the exit status alone.
	run_tool 0 airlock-sign -V -q -p "$P" "$LOG"
	assert_equal "$stderr" ""
	# signify verifies the restart token without airlock.
	if command -v signify-openbsd >/dev/null; then
		x=$D/x
		run_tool 0 airlock-sign -V -q -p "$P" -x "$x" "$LOG"
		run_tool 0 signify-openbsd -V -p "$P" -x "$x/12.json.sig" -m "$x/12.json"
		assert_equal "$output" "Signature Verified"
		jq -e '.restart.lease == 11' "$x/12.json" >/dev/null
	fi
	# A log that starts at the restart: the range is all it can say.
	run_tool 0 airlock-sign -V -p "$P" "$D/out2"
	assert_equal "$stderr" "$(skipped 12 4 11)"
	# A restart is no root, unless it restarts after seq 0.
	run_tool 1 airlock-sign -V -r -p "$P" "$D/out2"
	assert_equal "$stderr" "airlock-sign: seq 12: chain does not start at seq 1
$(skipped 12 4 11)"
}

@test "killed while a batch is being written: the tokens out verify, the rest of the lease is skipped" {
	local fill st
	sign 1 2 -l 5
	# The same three records signed on a copy of the chain: the tokens
	# the signer will write, byte for byte (fixed time and host).
	mkdir "$D/copy"
	cp "$K" "$C" "$D/copy/"
	records 3 5 | airlock-sign -q -k "$D/copy/test.sec" -l 5 >"$D/expect"
	# Room in the output for the first line only: the signer blocks
	# writing the second, its batch half out.
	fill=$((65536 - $(head -n 1 "$D/expect" | wc -c) - 100))
	killed_writing "$fill" 3 5 -l 5
	cmp "$D/got" <(head -n 1 "$D/expect")
	# The batch of three took the lease to 10; seq 2 is the last noted.
	assert_equal "$(state)" '[2,2,10]'
	sign 6 7 -l 5
	assert_equal "$(seqs "$LOG")" "1 2 11 12 "
	cat "$D/got" >>"$LOG"
	# In the log's order: 1 2 11 12 3 would put 3 out of order; as a
	# collector would store them, seq 3 comes before the restart.
	{ sed -n 1,2p "$LOG"; cat "$D/got"; sed -n 3,4p "$LOG"; } >"$D/ordered"
	assert_equal "$(seqs "$D/ordered")" "1 2 3 11 12 "
	run_tool 0 airlock-sign -V -r -p "$P" "$D/ordered"
	# Seq 3 made it out and verifies; 4 and 5 were signed but never out,
	# 6 to 10 never signed: the restart cannot tell which, nor can -V.
	assert_equal "$stderr" "$(skipped 11 4 10)"
	run_tool 1 airlock-sign -V -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 11 3 10)
airlock-sign: seq 3: out of order: after seq 12"
}

@test "killed mid-stream: seqs rise and are never reused; -V names what the restart skipped" {
	local i last st lease after first
	for i in $(seq 40); do cat "$R"; done >"$D/big"
	mkfifo "$D/in"
	airlock-sign -q -k "$K" -l 64 <"$D/in" >"$D/out1" 3>&- &
	PID=$!
	exec {w}>"$D/in"
	cat "$D/big" >&"$w"
	waitlines "$D/out1" 20
	kill9
	exec {w}>&-
	# A line cut by the kill is not a token; drop it, as a reader would.
	[ -z "$(tail -c 1 "$D/out1")" ] || sed -i '$d' "$D/out1"
	last=$(tail -n 1 "$D/out1" | jq .token.seq)
	after=$(jq .seq "$C")
	lease=$(jq '.lease // .seq' "$C")
	# Nothing out beyond the lease; the noted seq was out.
	[ "$lease" -ge "$last" ] && [ "$after" -le "$last" ]
	airlock-sign -q -k "$K" -l 64 <"$R" >"$D/out2"
	first=$(head -n 1 "$D/out2" | jq .token.seq)
	cat "$D/out1" "$D/out2" >"$LOG"
	jq -se 'map(.token.seq) | . as $s | [range(1; length)] |
	    all($s[.] > $s[. - 1])' "$LOG" >/dev/null
	if [ "$lease" -eq "$after" ]; then
		# Killed just after a batch that ended at the lease: the state
		# was exact, and the chain goes on without a restart.
		assert_equal "$first" $((after + 1))
		run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
		assert_equal "$stderr" ""
	else
		assert_equal "$first" $((lease + 1))
		assert_equal "$(head -n 1 "$D/out2" | jq -c '.token.restart | [.after_seq, .lease]')" "[$after,$lease]"
		run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
		assert_equal "$stderr" "$(skipped $((lease + 1)) $((last + 1)) "$lease")"
	fi
}

@test "killed right after a lease was extended, before its batch was written: all of it skipped" {
	sign 1 2 -l 5
	# No room at all: the signer syncs the new lease, then blocks.
	killed_writing 65536 3 3 -l 5
	[ ! -s "$D/got" ]
	assert_equal "$(state)" '[2,2,8]'
	sign 4 5 -l 5
	assert_equal "$(seqs "$LOG")" "1 2 9 10 "
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 9 3 8)"
}

@test "killed again before the restart token was written: the next restart skips that too" {
	sign 1 2 -l 5
	killed_writing 65536 3 3 -l 5
	assert_equal "$(state)" '[2,2,8]'
	# The restart token, seq 9, signed and its lease synced, never out.
	killed_writing 65536 4 4 -l 5
	[ ! -s "$D/got" ]
	assert_equal "$(state)" '[2,2,14]'
	sign 5 6 -l 5
	# Seq 9 never appears: not the token that was lost, nor another.
	assert_equal "$(seqs "$LOG")" "1 2 15 16 "
	assert_equal "$(sed -n 3p "$LOG" | jq -c '.token.restart | [.after_seq, .lease]')" '[2,14]'
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 15 3 14)"
}

@test "killed before the first lease: nothing was issued, the chain starts at seq 1; killed after it, the restart is the root" {
	killed_after "$D/out1" 0 -l 5
	[ ! -s "$D/out1" ]
	assert_equal "$(state)" '[1,0,null]'
	sign 1 2 -l 5
	assert_equal "$(seqs "$LOG")" "1 2 "
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" ""
	# A new chain whose first lease was synced, its batch never out.
	rm "$C" "$LOG"
	killed_writing 65536 1 1 -l 5
	assert_equal "$(state)" '[2,0,6]'
	sign 2 3 -l 5
	assert_equal "$(seqs "$LOG")" "7 8 "
	assert_equal "$(head -n 1 "$LOG" | jq -c '.token.restart')" \
	    "{\"after_seq\":0,\"after_hash\":\"$GENESIS\",\"lease\":6}"
	# After seq 0 it is the chain's root: -r accepts it.
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 7 1 6)"
}

@test "a failed write under a lease is a signed restart, not a bare gap" {
	sign 1 2 -l 5
	run_tool 111 sh -c "sed -n 3p '$R' | airlock-sign -q -k '$K' -l 5 >/dev/full"
	assert_equal "$stderr" "airlock-sign: write: No space left on device"
	assert_equal "$(state)" '[2,2,8]'
	sign 4 5 -l 5
	assert_equal "$(seqs "$LOG")" "1 2 9 10 "
	run_tool 0 airlock-sign -V -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 9 3 8)"
}

@test "SIGTERM and SIGINT end the signer in order: what is waiting gets its token, the state is exact, no restart follows" {
	local sig n=0
	for sig in TERM INT; do
		running "$D/out.$sig" 1 1 -l 50
		# Three more in the pipe, then the signal: all three signed.
		records 2 4 >&4
		kill -"$sig" "$PID"
		wait "$PID"
		PID=
		exec 4>&-
		n=$((n + 4))
		assert_equal "$(wc -l <"$D/out.$sig")" 4
		assert_equal "$(state)" "[1,$n,null]"
	done
	sign 5 5 -l 50
	cat "$D/out.TERM" "$D/out.INT" "$LOG" >"$D/all"
	assert_equal "$(seqs "$D/all")" "1 2 3 4 5 6 7 8 9 "
	run_tool 0 airlock-sign -V -r -p "$P" "$D/all"
	assert_equal "$stderr" ""
}

@test "a sync per batch (-l 0) after a lease was left out: the restart, then exact states" {
	sign 1 2 -l 5
	run_tool 111 sh -c "sed -n 3p '$R' | airlock-sign -q -k '$K' -l 5 >/dev/full"
	assert_equal "$(state)" '[2,2,8]'
	running "$D/out" 4 4 -l 0
	# Synced before the batch left: the restart token's own state.
	assert_equal "$(state)" '[1,9,null]'
	kill9
	exec 4>&-
	sign 5 5 -l 0
	cat "$D/out" >>"$LOG"
	{ sed -n 1,2p "$LOG"; sed -n 4p "$LOG"; sed -n 3p "$LOG"; } >"$D/all"
	assert_equal "$(seqs "$D/all")" "1 2 9 10 "
	run_tool 0 airlock-sign -V -p "$P" "$D/all"
	assert_equal "$stderr" "$(skipped 9 3 8)"
}

# restart_log: 1 to 3 signed, a kill between tokens, 12 to 14 after it
# (as in the test above); sets RS, the restart token's line.
restart_log() {
	killed_after "$LOG" 3 -l 10
	sign 4 6 -l 10
	assert_equal "$(seqs "$LOG")" "1 2 3 12 13 14 "
	RS=4
}

@test "a restart token omitted, forged, altered, moved or repeated fails -V" {
	local t
	restart_log
	run_tool 0 airlock-sign -V -p "$P" "$LOG"
	assert_equal "$stderr" "$(skipped 12 4 11)"
	# Omitted: the token after it links to nothing in the log.
	run_tool 1 airlock-sign -V -p "$P" <(sed "${RS}d" "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 13: gap: expected seq 4 (parent mismatch)"
	# Altered: each member of the statement, and its parent.
	run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 12 then .token.restart.after_seq = 2 else . end" "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 12: bad signature
airlock-sign: seq 12: content_hash does not match the token
airlock-sign: seq 12: parent is not the hash of its restart
airlock-sign: seq 12: restart: after_hash is not the content hash of seq 2 at /dev/fd/63:2
$(skipped 12 4 11)"
	# A malformed one is no token of the chain: the next one's link is
	# missing too.
	run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 12 then .token.restart.lease = 10 else . end" "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 12: malformed restart
airlock-sign: seq 13: gap: expected seq 4 (parent mismatch)"
	run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 12 then .token.parent = \"sha256:\" + \"1\" * 64 else . end" "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 12: bad signature
airlock-sign: seq 12: content_hash does not match the token
airlock-sign: seq 12: parent is not the hash of its restart
$(skipped 12 4 11)"
	# Forged: a restart member added to an ordinary token, or removed.
	run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 13 then .token.restart = {after_seq: 3, after_hash: (\"sha256:\" + \"0\" * 64), lease: 12} else . end" "$LOG")
	[[ $stderr == *"airlock-sign: seq 13: bad signature"* ]]
	run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 12 then del(.token.restart) else . end" "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 12: bad signature
airlock-sign: seq 12: content_hash does not match the token
airlock-sign: seq 12: gap: expected seq 4 (parent mismatch)"
	for t in '.token.restart = null' '.token.restart = {}' \
	    '.token.restart.x = 1' '.token.restart.after_seq = "3"' \
	    '.token.restart.after_seq = 11' '.token.restart.after_seq = -1' \
	    '.token.restart.after_hash = "sha256:0"' \
	    '.token.restart.after_seq = 0'; do
		run_tool 1 airlock-sign -V -p "$P" <(jq -c "if .token.seq == 12 then $t else . end" "$LOG")
		assert_equal "$stderr" "airlock-sign: seq 12: malformed restart
airlock-sign: seq 13: gap: expected seq 4 (parent mismatch)"
	done
	# Moved before the tokens it follows: out of order, and the token it
	# continues from is not yet there.
	run_tool 1 airlock-sign -V -p "$P" <({ sed -n 1p "$LOG"; sed -n "${RS}p" "$LOG"; sed -n 2,3p "$LOG"; sed -n '5,$p' "$LOG"; })
	assert_equal "$stderr" "airlock-sign: seq 12: gap: expected seq 2 (restart after seq 3)
$(skipped 12 4 11)
airlock-sign: seq 2: out of order: after seq 12
airlock-sign: seq 3: out of order: after seq 12"
	# Repeated: a duplicate, like any token.
	run_tool 1 airlock-sign -V -p "$P" <({ cat "$LOG"; sed -n "${RS}p" "$LOG"; })
	assert_equal "$stderr" "$(skipped 12 4 11)
airlock-sign: seq 12: duplicate of the token at /dev/fd/63:4"
	# A token deleted up to the one the restart continues from is a gap
	# the restart does not explain.
	run_tool 1 airlock-sign -V -p "$P" <(sed 3d "$LOG")
	assert_equal "$stderr" "airlock-sign: seq 12: gap: expected seq 3 (restart after seq 3)
$(skipped 12 4 11)"
}

@test "a signed restart that does not continue its chain is a fork, reported" {
	sign 1 3 -l 5
	# A state that names another token as seq 3, with a lease out: as a
	# state file restored from another chain of the key would.
	printf '{"v":2,"key_id":"%s","seq":3,"last_hash":"sha256:%s","lease":5}\n' \
	    "$KEYID" "$(printf 'a%.0s' $(seq 64))" >"$C"
	sign 4 4 -l 5
	assert_equal "$(seqs "$LOG")" "1 2 3 6 "
	run_tool 1 airlock-sign -V -p "$P" "$LOG"
	assert_equal "$stderr" "airlock-sign: seq 6: restart: after_hash is not the content hash of seq 3 at $LOG:3
$(skipped 6 4 5)"
}

@test "a version 2 state is checked: its lease is an integer not below its seq" {
	local bad
	for bad in '"lease":"5"' '"lease":2' '"lease":-1' '"lease":9007199254740992'; do
		printf '{"v":2,"key_id":"%s","seq":3,"last_hash":"%s",%s}\n' \
		    "$KEYID" "$GENESIS" "$bad" >"$C"
		run_tool 111 airlock-sign -q -k "$K" </dev/null
		assert_equal "$stderr" "airlock-sign: $C: corrupt chain state: no valid \"lease\""
	done
	printf '{"v":3,"key_id":"%s","seq":3,"last_hash":"%s"}\n' "$KEYID" "$GENESIS" >"$C"
	run_tool 111 airlock-sign -q -k "$K" </dev/null
	assert_equal "$stderr" "airlock-sign: $C: corrupt chain state: \"v\" is not 1 or 2"
}

@test "airlock-sign(1)'s restart example and airlock-token(5)'s recipe for a restart token's parent, as written" {
	local page
	# The default lease: killed after its third token.
	killed_after "$LOG" 3
	sign 4 4
	run_tool 0 airlock-sign -V -p "$P" "$LOG"
	assert_equal "$stderr" "airlock-sign: seq 1002: restart after an unclean stop: seq 4 to 1001 skipped (lost, or never issued)"
	page=$(mandoc -Tascii "$TOP/man/airlock-sign.1" | col -bx | tr -s ' \n' '  ')
	[[ $page == *"$ airlock-sign -V -p airlock.pub log.jsonl airlock-sign: seq 1002: restart after an unclean stop: seq 4 to 1001 skipped (lost, or never issued)"* ]]
	# The recipe, on the restart token.
	cd "$D"
	jq -c '.token | select(.seq == 1002)' log.jsonl >t.json
	assert_equal "sha256:$(jq -jcS .restart t.json | sha256sum | cut -d' ' -f1)" \
	    "$(jq -r .parent t.json)"
	page=$(mandoc -Tascii "$TOP/man/airlock-token.5" | col -b)
	grep -qF '$ jq -jcS .restart t.json | sha256sum' <<<"$page"
	grep -qF '$ jq -r .parent t.json' <<<"$page"
}
