#!/usr/bin/env bats
# airlock(7), SCALING OUT: several airlock-muxd, each with its own key and
# chain, behind Debian's HAProxy running the shipped etc/haproxy/airlock.cfg
# (its bind and server lines made loopback).  Frames in equal tokens out
# across the chains, which verify together with airlock-sign -V; a muxd
# killed mid-run: new connections go to the other, and the client whose
# frame was in flight sees what airlock(7) says it sees.  Each muxd runs
# the test-only stub first stage (tests/data/muxd/stub-wake) before the
# real airlock-triage and airlock-sign.

load helpers

LOADGEN=$TOP/build/tests/loadgen
STUB=$DATA/muxd/stub-wake

setup() {
	D=$BATS_TEST_TMPDIR
	cp "$DATA/test.sec" "$D/a.sec"
	cp "$DATA/test.pub" "$D/a.pub"
	run_tool 0 airlock-sign -G -q -k "$D/b.sec" -p "$D/b.pub"
	APID= BPID= HPID=
}

teardown() {
	local p
	for p in $HPID $APID $BPID; do
		end_process "$p"
	done
}

# start_host NAME STUBARGS: a muxd signing as host NAME with key NAME.sec;
# sets NAME's port and pid in ${NAME^^}PORT and ${NAME^^}PID.
start_host() {
	local n=$1 N
	N=$(tr a-z A-Z <<<"$1")
	serve_muxd "$D/$n.log" env AIRLOCK_SIGN_HOST="host-$n" airlock-muxd -v \
	    -P "sh $STUB $2|airlock-triage|airlock-sign -k $D/$n.sec -s $D/$n.chain"
	eval "${N}PORT=\$PORT ${N}PID=\$MUXPID"
}

# start_haproxy: the shipped configuration in front of both hosts, on a
# free port HPORT.
start_haproxy() {
	local cfg=$D/haproxy.cfg
	for _ in 1 2 3 4 5 6 7 8; do
		HPORT=$((20000 + RANDOM % 40000))
		sed -e "s/^\(\tbind \).*/\1127.0.0.1:$HPORT/" -e '/^\tserver /d' \
		    "$TOP/etc/haproxy/airlock.cfg" >"$cfg"
		printf '\tserver host-a 127.0.0.1:%s\n\tserver host-b 127.0.0.1:%s\n' \
		    "$APORT" "$BPORT" >>"$cfg"
		haproxy -f "$cfg" -db 2>"$D/haproxy.log" 3>&- &
		HPID=$!
		for _ in $(seq 100); do
			(exec 4<>"/dev/tcp/127.0.0.1/$HPORT") 2>/dev/null && return 0
			kill -0 "$HPID" 2>/dev/null || break
			sleep 0.05
		done
		wait "$HPID" || true
		HPID=
		grep -q 'cannot bind' "$D/haproxy.log" || break
	done
	cat "$D/haproxy.log" >&2
	return 1
}

frame() {	# frame CHANNEL PAYLOAD
	printf '{"channel_id": %s, "intent": "code:execute", "from_aint": "t.aint", "payload": "%s"}' "$1" "$2"
}

# through CHANNEL: one original client's frame through HAProxy; its answer
# appended to answers.
through() {
	frame "$1" "echo:$1" | "$LOADGEN" -S -a "127.0.0.1:$HPORT" -T 30 |
	    jq -c . >>"$D/answers"
}

# counts LOG: "<tokens out> <frames in>" from a muxd's last frame line.
counts() {
	sed -nE 's/.* ([0-9]+)\/([0-9]+)$/\1 \2/p' "$1" | tail -1
}

keyid() {
	sed -n 2p "$1" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' '
}

@test "haproxy: frames through HAProxy to two muxd: frames in = tokens out across both chains, which verify together" {
	local i ka kb a b
	run_tool 0 haproxy -c -f "$TOP/etc/haproxy/airlock.cfg"
	start_host a ""
	start_host b ""
	start_haproxy
	for i in $(seq 1 16); do
		through "$i"
	done
	# Every frame answered once, 200, with a token.
	assert_equal "$(jq -s 'length' "$D/answers")" 16
	assert_equal "$(jq -s 'map(.channel_id) | unique | length' "$D/answers")" 16
	assert_equal "$(jq -s 'map(select(.status == 200 and .tibet_provenance.signature != null)) | length' "$D/answers")" 16
	# Both hosts served, each token names its signer's key and host.
	ka=$(keyid "$D/a.pub")
	kb=$(keyid "$D/b.pub")
	a=$(jq -s --arg k "$ka" 'map(select(.tibet_provenance.signature.key_id == $k and .tibet_provenance.eromheen.host == "host-a")) | length' "$D/answers")
	b=$(jq -s --arg k "$kb" 'map(select(.tibet_provenance.signature.key_id == $k and .tibet_provenance.eromheen.host == "host-b")) | length' "$D/answers")
	[ "$a" -ge 1 ] && [ "$b" -ge 1 ]
	assert_equal "$((a + b))" 16
	# Frames in = tokens out on each host, and together: HAProxy's
	# health checks, connections that send nothing, made no frame.
	read -r ao ai <<<"$(counts "$D/a.log")"
	read -r bo bi <<<"$(counts "$D/b.log")"
	assert_equal "$ao $ai $bo $bi" "$a $a $b $b"
	# The merged tokens verify with both public keys, chain by chain.
	jq -c .tibet_provenance "$D/answers" >"$D/tokens"
	run_tool 0 airlock-sign -V -v -p "$D/a.pub" -p "$D/b.pub" "$D/tokens"
	[[ $stderr == *"$a tokens, seq 1 to $a, key $ka, last "*": verified"* ]]
	[[ $stderr == *"$b tokens, seq 1 to $b, key $kb, last "*": verified"* ]]
	[[ $stderr == *"2 chains, 16 tokens: verified" ]]
	# With only one host's key, the other host's tokens are not verified.
	run_tool 1 airlock-sign -V -q -p "$D/a.pub" "$D/tokens"
}

@test "haproxy: a muxd killed mid-run: its client in flight reads the end of the connection without an answer; new connections go to the other" {
	local ka kb ea eb i x y
	start_host a "-d 2"
	start_host b "-d 2"
	start_haproxy
	ka=$(keyid "$D/a.pub")
	kb=$(keyid "$D/b.pub")
	for i in 1 2; do
		through "$i"
	done
	# Two JSON-lines clients at once: HAProxy (leastconn) puts one on
	# each host; both frames are in flight, two seconds in the first stage.
	for i in 3 4; do
		{ frame "$i" "echo:$i"; echo; } |
		    "$LOADGEN" -S -x -a "127.0.0.1:$HPORT" -T 30 >"$D/inflight.$i" 2>&1 3>&- &
		eval "C$i=\$!"
	done
	for _ in $(seq 200); do
		grep -q 'JSON-lines client' "$D/a.log" && grep -q 'JSON-lines client' "$D/b.log" && break
		sleep 0.05
	done
	grep -q 'JSON-lines client' "$D/a.log"
	grep -q 'JSON-lines client' "$D/b.log"
	# Host a dies at once, with its pipeline.
	kill -KILL "$APID"
	wait "$APID" || true
	APID=
	wait "$C3" || true
	wait "$C4" || true
	# One client got its answer from host b; the other read the end of
	# its connection and nothing else: no answer, no token.
	x=$(cat "$D/inflight.3")
	y=$(cat "$D/inflight.4")
	if [ -z "$x" ]; then ea=$x eb=$y; else ea=$y eb=$x; fi
	assert_equal "$ea" ''
	assert_equal "$(jq -c --arg k "$kb" '[.status, .tibet_provenance.signature.key_id == $k]' <<<"$eb")" '[200,true]'
	# Its frame was never signed: host a's chain holds exactly the tokens
	# its clients were given.
	assert_equal "$(jq -r .seq "$D/a.chain")" \
	    "$(jq -s --arg k "$ka" 'map(select(.tibet_provenance.signature.key_id == $k)) | length' "$D/answers")"
	# New connections: every one answered, by host b.
	for i in $(seq 5 10); do
		through "$i"
	done
	assert_equal "$(jq -sc --arg k "$kb" '[.[] | select(.channel_id >= 5)] | map([.status, .tibet_provenance.signature.key_id == $k]) | unique' "$D/answers")" '[[200,true]]'
	# Host b: frames in = tokens out; and every token given out by
	# either host verifies, in its chain.
	read -r bo bi <<<"$(counts "$D/b.log")"
	assert_equal "$bo" "$bi"
	{ jq -c .tibet_provenance "$D/answers"; jq -c .tibet_provenance <<<"$eb"; } |
	    jq -sc 'sort_by(.seq) | .[]' >"$D/tokens"
	run_tool 0 airlock-sign -V -p "$D/a.pub" -p "$D/b.pub" "$D/tokens"
}
