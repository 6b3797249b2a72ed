# Shared by every tests/*.bats file.
#
#   run_tool STATUS CMD...   run CMD under a timeout (AIRLOCK_TEST_TIMEOUT,
#                            default 60 s) and fail unless it exits STATUS;
#                            stdout lands in $output (and $lines), stderr
#                            in $stderr.
#   json_eq A B              compare two JSON texts after jq -cS.
#   have_kvm                 true if /dev/kvm can be opened.
#   have_ia32                true if the kernel runs i386 calls (int 0x80).

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BIN=$TOP/bin
DATA=$TOP/tests/data
PATH=$BIN:$PATH
export TOP BIN DATA PATH

bats_load_library bats-support
bats_load_library bats-assert

run_tool() {
	local want=$1 errf rc
	shift
	errf=$(mktemp "$BATS_TEST_TMPDIR/stderr.XXXXXX")
	rc=0
	output=$(timeout -k 5 "${AIRLOCK_TEST_TIMEOUT:-60}" "$@" 2>"$errf") || rc=$?
	status=$rc
	stderr=$(cat "$errf")
	lines=()
	[ -n "$output" ] && mapfile -t lines <<<"$output"
	if [ "$rc" -ne "$want" ]; then
		printf 'command: %s\nexpected exit %s, got %s\nstdout: %s\nstderr: %s\n' \
		    "$*" "$want" "$rc" "$output" "$stderr" >&2
		return 1
	fi
}

json_eq() {
	local a b
	a=$(printf '%s' "$1" | jq -cS .) || return 1
	b=$(printf '%s' "$2" | jq -cS .) || return 1
	if [ "$a" != "$b" ]; then
		printf 'JSON differs:\n got: %s\nwant: %s\n' "$a" "$b" >&2
		return 1
	fi
}

have_kvm() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# A kernel without IA32 emulation faults int 0x80 before any system call
# (and any seccomp filter) sees it; build/tests/ia32 tells which kernel
# this is.
have_ia32() {
	"$TOP/build/tests/ia32" 2>/dev/null
}
