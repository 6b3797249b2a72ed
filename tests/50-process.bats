#!/usr/bin/env bats
# The process backend end to end: real Python payloads through
# airlock-wake | airlock-snaft | airlock-triage, each with the verdict it
# must earn.  Every payload really runs; every violation is a real system
# call stopped by the kernel's seccomp filter and our monitor.

load helpers
load process

# One batch for the whole file: the payloads run concurrently in one
# pipeline, and each test then reads its own record by channel id.
setup_file() {
	needs_image
	local L='import ctypes; libc = ctypes.CDLL(None); '
	{
		frame 1 code:execute "print('hello world')"
		# The always-dangerous families, each reached by a real call.
		frame 10 code:execute "import socket; socket.socket()"
		frame 11 code:execute "${L}libc.connect(1, None, 0)"
		frame 12 code:execute "import os; os.fork()"
		frame 13 code:execute "import subprocess; subprocess.run(['true'])"
		frame 14 code:execute "import threading; threading.Thread(target=print).start()"
		frame 15 code:execute "import ctypes; ctypes.CDLL('libssl.so.3')"
		frame 16 code:execute "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"
		frame 17 code:execute "${L}libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"
		frame 18 code:execute "${L}libc.reboot(0x1234567)"
		frame 19 code:execute "${L}libc.syscall(246, 0, 0, 0, 0)"
		frame 20 code:execute "${L}libc.ptrace(0, 0, 0, 0)"
		frame 21 code:execute "${L}libc.syscall(0x40000000 | 39)"
		frame 22 code:execute "${L}libc.syscall(321, 0, 0, 0)"
		frame 23 code:execute "${L}libc.syscall(999)"
		# Limits.
		frame 30 code:execute "while True: pass" '{"cpu_ms": 500}'
		frame 31 code:execute "import time; time.sleep(60)" '{"wall_ms": 1000}'
		frame 32 code:execute "x = bytearray(512 * 2**20)"
		frame 33 code:execute "import sys
while True: sys.stdout.write('x' * 4096)"
		frame 34 code:execute "open('/tmp/big', 'wb').write(b'x' * 2**21)"
		frame 35 code:execute "import os; os._exit(3)"
		frame 36 code:execute "raise ValueError('boom')"
		frame 37 code:execute "import os, signal; os.abort()"
		frame 38 code:execute "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
		frame 39 code:execute "import os, signal; os.kill(1, signal.SIGKILL)"
		frame 42 code:execute "import os, signal; os.kill(os.getpid(), signal.SIGXCPU)"
		frame 43 code:execute "import os, signal; os.kill(os.getpid(), signal.SIGSYS)"
		frame 44 code:execute "import os, signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGXCPU])
os.kill(os.getpid(), signal.SIGXCPU)
t = time.process_time()
while time.process_time() - t < 1.2: pass
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGXCPU])" '{"cpu_ms": 500}'
		# RLIMIT_CPU counts whole seconds, and SIGXCPU can be ignored.
		frame 46 code:execute "import signal
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
while True: pass" '{"cpu_ms": 300}'
		# The original airlock's substring "SNAFT": words are not calls.
		frame 45 code:execute "print('import socket; eval( os.fork() bash ptrace')  # import os"
		# Host reach.
		frame 40 code:execute "import os; print(sorted(os.environ))"
		frame 41 code:execute "import os; print(sorted(os.listdir('/')))"
		# Fast mode: same policy, allowed calls stay in the kernel.
		frame 50 code:fast "print('fast')"
		frame 51 code:fast "import socket; socket.socket()"
		frame 52 code:fast "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)"
		# What a run costs: its own page faults, not its sandbox's.
		frame 54 code:fast "pass"
		frame 55 code:fast "b = b'x' * (32 * 2**20)"
		# sqlite3 on /tmp: its journal, fchown and the locks it takes there.
		frame 53 code:execute "import sqlite3
c = sqlite3.connect('/tmp/db')
c.execute('create table t(x)')
c.execute('insert into t values (42)')
c.commit()
print(c.execute('select x from t').fetchall())"
		# Frames that never run.
		frame 60 code:executeXYZ "print(1)"
		frame 61 code:execute "print(1)" '{"wall_ms": 999999999}'
		frame 62 missing:image "print(1)"
		jq -cn '{channel_id: 63, intent: "code:execute", from_aint: "a", payload: "1", backend: "kvm"}'
		printf '%s\n' '{"channel_id": "7", "intent": "code:execute", "from_aint": "a", "payload": "1"}'
		printf '%s\n' 'not json'
	} >"$BATS_FILE_TMPDIR/frames.jsonl"
	AIRLOCK_TEST_SECRET=leaked-secret-value pipeline -p 4 \
	    <"$BATS_FILE_TMPDIR/frames.jsonl" >"$BATS_FILE_TMPDIR/out.jsonl"
}

# verdict CHANNEL STATUS [FAMILY]: the record's verdict status, and for 403
# the family of its first violation.
verdict() {
	local r
	r=$(record "$1")
	[ -n "$r" ] || { echo "no record for channel $1" >&2; return 1; }
	assert_equal "$(jq -r .verdict.status <<<"$r")" "$2"
	if [ -n "${3:-}" ]; then
		assert_equal "$(jq -r '.exec.violations[0].family' <<<"$r")" "$3"
	fi
}

stdout_of() {
	record "$1" | jq -r '.exec.stdout.b64 | @base64d'
}

@test "frames in equal records out, each exactly once" {
	assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/out.jsonl")" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
	assert_equal "$(jq -r .id "$BATS_FILE_TMPDIR/out.jsonl" | sort -u | wc -l)" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
}

@test "print('hello world') runs and exits 0 with its output" {
	verdict 1 200
	assert_equal "$(stdout_of 1)" "hello world"
	run_tool 0 sh -c "$(declare -f record); BATS_FILE_TMPDIR=$BATS_FILE_TMPDIR record 1"
	assert_equal "$(jq -r .exec.outcome <<<"$output")" exited
	assert_equal "$(jq -r .exec.exit_code <<<"$output")" 0
	assert_equal "$(jq -r .exec.stdout.sha256 <<<"$output")" \
	    "$(printf 'hello world\n' | sha256sum | cut -d' ' -f1)"
	assert_equal "$(jq -r .wake.backend <<<"$output")" process
	# observe mode counts every call the payload made
	assert_equal "$(jq -r .exec.observed_syscalls.write <<<"$output")" 1
}

@test "sqlite3 works on /tmp: the file locks it takes there are granted" {
	verdict 53 200
	assert_equal "$(stdout_of 53)" "[(42,)]"
	[ "$(record 53 | jq '.exec.observed_syscalls.fcntl')" -gt 0 ]
}

@test "socket() is killed as socket" { verdict 10 403 socket; }
@test "connect() is killed as connect" { verdict 11 403 connect; }
@test "os.fork() is killed as fork" { verdict 12 403 fork; }
@test "subprocess.run() is killed before anything runs" { verdict 13 403; }
@test "a thread is killed as clone" { verdict 14 403 clone; }
@test "ctypes loading a library is killed as dlopen" { verdict 15 403 dlopen; }
@test "mmap with PROT_EXEC is killed as dlopen" { verdict 16 403 dlopen; }
@test "mount() is killed as mount" { verdict 17 403 mount; }
@test "reboot() is killed as reboot" { verdict 18 403 reboot; }
@test "kexec_load() is killed as kexec_load" { verdict 19 403 kexec_load; }
@test "ptrace() is killed as ptrace" { verdict 20 403 ptrace; }

@test "an x32 system call is a foreign-ABI violation" {
	verdict 21 403 foreign_abi
	assert_equal "$(record 21 | jq -r '.exec.violations[0].arch')" x32
}

@test "bpf() and an unknown system call number are violations" {
	verdict 22 403
	verdict 23 403 unlisted
	assert_equal "$(record 23 | jq -r '.exec.violations[0].syscall')" 999
}

@test "the violation record names syscall, number, arch and argument" {
	run_tool 0 sh -c "jq -c 'select(.frame.channel_id == 10) | .exec.violations[0] | del(.at_us)' '$BATS_FILE_TMPDIR/out.jsonl'"
	json_eq "$output" '{"family":"socket","syscall":"socket","nr":41,"arch":"x86_64","arg":"domain=2 type=0x80001"}'
	assert_equal "$(record 10 | jq -r .exec.kill_reason)" violation
	assert_equal "$(record 10 | jq -r .verdict.token_type)" INCIDENT_KILL
}

@test "an infinite loop ends at the CPU limit (408)" {
	verdict 30 408
	assert_equal "$(record 30 | jq -r .exec.kill_reason)" cpu_time
}

@test "a sleeper ends at the wall-clock limit (408)" {
	verdict 31 408
	assert_equal "$(record 31 | jq -r .exec.kill_reason)" wall_time
}

@test "a memory hog ends at the memory limit (413)" {
	verdict 32 413
	assert_equal "$(record 32 | jq -r .exec.kill_reason)" memory
}

@test "an output flood ends at the output limit (413), capture capped" {
	verdict 33 413
	assert_equal "$(record 33 | jq -r .exec.kill_reason)" output
	assert_equal "$(record 33 | jq -r .exec.stdout.captured_bytes)" 65536
	assert_equal "$(record 33 | jq -r .exec.stdout.truncated)" true
}

@test "a file over the file-size limit ends at that limit (413)" {
	verdict 34 413
	assert_equal "$(record 34 | jq -r .exec.kill_reason)" file_size
}

@test "the payload's own exit code, exception and abort are 200" {
	verdict 35 200
	assert_equal "$(record 35 | jq -r .exec.exit_code)" 3
	verdict 36 200
	assert_equal "$(record 36 | jq -r .exec.exit_code)" 1
	record 36 | jq -r '.exec.stderr.b64 | @base64d' | grep -q "ValueError: boom"
	verdict 37 200
	assert_equal "$(record 37 | jq -r .exec.signal)" 6
	verdict 38 200
	assert_equal "$(record 38 | jq -r .exec.signal)" 15
}

@test "a signal to itself is allowed; to any other process it is a violation" {
	verdict 39 403 unlisted
	assert_equal "$(record 39 | jq -r .exec.violations[0].syscall)" kill
}

@test "a limit or violation signal the payload sends itself is its own, not a limit" {
	verdict 42 200
	assert_equal "$(record 42 | jq -c '[.exec.signal, .exec.kill_reason, .exec.self_signaled]')" '[24,null,true]'
	verdict 43 200
	assert_equal "$(record 43 | jq -c '[.exec.signal, .exec.kill_reason, .exec.self_signaled]')" '[31,null,true]'
}

@test "sending itself SIGXCPU early does not hide a real CPU-limit kill" {
	verdict 44 408
	# cpu_time; wall_time only if a loaded machine starved it (nice 10)
	assert_regex "$(record 44 | jq -r .exec.kill_reason)" '^(cpu_time|wall_time)$'
	assert_equal "$(record 44 | jq -r .exec.self_signaled)" null
}

@test "the CPU limit holds to the millisecond, not to RLIMIT_CPU's whole seconds, even with SIGXCPU ignored" {
	local cpu
	verdict 46 408
	# cpu_time; wall_time only if a loaded machine starved it (nice 10)
	assert_regex "$(record 46 | jq -r .exec.kill_reason)" '^(cpu_time|wall_time)$'
	# The rlimit alone would have let it run to 2 s (1 s soft, SIGXCPU
	# ignored, 2 s hard); snaft's own look at its CPU clock ends it at
	# 300 ms, give or take a scheduler tick and a busy machine.
	cpu=$(record 46 | jq -r .exec.cpu_us)
	[ "$cpu" -lt 1000000 ]
}

@test "dangerous words in the payload's text are not violations (the original matched substrings)" {
	verdict 45 200
	assert_equal "$(stdout_of 45)" "import socket; eval( os.fork() bash ptrace"
}

@test "host environment variables do not leak in" {
	verdict 40 200
	assert_equal "$(stdout_of 40)" "['HOME', 'LANG', 'PATH']"
}

@test "the root the payload sees is the image's" {
	verdict 41 200
	assert_equal "$(stdout_of 41)" "['bin', 'dev', 'etc', 'input', 'lib', 'lib64', 'output', 'proc', 'tmp', 'usr']"
}

@test "fast mode runs allowed calls in the kernel and still kills violations" {
	verdict 50 200
	assert_equal "$(stdout_of 50)" fast
	assert_equal "$(record 50 | jq -r .exec.mode)" fast
	assert_equal "$(record 50 | jq -c .exec.observed_syscalls)" "{}"
	verdict 51 403 socket
	verdict 52 403 dlopen
}

@test "a run's page faults and CPU time are its own, not those of its sandbox's preparation in the pool" {
	local idle touched
	verdict 54 200
	verdict 55 200
	idle=$(record 54 | jq -r .exec.page_faults)
	touched=$(record 55 | jq -r .exec.page_faults)
	# 32 MiB written: at least 8192 pages first touched in the run.
	[ "$touched" -ge 8192 ]
	# The pool sandbox's preparation (its mounts, the language's warm-up)
	# took about 400 faults before the run; the run of "pass" a handful.
	[ "$idle" -lt 200 ]
	[ "$(record 54 | jq -r .exec.cpu_us)" -ge 0 ]
}

@test "frames that will not run get a precise rejection" {
	verdict 60 400
	assert_equal "$(record 60 | jq -r .reject.error)" unknown_intent
	verdict 61 400
	assert_equal "$(record 61 | jq -r .reject.error)" bad_limits
	verdict 62 500
	assert_equal "$(record 62 | jq -r .reject.error)" sandbox_unavailable
	verdict 63 400
	assert_equal "$(record 63 | jq -r .reject.reason)" "intent code:execute runs on the process backend only"
	run_tool 0 jq -c 'select(.frame.channel_id == "7") | .reject' "$BATS_FILE_TMPDIR/out.jsonl"
	json_eq "$output" '{"status":400,"error":"wrong_type","reason":"\"channel_id\" must be an unsigned 32-bit integer","stage":"wake"}'
	run_tool 0 jq -c 'select(.input) | .reject.error' "$BATS_FILE_TMPDIR/out.jsonl"
	assert_equal "$output" '"bad_json"'
}

@test "a file written in one run is gone in the next" {
	{
		frame 1 code:execute "open('/tmp/mark', 'w').write('x'); print('wrote')"
		frame 2 code:execute "import os; print(os.path.exists('/tmp/mark'))"
	} | pipeline -p 0 >"$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$(record 1 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r '.exec.stdout.b64 | @base64d')" wrote
	assert_equal "$(record 2 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r '.exec.stdout.b64 | @base64d')" False
}

@test "two runs never share randomness" {
	local p='import os, random; print(os.urandom(16).hex(), random.random())'
	{ frame 1 code:execute "$p"; frame 2 code:execute "$p"; } |
	    pipeline >"$BATS_TEST_TMPDIR/out.jsonl"
	local a b
	a=$(record 1 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r '.exec.stdout.b64 | @base64d')
	b=$(record 2 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r '.exec.stdout.b64 | @base64d')
	[ -n "$a" ] && [ -n "$b" ]
	[ "${a%% *}" != "${b%% *}" ]
	[ "${a##* }" != "${b##* }" ]
}

@test "a host file outside the image cannot be read by any path" {
	local secret=$BATS_FILE_TMPDIR/host-secret dir
	echo "host-only-content" >"$secret"
	chmod 0644 "$secret"
	dir=$(dirname "$secret")
	local p="
import os
paths = ['$secret', '../../../../../../..$secret', '/proc/self/root$secret',
         '/proc/1/root$secret', '//$secret', '/tmp/../../..$secret']
for p in paths:
    try:
        print(open(p).read())
    except OSError as e:
        print(type(e).__name__)
print(os.path.exists('$dir'))
"
	frame 1 code:execute "$p" | pipeline >"$BATS_TEST_TMPDIR/out.jsonl"
	run_tool 0 jq -r '.exec.stdout.b64 | @base64d' "$BATS_TEST_TMPDIR/out.jsonl"
	refute_output --partial host-only-content
	assert_equal "$(grep -c FileNotFoundError <<<"$output")" 6
	assert_equal "${lines[-1]}" False
	# A link to it cannot even be made: symlink is not in the policy.
	frame 1 code:execute "import os; os.symlink('$secret', '/tmp/l'); print(open('/tmp/l').read())" |
	    pipeline >"$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$(jq -r .verdict.status "$BATS_TEST_TMPDIR/out.jsonl")" 403
	assert_equal "$(jq -r .exec.violations[0].syscall "$BATS_TEST_TMPDIR/out.jsonl")" symlink
}

@test "a table that allows an always-dangerous family is refused at start" {
	cat >"$BATS_TEST_TMPDIR/bad.intents" <<-'EOF'
	intent code:execute
		image airlock-python
		snapshot python-safe-boot
		allow socket
	EOF
	run_tool 100 airlock-wake -t "$BATS_TEST_TMPDIR/bad.intents" -I "$IMAGES" </dev/null
	assert_regex "$stderr" "bad.intents:4: .*socket.*always dangerous"
	run_tool 100 airlock-snaft -t "$BATS_TEST_TMPDIR/bad.intents" </dev/null
}

@test "snaft refuses to run a record whose policy digest differs from its own" {
	frame 1 code:execute "print(1)" |
	    airlock-wake -q -t "$PTABLE" -I "$IMAGES" -r "$BATS_FILE_TMPDIR/run" |
	    jq --unbuffered -c '.route.policy_digest = "sha256:\("0" * 64)"' |
	    airlock-snaft -q -t "$PTABLE" -r "$BATS_FILE_TMPDIR/run" |
	    airlock-triage -q >"$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$(jq -r .verdict.status "$BATS_TEST_TMPDIR/out.jsonl")" 500
	assert_regex "$(jq -r .exec.error "$BATS_TEST_TMPDIR/out.jsonl")" "^policy digest mismatch"
}

@test "snaft connects only to sandboxes in its runtime directory" {
	local sock=$BATS_TEST_TMPDIR/other.sock
	python3.11 -c "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind('$sock')"
	# The sandbox woken here is never claimed: a short lease ends it.
	frame 1 code:execute "print(1)" |
	    airlock-wake -q -l 1000 -t "$PTABLE" -I "$IMAGES" -r "$BATS_FILE_TMPDIR/run" |
	    jq --unbuffered -c --arg h "$sock" '.wake.handle = $h' |
	    airlock-snaft -q -t "$PTABLE" -r "$BATS_FILE_TMPDIR/run" |
	    airlock-triage -q >"$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$(jq -r .verdict.status "$BATS_TEST_TMPDIR/out.jsonl")" 500
	assert_regex "$(jq -r .exec.error "$BATS_TEST_TMPDIR/out.jsonl")" "is not a sandbox of"
	[ -S "$sock" ]
}

@test "nothing is left behind: no sandbox process, socket file or cgroup" {
	# In a pid namespace of its own, so that only this pipeline's
	# processes are seen afterwards.
	local p
	p="$(declare -f frame pipeline); IMAGES='$IMAGES' PTABLE='$PTABLE'
	    BATS_FILE_TMPDIR='$BATS_FILE_TMPDIR'
	    frame 1 code:execute 'print(1)' | pipeline >/dev/null
	    frame 1 code:execute 'while True: pass' '{\"cpu_ms\": 300}' | pipeline >/dev/null
	    pgrep -x python-runner || true"
	run_tool 0 unshare --pid --fork --mount-proc bash -c "$p"
	assert_output ""
	run_tool 0 find "$BATS_FILE_TMPDIR/run" -mindepth 1
	assert_output ""
	# Its wake is gone: no cgroup of a wake that no longer runs is left.
	local d
	for d in /sys/fs/cgroup/memory/airlock/wake-* /sys/fs/cgroup/pids/airlock/wake-* \
	    /sys/fs/cgroup/airlock/wake-*; do
		[ -d "$d" ] || continue
		d=${d##*wake-}
		kill -0 "${d%%-*}" 2>/dev/null && continue
		echo "left behind: $d" >&2
		return 1
	done
}

# cgroups_of INSTANCE: the cgroup directories of one wake, in any hierarchy.
cgroups_of() {
	ls -d /sys/fs/cgroup/memory/airlock/"$1" /sys/fs/cgroup/pids/airlock/"$1" \
	    /sys/fs/cgroup/airlock/"$1" 2>/dev/null || true
}

@test "a killed wake's cgroups go with the next wake, whatever its runtime directory; a live wake's stay" {
	local d=$BATS_TEST_TMPDIR live dead pid i
	mkdir -p "$d/live" "$d/dead" "$d/other"
	mkfifo "$d/in" "$d/in2"
	# A wake that keeps serving through all of this.
	airlock-wake -q -t "$PTABLE" -I "$IMAGES" -r "$d/live" -p 2 <"$d/in" |
	    airlock-snaft -q -t "$PTABLE" -r "$d/live" | airlock-triage -q \
	    >"$d/out.jsonl" &
	exec 5>"$d/in"
	# And one killed with SIGKILL once its pool is warm, whose runtime
	# directory then goes too (a test's temporary directory, say).
	airlock-wake -q -t "$PTABLE" -I "$IMAGES" -r "$d/dead" -p 2 <"$d/in2" >/dev/null &
	pid=$!
	exec 6>"$d/in2"
	for i in $(seq 300); do
		live=$(basename "$(ls -d "$d"/live/wake-* 2>/dev/null)")
		dead=$(basename "$(ls -d "$d"/dead/wake-* 2>/dev/null)")
		[ -n "$live" ] && [ -n "$dead" ] &&
		    [ -n "$(ls -d /sys/fs/cgroup/*/airlock/"$dead"/sb-* /sys/fs/cgroup/airlock/"$dead"/sb-* 2>/dev/null)" ] &&
		    [ -n "$(ls -d /sys/fs/cgroup/*/airlock/"$live"/sb-* /sys/fs/cgroup/airlock/"$live"/sb-* 2>/dev/null)" ] &&
		    break
		sleep 0.1
	done
	[ -n "$(cgroups_of "$dead")" ]
	kill -KILL "$pid"
	exec 6>&-
	wait "$pid" || true
	rm -rf "$d/dead"
	# Another wake, elsewhere, starts and ends: the dead one's cgroups go
	# (its sandboxes may take a moment to die; a later wake tries again).
	for i in $(seq 50); do
		airlock-wake -q -t "$PTABLE" -I "$IMAGES" -r "$d/other" -p 0 </dev/null >/dev/null
		[ -z "$(cgroups_of "$dead")" ] && break
		sleep 0.2
	done
	assert_equal "$(cgroups_of "$dead")" ""
	# The live one's are all there, and it still runs frames.
	[ -n "$(cgroups_of "$live")" ]
	frame 1 code:execute 'print(41 + 1)' >&5
	exec 5>&-
	wait
	assert_equal "$(jq -r '[.verdict.status, .exec.stdout.b64 | tostring] | join(" ")' "$d/out.jsonl")" "200 NDIK"
	assert_equal "$(cgroups_of "$live")" ""
}

@test "a run still under way when wake's input ends is reported, not lost with the zygote" {
	# The last frame's payload is killed at its wall limit after wake has
	# seen the end of its input: wake must let the zygote report that run
	# before it stops it (killing the zygote at once made this a 500).
	run_tool 0 sh -c "$(declare -f frame pipeline); IMAGES='$IMAGES' \
	    PTABLE='$PTABLE' BATS_FILE_TMPDIR='$BATS_TEST_TMPDIR'
	    frame 1 code:execute 'while True: pass' '{\"wall_ms\": 1000}' |
	    pipeline | jq -c '[.exec.outcome, .exec.kill_reason, .verdict.status]'"
	assert_output '["killed","wall_time",408]'
}

@test "a zygote dies with its wake, even when it cannot notice its control socket close" {
	# A stopped zygote reads nothing, so only the kernel's parent-death
	# signal can end it when its wake is killed.  (Its uid change in the
	# new user namespace once cleared that signal: an orphan zygote then
	# outlived everything.)
	local p
	p="IMAGES='$IMAGES' PTABLE='$PTABLE' R='$BATS_TEST_TMPDIR'
	    mkfifo \$R/in
	    airlock-wake -q -t \$PTABLE -I \$IMAGES -r \$R <\$R/in >/dev/null &
	    w=\$!
	    exec 3>\$R/in
	    for i in \$(seq 200); do
		z=\$(pgrep -P \$w -x python-runner) && break
		sleep 0.05
	    done
	    [ -n \"\$z\" ] || { echo 'no zygote'; exit 1; }
	    kill -STOP \$z
	    kill -KILL \$w
	    for i in \$(seq 100); do
		case \$(ps -o stat= -p \$z) in ''|Z*) exit 0;; esac
		sleep 0.05
	    done
	    echo \"zygote \$z outlived its wake\"
	    kill -KILL \$z
	    exit 1"
	run_tool 0 unshare --pid --fork --mount-proc bash -c "$p"
}
