#!/usr/bin/env bats
# airlock-sign(1)'s chain: seq and parent link every token of a key, the
# state survives restarts and crashes without forking or rewinding, one
# signer at a time, and -V reports each break with its seq.  Crashes here
# are those of a sync per batch (-l 0); under a lease, 34-lease.bats.

load helpers

# helpers.bash's run_tool assigns output=$(...) under bats' errexit, so a
# tool that exits non-zero would end the test before its status is
# compared; called from an || list, errexit is off inside it.
eval "helpers_$(declare -f run_tool)"
run_tool() { helpers_run_tool "$@" || return 1; }

R=$DATA/sign/records.jsonl
KEYID=5160ff7f8a5490ec

setup() {
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_TEST_TMPDIR/"
	K=$BATS_TEST_TMPDIR/test.sec
	P=$BATS_TEST_TMPDIR/test.pub
	LOG=$BATS_TEST_TMPDIR/log.jsonl
	unset AIRLOCK_SIGN_KEY AIRLOCK_CHAIN AIRLOCK_SIGN_TIME AIRLOCK_SIGN_HOST
}

# records FROM TO: lines FROM..TO of the fixture records.
records() {
	sed -n "$1,$2p" "$R"
}

# signlog FROM TO: sign those records with the test key onto the log.
signlog() {
	records "$1" "$2" | airlock-sign -q -k "$K" >>"$LOG"
}

# waitlines FILE N: wait (at most 20 s) until FILE has N lines.
waitlines() {
	local i
	for i in $(seq 200); do
		[ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "$1 never reached $2 lines" >&2
	return 1
}

# verifies_as STATUS LINES...: -V on stdin exits STATUS printing exactly
# LINES (each after "airlock-sign: ").
verifies_as() {
	local want=$1 expect=""
	shift
	run_tool "$want" airlock-sign -V -p "$P"
	if [ $# -gt 0 ]; then
		expect=$(printf 'airlock-sign: %s\n' "$@")
	fi
	assert_equal "$stderr" "$expect"
}

@test "seq rises by one and each parent is the previous content hash, across restarts" {
	signlog 1 4
	signlog 5 6
	signlog 7 13
	jq -se 'map(.token) | . as $t |
	    [range(length)] | all(. as $i | $t[$i].seq == $i + 1 and
	        $t[$i].parent == (if $i == 0 then "sha256:" + "0" * 64
	            else $t[$i - 1].content_hash end))' "$LOG" >/dev/null
	verifies_as 0 <"$LOG"
	run_tool 0 airlock-sign -V -r -p "$P" "$LOG"
	jq -e '.seq == 13' "$BATS_TEST_TMPDIR/test.chain" >/dev/null
}

@test "a log split in files verifies as one, in order" {
	signlog 1 13
	head -n 5 "$LOG" >"$BATS_TEST_TMPDIR/a"
	tail -n +6 "$LOG" >"$BATS_TEST_TMPDIR/b"
	run_tool 0 airlock-sign -V -p "$P" "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	run_tool 1 airlock-sign -V -p "$P" "$BATS_TEST_TMPDIR/b" "$BATS_TEST_TMPDIR/a"
	assert_equal "$stderr" "airlock-sign: seq 1: out of order: after seq 13
airlock-sign: seq 2: out of order: after seq 13
airlock-sign: seq 3: out of order: after seq 13
airlock-sign: seq 4: out of order: after seq 13
airlock-sign: seq 5: out of order: after seq 13"
}

@test "a log may start mid-chain, unless -r asks for the root" {
	signlog 1 13
	tail -n +3 "$LOG" | verifies_as 0
	run_tool 1 airlock-sign -V -r -p "$P" <<<"$(tail -n +3 "$LOG")"
	assert_equal "$stderr" "airlock-sign: seq 3: chain does not start at seq 1"
}

@test "a deleted token is a gap at its seq" {
	signlog 1 13
	sed 3d "$LOG" | verifies_as 1 "seq 4: gap: expected seq 3 (parent mismatch)"
	sed 3,5d "$LOG" | verifies_as 1 "seq 6: gap: expected seq 3 (parent mismatch)"
	sed '3d;9d' "$LOG" | verifies_as 1 \
	    "seq 4: gap: expected seq 3 (parent mismatch)" \
	    "seq 10: gap: expected seq 9 (parent mismatch)"
	# Cutting the end leaves the chain whole: only -v's last seq shows it.
	head -n 10 "$LOG" | verifies_as 0
	run_tool 0 airlock-sign -V -v -p "$P" <<<"$(head -n 10 "$LOG")"
	[[ $stderr == "airlock-sign: 10 tokens, seq 1 to 10, key $KEYID, last sha256:"*": verified" ]]
}

@test "reordered tokens are out of order at their seq" {
	signlog 1 13
	{ sed -n 1,2p "$LOG"; sed -n 4p "$LOG"; sed -n 3p "$LOG"; sed -n '5,$p' "$LOG"; } |
	    verifies_as 1 \
	    "seq 4: gap: expected seq 3 (parent mismatch)" \
	    "seq 3: out of order: after seq 4"
	sed -n '1,12p' "$LOG" | tac | verifies_as 1 \
	    "seq 11: out of order: after seq 12" \
	    "seq 10: out of order: after seq 12" \
	    "seq 9: out of order: after seq 12" \
	    "seq 8: out of order: after seq 12" \
	    "seq 7: out of order: after seq 12" \
	    "seq 6: out of order: after seq 12" \
	    "seq 5: out of order: after seq 12" \
	    "seq 4: out of order: after seq 12" \
	    "seq 3: out of order: after seq 12" \
	    "seq 2: out of order: after seq 12" \
	    "seq 1: out of order: after seq 12"
}

@test "a duplicated token is a duplicate at its seq" {
	signlog 1 13
	sed '3p' "$LOG" | verifies_as 1 "seq 3: duplicate of the token at stdin:3"
	{ cat "$LOG"; sed -n 7p "$LOG"; } | verifies_as 1 \
	    "seq 7: duplicate of the token at stdin:7"
}

@test "two different tokens with one seq are a fork" {
	local st=$BATS_TEST_TMPDIR/test.chain
	signlog 1 2
	cp "$st" "$st.saved"
	signlog 3 3
	# A signer restarted from old state would issue seq 3 again.
	cp "$st.saved" "$st"
	signlog 4 4
	verifies_as 1 "seq 3: fork: differs from the token with this seq at stdin:3" <"$LOG"
}

@test "a token of another key is a key change, and leaves a gap in this chain" {
	local o=$BATS_TEST_TMPDIR/other oid
	run_tool 0 airlock-sign -G -q -k "$o.sec"
	oid=$(sed -n 2p "$o.pub" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' ')
	records 1 3 | airlock-sign -q -k "$o.sec" >"$o.jsonl"
	signlog 1 13
	# Replaced: the other key's seq 3 instead of ours.
	{ sed -n 1,2p "$LOG"; sed -n 3p "$o.jsonl"; sed -n '4,$p' "$LOG"; } |
	    verifies_as 1 \
	    "seq 3: key change: signed by key $oid, not by key $KEYID" \
	    "seq 4: gap: expected seq 3 (parent mismatch)"
	# Inserted: the chain is whole, the stranger is still reported.
	{ sed -n 1,5p "$LOG"; sed -n 1p "$o.jsonl"; sed -n '6,$p' "$LOG"; } |
	    verifies_as 1 "seq 1: key change: signed by key $oid, not by key $KEYID"
	# The whole log against the other key: every token is a stranger.
	run_tool 1 airlock-sign -V -p "$o.pub" "$LOG"
	assert_equal "$(grep -c "key change: signed by key $KEYID, not by key $oid" <<<"$stderr")" 13
}

@test "a tampered parent breaks its token and the link" {
	signlog 1 13
	sed '1s/"parent":"sha256:0/"parent":"sha256:1/' "$LOG" | verifies_as 1 \
	    "seq 1: bad signature" \
	    "seq 1: content_hash does not match the token" \
	    "seq 1: parent is not the genesis hash"
	jq -c 'if .token.seq == 5 then .token.parent = "sha256:" + "0" * 64
	    else . end' "$LOG" | verifies_as 1 \
	    "seq 5: bad signature" \
	    "seq 5: content_hash does not match the token" \
	    "seq 5: parent mismatch: does not link to seq 4"
}

@test "a signer killed with SIGKILL restarts where it left off" {
	local d=$BATS_TEST_TMPDIR pid i
	mkfifo "$d/in"
	airlock-sign -q -k "$K" -l 0 <"$d/in" >"$d/out1" 2>"$d/err1" 3>&- &
	pid=$!
	exec 4>"$d/in"
	for i in 1 2 3; do
		records "$i" "$i" >&4
		waitlines "$d/out1" "$i"
	done
	kill -9 "$pid"
	wait "$pid" || assert_equal "$?" 137
	exec 4>&-
	records 4 6 | airlock-sign -q -k "$K" -l 0 >"$d/out2"
	assert_equal "$(jq -c .token.seq "$d/out2" | tr '\n' ' ')" "4 5 6 "
	cat "$d/out1" "$d/out2" | verifies_as 0
	run_tool 0 airlock-sign -V -r -p "$P" "$d/out1" "$d/out2"
}

@test "a signer killed mid-stream never reuses or forks a seq; at most a gap" {
	local d=$BATS_TEST_TMPDIR pid i last st w
	for i in $(seq 40); do cat "$R"; done >"$d/big"
	# The input stays open, so the signer is still there to be killed.
	mkfifo "$d/in"
	airlock-sign -q -k "$K" -l 0 <"$d/in" >"$d/out1" 3>&- &
	pid=$!
	exec {w}>"$d/in"
	cat "$d/big" >&"$w"
	waitlines "$d/out1" 20
	kill -9 "$pid"
	wait "$pid" || true
	exec {w}>&-
	# A line cut by the kill is not a token; drop it, as a reader would.
	[ -z "$(tail -c 1 "$d/out1")" ] || sed -i '$d' "$d/out1"
	last=$(tail -n 1 "$d/out1" | jq .token.seq)
	st=$(jq .seq "$d/test.chain")
	# The saved state is never behind what was written; at most one
	# batch (256 tokens, see airlock-sign(1)) ahead.
	[ "$st" -ge "$last" ] && [ "$st" -le $((last + 256)) ]
	airlock-sign -q -k "$K" -l 0 <"$R" >"$d/out2"
	assert_equal "$(head -n 1 "$d/out2" | jq .token.seq)" $((st + 1))
	cat "$d/out1" "$d/out2" >"$d/all"
	if [ "$st" -eq "$last" ]; then
		run_tool 0 airlock-sign -V -p "$P" "$d/all"
	else
		# Killed between saving the state and writing the batch: those
		# seqs are lost, and only those.
		run_tool 1 airlock-sign -V -p "$P" "$d/all"
		assert_equal "$stderr" "airlock-sign: seq $((st + 1)): gap: expected seq $((last + 1)) (parent mismatch)"
	fi
}

@test "a token lost to a failed write is a gap, never a reused seq" {
	signlog 1 2
	run_tool 111 sh -c "sed -n 3p '$R' | airlock-sign -q -k '$K' -l 0 >/dev/full"
	assert_equal "$stderr" "airlock-sign: write: No space left on device"
	signlog 4 5
	assert_equal "$(jq -c .token.seq "$LOG" | tr '\n' ' ')" "1 2 4 5 "
	verifies_as 1 "seq 4: gap: expected seq 3 (parent mismatch)" <"$LOG"
}

@test "a second signer on the same key or chain is refused at once; -w waits" {
	local d=$BATS_TEST_TMPDIR pid pid2 o=$BATS_TEST_TMPDIR/other
	mkfifo "$d/in"
	airlock-sign -q -k "$K" <"$d/in" >"$d/out1" 3>&- &
	pid=$!
	exec 4>"$d/in"
	records 1 1 >&4
	waitlines "$d/out1" 1
	# Same key (and so the same default chain).
	run_tool 111 airlock-sign -q -k "$K" </dev/null
	assert_equal "$stderr" "airlock-sign: $K: key in use by another signer"
	# Same key under another chain file: still one signer per key.
	run_tool 111 airlock-sign -q -k "$K" -s "$d/elsewhere.chain" </dev/null
	assert_equal "$stderr" "airlock-sign: $K: key in use by another signer"
	# Another key on the same chain file.
	run_tool 0 airlock-sign -G -q -k "$o.sec"
	run_tool 111 airlock-sign -q -k "$o.sec" -s "$d/test.chain" </dev/null
	assert_equal "$stderr" "airlock-sign: $d/test.chain: chain in use by another signer"
	# -w waits for the first signer to finish, then continues its chain.
	# (Not holding the fifo open itself, or the first would never end.)
	records 2 3 | airlock-sign -w -q -k "$K" >"$d/out2" 3>&- 4>&- &
	pid2=$!
	sleep 1
	kill -0 "$pid2"
	[ ! -s "$d/out2" ]
	records 2 2 >&4
	exec 4>&-
	wait "$pid"
	wait "$pid2"
	assert_equal "$(jq -c .token.seq "$d/out1" "$d/out2" | tr '\n' ' ')" "1 2 3 4 "
	cat "$d/out1" "$d/out2" | verifies_as 0
}

@test "the state file is rewritten in place: one inode, 256 bytes, one JSON object" {
	local c=$BATS_TEST_TMPDIR/test.chain ino
	signlog 1 2
	ino=$(stat -c %i "$c")
	assert_equal "$(stat -c %s "$c")" 256
	signlog 3 6
	signlog 7 7
	# The same file, overwritten in place (fdatasync), never replaced.
	assert_equal "$(stat -c %i "$c")" "$ino"
	assert_equal "$(stat -c %s "$c")" 256
	assert_equal "$(jq -c '[.v, .key_id, .seq]' "$c")" "[1,\"$KEYID\",7]"
	assert_equal "$(jq -s length "$c")" 1
	[ ! -e "$c.tmp" ]
	verifies_as 0 <"$LOG"
}

@test "an unpadded state file of an earlier version is taken over" {
	local c=$BATS_TEST_TMPDIR/test.chain
	signlog 1 3
	# What airlock-sign wrote before it padded the state to 256 bytes.
	jq -c '{v, key_id, seq, last_hash}' "$c" >"$c.old"
	mv "$c.old" "$c"
	[ "$(stat -c %s "$c")" -lt 256 ]
	signlog 4 5
	assert_equal "$(stat -c %s "$c")" 256
	assert_equal "$(jq .seq "$c")" 5
	verifies_as 0 <"$LOG"
}

@test "several keys: a merged log of two signers verifies chain by chain, and each problem names its chain" {
	local o=$BATS_TEST_TMPDIR/keys oid m=$BATS_TEST_TMPDIR/merged
	mkdir "$o"
	cp "$P" "$o/a.pub"
	run_tool 0 airlock-sign -G -q -k "$o/b.sec" -p "$o/b.pub"
	oid=$(sed -n 2p "$o/b.pub" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' ')
	signlog 1 13
	records 1 7 | airlock-sign -q -k "$o/b.sec" -s "$o/b.chain" >"$o/b.jsonl"
	# Interleaved, as a collector merges the hosts' logs.
	paste -d '\n' "$LOG" "$o/b.jsonl" | sed '/^$/d' >"$m"
	run_tool 0 airlock-sign -V -v -p "$P" -p "$o/b.pub" "$m"
	assert_equal "$(sed -n 1p <<<"$stderr" | sed 's/last sha256:[0-9a-f]*/last H/')" \
	    "airlock-sign: 13 tokens, seq 1 to 13, key $KEYID, last H: verified"
	assert_equal "$(sed -n 2p <<<"$stderr" | sed 's/last sha256:[0-9a-f]*/last H/')" \
	    "airlock-sign: 7 tokens, seq 1 to 7, key $oid, last H: verified"
	assert_equal "$(sed -n 3p <<<"$stderr")" "airlock-sign: 2 chains, 20 tokens: verified"
	# A directory of keys is the same (b.sec, b.chain and b.jsonl there
	# are not keys).
	run_tool 0 airlock-sign -V -q -p "$o" "$m"
	# A token deleted from one chain is that chain's gap; the other
	# chain is whole.
	jq -c 'select(.token.seq != 4 or .token.signature.key_id != "'"$oid"'")' "$m" >"$m.cut"
	run_tool 1 airlock-sign -V -v -p "$o" "$m.cut"
	[[ $stderr == *"airlock-sign: key $oid: seq 5: gap: expected seq 4"* ]]
	[[ $stderr == *"13 tokens, seq 1 to 13, key $KEYID, last sha256:"*": verified"* ]]
	[[ $stderr == *"6 tokens, seq 1 to 7, key $oid, last sha256:"*": FAILED"* ]]
	[[ $stderr == *"2 chains, 19 tokens: FAILED" ]]
	# One key given twice is one chain: the other's tokens are key
	# changes in it.
	run_tool 1 airlock-sign -V -p "$P" -p "$o/a.pub" "$m"
	[[ $stderr == *"key change: signed by key $oid, not by key $KEYID"* ]]
	# With several keys, a token of none of them is named.
	run_tool 1 airlock-sign -V -p "$o/b.pub" -p "$P" <(jq -c '.token.signature.key_id = "0123456789abcdef"' <(head -1 "$m"))
	assert_equal "$stderr" "airlock-sign: /dev/fd/63:1: seq 1: signed by key 0123456789abcdef, none of the keys given
airlock-sign: no tokens"
}
