#!/usr/bin/env bats
# Soak and crash safety: airlock-muxd with the real pipeline, driven from
# loopback for about twenty seconds by several concurrent clients of both
# kinds sending good frames, hostile payloads and malformed input, while
# its pipeline stages are killed with SIGKILL at random.  Afterwards every
# frame is accounted for, every token verifies, the chain never forks or
# rewinds, and SIGTERM leaves nothing behind.
#
# muxd runs in a pid namespace of its own (under a shell that stays to
# look), so that every process it or its stages ever started is seen after
# it exits.  Most clients are loadgen -S, which keeps what it is sent, so
# that their answers and tokens can be checked one by one; two more are
# loadgen's load generator, of both kinds, which only counts them.

load helpers
load process

LOADGEN=$TOP/build/tests/loadgen
DRIVE=${AIRLOCK_SOAK_SECONDS:-20}	# seconds of load
MAXFRAME=65536

setup_file() {
	needs_image
	local d=$BATS_FILE_TMPDIR i
	mkdir -p "$d/c"
	cp "$DATA/test.sec" "$d/"
	export AIRLOCK_SIGN_KEY=$d/test.sec
	export AIRLOCK_CHAIN=$d/chain
	export AIRLOCK_INTENTS=$TOP/etc/intents AIRLOCK_IMAGES=$IMAGES
	export AIRLOCK_RUNDIR=$d/run
	start_muxd
	# The clients, all at once, until the deadline.
	local until=$(($(date +%s) + DRIVE)) pids=()
	single_client "$until" 1 >"$d/c/single1.log" 2>&1 3>&- & pids+=($!)
	single_client "$until" 2 >"$d/c/single2.log" 2>&1 3>&- & pids+=($!)
	lines_client "$until" 3 >"$d/c/lines3.log" 2>&1 3>&- & pids+=($!)
	lines_client "$until" 4 >"$d/c/lines4.log" 2>&1 3>&- & pids+=($!)
	broken_client "$until" 5 >"$d/c/broken5.log" 2>&1 3>&- & pids+=($!)
	# And loadgen's own load, both kinds, which counts its answers but
	# keeps no token.
	"$LOADGEN" -a "127.0.0.1:$PORT" -c 2 -k single -t "$DRIVE" -p 'print(1)' \
	    >"$d/c/load6.json" 2>"$d/c/load6.log" 3>&- & pids+=($!)
	"$LOADGEN" -a "127.0.0.1:$PORT" -c 1 -d 4 -k lines -t "$DRIVE" \
	    -p 'import socket; socket.socket()' \
	    >"$d/c/load7.json" 2>"$d/c/load7.log" 3>&- & pids+=($!)
	killer "$until" >"$d/kills" 2>&1
	for i in "${pids[@]}"; do
		wait "$i" || true
	done
	# One more frame after the last kill: it shows the pipeline came back,
	# and the wake serving it is one that ends normally, at stop_muxd.  (A
	# stage killed at the very end is restarted after a back-off, so
	# without it there may be no wake running when the drive ends.)
	"$LOADGEN" -a "127.0.0.1:$PORT" -c 1 -k single -n 1 -t 60 -p 'print(1)' \
	    >"$d/c/load8.json" 2>"$d/c/load8.log" 3>&-
	ls -d "$AIRLOCK_RUNDIR"/wake-* >>"$d/wakes"
	stop_muxd
}

teardown_file() {
	if [ -n "${NSPID:-}" ] && kill -0 "$NSPID" 2>/dev/null; then
		kill -TERM "$(cat "$BATS_FILE_TMPDIR/muxd.hostpid" 2>/dev/null)" 2>/dev/null || true
		sleep 2
		kill -KILL "$NSPID" 2>/dev/null || true
	fi
	# Remove what a killed wake leaves (see the KNOWN test below): its
	# cgroups are empty, so rmdir does it, and nothing else is touched.
	local w d
	for w in $(sort -u "$BATS_FILE_TMPDIR/wakes" 2>/dev/null); do
		for d in /sys/fs/cgroup/memory/airlock /sys/fs/cgroup/pids/airlock \
		    /sys/fs/cgroup/airlock /sys/fs/cgroup/unified/airlock; do
			[ -d "$d/${w##*/}" ] || continue
			rmdir "$d/${w##*/}"/sb-* "$d/${w##*/}" 2>/dev/null || true
		done
	done
}

# Start airlock-muxd on a random port inside a pid namespace whose first
# process is a shell that, once muxd has exited, waits a moment for any
# sandbox to end and then lists what is still running there.  Sets PORT,
# NSPID (unshare's pid) and MUXHOST (muxd's pid as seen from here).
start_muxd() {
	local d=$BATS_FILE_TMPDIR i sh
	for _ in 1 2 3 4 5 6 7 8; do
		PORT=$((20000 + RANDOM % 40000))
		sh="airlock-muxd -l 127.0.0.1:$PORT -m $MAXFRAME 2>'$d/muxd.log' &
		    m=\$!
		    wait \$m
		    echo \$? >'$d/muxd.rc'
		    for i in \$(seq 60); do
			ps -eo comm= | grep -q -e python-runner -e '^airlock-' || break
			sleep 0.05
		    done
		    ps -eo pid=,stat=,comm= | awk '\$2 !~ /^Z/ && \$3 != \"ps\" &&
			\$3 != \"bash\" && \$3 != \"awk\"' >'$d/leftover'"
		rm -f "$d/muxd.log" "$d/muxd.rc"
		unshare --pid --fork --mount-proc bash -c "$sh" 3>&- &
		NSPID=$!
		MUXHOST=
		for i in $(seq 200); do
			if [ -z "$MUXHOST" ]; then
				local sh1
				sh1=$(pgrep -P "$NSPID" | head -1)
				[ -n "$sh1" ] && MUXHOST=$(pgrep -P "$sh1" -x airlock-muxd)
			fi
			[ -n "$MUXHOST" ] && grep -q 'ready:' "$d/muxd.log" 2>/dev/null &&
			    break
			kill -0 "$NSPID" 2>/dev/null || break
			sleep 0.05
		done
		if [ -n "$MUXHOST" ] && grep -q 'ready:' "$d/muxd.log"; then
			echo "$MUXHOST" >"$d/muxd.hostpid"
			export PORT NSPID MUXHOST
			return 0
		fi
		wait "$NSPID" 2>/dev/null || true
		grep -q 'Address already in use' "$d/muxd.log" 2>/dev/null || break
	done
	cat "$d/muxd.log" >&2
	return 1
}

# SIGTERM to muxd, and wait for the namespace's shell to finish looking.
stop_muxd() {
	local i
	kill -TERM "$MUXHOST"
	for i in $(seq 600); do
		kill -0 "$NSPID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$NSPID" 2>/dev/null && kill -KILL "$NSPID"
	wait "$NSPID" || true
}

# The stage named $1 (its comm), if any: a child of muxd's spawner, the
# child of muxd that starts the stages (airlock-muxd(8), PRIVILEGES).
stage_pid() {
	local sp
	sp=$(pgrep -P "$MUXHOST" -x airlock-spawner | head -1) || return 0
	[ -n "$sp" ] && pgrep -P "$sp" -x "$1" | head -1
	true
}

# Kill each stage three times, in a random order, spread over the run;
# note every wake's runtime directory seen meanwhile, to check its cgroups
# afterwards.
killer() {
	local until=$1 s pid nspid n=12 left
	for s in $(printf '%s\n' airlock-wake airlock-snaft airlock-triage airlock-sign \
	    airlock-wake airlock-snaft airlock-triage airlock-sign \
	    airlock-wake airlock-snaft airlock-triage airlock-sign | shuf); do
		left=$((until - $(date +%s)))
		sleep "$(awk -v l="$left" -v n="$n" -v r="$RANDOM" \
		    'BEGIN { t = l / (n + 1); if (t < 0.3) t = 0.3;
		    printf "%.2f", t * (0.5 + r / 32768) }')"
		n=$((n - 1))
		ls -d "$AIRLOCK_RUNDIR"/wake-* 2>/dev/null >>"$BATS_FILE_TMPDIR/wakes" ||
		    true
		# A stage restarted a moment ago may not be there yet.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			pid=$(stage_pid "$s")
			[ -n "$pid" ] && break
			sleep 0.1
		done
		if [ -n "$pid" ]; then
			# The pid it knows itself by names its runtime directory.
			nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status")
			kill -KILL "$pid" && echo "$s $pid $nspid"
		else
			echo "$s none"
		fi
	done
	while [ "$(date +%s)" -lt "$until" ]; do
		sleep 0.5
	done
	ls -d "$AIRLOCK_RUNDIR"/wake-* 2>/dev/null >>"$BATS_FILE_TMPDIR/wakes" ||
	    true
}

# The payloads a well-formed frame carries, good and hostile.
payload() {
	case $(($1 % 5)) in
	0) echo "print($1)" ;;
	1) echo "import socket; socket.socket()" ;;
	2) echo "import os; os.fork()" ;;
	3) echo "while True: pass" ;;
	4) echo "print(sum(range($1)))" ;;
	esac
}

limits() {
	[ $(($1 % 5)) -eq 3 ] && echo '{"cpu_ms": 300, "wall_ms": 1000}'
	true
}

# single_client UNTIL N: original clients, one frame per connection, no
# newline, until the deadline.  Each answer (pretty-printed) is kept
# compact in c/N.answers; c/N.sent counts frames.
single_client() {
	local until=$1 n=$2 i=0 ch f
	while [ "$(date +%s)" -lt "$until" ]; do
		i=$((i + 1))
		ch=$((n * 100000 + i))
		f=$(frame "$ch" code:execute "$(payload "$ch")" "$(limits "$ch")")
		echo "$ch" >>"$BATS_FILE_TMPDIR/c/$n.sent"
		printf '%s' "$f" | "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 60 |
		    jq -c . >>"$BATS_FILE_TMPDIR/c/$n.answers"
	done
}

# lines_client UNTIL N: JSON-lines clients, a batch of good, hostile and
# malformed lines per connection, half-closed, until the deadline.
lines_client() {
	local until=$1 n=$2 i=0 ch j big
	big=$(head -c $((MAXFRAME + 100)) /dev/zero | tr '\0' a)
	while [ "$(date +%s)" -lt "$until" ]; do
		i=$((i + 1))
		{
			for j in 0 1 2 3 4 5; do
				ch=$((n * 100000 + i * 10 + j))
				frame "$ch" code:execute "$(payload "$ch")" "$(limits "$ch")"
			done
			printf 'not json\n'
			printf '{"channel_id": 1, "intent": "code:execute", "payload": "a\0b"}\n'
			printf '{"channel_id": 2, "intent": "code:execute", "payload": "\xff"}\n'
			printf '{"channel_id": 3, "intent": "code:execute", "payload": "%s"}\n' "$big"
			printf '{"channel_id": 4, "intent": "code:execute", "payload": "a\\u0000"}\n'
			printf '{"channel_id": 5, "channel_id": 6}\n'
		} >"$BATS_FILE_TMPDIR/c/$n.batch"
		wc -l <"$BATS_FILE_TMPDIR/c/$n.batch" >>"$BATS_FILE_TMPDIR/c/$n.sent"
		"$LOADGEN" -S -a "127.0.0.1:$PORT" -x -T 60 <"$BATS_FILE_TMPDIR/c/$n.batch" \
		    >>"$BATS_FILE_TMPDIR/c/$n.answers"
	done
}

# broken_client UNTIL N: half frames then a half-close (answered 400),
# half frames then a disconnect, and frames whose client leaves before
# the answer (both answered to nobody, but signed and logged).
broken_client() {
	local until=$1 n=$2 i=0
	while [ "$(date +%s)" -lt "$until" ]; do
		i=$((i + 1))
		printf '{"channel_id": %d, "intent": "code:exe' "$((n * 100000 + i))" |
		    "$LOADGEN" -S -a "127.0.0.1:$PORT" -x -T 60 |
		    jq -c . >>"$BATS_FILE_TMPDIR/c/$n.answers"
		echo half-close >>"$BATS_FILE_TMPDIR/c/$n.sent"
		printf '{"channel_id": 1, "payl' |
		    "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 1 >/dev/null || true
		echo dropped >>"$BATS_FILE_TMPDIR/c/$n.gone"
		frame "$((n * 100000 + 50000 + i))" code:execute "import time; time.sleep(3)" |
		    "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 1 >/dev/null || true
		echo dropped >>"$BATS_FILE_TMPDIR/c/$n.gone"
	done
}

# The per-frame log lines: "<id> <channel> <status> <intent> <us> <how> n/m"
frame_lines() {
	grep -E '^airlock-muxd: [0-9a-f]{32} ' "$BATS_FILE_TMPDIR/muxd.log"
}

answers() {
	cat "$BATS_FILE_TMPDIR"/c/*.answers
}

# The frames loadgen's load sent (and had answered).
loadframes() {
	jq -s 'map(.frames) | add' "$BATS_FILE_TMPDIR"/c/load[678].json
}

@test "soak: the stages really were killed, and restarted" {
	assert_equal "$(grep -c -v ' none$' "$BATS_FILE_TMPDIR/kills")" 12
	local s
	for s in airlock-wake airlock-snaft airlock-triage airlock-sign; do
		[ "$(grep -c "^$s [0-9]" "$BATS_FILE_TMPDIR/kills")" -eq 3 ]
		grep -q "$s restarted" "$BATS_FILE_TMPDIR/muxd.log"
	done
}

@test "soak: no stage died but by our hand, and none left a sanitizer report" {
	local f=$BATS_FILE_TMPDIR/muxd.log
	run_tool 0 grep -E '^airlock-muxd: stage [0-9]+: .* \(pid [0-9]+\) (killed|exited|died)' "$f"
	assert_equal "${#lines[@]}" 12
	assert_equal "$(grep -c -E '\) killed by signal 9 \(Killed\); [0-9]+ frames held$' <<<"$output")" 12
	run_tool 1 grep -E '^==[0-9]+==|runtime error:|broken|deadline' "$f"
}

@test "soak: every frame sent got exactly one answer" {
	local n sent got
	# One-frame and JSON-lines clients that waited: answers = frames.
	for n in 1 2; do
		sent=$(wc -l <"$BATS_FILE_TMPDIR/c/$n.sent")
		# Not vacuous.  (Not many more: under make SANITIZE=1, 20 s with
		# a dozen stage restarts, each starting every row's zygote,
		# serves a one-frame client only a few frames.)
		[ "$sent" -gt 0 ]
		assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/c/$n.answers")" "$sent"
	done
	for n in 3 4; do
		sent=$(awk '{ s += $1 } END { print s }' "$BATS_FILE_TMPDIR/c/$n.sent")
		[ "$sent" -gt 20 ]
		assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/c/$n.answers")" "$sent"
	done
	assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/c/5.answers")" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/c/5.sent")"
	# loadgen's load: every frame answered, no connection error, and
	# only the statuses its payload earns (or 500 where a stage died).
	run_tool 0 jq -c '[.frames == .answers, .frames > 5, .errors, (.status | keys)]' \
	    "$BATS_FILE_TMPDIR/c/load6.json"
	[[ "$output" =~ ^\[true,true,0,\[\"200\"(,\"500\")?\]\]$ ]]
	run_tool 0 jq -c '[.frames == .answers, .frames > 5, .errors, (.status | keys)]' \
	    "$BATS_FILE_TMPDIR/c/load7.json"
	[[ "$output" =~ ^\[true,true,0,\[\"403\"(,\"500\")?\]\]$ ]]
	# No well-formed frame was answered twice.
	got=$(answers | jq -r 'select(.channel_id != null and .channel_id > 99999) | .channel_id' |
	    sort | uniq -d)
	assert_equal "$got" ""
	# No run id was answered twice either.
	got=$(answers | jq -r .id | sort | uniq -d)
	assert_equal "$got" ""
}

@test "soak: every answer has the status its frame earns, or 500 where a stage died" {
	# Good frames 200, socket and fork 403, the loop 408; 500 only for the
	# frames a killed stage held; never anything else.
	run_tool 0 jq -r -s '
	    map(select(.channel_id != null and .channel_id > 99999 and
	        (.channel_id % 100000) < 50000)) |
	    map(select(.status != 500) |
	        {k: (.channel_id % 5), s: .status}) | group_by(.k) |
	    map("\(.[0].k):\(map(.s) | unique | map(tostring) | join(","))") | .[]' \
	    <(answers)
	assert_output "0:200
1:403
2:403
3:408
4:200"
	# Malformed lines: 400 each (or 500 if they met a dead stage).
	run_tool 0 jq -r -s 'map(select(.channel_id == null or .channel_id < 100) |
	    .status) | unique | map(tostring) | join(",")' <(answers)
	[[ "$output" =~ ^400(,500)?$ ]]
	# Few 500s: only what the twelve kills caught.
	local n500 all
	n500=$(answers | jq -r 'select(.status == 500) | 1' | wc -l)
	all=$(answers | wc -l)
	[ "$n500" -lt $((all / 2)) ]
}

@test "soak: frames in equal tokens out, in muxd's log and in the chain" {
	local in out lines seq
	grep -E 'done: ([0-9]+) frames in, \1 tokens out, 0 unsigned' \
	    "$BATS_FILE_TMPDIR/muxd.log"
	in=$(sed -nE 's/.*done: ([0-9]+) frames in.*/\1/p' "$BATS_FILE_TMPDIR/muxd.log")
	# One log line per frame, each run id once, the last one n/n.
	lines=$(frame_lines | wc -l)
	assert_equal "$lines" "$in"
	assert_equal "$(frame_lines | awk '{ print $2 }' | sort -u | wc -l)" "$in"
	assert_equal "$(frame_lines | tail -1 | awk '{ print $NF }')" "$in/$in"
	# Every frame a client sent is in the log (muxd may see more: none).
	local sent
	sent=$(($(cat "$BATS_FILE_TMPDIR"/c/[1-2].sent | wc -l) +
	    $(awk '{ s += $1 } END { print s }' "$BATS_FILE_TMPDIR"/c/[3-4].sent) +
	    $(cat "$BATS_FILE_TMPDIR"/c/5.sent "$BATS_FILE_TMPDIR"/c/5.gone | wc -l) +
	    $(loadframes)))
	assert_equal "$in" "$sent"
	# Every frame is answered or its client had gone: none is unsigned.
	# (An answer written to a client that has closed is "sent" as far as
	# muxd can tell, so the log cannot tell those apart.)
	assert_equal "$((in - $(answers | wc -l) - $(loadframes)))" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/c/5.gone")"
	assert_equal "$(frame_lines | awk '$7 != "sent" && $7 != "dropped"' | wc -l)" 0
	# The chain signed each of them once, plus, for each of the three
	# signer kills, at most the batch it had signed but muxd had not read
	# (signed again by its successor; airlock-sign groups up to 256
	# records a batch), the rest of its lease that the successor skips
	# (at most the default 1000 seqs) and the successor's restart token.
	# The next test checks these add up exactly.
	seq=$(jq -r .seq "$AIRLOCK_CHAIN")
	[ "$seq" -ge "$in" ]
	[ "$seq" -le $((in + 3 * (256 + 1000 + 1))) ]
}

@test "soak: every token verifies; the chain has gaps only, never a fork, duplicate or rewind" {
	answers | jq -c 'select(.tibet_provenance != null) | .tibet_provenance' |
	    jq -s -c 'sort_by(.seq) | .[]' >"$BATS_TEST_TMPDIR/tokens.jsonl"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/tokens.jsonl")" "$(answers | wc -l)"
	# Each seq once.
	assert_equal "$(jq -r .seq "$BATS_TEST_TMPDIR/tokens.jsonl" | sort | uniq -d)" ""
	local rc=0
	airlock-sign -V -p "$DATA/test.pub" "$BATS_TEST_TMPDIR/tokens.jsonl" \
	    2>"$BATS_TEST_TMPDIR/problems" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]
	# Every problem is a gap: a token answered to a client that had gone,
	# or one signed by a signer killed before muxd read it (before a
	# restart token too: the token it names may be one of those); and
	# every notice is a restart after a killed signer, with the rest of
	# its lease skipped.
	run_tool 1 grep -v -E '^airlock-sign: seq [0-9]+: (gap: expected seq [0-9]+( \(parent mismatch\)| \(restart after seq [0-9]+\))?|restart after an unclean stop: (nothing skipped|seq [0-9]+( to [0-9]+)? skipped \(lost, or never issued\)))$' \
	    "$BATS_TEST_TMPDIR/problems"
	# And the gaps add up: the seqs missing from the answers are exactly
	# loadgen's load (whose tokens it does not keep), the frames whose
	# client had gone and the tokens signed twice.
	local seq have gone in
	seq=$(jq -r .seq "$AIRLOCK_CHAIN")
	have=$(wc -l <"$BATS_TEST_TMPDIR/tokens.jsonl")
	gone=$(wc -l <"$BATS_FILE_TMPDIR/c/5.gone")
	in=$(sed -nE 's/.*done: ([0-9]+) frames in.*/\1/p' "$BATS_FILE_TMPDIR/muxd.log")
	assert_equal "$((seq - have))" "$(($(loadframes) + gone + seq - in))"
	[ "$(tail -1 "$BATS_TEST_TMPDIR/tokens.jsonl" | jq -r .seq)" -le "$seq" ]
}

@test "soak: SIGTERM drains and exits 0, and no process is left behind" {
	assert_equal "$(cat "$BATS_FILE_TMPDIR/muxd.rc")" 0
	# No process of muxd, its stages, their zygotes or sandboxes, whether
	# their stage was killed or drained.
	assert_equal "$(cat "$BATS_FILE_TMPDIR/leftover")" ""
}

# killed_wake NAME: true if NAME (wake-PID-HEX) belongs to a wake we killed.
killed_wake() {
	local pid=${1#wake-}
	awk -v p="${pid%%-*}" '$1 == "airlock-wake" && $3 == p { f = 1 }
	    END { exit !f }' "$BATS_FILE_TMPDIR/kills"
}

# leftovers_of NAME: the socket files and cgroups of that wake still there.
leftovers_of() {
	local d
	find "$AIRLOCK_RUNDIR/$1" -type s 2>/dev/null
	for d in /sys/fs/cgroup/memory/airlock /sys/fs/cgroup/pids/airlock \
	    /sys/fs/cgroup/airlock /sys/fs/cgroup/unified/airlock; do
		[ -e "$d/$1" ] && echo "$d/$1"
	done
	true
}

@test "soak: a wake that ended normally leaves no socket file or cgroup" {
	local w n=0
	[ -s "$BATS_FILE_TMPDIR/wakes" ]
	for w in $(sort -u "$BATS_FILE_TMPDIR/wakes"); do
		killed_wake "${w##*/}" && continue
		n=$((n + 1))
		assert_equal "$(leftovers_of "${w##*/}")" ""
	done
	[ "$n" -ge 1 ]
}

@test "soak: a wake killed with SIGKILL leaves no socket file or cgroup behind" {
	local w n=0
	for w in $(sort -u "$BATS_FILE_TMPDIR/wakes"); do
		killed_wake "${w##*/}" || continue
		n=$((n + 1))
		assert_equal "$(leftovers_of "${w##*/}")" ""
	done
	[ "$n" -ge 1 ]
}
