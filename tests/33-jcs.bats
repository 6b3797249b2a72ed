#!/usr/bin/env bats
# RFC 8785 canonical JSON as airlock-sign signs it: the RFC's own examples,
# its authors' test data, and ours (tests/data/sign/jcs/README).

load helpers

# helpers.bash's run_tool assigns output=$(...) under bats' errexit, so a
# tool that exits non-zero would end the test before its status is
# compared; called from an || list, errexit is off inside it.
eval "helpers_$(declare -f run_tool)"
run_tool() { helpers_run_tool "$@" || return 1; }

JCS=$TOP/build/tests/jcs
J=$DATA/sign/jcs

setup_file() {
	# make check builds the test programs; by hand, build this one.
	[ -x "$TOP/build/tests/jcs" ] || make -C "$TOP" -s build/tests/jcs
}

# canon NAME: NAME.json canonicalizes to exactly the bytes of NAME.out.
canon() {
	"$JCS" <"$J/$1.json" >"$BATS_TEST_TMPDIR/$1.got"
	if ! cmp "$BATS_TEST_TMPDIR/$1.got" "$J/$1.out"; then
		printf 'got:  %s\nwant: %s\n' "$(cat "$BATS_TEST_TMPDIR/$1.got")" \
		    "$(cat "$J/$1.out")" >&2
		return 1
	fi
}

@test "RFC 8785 3.2.3: members sort by UTF-16 code units" {
	canon rfc8785-sorting
}

@test "RFC 8785 3.2.2: strings escape only quote, backslash and controls" {
	canon rfc8785-strings
}

@test "RFC 8785 3.2.2 with its real numbers is refused, naming the first" {
	run_tool 1 "$JCS" <"$J/rfc8785-numbers.json"
	assert_equal "$stderr" "jcs: real number at numbers[0]"
	assert_equal "$output" ""
}

@test "the RFC authors' test data without real numbers" {
	local n
	for n in weird french unicode arrays; do
		canon "$n"
	done
}

@test "every control character, DEL and solidus" {
	canon controls
}

@test "UTF-16 order differs from code point order above U+FFFF" {
	canon surrogates
}

@test "integers print in shortest form, -0 as 0, up to 2^53-1" {
	canon integers
}

@test "nested objects, empty names, prefixes and a bare scalar" {
	canon nesting
	canon scalar
}

@test "every input without a canonical form gets its exact error" {
	local f n
	for f in "$J"/*.err; do
		n=$(basename "$f" .err)
		run_tool 1 "$JCS" <"$J/$n.json"
		assert_equal "$stderr" "jcs: $(cat "$f")"
	done
}

@test "every fixture has an expected output or error" {
	local f n
	for f in "$J"/*.json; do
		n=${f%.json}
		[ -f "$n.out" ] || [ -f "$n.err" ] || {
			echo "no .out or .err for $f" >&2
			return 1
		}
	done
}
