#!/usr/bin/env bats
# airlock-mcp(1): the MCP server, driven by a real MCP client (the official
# SDK from the npm registry, pinned by tests/mcp/package-lock.json and
# installed into build/mcp by make check) over its stdio transport, in
# front of airlock-muxd with the real pipeline; and the JSON-RPC errors,
# sent from here byte by byte.

load helpers
load process

SDK=$TOP/build/mcp/node_modules
CLIENT=$TOP/tests/mcp/client.cjs

setup_file() {
	needs_image
	[ -d "$SDK/@modelcontextprotocol/sdk" ] ||
	    skip "the MCP SDK is not installed (make check installs it)"
	serve_pipeline
}

teardown_file() {
	stop_pipeline
}

setup() {
	needs_image
	[ -d "$SDK/@modelcontextprotocol/sdk" ] ||
	    skip "the MCP SDK is not installed (make check installs it)"
}

# step NAME: the client's line for that step.
step() {
	jq -c --arg s "$1" 'select(.step == $s)' "$BATS_TEST_TMPDIR/steps"
}

# frames_in: frames in, tokens out and unsigned, from the muxd log so far.
counts() {
	sed -nE 's/.* sent ([0-9]+)\/([0-9]+)$/\1 \2/p' "$BATS_FILE_TMPDIR/muxd.log" | tail -1
}

# rpc LINE...: each line to airlock-mcp (against the file's muxd), its
# answers on stdout.
rpc() {
	printf '%s\n' "$@" | timeout 60 airlock-mcp -t "$TOP/etc/intents" \
	    -c "127.0.0.1:$PORT"
}

INIT='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bats","version":"1"}}}'

@test "mcp: the SDK's client lists one tool per intent row, runs print(6 * 7) and gets 42, and a socket gets 403, each with a token that verifies" {
	local before after
	before=$(counts)
	AIRLOCK_TEST_TIMEOUT=120 run_tool 0 node "$CLIENT" "$SDK" \
	    airlock-mcp -t "$TOP/etc/intents" -c "127.0.0.1:$PORT"
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/steps"
	# initialize and ping
	assert_equal "$(step initialize | jq -c '[.server.name, .capabilities.tools.listChanged]')" '["airlock-mcp",false]'
	[ -n "$(step ping)" ]
	# One tool per row of etc/intents, with the frame's members; a '*'
	# row takes the rest of the intent's name.
	assert_equal "$(step tools | jq -c '[.tools[].name]')" \
	    '["analyze_malware_sample","run_python","scan_file","call_voice","call_video"]'
	assert_equal "$(step tools | jq -c '.tools[] | select(.name == "run_python") | [.required, .properties]')" \
	    '[["payload"],["payload","files","limits"]]'
	assert_equal "$(step tools | jq -c '.tools[] | select(.name == "call_voice") | .required')" \
	    '["payload","intent_suffix"]'
	assert_equal "$(step tools | jq -c '.tools[] | select(.name == "scan_file") | .required')" '[]'
	# 42, as structured content and as its text.
	assert_equal "$(step run | jq -c '[.isError, .structured.status, .structured.verdict, .structured.stdout, .structured.exit_code, .structured.token.token_type]')" \
	    '[false,200,"SAFE_EXECUTION","42\n",0,"SAFE_EXECUTION"]'
	json_eq "$(step run | jq -c .text | jq -r .)" "$(step run | jq -c .structured)"
	assert_equal "$(step run | jq -r .structured.from_aint)" mcp:airlock-test
	# The socket payload: 403, killed at socket(2), with its token.
	assert_equal "$(step socket | jq -c '[.isError, .structured.status, .structured.verdict, .structured.token.violations[0].syscall]')" \
	    '[true,403,"INCIDENT_KILL","socket"]'
	# Limits looser than the intent's: airlock's signed 400.
	assert_equal "$(step badlimits | jq -c '[.isError, .structured.status, .structured.verdict]')" \
	    '[true,400,"INTENT_REJECTED"]'
	# Protocol errors are JSON-RPC errors, and the server goes on.
	assert_equal "$(step nomethod | jq -c .code)" -32601
	assert_equal "$(step notool | jq -c .code)" -32602
	assert_equal "$(step badargs | jq -c .code)" -32602
	assert_equal "$(step noname | jq -c .code)" -32602
	assert_equal "$(step after | jq -c '[.structured.status, .structured.stdout]')" '[200,"still here\n"]'
	# Every call got exactly one token: four calls, four frames in, four
	# tokens out, and the tokens verify, chain and all.
	after=$(counts)
	read -r bo bi <<<"${before:-0 0}"
	read -r ao ai <<<"$after"
	assert_equal "$((ai - bi)) $((ao - bo))" "4 4"
	for s in run socket badlimits after; do
		step "$s" | jq -c .structured.token
	done | jq -sc 'sort_by(.seq) | .[]' >"$BATS_TEST_TMPDIR/tokens"
	assert_equal "$(jq -s 'map(.seq) | (max - min)' "$BATS_TEST_TMPDIR/tokens")" 3
	run_tool 0 airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/tokens"
}

@test "mcp: malformed JSON-RPC gets the proper error, and the server keeps serving" {
	rpc "$INIT" \
	    'not json' \
	    '{"jsonrpc":"2.0","id":1,"method":"ping"' \
	    '[{"jsonrpc":"2.0","id":2,"method":"ping"}]' \
	    '{"id":3,"method":"ping"}' \
	    '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}' \
	    '{"jsonrpc":"2.0","id":5,"method":"no/such"}' \
	    '{"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1]}' \
	    '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"run_python","arguments":[1]}}' \
	    '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"call_video","arguments":{"payload":"x"}}}' \
	    '{"jsonrpc":"2.0","id":9,"method":"initialize","params":{}}' \
	    '{"jsonrpc":"2.0","id":10,"method":"ping","params":{},"a":1,"a":2}' \
	    '{"jsonrpc":"2.0","method":"no/such/notification"}' \
	    '{"jsonrpc":"2.0","id":11,"result":{}}' \
	    '{"jsonrpc":"2.0","id":12,"method":"ping"}' \
	    '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"run_python","arguments":{"payload":"print(6 * 7)"}}}' \
	    >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.id != 0) | [.id, .error.code // "ok"]' "$BATS_TEST_TMPDIR/out"
	assert_output "$(printf '%s\n' '[null,-32700]' '[null,-32700]' '[null,-32600]' \
	    '[3,-32600]' '[null,-32600]' '[5,-32601]' '[6,-32602]' '[7,-32602]' \
	    '[8,-32602]' '[9,-32602]' '[null,-32700]' '[12,"ok"]' '[13,"ok"]')"
	# Each error says what was wrong.
	run jq -r 'select(.error) | .error.message' "$BATS_TEST_TMPDIR/out"
	assert_line --index 0 --partial 'Parse error: not JSON'
	assert_line --index 2 'Invalid Request: a message is one JSON object (batches are not supported)'
	assert_line --index 3 'Invalid Request: jsonrpc must be "2.0"'
	assert_line --index 8 'tools/call call_video: intent_suffix must be a non-empty string: it completes the intent'"'"'s name'
	assert_line --index 10 --partial 'duplicate object key'
	# And the last call ran.
	assert_equal "$(jq -c 'select(.id == 13) | .result.structuredContent | [.status, .stdout]' "$BATS_TEST_TMPDIR/out")" '[200,"42\n"]'
}

@test "mcp: a call that cannot reach airlock gets an error result that says so, and the next call is served" {
	# Port 1: nothing listens there.
	local dead=1
	! ss -Htln "( sport = :$dead )" | grep -q .
	printf '%s\n' "$INIT" \
	    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_python","arguments":{"payload":"print(1)"}}}' \
	    '{"jsonrpc":"2.0","id":2,"method":"ping"}' |
	    timeout 60 airlock-mcp -t "$TOP/etc/intents" -c "127.0.0.1:$dead" >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.id == 1) | .result | [.isError, has("structuredContent"), (.content[0].text | startswith("airlock-mcp: cannot reach airlock-muxd at 127.0.0.1:'"$dead"': Connection refused; the frame was not sent and has no token"))]' "$BATS_TEST_TMPDIR/out"
	assert_output '[true,false,true]'
	assert_equal "$(jq -c 'select(.id == 2) | .result' "$BATS_TEST_TMPDIR/out")" '{}'
}

@test "mcp: -p runs a private airlock-muxd on a socket pair: the SDK's calls get tokens from its own chain" {
	local d=$BATS_TEST_TMPDIR
	# A key of its own: the file's muxd holds the other copy's lock.
	cp "$DATA/test.sec" "$d/"
	AIRLOCK_SIGN_KEY=$d/test.sec AIRLOCK_CHAIN=$d/chain \
	    AIRLOCK_RUNDIR=$d/run AIRLOCK_TEST_TIMEOUT=120 run_tool 0 \
	    node "$CLIENT" "$SDK" airlock-mcp -p
	printf '%s\n' "$output" >"$d/steps"
	assert_equal "$(step run | jq -c '[.structured.status, .structured.stdout]')" '[200,"42\n"]'
	assert_equal "$(step socket | jq -c '[.structured.status, .structured.verdict]')" '[403,"INCIDENT_KILL"]'
	for s in run socket badlimits after; do
		step "$s" | jq -c .structured.token
	done >"$d/tokens"
	# The whole private chain, from seq 1: exactly these four tokens.
	run_tool 0 airlock-sign -V -r -v -p "$DATA/test.pub" "$d/tokens"
	[[ $stderr == *"4 tokens, seq 1 to 4, key "*": verified" ]]
	# The private muxd and its pipeline end with the client (the SDK
	# closes airlock-mcp; muxd drains first).
	for _ in $(seq 200); do
		pgrep -f "airlock-muxd -i -t 86400" >/dev/null || break
		sleep 0.05
	done
	run pgrep -f "airlock-muxd -i -t 86400"
	assert_output ''
}

@test "mcp: tools follow the table given: derived names for rows of its own" {
	local t=$BATS_TEST_TMPDIR/intents
	cp "$TOP/etc/intents" "$t"
	printf '\nintent data:query:*\n\timage airlock-python\n\tsnapshot python-safe-boot\n\tbackend auto\n\tmode observe\n\tlimits wall=1s cpu=1s memory=64M output=1K file=1K tmp=1M payload=1K\n\tallow open\n' >>"$t"
	printf '%s\n' "$INIT" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' |
	    timeout 30 airlock-mcp -t "$t" -c 127.0.0.1:1 >"$BATS_TEST_TMPDIR/out"
	run jq -c 'select(.id == 1) | .result.tools[] | select(.name == "data_query") | [.inputSchema.required, .inputSchema.properties.limits.properties.wall_ms.maximum]' "$BATS_TEST_TMPDIR/out"
	assert_output '[["payload","intent_suffix"],1000]'
}

@test "mcp: bad usage and a table that does not load" {
	run_tool 100 airlock-mcp -x
	usage_is_synopsis airlock-mcp.1
	run_tool 100 airlock-mcp -p -c 127.0.0.1:4430
	run_tool 111 airlock-mcp -t /nonexistent/intents </dev/null
	[[ $stderr == "airlock-mcp: /nonexistent/intents"* ]]
}
