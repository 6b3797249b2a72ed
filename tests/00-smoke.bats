#!/usr/bin/env bats
# Fail fast: the tools are built and answer --version and bad usage.

load helpers

@test "every built tool prints its version and refuses bad usage with 100" {
	local t n=0
	for t in "$BIN"/airlock-*; do
		[ -x "$t" ] || continue
		n=$((n + 1))
		run_tool 0 "$t" --version
		assert_output "$(basename "$t") 0.1.0"
		run_tool 100 "$t" -@
	done
	[ "$n" -ge 1 ]
}
