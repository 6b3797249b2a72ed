#!/usr/bin/env bats
# Fuzzing regressions (issue 7): each libFuzzer harness of tests/fuzz/
# runs once over its committed seed corpus and over the inputs that once
# crashed it, so that make check catches a regression in seconds.
# make fuzz is what fuzzes; tests/fuzz/README says what each harness checks.

load helpers

FUZZ=$TOP/build/fuzz

# Whether clang can link a fuzzer: it needs libFuzzer's runtime, which
# Debian ships apart from the compiler.
have_libfuzzer() {
	local d rc=0

	command -v clang >/dev/null 2>&1 || return 1
	d=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *, size_t);' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	    '{ (void)d; (void)n; return 0; }' >"$d/t.c"
	clang -fsanitize=fuzzer,address,undefined -o "$d/t" "$d/t.c" \
	    >/dev/null 2>&1 || rc=1
	rm -rf "$d"
	return "$rc"
}

setup_file() {
	if ! have_libfuzzer; then
		FUZZ_SKIP="clang with libFuzzer's runtime is missing"
		FUZZ_SKIP+=" (Debian: apt-get install clang libclang-rt-14-dev)"
		export FUZZ_SKIP
		return 0
	fi
	# The fragment guards against a second inclusion, so this works
	# whether or not the top Makefile includes it already.
	if ! make -C "$TOP" -s -f Makefile -f tests/fuzz/fuzz.mk fuzz-build \
	    >"$BATS_FILE_TMPDIR/build.log" 2>&1; then
		cat "$BATS_FILE_TMPDIR/build.log" >&2
		return 1
	fi
}

# regress NAME: fuzz_NAME runs every committed input once, no mutation.
regress() {
	local n=$1 files

	[ -z "${FUZZ_SKIP:-}" ] || skip "$FUZZ_SKIP"
	mapfile -t files < <(find "$TOP/tests/fuzz/corpus/$n" \
	    "$TOP/tests/fuzz/regress/$n" -type f ! -name README 2>/dev/null |
	    LC_ALL=C sort)
	[ "${#files[@]}" -gt 0 ]
	run_tool 0 "$FUZZ/fuzz_$n" -artifact_prefix="$BATS_TEST_TMPDIR/" \
	    "${files[@]}"
}

@test "fuzz_jsonl: the frame and record reader and parser, no line dropped" {
	regress jsonl
}

@test "fuzz_jcs: canonical JSON refuses reals, round-trips, is idempotent" {
	regress jcs
}

@test "fuzz_intents: the intent table parser never allows a dangerous call" {
	regress intents
}

@test "fuzz_verify: the token verifier only ever answers 0 or 1" {
	regress verify
}

@test "fuzz_sign: whatever airlock-sign signs, airlock-sign -V verifies" {
	regress sign
}

@test "fuzz_utf8_b64: UTF-8 against RFC 3629, strict base64 round trips" {
	regress utf8_b64
}

@test "fuzz_vmm: the VMM's system calls keep guest memory, fds and paths in bounds" {
	regress vmm
}
