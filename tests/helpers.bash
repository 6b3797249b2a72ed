# Shared by every tests/*.bats file.
#
#   run_tool STATUS CMD...   run CMD under a timeout (AIRLOCK_TEST_TIMEOUT,
#                            default 60 s) and fail unless it exits STATUS;
#                            stdout lands in $output (and $lines), stderr
#                            in $stderr.
#   json_eq A B              compare two JSON texts after jq -cS.
#   have_kvm                 true if /dev/kvm can be opened.
#   have_ia32                true if the kernel runs i386 calls (int 0x80).
#   serve_muxd LOG CMD...    run CMD -l 127.0.0.1:PORT (airlock-muxd, with
#                            its options, under env or setsid if need be)
#                            on a random port until it is ready, another
#                            port if that one is taken; sets PORT and
#                            MUXPID, or fails showing LOG.
#   end_process PID          SIGTERM, SIGKILL 10 s later; its exit status
#                            in $ENDRC.
#   usage_is_synopsis PAGE   $stderr, from "usage:" on, is the SYNOPSIS of
#                            man/PAGE, blanks and line breaks aside.

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

serve_muxd() {
	local log=$1
	shift
	for _ in 1 2 3 4 5 6 7 8; do
		PORT=$((20000 + RANDOM % 40000))
		"$@" -l "127.0.0.1:$PORT" 2>"$log" 3>&- &
		MUXPID=$!
		for _ in $(seq 200); do
			grep -q 'ready:' "$log" && return 0
			kill -0 "$MUXPID" 2>/dev/null || break
			sleep 0.05
		done
		wait "$MUXPID" 2>/dev/null || true
		MUXPID=
		grep -q 'Address already in use' "$log" || break
	done
	cat "$log" >&2
	return 1
}

end_process() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null || true
	ENDRC=0
	wait "$1" || ENDRC=$?
}

usage_is_synopsis() {
	local want got
	want=$(MANWIDTH=200 mandoc -Tascii -O width=200 "$TOP/man/$1" | col -b |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \t\n' ' ' |
	    sed 's/^ //;s/ $//')
	got=$(sed -n '/^usage: /,$p' <<<"$stderr" | sed '1s/^usage: //' |
	    tr -s ' \t\n' ' ' | sed 's/^ //;s/ $//')
	if [ "$got" != "$want" ]; then
		printf 'usage:    %s\nSYNOPSIS: %s\n' "$got" "$want" >&2
		return 1
	fi
}
