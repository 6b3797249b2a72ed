#!/usr/bin/env bats
# lib/: hashing, base64 and the fail-closed JSON-lines reader.

load helpers

LIBCHECK=$TOP/build/tests/libcheck

@test "sha256 matches the FIPS 180-2 vectors" {
	run_tool 0 "$LIBCHECK" sha256
	assert_equal "$output" ok
}

@test "base64 matches RFC 4648 and refuses malformed input" {
	run_tool 0 "$LIBCHECK" b64
	assert_equal "$output" ok
}

@test "reader: each bad line gets its precise error, none is dropped" {
	run_tool 0 sh -c "printf '%s\n' \
	    '{\"v\":1}' \
	    '{\"v\":1,\"a\":1,\"a\":2}' \
	    '[1,2]' \
	    '\"str\"' \
	    '{\"v\":1' \
	    '{\"v\":1} x' \
	    '{\"v\":\"1\"}' \
	    '{\"v\":2}' \
	    '{}' \
	    '{\"v\":1,\"s\":\"a\\u0000b\"}' | '$LIBCHECK' read 1000"
	assert_equal "${#lines[@]}" 10
	assert_equal "${lines[0]}" "ok 7"
	assert_regex "${lines[1]}" '^duplicate_key: '
	assert_equal "${lines[2]}" "not_object: a line must be a JSON object, not an array"
	assert_equal "${lines[3]}" "not_object: a line must be a JSON object, not a string"
	assert_regex "${lines[4]}" '^bad_json: not JSON: '
	assert_regex "${lines[5]}" '^bad_json: not JSON: '
	assert_equal "${lines[6]}" 'unknown_version: "v" must be an integer'
	assert_equal "${lines[7]}" "unknown_version: unknown record version 2 (this airlock reads version 1)"
	assert_equal "${lines[8]}" 'unknown_version: record has no "v" (schema version)'
	assert_regex "${lines[9]}" '^nul_byte: escaped NUL'
}

@test "reader: raw NUL bytes and invalid UTF-8 are refused with their offset" {
	run_tool 0 sh -c "printf '{\"v\":1,\"s\":\"a\0b\"}\n{\"v\":1,\"s\":\"\303\050\"}\n{\"v\":1,\"s\":\"\355\240\200\"}\n{\"v\":1,\"s\":\"\300\257\"}\n{\"v\":1,\"s\":\"\303\251\"}\n' | '$LIBCHECK' read 1000"
	assert_equal "${lines[0]}" "nul_byte: NUL byte at offset 13"
	assert_equal "${lines[1]}" "invalid_utf8: invalid UTF-8 at offset 12 (byte 0xc3)"
	assert_equal "${lines[2]}" "invalid_utf8: invalid UTF-8 at offset 12 (byte 0xed)"
	assert_equal "${lines[3]}" "invalid_utf8: invalid UTF-8 at offset 12 (byte 0xc0)"
	assert_equal "${lines[4]}" "ok 16"
}

@test "reader: a line over the cap is refused whole, and the next line still reads" {
	run_tool 0 sh -c "{ printf '{\"v\":1,\"pad\":\"'; head -c 300000 /dev/zero | tr '\0' x; printf '\"}\n{\"v\":1}\n'; } | '$LIBCHECK' read 100000"
	assert_equal "${lines[0]}" "too_long: 300016 bytes"
	assert_equal "${lines[1]}" "ok 7"
	assert_equal "${#lines[@]}" 2
}

@test "reader: a line exactly at the cap is accepted; a last line without newline counts" {
	run_tool 0 sh -c "printf '{\"v\":1,\"p\":\"xxxx\"}\n{\"v\":1}' | '$LIBCHECK' read 18"
	assert_equal "${lines[0]}" "ok 18"
	assert_equal "${lines[1]}" "ok 7"
}
