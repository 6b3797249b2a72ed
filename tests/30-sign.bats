#!/usr/bin/env bats
# airlock-sign(1): tokens, keys and verification of single tokens.  The
# chain is 31-chain.bats, signify interoperation 32-signify.bats, the
# canonical form 33-jcs.bats.
#
# tests/data/sign/golden.jsonl is records.jsonl signed with the committed
# test key (tests/data/test.sec) at a fixed time and host.  Ed25519 is
# deterministic, so it must come out byte for byte.  After a deliberate
# change to the token (or to AIRLOCK_VERSION), regenerate it with
#
#   rm -f /tmp/golden.chain*
#   AIRLOCK_SIGN_TIME=2026-01-01T00:00:00Z AIRLOCK_SIGN_HOST=test \
#     bin/airlock-sign -q -k tests/data/test.sec -s /tmp/golden.chain \
#     <tests/data/sign/records.jsonl >tests/data/sign/golden.jsonl
#
# and read the diff.

load helpers

# helpers.bash's run_tool assigns output=$(...) under bats' errexit, so a
# tool that exits non-zero would end the test before its status is
# compared; called from an || list, errexit is off inside it.
eval "helpers_$(declare -f run_tool)"
run_tool() { helpers_run_tool "$@" || return 1; }

S=$DATA/sign
KEYID=5160ff7f8a5490ec

setup() {
	# A private copy of the key per test: the signer locks its key file.
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_TEST_TMPDIR/"
	K=$BATS_TEST_TMPDIR/test.sec
	P=$BATS_TEST_TMPDIR/test.pub
	export AIRLOCK_SIGN_TIME=2026-01-01T00:00:00Z AIRLOCK_SIGN_HOST=test
	unset AIRLOCK_SIGN_KEY AIRLOCK_CHAIN
}

# token N FILE: the token of line N of FILE, compact.
token() {
	sed -n "$1p" "$2" | jq -c .token
}

@test "golden: the fixture records sign to the committed tokens, byte for byte" {
	run_tool 0 airlock-sign -q -k "$K" <"$S/records.jsonl"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out.jsonl"
	if ! cmp -s "$BATS_TEST_TMPDIR/out.jsonl" "$S/golden.jsonl"; then
		diff <(jq -S . "$S/golden.jsonl") \
		    <(jq -S . "$BATS_TEST_TMPDIR/out.jsonl") >&2 || true
		echo "regenerate golden.jsonl as the head of this file says" >&2
		return 1
	fi
	# The chain state names the key, the last seq and its hash.
	json_eq "$(cat "$BATS_TEST_TMPDIR/test.chain")" \
	    "$(jq -c '{v: 1, key_id: .signature.key_id, seq: .seq,
	        last_hash: .content_hash}' <<<"$(token 13 "$S/golden.jsonl")")"
}

@test "golden: the committed tokens verify, with the summary line" {
	local last
	last=$(token 13 "$S/golden.jsonl" | jq -r .content_hash)
	run_tool 0 airlock-sign -V -v -p "$P" "$S/golden.jsonl"
	assert_equal "$stderr" "airlock-sign: 13 tokens, seq 1 to 13, key $KEYID, last $last: verified"
	assert_equal "$output" ""
}

@test "each record keeps every section and gains exactly one token" {
	local n=0 in out
	run_tool 0 airlock-sign -q -k "$K" <"$S/records.jsonl"
	assert_equal "${#lines[@]}" "$(wc -l <"$S/records.jsonl")"
	while IFS= read -r in; do
		out=${lines[$n]}
		n=$((n + 1))
		json_eq "$(jq -c 'del(.token)' <<<"$out")" "$in"
		jq -e --argjson n "$n" '.token.seq == $n and
		    .token.token_id == .id' <<<"$out" >/dev/null
	done <"$S/records.jsonl"
}

@test "the token carries what the record says, field by field" {
	local t
	t=$(token 2 "$S/golden.jsonl")
	jq -e '
	    .tbz_version == "airlock-tibet/1" and
	    .token_id == "5a1e0000000000000000000000000002" and
	    .token_type == "INCIDENT_KILL" and
	    .timestamp == "2026-01-01T00:00:00Z" and
	    .ains_identity == "agent.aint" and .intent == "code:execute" and
	    .execution_time_us == 1503 and
	    .vm_id == "/run/airlock/w/5a1e02.sock" and
	    .violations[0].syscall == "socket" and .violations[0].nr == 41 and
	    .observed_syscalls == {"read": 4, "socket": 1} and
	    .erin.payload_bytes == 29 and .erin.stdout_bytes == 0 and
	    .erin.stdout_truncated == false and .erin.outcome == "killed" and
	    .erin.exit_code == null and .erin.signal == 9 and
	    .erin.kill_reason == "violation" and
	    .eraan.image == "airlock-python" and
	    (.eraan.policy_digest | startswith("sha256:3333")) and
	    .eraan.kernel_digest == null and
	    .eromheen.backend == "process" and .eromheen.host == "test" and
	    .eromheen.limits.wall_ms == 10000 and .eromheen.wake_us == 9120 and
	    .eromheen.run_us == 1503 and .eromheen.pool == "cold" and
	    .eromheen.snaft_mode == "observe" and
	    .eromheen.airlock_version == "0.1.0" and
	    .erachter == {"intent": "code:execute", "from_aint": "agent.aint",
	        "channel_id": 2, "status": 403,
	        "reason": "SNAFT violation: socket (socket, domain=2)",
	        "severity": "critical", "report": null, "input_sha256": null} and
	    .seq == 2 and (.parent | test("^sha256:[0-9a-f]{64}$")) and
	    (.content_hash | test("^sha256:[0-9a-f]{64}$")) and
	    .signature.alg == "Ed25519" and .signature.key_id == "'$KEYID'" and
	    (.signature.sig | test("^[A-Za-z0-9+/]{86}==$"))' <<<"$t" >/dev/null
	# The payload digest is of the payload string's UTF-8 bytes.
	assert_equal "$(jq -r .erin.payload_sha256 <<<"$t")" \
	    "$(printf 'import socket\nsocket.socket()' | sha256sum | cut -d' ' -f1)"
	# A kvm wake's kernel digest is attached.
	assert_equal "$(token 3 "$S/golden.jsonl" | jq -r .eraan.kernel_digest)" \
	    "sha256:4444444444444444444444444444444444444444444444444444444444444444"
}

@test "missing sections become null fields, and no verdict is a 500" {
	local t
	t=$(token 7 "$S/golden.jsonl")
	jq -e '.token_type == "SANDBOX_FAILURE" and .erachter.status == 500 and
	    .erachter.reason == "record reached airlock-sign without a verdict" and
	    .erachter.severity == "high" and .vm_id == null and
	    .execution_time_us == 0 and .violations == [] and
	    .observed_syscalls == {} and
	    ([.erin[], .eraan[]] | del(.[0, 1]) | all(. == null)) and
	    ([.eromheen | del(.host, .airlock_version)[]] | all(. == null))' \
	    <<<"$t" >/dev/null
	# A verdict but nothing else: the verdict is kept, the rest is null.
	t=$(token 11 "$S/golden.jsonl")
	jq -e '.token_type == "SANDBOX_FAILURE" and .erachter.status == 500 and
	    .erachter.reason == "no frame" and .intent == null and
	    .ains_identity == null and .erin.payload_sha256 == null' \
	    <<<"$t" >/dev/null
}

@test "a real number, a wrong type or a huge integer is a signed 500 that names it" {
	local n want
	for n in 8 9 12 13; do
		case $n in
		8) want="record cannot be signed: real number at violations[0].at_us (signed numbers are integers only)" ;;
		9) want="record cannot be signed: exec.run_us is not an integer" ;;
		12) want="record cannot be signed: verdict is not an object" ;;
		13) want="record cannot be signed: integer beyond 2^53-1 at eromheen.run_us" ;;
		esac
		token "$n" "$S/golden.jsonl" | jq -e --arg want "$want" '
		    .token_type == "SANDBOX_FAILURE" and
		    .erachter.status == 500 and .erachter.severity == "high" and
		    .erachter.reason == $want and .intent == "code:execute" and
		    .ains_identity == "agent.aint" and .erachter.channel_id > 0 and
		    .erin.payload_sha256 == null and .violations == []' >/dev/null
	done
	# And the signer says so on stderr.
	run_tool 0 airlock-sign -k "$K" <"$S/records.jsonl"
	[[ $stderr == *"airlock-sign: 5a1e0000000000000000000000000009: record cannot be signed: exec.run_us is not an integer"* ]]
}

@test "a rejected frame is signed as the 400 it is, whatever types its own members have" {
	local rec out
	# Wake rejects these frames for their types; the signer must not turn
	# the client's mistake into a 500 of the pipeline.
	for rec in '{"payload":5,"intent":"code:execute","from_aint":"a.aint","channel_id":1}' \
	    '{"payload":"x","intent":7,"from_aint":["a"],"channel_id":1.5}' \
	    '{"payload":{},"intent":null,"channel_id":9007199254740993}'; do
		out=$(jq -c '{v: 1, id: "5a1e00000000000000000000000000aa",
		    frame: ., verdict: {status: 400, token_type: "INTENT_REJECTED",
		    reason: "\"payload\" must be a string", severity: "low"}}' \
		    <<<"$rec" | airlock-sign -q -k "$K" | jq -c .token)
		jq -e '.token_type == "INTENT_REJECTED" and
		    .erachter.status == 400 and .erachter.severity == "low" and
		    .erachter.reason == "\"payload\" must be a string" and
		    (.erin.payload_sha256 | type) == (if $r.payload | type == "string"
		    then "string" else "null" end) and
		    (.intent | type) == ($r.intent | if type == "string" then
		    "string" else "null" end) and
		    .erachter.channel_id == (if $r.channel_id == 1 then 1 else null end)' \
		    --argjson r "$rec" <<<"$out" >/dev/null
		airlock-sign -q -V -p "$P" <<<"$out" >/dev/null
	done
	# The same wrong type in a record that was not rejected is the
	# pipeline's fault: a 500 that names it.
	out=$(jq -c '{v: 1, id: "5a1e00000000000000000000000000ab",
	    frame: {payload: 5, intent: "code:execute", from_aint: "a.aint",
	    channel_id: 1}, verdict: {status: 200, token_type: "SAFE_EXECUTION",
	    reason: "ok", severity: "info"}}' <<<'{}' |
	    airlock-sign -q -k "$K" | jq -c .token)
	jq -e '.token_type == "SANDBOX_FAILURE" and .erachter.reason ==
	    "record cannot be signed: frame.payload is not a string"' \
	    <<<"$out" >/dev/null
}

@test "one line in, one line out: unreadable lines become signed 400 rejections" {
	local in=$BATS_TEST_TMPDIR/in.jsonl i want sum t
	printf '%s\n' 'not json' '[1,2]' '{"v":2}' '{"v":1,"a":1,"a":2}' >"$in"
	printf '{"v":1,"s":"a\0b"}\n{"v":1,"s":"\303\050"}\n' >>"$in"
	{ printf '{"v":1,"pad":"'; head -c 9000000 /dev/zero | tr '\0' x; printf '"}\n'; } >>"$in"
	printf '\n\n' >>"$in"
	head -n 1 "$S/records.jsonl" >>"$in"
	run_tool 0 airlock-sign -q -k "$K" <"$in"
	assert_equal "${#lines[@]}" 8
	for i in 0 1 2 3 4 5 6; do
		case $i in
		0) want='^not JSON: ' ;;
		1) want='^a line must be a JSON object, not an array$' ;;
		2) want='^unknown record version 2 \(this airlock reads version 1\)$' ;;
		3) want='duplicate object key' ;;
		4) want='^NUL byte at offset 13$' ;;
		5) want='^invalid UTF-8 at offset 12 \(byte 0xc3\)$' ;;
		6) want='^line of 9000016 bytes is over the cap of 8388608 bytes$' ;;
		esac
		t=${lines[$i]}
		jq -e --arg want "$want" --argjson seq $((i + 1)) '
		    .v == 1 and (.id | test("^[0-9a-f]{32}$")) and
		    .reject.stage == "sign" and .reject.status == 400 and
		    .token.token_id == .id and .token.seq == $seq and
		    .token.token_type == "INTENT_REJECTED" and
		    .token.erachter.status == 400 and
		    .token.erachter.severity == "low" and
		    (.token.erachter.reason | test($want)) and
		    .token.erachter.reason == .reject.reason' <<<"$t" >/dev/null
		# The digest of the refused line, except one too long to hold.
		if [ "$i" -lt 6 ]; then
			sum=$(sed -n "$((i + 1))p" "$in" | head -c -1 | sha256sum | cut -d' ' -f1)
			assert_equal "$(jq -r .token.erachter.input_sha256 <<<"$t")" "$sum"
		else
			assert_equal "$(jq -r .token.erachter.input_sha256 <<<"$t")" null
		fi
	done
	jq -e '.token.token_type == "SAFE_EXECUTION" and .token.seq == 8' \
	    <<<"${lines[7]}" >/dev/null
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/out.jsonl"
	run_tool 0 airlock-sign -V -p "$P" "$BATS_TEST_TMPDIR/out.jsonl"
}

@test "every tamper of a signed field fails verification" {
	local t f bad
	t=$(token 2 "$S/golden.jsonl")
	run_tool 0 airlock-sign -V -p "$P" <<<"$t"
	for f in .token_id .token_type .timestamp .ains_identity \
	    .intent .execution_time_us .vm_id .violations '.violations[0].arg' \
	    .observed_syscalls .observed_syscalls.read .erin.payload_sha256 \
	    .erin.payload_bytes .erin.stdout_truncated .erin.exit_code \
	    .erin.signal .eraan.image_digest .eraan.policy_digest \
	    .eraan.kernel_digest .eromheen.host .eromheen.limits.wall_ms \
	    .eromheen.airlock_version .erachter.status .erachter.reason \
	    .erachter.severity .erachter.channel_id .parent .content_hash \
	    .signature.sig .newfield; do
		bad=$(jq -c "$f |= (if type == \"string\" then
		    (if test(\"^sha256:\") then
		        .[0:-1] + (if .[-1:] == \"0\" then \"1\" else \"0\" end)
		     elif test(\"^[A-Za-z0-9+/]{86}==$\") then
		        .[0:85] + (if .[85:86] == \"A\" then \"Q\" else \"A\" end) + \"==\"
		     else . + \"x\" end)
		    elif type == \"number\" then . + 1
		    elif type == \"boolean\" then (. | not)
		    elif type == \"array\" then . + [1]
		    elif type == \"object\" then . + {\"x\": 1}
		    else 1 end)" <<<"$t")
		[ "$bad" != "$t" ] || { echo "no change for $f" >&2; return 1; }
		run_tool 1 airlock-sign -V -p "$P" <<<"$bad" || {
			echo "tampered $f verified" >&2
			return 1
		}
		[[ $stderr == "airlock-sign: seq 2: bad signature"* ]] || {
			echo "tampered $f: $stderr" >&2
			return 1
		}
	done
	# Another version, a removed field, a changed seq, another key id.
	run_tool 1 airlock-sign -V -p "$P" <<<"$(jq -c '.tbz_version = "airlock-tibet/2"' <<<"$t")"
	assert_equal "$stderr" "airlock-sign: seq 2: unknown tbz_version"
	run_tool 1 airlock-sign -V -p "$P" <<<"$(jq -c 'del(.erin)' <<<"$t")"
	assert_equal "$stderr" "airlock-sign: seq 2: bad signature
airlock-sign: seq 2: content_hash does not match the token"
	run_tool 1 airlock-sign -V -p "$P" <<<"$(jq -c '.seq = 5' <<<"$t")"
	assert_equal "$stderr" "airlock-sign: seq 5: bad signature
airlock-sign: seq 5: content_hash does not match the token"
	run_tool 1 airlock-sign -V -p "$P" <<<"$(jq -c '.signature.key_id = "0123456789abcdef"' <<<"$t")"
	assert_equal "$stderr" "airlock-sign: seq 2: key change: signed by key 0123456789abcdef, not by key $KEYID"
}

@test "the signature covers the canonical form, not the line's bytes" {
	local t
	# Re-ordered, re-spaced, with non-ASCII escaped: still the same token.
	t=$(token 10 "$S/golden.jsonl")
	run_tool 0 airlock-sign -V -p "$P" <<<"$(jq -cSa . <<<"$t")"
	run_tool 0 airlock-sign -V -p "$P" <<<"$(jq . <<<"$t" | tr -d '\n')"
}

@test "-V names every malformed token and line precisely" {
	local t=$BATS_TEST_TMPDIR/t.json prog want
	token 1 "$S/golden.jsonl" >"$t"
	while IFS='|' read -r prog want; do
		run_tool 1 airlock-sign -V -p "$P" <<<"$(jq -c "$prog" "$t")"
		assert_equal "$stderr" "airlock-sign: $want"
	done <<'EOF'
del(.signature)|seq 1: no signature
.signature.alg = "Ed448"|seq 1: signature alg is not Ed25519
.signature.key_id = "5160FF7F8A5490EC"|seq 1: malformed signature key_id
.signature.sig = "AAAA"|seq 1: malformed signature
.content_hash = "md5:00"|seq 1: malformed content_hash
.parent = null|seq 1: malformed parent
.tbz_version = "tibet/0"|seq 1: unknown tbz_version
.seq = "1"|stdin:1: token without a valid seq
.seq = 0|stdin:1: token without a valid seq
.seq = 9007199254740992|stdin:1: token without a valid seq
.x = 1.5|seq 1: no canonical form: real number at x
EOF
	run_tool 1 airlock-sign -V -p "$P" <<<'{"v":1,"id":"x"}'
	assert_equal "$stderr" "airlock-sign: stdin:1: no token
airlock-sign: no tokens"
	run_tool 1 airlock-sign -V -p "$P" <<<'not json'
	[[ $stderr == "airlock-sign: stdin:1: not JSON: "* ]]
	run_tool 1 airlock-sign -V -p "$P" <<<'{"seq":1,"seq":2}'
	[[ $stderr == "airlock-sign: stdin:1: duplicate object key"* ]]
	run_tool 1 airlock-sign -V -p "$P" </dev/null
	assert_equal "$stderr" "airlock-sign: no tokens"
	# -q: only the exit status tells.
	run_tool 1 airlock-sign -V -q -p "$P" </dev/null
	assert_equal "$stderr" ""
	# Bare tokens and records with tokens mix in one log.
	{ cat "$t"; sed -n 2p "$S/golden.jsonl"; } >"$BATS_TEST_TMPDIR/mixed"
	run_tool 0 airlock-sign -V -p "$P" "$BATS_TEST_TMPDIR/mixed"
	run_tool 111 airlock-sign -V -p "$P" "$BATS_TEST_TMPDIR/absent"
	assert_equal "$stderr" "airlock-sign: open $BATS_TEST_TMPDIR/absent: No such file or directory"
}

@test "every damaged key file gets its precise error" {
	local name want
	while IFS=$'\t' read -r name want; do
		case $name in '#'*|'') continue ;; esac
		case $name in
		*.sec) run_tool 111 airlock-sign -q -k "$S/keys/$name" \
		    -s "$BATS_TEST_TMPDIR/chain" </dev/null ;;
		*.pub) run_tool 111 airlock-sign -V -p "$S/keys/$name" </dev/null ;;
		esac
		assert_equal "$stderr" "airlock-sign: $S/keys/$name: $want"
		assert_equal "$output" ""
	done <"$S/keys/errors.txt"
	# A public key where the secret key belongs.
	run_tool 111 airlock-sign -q -k "$P" -s "$BATS_TEST_TMPDIR/chain" </dev/null
	assert_equal "$stderr" "airlock-sign: $P: wrong size for a secret key: 42 bytes, expected 104"
	run_tool 111 airlock-sign -q -k "$BATS_TEST_TMPDIR/none.sec" </dev/null
	assert_equal "$stderr" "airlock-sign: open $BATS_TEST_TMPDIR/none.sec: No such file or directory"
}

@test "-G writes a key pair, the secret key 0600, and never overwrites" {
	local d=$BATS_TEST_TMPDIR/g id sum
	mkdir "$d"
	run_tool 0 airlock-sign -G -k "$d/a.sec"
	[[ $stderr =~ ^"airlock-sign: wrote $d/a.sec and $d/a.pub, key id "([0-9a-f]{16})$ ]]
	id=${BASH_REMATCH[1]}
	assert_equal "$(stat -c %a "$d/a.sec")" 600
	assert_equal "$(stat -c %a "$d/a.pub")" 644
	head -n 1 "$d/a.sec" | grep -qx 'untrusted comment: airlock-sign secret key'
	head -n 1 "$d/a.pub" | grep -qx 'untrusted comment: airlock-sign public key'
	# The key id is the key number inside the public key.
	assert_equal "$(sed -n 2p "$d/a.pub" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' ')" "$id"
	sum=$(cat "$d/a.sec" "$d/a.pub" | sha256sum)
	run_tool 111 airlock-sign -G -k "$d/a.sec"
	assert_equal "$stderr" "airlock-sign: $d/a.sec: already exists; -f replaces it"
	# Either file existing is enough to refuse, and nothing is written.
	run_tool 111 airlock-sign -G -k "$d/b.sec" -p "$d/a.pub"
	assert_equal "$stderr" "airlock-sign: $d/a.pub: already exists; -f replaces it"
	[ ! -e "$d/b.sec" ]
	assert_equal "$(cat "$d/a.sec" "$d/a.pub" | sha256sum)" "$sum"
	# -f replaces both.
	run_tool 0 airlock-sign -G -f -q -k "$d/a.sec"
	assert_equal "$stderr" ""
	[ "$(cat "$d/a.sec" "$d/a.pub" | sha256sum)" != "$sum" ]
	assert_equal "$(stat -c %a "$d/a.sec")" 600
	# No temporary files left behind.
	assert_equal "$(ls "$d")" "a.pub
a.sec"
	# Without a .sec suffix the public key is the path plus .pub.
	run_tool 0 airlock-sign -G -q -k "$d/plain"
	[ -f "$d/plain.pub" ]
}

@test "-c creates the key pair and its directory 0700 on first use, then reuses it" {
	local d=$BATS_TEST_TMPDIR/var/lib/airlock r=$S/records.jsonl id
	run_tool 0 airlock-sign -c -k "$d/airlock.sec" <"$r"
	[[ $stderr == *"created key pair $d/airlock.sec and $d/airlock.pub"* ]]
	assert_equal "$(stat -c %a "$d")" 700
	assert_equal "$(stat -c %a "$BATS_TEST_TMPDIR/var")" 700
	assert_equal "$(stat -c %a "$d/airlock.sec")" 600
	[ -f "$d/airlock.chain" ]
	id=$(jq -r .token.signature.key_id <<<"${lines[0]}")
	run_tool 0 airlock-sign -c -q -k "$d/airlock.sec" <"$r"
	assert_equal "$(jq -r .token.signature.key_id <<<"${lines[0]}")" "$id"
	assert_equal "$(jq -r .token.seq <<<"${lines[0]}")" 14
	# The environment names the key when -k does not, for -V too.
	AIRLOCK_SIGN_KEY=$d/airlock.sec run_tool 0 airlock-sign -q <"$r"
	assert_equal "$(jq -r .token.seq <<<"${lines[0]}")" 27
	AIRLOCK_SIGN_KEY=$d/airlock.sec run_tool 0 airlock-sign -V <<<"$output"
}

@test "the chain state file: from -s or AIRLOCK_CHAIN, refused if another key's or corrupt" {
	local c=$BATS_TEST_TMPDIR/c.chain
	run_tool 0 airlock-sign -q -k "$K" -s "$c" <"$S/records.jsonl"
	jq -e '.seq == 13 and .key_id == "'$KEYID'"' "$c" >/dev/null
	AIRLOCK_CHAIN=$c run_tool 0 airlock-sign -q -k "$K" <"$S/records.jsonl"
	jq -e '.seq == 26' "$c" >/dev/null
	[ ! -e "$BATS_TEST_TMPDIR/test.chain" ]
	# Another key must not continue this key's chain.
	run_tool 0 airlock-sign -G -q -k "$BATS_TEST_TMPDIR/other.sec"
	run_tool 111 airlock-sign -q -k "$BATS_TEST_TMPDIR/other.sec" -s "$c" </dev/null
	assert_equal "$stderr" "airlock-sign: $c: chain state belongs to key $KEYID, not to key $(sed -n 2p "$BATS_TEST_TMPDIR/other.pub" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' ')"
	printf '{"v":1,"key_id":"%s","seq":"x"}\n' "$KEYID" >"$c"
	run_tool 111 airlock-sign -q -k "$K" -s "$c" </dev/null
	assert_equal "$stderr" "airlock-sign: $c: corrupt chain state: no valid \"seq\""
	printf 'garbage' >"$c"
	run_tool 111 airlock-sign -q -k "$K" -s "$c" </dev/null
	[[ $stderr == "airlock-sign: $c: corrupt chain state: "* ]]
}

@test "usage prints the man page's synopsis and exits 100" {
	local synopsis
	synopsis=$(MANWIDTH=200 mandoc -Tascii -O width=200 "$TOP/man/airlock-sign.1" |
	    col -b | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d;/^$/d;s/^ *//')
	run_tool 100 airlock-sign -Z
	# getopt(3) names the bad option first.
	assert_equal "$(sed '1d;s/^usage: //;s/^ *//' <<<"$stderr")" "$synopsis"
	for args in "-G -V" "-G -c" "-G -s x" "-V -k x" "-V -c" "-f" "-r" \
	    "-x d" "-p x" "-q -v" "-k" "extra"; do
		# shellcheck disable=SC2086
		run_tool 100 airlock-sign $args </dev/null
	done
	run_tool 0 airlock-sign --version
	assert_equal "$output" "airlock-sign 0.1.0"
}

@test "AIRLOCK_SIGN_TIME must be an RFC 3339 UTC time to the second" {
	AIRLOCK_SIGN_TIME=2026-01-01 run_tool 100 airlock-sign -k "$K" </dev/null
	assert_equal "$stderr" "airlock-sign: AIRLOCK_SIGN_TIME: not YYYY-MM-DDTHH:MM:SSZ: 2026-01-01"
	# Without the test variables: the time now and the real host name.
	unset AIRLOCK_SIGN_TIME AIRLOCK_SIGN_HOST
	run_tool 0 airlock-sign -k "$K" <"$S/records.jsonl"
	[[ $stderr != *AIRLOCK_SIGN_* ]]
	jq -e --arg host "$(hostname)" '.token.eromheen.host == $host and
	    (.token.timestamp | test("^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z$"))' \
	    <<<"${lines[0]}" >/dev/null
}

@test "the signing loop is narrowed: a seccomp filter, no new privileges, and it still signs" {
	# Once its key and chain are open, airlock-sign runs under a filter
	# that allows only what signing needs (airlock-sign(1), SECURITY
	# CONSIDERATIONS); every other test of this file signs under it too.
	local d=$BATS_TEST_TMPDIR pid i
	mkfifo "$d/in"
	airlock-sign -q -k "$K" <"$d/in" >"$d/out" 2>"$d/err" 3>&- &
	pid=$!
	exec 5>"$d/in"
	head -n 1 "$S/records.jsonl" >&5
	for i in $(seq 100); do
		[ -s "$d/out" ] && break
		sleep 0.05
	done
	run_tool 0 grep -E '^(Seccomp|NoNewPrivs):' "/proc/$pid/status"
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	exec 5>&-
	wait "$pid"
	run_tool 0 airlock-sign -V -p "$P" "$d/out"
}

@test "a new chain is made ready before the loop: its state says seq 0 until a token is signed" {
	local c=$BATS_TEST_TMPDIR/new.chain
	run_tool 0 airlock-sign -q -k "$K" -s "$c" </dev/null
	json_eq "$(jq -c . "$c")" "{\"v\":1,\"key_id\":\"$KEYID\",\"seq\":0,\"last_hash\":\"sha256:$(printf '0%.0s' $(seq 64))\"}"
	run_tool 0 airlock-sign -q -k "$K" -s "$c" <"$S/records.jsonl"
	assert_equal "$(jq -r .seq "$c")" 13
	assert_equal "$(head -n 1 <<<"$output" | jq -r .token.seq)" 1
}
