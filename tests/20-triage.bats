#!/usr/bin/env bats
# airlock-triage(1): one verdict per record, from the verdict table, and
# never a dropped line.  Fixtures are in tests/data/triage/: NAME.in is one
# input line, NAME.verdict the exact verdict section it must earn.

load helpers

T=$DATA/triage

# verdict_is NAME [OPTION...]: triage NAME.in, expect exactly one line out
# whose verdict is NAME.verdict.
verdict_is() {
	local name=$1
	shift
	run_tool 0 airlock-triage -q "$@" <"$T/$name.in"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	json_eq "$(printf '%s' "$output" | jq -c .verdict)" "$(cat "$T/$name.verdict")"
}

# untouched NAME: every section but the verdict is the input's, unchanged.
untouched() {
	json_eq "$(printf '%s' "$output" | jq -c 'del(.verdict)')" "$(cat "$T/$1.in")"
}

# rejected_here ERROR: triage could not parse the line and said so.
rejected_here() {
	[ "$(printf '%s' "$output" | jq -r .reject.error)" = "$1" ]
	[ "$(printf '%s' "$output" | jq -r .reject.stage)" = triage ]
	[ "$(printf '%s' "$output" | jq -r .reject.status)" = 400 ]
	printf '%s' "$output" | jq -e '.v == 1 and (.id | test("^[0-9a-f]{32}$"))'
	printf '%s' "$output" | jq -e '.input.bytes > 0'
}

@test "triage: reject 400 from wake keeps its status and reason" {
	verdict_is reject-400
	untouched reject-400
}

@test "triage: reject 503 becomes OVERLOADED" {
	verdict_is reject-503
	untouched reject-503
}

@test "triage: a violation is a 403 INCIDENT_KILL naming the first one" {
	verdict_is violation
	untouched violation
}

@test "triage: wall_time kill is 408 LIMIT_KILL with the route's limit" {
	verdict_is wall-time
	untouched wall-time
}

@test "triage: cpu_time kill is 408 LIMIT_KILL" {
	verdict_is cpu-time
}

@test "triage: memory kill is 413 LIMIT_KILL" {
	verdict_is memory
}

@test "triage: output kill is 413 LIMIT_KILL" {
	verdict_is output
}

@test "triage: file_size kill is 413 LIMIT_KILL" {
	verdict_is file-size
}

@test "triage: outcome failed is 500 SANDBOX_FAILURE with exec.error" {
	verdict_is failed
}

@test "triage: exit 0 is 200 SAFE_EXECUTION, severity info" {
	verdict_is exited-0
	untouched exited-0
}

@test "triage: exit 3 is still 200 SAFE_EXECUTION, severity low" {
	verdict_is exited-3
}

@test "triage: the payload's own SIGSEGV is 200 with the signal named" {
	verdict_is sigsegv
}

@test "triage: killed without a kill_reason is 500" {
	verdict_is killed-no-reason
}

@test "triage: a record without exec is 500" {
	verdict_is no-exec
	untouched no-exec
}

@test "triage: a mistyped exec member is 500 naming it" {
	verdict_is wrong-type
}

@test "triage: unknown v keeps the record and adds a 400" {
	verdict_is unknown-v
	untouched unknown-v
}

@test "triage: a line that is not JSON becomes a 400" {
	verdict_is not-json
	rejected_here bad_json
}

@test "triage: a JSON array becomes a 400" {
	verdict_is json-array
	rejected_here not_object
}

@test "triage: a raw NUL byte becomes a 400" {
	verdict_is nul-byte
	rejected_here nul_byte
}

@test "triage: an escaped NUL (\\u0000) becomes a 400" {
	verdict_is nul-escaped
	rejected_here nul_byte
}

@test "triage: invalid UTF-8 becomes a 400" {
	verdict_is invalid-utf8
	rejected_here invalid_utf8
}

@test "triage: a duplicate key becomes a 400" {
	verdict_is duplicate-key
	rejected_here duplicate_key
}

@test "triage: a line over -m becomes a 400, with no digest of it" {
	verdict_is too-long -m 128
	rejected_here too_long
	printf '%s' "$output" | jq -e '.input.bytes == 254 and .input.sha256 == null'
}

@test "triage: a line over the default 8 MiB cap becomes a 400, and the next line still comes" {
	{
		printf '{"v":1,"id":"big","x":"'
		head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' a
		printf '"}\n'
		cat "$T/exited-0.in"
	} >"$BATS_TEST_TMPDIR/big"
	run_tool 0 airlock-triage -q <"$BATS_TEST_TMPDIR/big"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	[ "$(printf '%s\n' "$output" | head -n 1 | jq -r .reject.error)" = too_long ]
	[ "$(printf '%s\n' "$output" | head -n 1 | jq -r .verdict.status)" = 400 ]
	[ "$(printf '%s\n' "$output" | tail -n 1 | jq -r .verdict.status)" = 200 ]
}

@test "triage: a reason cut at the cap stays valid UTF-8 and ends in ..." {
	python3 -c 'import json; print(json.dumps({"v": 1, "id": "a", "exec": {"outcome": "failed", "error": "x" * 1002 + "\u00e9" * 40}}, ensure_ascii=False))' \
	    >"$BATS_TEST_TMPDIR/long"
	run_tool 0 airlock-triage <"$BATS_TEST_TMPDIR/long"
	reason=$(printf '%s' "$output" | jq -r .verdict.reason)
	[ "${reason: -4}" = "x..." ]
	[ "$(printf '%s' "$reason" | wc -c)" -eq 1022 ]
}

# report_rec CONTENT [NAME]: exited-0.in whose route names report.json and
# whose run left NAME (report.json) holding CONTENT (bytes, from stdin).
report_rec() {
	local b
	b=$(base64 -w0)
	jq -c --arg b "$b" --arg n "${1:-report.json}" '.route.report = "report.json" |
	    .exec.output_files = [{name: $n, bytes: ($b | @base64d | length),
	    sha256: "ab", b64: $b}]' "$T/exited-0.in"
}

@test "triage: a report's summary goes into the verdict; one it cannot take says why, and the verdict stands" {
	local r
	r=$(printf '{"files": [1, 2], "summary": {"matches": ["a:b"], "n": 3, "ok": true}}' |
	    report_rec | airlock-triage -q)
	jq -e '.verdict.status == 200 and .verdict.report == {name: "report.json",
	    bytes: 70, sha256: "ab", summary: {matches: ["a:b"], n: 3, ok: true}}' <<<"$r"
	# Each way a summary cannot be had, and the error that says so.
	check() {
		r=$(report_rec "${2:-}" | airlock-triage -q)
		jq -e --arg e "$1" '.verdict.status == 200 and .verdict.reason == "exited with code 0" and
		    .verdict.report.summary == null and .verdict.report.error == $e' <<<"$r" || {
			jq -c .verdict.report <<<"$r" >&2
			return 1
		}
	}
	printf '{"summary": {}}' | check "the run left no report.json in /output" other.json
	printf '{"summary": ' | check "report.json is not JSON (at byte 12)"
	printf '{"summary": {}, "summary": {}}' | check "report.json is not JSON (at byte 25)"
	printf '{"summary": "\\u0000"}' | check "report.json is not JSON (at byte 20)"
	printf '{"summary": "\377"}' | check "report.json is not JSON (at byte 13)"
	printf '[1]' | check 'report.json has no "summary" object'
	printf '{"summary": [1]}' | check 'report.json has no "summary" object'
	printf '{"summary": {"e": 2.5}}' |
	    check "report.json: its summary cannot be signed: it holds a real number (signed numbers are integers only)"
	printf '{"summary": {"e": 9007199254740992}}' |
	    check "report.json: its summary cannot be signed: it holds an integer beyond 2^53-1"
	printf '{"summary": {"a": [[[[[[[[1]]]]]]]]}}' |
	    check "report.json: its summary cannot be signed: it nests too deep"
	jq -nc '{summary: {a: ("x" * 4090)}}' |
	    check "report.json: its summary is 4098 bytes, over 4096"
	# Exactly at the cap, and 8 deep, are fine.
	r=$(jq -nc '{summary: {a: ("x" * 4070), b: [[[[[[1]]]]]]}}' | report_rec | airlock-triage -q)
	jq -e '.verdict.report.error == null and (.verdict.report.summary | tojson | length) == 4096' <<<"$r"
	# No report line, or nothing ran: no report member at all.
	r=$(airlock-triage -q <"$T/exited-0.in")
	jq -e '.verdict | has("report") | not' <<<"$r"
	r=$(jq -c '.route.report = "report.json"' "$T/reject-400.in" | airlock-triage -q)
	jq -e '.verdict | has("report") | not' <<<"$r"
	# And the signer binds it.
	r=$(printf '{"summary": {"detections": ["x"]}}' | report_rec | airlock-triage -q |
	    AIRLOCK_SIGN_KEY= airlock-sign -q -k "$BATS_TEST_TMPDIR/k.sec" -c -s "$BATS_TEST_TMPDIR/chain")
	jq -e '.token.erachter.report.summary == {detections: ["x"]}' <<<"$r"
}

@test "triage: golden output for every edge of the verdict table" {
	run_tool 0 airlock-triage -q <"$T/golden.jsonl"
	diff <(printf '%s\n' "$output" | jq -cS .) <(jq -cS . "$T/golden.out")
}

@test "triage: lines in == lines out for a mixed file, every line with a verdict" {
	cat "$T"/*.in "$T/golden.jsonl" >"$BATS_TEST_TMPDIR/mixed"
	run_tool 0 airlock-triage -q <"$BATS_TEST_TMPDIR/mixed"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq "$(wc -l <"$BATS_TEST_TMPDIR/mixed")" ]
	printf '%s\n' "$output" | jq -se 'all(.[]; has("verdict"))'
}

@test "triage: records come out in order, unchanged but for the verdict" {
	# Only the lines triage can parse, so that jq can read the input too.
	for f in "$T"/*.in; do
		case ${f##*/} in
		not-json.in|json-array.in|nul-*.in|invalid-utf8.in|duplicate-key.in) ;;
		*) cat "$f" ;;
		esac
	done >"$BATS_TEST_TMPDIR/ok"
	cat "$T/golden.jsonl" >>"$BATS_TEST_TMPDIR/ok"
	run_tool 0 airlock-triage -q <"$BATS_TEST_TMPDIR/ok"
	diff <(printf '%s\n' "$output" | jq -cS 'del(.verdict)') \
	    <(jq -cS 'del(.verdict)' "$BATS_TEST_TMPDIR/ok")
}

@test "triage: a last line without a newline is still a record" {
	run_tool 0 airlock-triage < <(tr -d '\n' <"$T/exited-0.in")
	[ "$(printf '%s' "$output" | jq -r .verdict.status)" = 200 ]
}

@test "triage: empty input, empty output" {
	run_tool 0 airlock-triage </dev/null
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "triage: flushes each line as it comes (a streaming filter)" {
	local pid
	coproc TRIAGE { airlock-triage; }
	# bash forgets TRIAGE_PID as soon as the coprocess ends: keep it.
	pid=$TRIAGE_PID
	cat "$T/exited-3.in" >&"${TRIAGE[1]}"
	read -r -t 10 line <&"${TRIAGE[0]}"
	[ "$(printf '%s' "$line" | jq -r .verdict.status)" = 200 ]
	cat "$T/violation.in" >&"${TRIAGE[1]}"
	read -r -t 10 line <&"${TRIAGE[0]}"
	[ "$(printf '%s' "$line" | jq -r .verdict.status)" = 403 ]
	exec {TRIAGE[1]}>&-
	wait "$pid"
}

@test "triage: a verdict already present is kept, silently when it agrees" {
	run_tool 0 airlock-triage <"$T/violation.in"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/triaged"
	run_tool 0 airlock-triage <"$BATS_TEST_TMPDIR/triaged"
	[ "$output" = "$(cat "$BATS_TEST_TMPDIR/triaged")" ]
	[ -z "$stderr" ]
}

@test "triage: a kept verdict that disagrees is warned about and is a finding" {
	jq -c '.verdict = {status: 200, token_type: "SAFE_EXECUTION",
	    reason: "exited with code 0", severity: "info"}' \
	    "$T/violation.in" >"$BATS_TEST_TMPDIR/lie"
	run_tool 1 airlock-triage -n -e <"$BATS_TEST_TMPDIR/lie"
	json_eq "$output" "$(cat "$BATS_TEST_TMPDIR/lie")"
	[[ "$stderr" == *"its verdict is kept, but its sections earn 403 INCIDENT_KILL"* ]]
	run_tool 1 airlock-triage -q -e <"$BATS_TEST_TMPDIR/lie"
	[ -z "$stderr" ]
}

@test "triage: -n prints only non-200 records" {
	cat "$T"/*.in >"$BATS_TEST_TMPDIR/mixed"
	run_tool 0 airlock-triage -q -n <"$BATS_TEST_TMPDIR/mixed"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq $(($(wc -l <"$BATS_TEST_TMPDIR/mixed") - 3)) ]
	printf '%s\n' "$output" | jq -se 'all(.[]; .verdict.status != 200)'
}

@test "triage: -n on records that are all 200 prints nothing" {
	cat "$T/exited-0.in" "$T/exited-3.in" "$T/sigsegv.in" >"$BATS_TEST_TMPDIR/ok"
	run_tool 0 airlock-triage -n <"$BATS_TEST_TMPDIR/ok"
	[ -z "$output" ]
}

@test "triage: -e exits 1 if any verdict is not 200, 0 otherwise" {
	cat "$T/exited-0.in" "$T/memory.in" "$T/exited-3.in" >"$BATS_TEST_TMPDIR/one-bad"
	run_tool 1 airlock-triage -e <"$BATS_TEST_TMPDIR/one-bad"
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 3 ]
	cat "$T/exited-0.in" "$T/exited-3.in" "$T/sigsegv.in" >"$BATS_TEST_TMPDIR/ok"
	run_tool 0 airlock-triage -e <"$BATS_TEST_TMPDIR/ok"
	run_tool 0 airlock-triage <"$BATS_TEST_TMPDIR/one-bad"
}

@test "triage: the man page's audit example" {
	cat "$T"/*.in >"$BATS_TEST_TMPDIR/records.jsonl"
	cd "$BATS_TEST_TMPDIR"
	run_tool 1 airlock-triage -n -e < records.jsonl
	printf '%s\n' "$output" | jq -se 'any(.[]; .verdict.status == 403)'
}

@test "triage: a line it cannot parse is warned about, unless -q" {
	run_tool 0 airlock-triage <"$T/json-array.in"
	[ "$stderr" = "airlock-triage: record 1: not_object: a line must be a JSON object, not an array" ]
	run_tool 0 airlock-triage -q <"$T/json-array.in"
	[ -z "$stderr" ]
}

@test "triage: -v prints a summary with counts per status" {
	cat "$T/exited-0.in" "$T/exited-3.in" "$T/memory.in" "$T/reject-503.in" \
	    >"$BATS_TEST_TMPDIR/four"
	run_tool 0 airlock-triage -v -n <"$BATS_TEST_TMPDIR/four"
	[ "$stderr" = "airlock-triage: 4 records, 2 written: 200 x2, 413 x1, 503 x1" ]
}

@test "triage: write errors exit 111 (ENOSPC)" {
	run_tool 111 sh -c 'airlock-triage <"$1" >/dev/full' _ "$T/exited-0.in"
	[[ "$stderr" == "airlock-triage: write: No space left on device" ]]
}

@test "triage: write errors exit 111 (EPIPE), not a silent SIGPIPE death" {
	run bash -c '(sleep 0.3; cat "$1") | "$2" 2>"$3"/err | true; echo "${PIPESTATUS[1]}"' \
	    _ "$T/exited-0.in" "$BIN/airlock-triage" "$BATS_TEST_TMPDIR"
	[ "$output" = 111 ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = "airlock-triage: write: Broken pipe" ]
}

@test "triage: usage errors exit 100 with the synopsis" {
	run_tool 100 airlock-triage -x </dev/null
	[[ "$stderr" == *"usage: airlock-triage [-enqVv] [-m maxline]" ]]
	run_tool 100 airlock-triage extra </dev/null
	[ "$stderr" = "usage: airlock-triage [-enqVv] [-m maxline]" ]
	run_tool 100 airlock-triage -m 0 </dev/null
	run_tool 100 airlock-triage -m 12abc </dev/null
	run_tool 100 airlock-triage -m -5 </dev/null
	run_tool 100 airlock-triage -m </dev/null
}

@test "triage: usage() is the man page's SYNOPSIS" {
	synopsis=$(MANWIDTH=200 mandoc -Tutf8 "$TOP/man/airlock-triage.1" | col -b |
	    sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')
	run_tool 100 airlock-triage -x </dev/null
	[ "$(printf '%s\n' "$stderr" | tail -n 1)" = "usage: $synopsis" ]
}

@test "triage: --version and -V" {
	run_tool 0 airlock-triage --version
	[ "$output" = "airlock-triage $(sed -n 's/^#define AIRLOCK_VERSION[[:space:]]*"\(.*\)"/\1/p' "$TOP/lib/airlock.h")" ]
	run_tool 0 airlock-triage -V
	[[ "$output" == "airlock-triage "[0-9]* ]]
}

# The stage contract lives in lib/record.c; the man pages must say the
# same, row for row.

# mantable PAGE: the rows "status token_type severity" of the verdict
# table(s) in a man page.
mantable() {
	sed -n 's/^\.It \([0-9][0-9][0-9]\) Ta Li \([A-Z_]*\) Ta \([a-z]*\) Ta .*/\1 \2 \3/p' \
	    "$TOP/man/$1"
}

@test "contract: the verdict table of airlock-record(5) and airlock-token(5) is the code's" {
	run_tool 0 "$TOP/build/tests/recordcheck" verdicts
	local code=$output
	[ "$(wc -l <<<"$code")" -eq 7 ]
	assert_equal "$(mantable airlock-record.5)" "$code"
	assert_equal "$(mantable airlock-token.5)" "$code"
	# airlock-triage(1) spells out the 200 twice, by severity; every
	# row it has is a row of the table but for that severity.
	assert_equal "$(mantable airlock-triage.1 | sed 's/^200 SAFE_EXECUTION low$/200 SAFE_EXECUTION info/' | uniq)" "$code"
}

@test "contract: the kill reasons of airlock-record(5) are the code's, with their statuses and limits" {
	run_tool 0 "$TOP/build/tests/recordcheck" kills
	assert_equal "$(sed -n 's/^\.It Li \([a-z_]*\) Ta \([0-9]*\) Ta \(Li \)*\([a-z_]*\|\\(em\)$/\1 \2 \4/p' \
	    "$TOP/man/airlock-record.5" | sed 's/\\(em$/-/')" "$output"
}

@test "contract: no tool spells out a verdict pair or a name of the contract" {
	# Every status and token type comes from lib/record.c: no other C file
	# names a token type.
	run_tool 1 grep -rlE '"(SAFE_EXECUTION|INTENT_REJECTED|INCIDENT_KILL|LIMIT_KILL|SANDBOX_FAILURE|OVERLOADED)"' \
	    "$TOP/airlock-wake" "$TOP/airlock-snaft" "$TOP/airlock-triage" \
	    "$TOP/airlock-sign" "$TOP/airlock-muxd" "$TOP/lib" --include='*.c' \
	    --exclude=record.c
}
