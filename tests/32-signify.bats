#!/usr/bin/env bats
# airlock-sign(1) and OpenBSD signify (Debian's signify-openbsd) use each
# other's keys, and signify verifies our tokens without airlock.

load helpers

# helpers.bash's run_tool assigns output=$(...) under bats' errexit, so a
# tool that exits non-zero would end the test before its status is
# compared; called from an || list, errexit is off inside it.
eval "helpers_$(declare -f run_tool)"
run_tool() { helpers_run_tool "$@" || return 1; }

S=$DATA/sign
SIGNIFY=signify-openbsd

setup() {
	command -v "$SIGNIFY" >/dev/null || {
		echo "$SIGNIFY is not installed (apt-get install signify-openbsd)" >&2
		return 1
	}
	cp "$DATA/test.sec" "$DATA/test.pub" "$BATS_TEST_TMPDIR/"
	K=$BATS_TEST_TMPDIR/test.sec
	P=$BATS_TEST_TMPDIR/test.pub
	X=$BATS_TEST_TMPDIR/x
	mkdir "$X"
	export AIRLOCK_SIGN_TIME=2026-01-01T00:00:00Z AIRLOCK_SIGN_HOST=test
	unset AIRLOCK_SIGN_KEY AIRLOCK_CHAIN
}

@test "signify signs and verifies with keys from airlock-sign -G" {
	local d=$BATS_TEST_TMPDIR
	run_tool 0 airlock-sign -G -q -k "$d/ours.sec"
	printf 'hello\n' >"$d/msg"
	run_tool 0 "$SIGNIFY" -S -s "$d/ours.sec" -m "$d/msg"
	run_tool 0 "$SIGNIFY" -V -p "$d/ours.pub" -m "$d/msg"
	assert_equal "$output" "Signature Verified"
	# The committed test key too.
	run_tool 0 "$SIGNIFY" -S -s "$K" -m "$d/msg" -x "$d/msg.sig2"
	run_tool 0 "$SIGNIFY" -V -p "$P" -m "$d/msg" -x "$d/msg.sig2"
	# And signify tells our keys apart.
	run_tool 1 "$SIGNIFY" -V -p "$d/ours.pub" -m "$d/msg" -x "$d/msg.sig2"
}

@test "airlock-sign signs with a key from signify -G -n, and verifies" {
	local d=$BATS_TEST_TMPDIR
	run_tool 0 "$SIGNIFY" -G -n -p "$d/s.pub" -s "$d/s.sec"
	run_tool 0 airlock-sign -q -k "$d/s.sec" <"$S/records.jsonl"
	printf '%s\n' "$output" >"$d/log"
	run_tool 0 airlock-sign -V -p "$d/s.pub" "$d/log"
	# The key id is signify's key number.
	assert_equal "$(head -n 1 "$d/log" | jq -r .token.signature.key_id)" \
	    "$(sed -n 2p "$d/s.pub" | base64 -d | od -An -tx1 -j2 -N8 | tr -d ' ')"
	run_tool 0 airlock-sign -V -p "$d/s.pub" -x "$X" "$d/log"
	run_tool 0 "$SIGNIFY" -V -p "$d/s.pub" -x "$X/1.json.sig" -m "$X/1.json"
}

@test "-x: signify verifies every token of the golden log, and refuses a tampered one" {
	local n
	run_tool 0 airlock-sign -V -p "$P" -x "$X" "$S/golden.jsonl"
	for n in $(seq 13); do
		run_tool 0 "$SIGNIFY" -V -p "$P" -x "$X/$n.json.sig" -m "$X/$n.json"
		assert_equal "$output" "Signature Verified"
		# The signed bytes are the token without its signature.
		json_eq "$(cat "$X/$n.json")" \
		    "$(sed -n "${n}p" "$S/golden.jsonl" | jq -c '.token | del(.signature)')"
	done
	head -n 1 "$X/1.json.sig" | grep -qx 'untrusted comment: verify with test.pub'
	sed -i 's/"seq":1/"seq":2/' "$X/1.json"
	run_tool 1 "$SIGNIFY" -V -p "$P" -x "$X/1.json.sig" -m "$X/1.json"
	# Another key's signature file is refused by signify too.
	run_tool 0 airlock-sign -G -q -k "$BATS_TEST_TMPDIR/o.sec"
	run_tool 1 "$SIGNIFY" -V -p "$BATS_TEST_TMPDIR/o.pub" -x "$X/2.json.sig" -m "$X/2.json"
}

@test "-x writes the very signature signify -S makes for the same bytes" {
	local n
	run_tool 0 airlock-sign -V -p "$P" -x "$X" "$S/golden.jsonl"
	for n in 1 7 10; do
		cp "$X/$n.json" "$BATS_TEST_TMPDIR/m"
		run_tool 0 "$SIGNIFY" -S -s "$K" -m "$BATS_TEST_TMPDIR/m"
		assert_equal "$(sed -n 2p "$BATS_TEST_TMPDIR/m.sig")" \
		    "$(sed -n 2p "$X/$n.json.sig")"
	done
}

@test "airlock-token(5): the jq recipe verifies a token with signify alone" {
	local d=$BATS_TEST_TMPDIR
	cp "$S/golden.jsonl" "$d/log.jsonl"
	cp "$P" "$d/airlock.pub"
	cd "$d"
	# The commands of the EXAMPLES section, as written there.
	jq -c '.token | select(.seq == 1)' log.jsonl >t.json
	jq -jcS 'del(.signature)' t.json >1.json
	{ echo 'untrusted comment: token 1'
	  { printf Ed
	    jq -r .signature.key_id t.json | tr a-f A-F | basenc --base16 -d
	    jq -r .signature.sig t.json | base64 -d
	  } | base64 -w0
	  echo
	} >1.json.sig
	run_tool 0 "$SIGNIFY" -V -p airlock.pub -x 1.json.sig -m 1.json
	assert_equal "$output" "Signature Verified"
	assert_equal "sha256:$(jq -jcS 'del(.signature, .content_hash)' t.json | sha256sum | cut -d' ' -f1)" \
	    "$(jq -r .content_hash t.json)"
	# And the page shows these commands.
	mandoc -Tascii "$TOP/man/airlock-token.5" | col -b >page
	grep -qF "jq -jcS 'del(.signature)' t.json >1.json" page
	grep -qF "jq -r .signature.key_id t.json | tr a-f A-F | basenc --base16 -d" page
	grep -qF "signify-openbsd -V -p airlock.pub -x 1.json.sig -m 1.json" page
}

@test "airlock-sign(1): the examples run as written" {
	local d=$BATS_TEST_TMPDIR
	cd "$d"
	run_tool 0 airlock-sign -G -k airlock.sec
	echo hello >msg
	run_tool 0 "$SIGNIFY" -S -s airlock.sec -m msg
	run_tool 0 "$SIGNIFY" -V -p airlock.pub -m msg
	assert_equal "$output" "Signature Verified"
	run_tool 0 airlock-sign -q -k airlock.sec <"$S/records.jsonl"
	printf '%s\n' "$output" >log.jsonl
	mkdir out
	run_tool 0 airlock-sign -V -v -p airlock.pub -x out log.jsonl
	[[ $stderr == "airlock-sign: 13 tokens, seq 1 to 13, key "*": verified" ]]
	run_tool 0 "$SIGNIFY" -V -p airlock.pub -x out/1.json.sig -m out/1.json
	run_tool 1 airlock-sign -V -p airlock.pub <<<"$(sed 3d log.jsonl)"
	assert_equal "$stderr" "airlock-sign: seq 4: gap: expected seq 3 (parent mismatch)"
}
