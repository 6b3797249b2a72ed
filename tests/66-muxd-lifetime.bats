#!/usr/bin/env bats
# airlock-muxd(8): the lifetime of what muxd starts.  A stage ends when
# muxd ends, however muxd ends; once muxd drains, no stage is restarted;
# and killing muxd's whole process group (what Ctrl-C on make run, or a
# service manager's stop, does) leaves no process, socket file or cgroup
# behind.

load helpers
load process

LOADGEN=$TOP/build/tests/loadgen

setup() {
	cp "$DATA/test.sec" "$BATS_TEST_TMPDIR/"
	ORPHAN=
}

teardown() {
	# A stage that outlived its muxd (the failure tested for) is ended
	# here, by its pid.
	[ -z "$ORPHAN" ] || kill -KILL $ORPHAN 2>/dev/null || true
}

@test "muxd killed with SIGKILL leaves no stage behind, not even one that reads nothing" {
	local d=$BATS_TEST_TMPDIR mark pid
	# A first stage that never reads its input, so that the end of its
	# input cannot end it: only the parent-death signal can.
	mark=$((100000 + RANDOM))
	serve_muxd "$d/muxd.log" airlock-muxd \
	    -P "sleep $mark|airlock-triage|airlock-sign -k $d/test.sec -s $d/chain"
	pid=$MUXPID
	pgrep -x -f "sleep $mark" >/dev/null
	kill -KILL "$pid"
	wait "$pid" || true
	for _ in $(seq 100); do
		ORPHAN=$(pgrep -x -f "sleep $mark") || break
		sleep 0.05
	done
	assert_equal "$ORPHAN" ''
}

# group_rounds DIR LOADGEN: run in a pid namespace of our own, so that ps
# sees only what these rounds started.  Each round starts airlock-muxd
# with the real pipeline in a process group of its own, puts clients on
# it, kills the whole group with SIGTERM or SIGKILL at a random moment and
# looks at what is left.  Prints what went wrong, nothing if nothing did.
group_rounds() {
	local d=$1 lg=$2 r sig m port log rc left c
	for r in 1 2 3 4 5 6 7 8; do
		sig=TERM
		[ $((r % 2)) -eq 0 ] && sig=KILL
		log=$d/muxd.$r.log
		if ! serve_muxd "$log" setsid airlock-muxd; then
			echo "round $r: airlock-muxd did not start"
			return
		fi
		m=$MUXPID
		port=$PORT
		[ "$(ps -o pgid= -p "$m" | tr -d ' ')" = "$m" ] ||
		    echo "round $r: airlock-muxd does not lead its group"
		ls "$AIRLOCK_RUNDIR" >>"$d/wakes"
		# Clients of both kinds, their frames under way at the signal.
		"$lg" -a "127.0.0.1:$port" -c 2 -k lines -d 2 -t 2 \
		    -p 'import time; time.sleep(0.2)' >/dev/null 2>&1 &
		c=$!
		"$lg" -a "127.0.0.1:$port" -c 1 -k single -t 2 -p 'print(1)' \
		    >/dev/null 2>&1 &
		c="$c $!"
		sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1.5 * r / 32768 }')"
		kill -"$sig" -- -"$m"
		rc=0
		wait "$m" || rc=$?
		# shellcheck disable=SC2086
		wait $c
		# Everything it started ends (sandboxes a moment after their
		# zygote).
		for _ in $(seq 200); do
			left=$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ &&
			    ($3 ~ /^airlock-/ || $3 == "python-runner")')
			[ -z "$left" ] && break
			sleep 0.05
		done
		[ -z "$left" ] || echo "round $r ($sig): still running: $left"
		if awk '/: draining / { d = 1 } d && / restarted / { f = 1 }
		    END { exit !f }' "$log"; then
			echo "round $r ($sig): a stage restarted during the drain:"
			grep -E 'draining|restarted' "$log"
		fi
		[ "$sig" = TERM ] || continue
		# A drained muxd answered (or logged unsigned) every frame.
		[ "$rc" -eq 0 ] || echo "round $r: airlock-muxd exited $rc"
		sed -nE 's/.*done: ([0-9]+) frames in, ([0-9]+) tokens out, ([0-9]+) unsigned.*/\1 \2 \3/p' \
		    "$log" | awk -v r="$r" '$1 != $2 + $3 {
			print "round " r ": " $1 " frames in, " $2 " tokens out, " $3 " unsigned" }'
		# And a wake that got SIGTERM cleaned up after itself (and
		# swept what the killed ones left).
		leftovers "$d" "round $r"
	done
	# What a wake killed with SIGKILL leaves, the next wake sweeps.
	airlock-wake -q </dev/null >/dev/null
	leftovers "$d" "at the end"
}

# leftovers DIR WHEN: socket files in the runtime directory, and cgroups of
# any wake these rounds started.
leftovers() {
	local w g
	find "$AIRLOCK_RUNDIR" -type s | sed "s|^|$2: socket file left: |"
	for w in $(sort -u "$1/wakes"); do
		for g in /sys/fs/cgroup/memory/airlock /sys/fs/cgroup/pids/airlock \
		    /sys/fs/cgroup/airlock /sys/fs/cgroup/unified/airlock; do
			[ -e "$g/$w" ] && echo "$2: cgroup left: $g/$w"
		done
	done
	true
}

@test "muxd's process group killed at random moments: no stage restarted in a drain, nothing left behind" {
	needs_image
	local d=$BATS_TEST_TMPDIR
	mkdir -p "$d/run"
	: >"$d/wakes"
	export AIRLOCK_SIGN_KEY=$d/test.sec AIRLOCK_CHAIN=$d/chain
	export AIRLOCK_INTENTS=$TOP/etc/intents AIRLOCK_IMAGES=$IMAGES
	export AIRLOCK_RUNDIR=$d/run
	AIRLOCK_TEST_TIMEOUT=240 run_tool 0 unshare --pid --fork --mount-proc \
	    bash -c "$(declare -f group_rounds leftovers serve_muxd); group_rounds '$d' '$LOADGEN'"
	assert_output ''
}
