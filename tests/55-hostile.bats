#!/usr/bin/env bats
# Hostile Python payloads through the real pipeline (wake | snaft | triage),
# each with the verdict it must get: escapes through other ABIs and odd
# system call numbers, argument tricks, kernel attack surfaces, resource
# bombs, time and output floods, reaches for the host, and what one run
# could leave to the next.  The payloads make real system calls through
# ctypes (already loaded in the snapshot, so no new executable mapping is
# needed), and the kernel and the monitor really stop them.
#
# Everything runs as one concurrent batch in setup_file, inside a pid
# namespace of its own so that afterwards any sandbox process left over is
# seen; each test then reads its own record by channel id.

load helpers
load process
load hostile

setup_file() {
	needs_image
	echo "host-only-marker" >"$BATS_FILE_TMPDIR/host-marker"
	chmod 0644 "$BATS_FILE_TMPDIR/host-marker"
	hostile_frames >"$BATS_FILE_TMPDIR/frames.jsonl"
	hog_frames >"$BATS_FILE_TMPDIR/hogs.jsonl"
	collusion_frames >"$BATS_FILE_TMPDIR/collusion.jsonl"
	# In a pid namespace of its own: afterwards only this pipeline's
	# processes, and anything it left behind, are there to be seen.
	local p
	p="$(declare -f frame pipeline); IMAGES='$IMAGES' PTABLE='$PTABLE'
	    BATS_FILE_TMPDIR='$BATS_FILE_TMPDIR'
	    PYTHONPATH=/tmp/evil PYTHONSTARTUP=/tmp/evil.py LD_LIBRARY_PATH=/tmp/evil \\
		pipeline -p 4 <'$BATS_FILE_TMPDIR/frames.jsonl' >'$BATS_FILE_TMPDIR/out.jsonl'
	    airlock-wake -q -t '$PTABLE' -I '$IMAGES' -r '$BATS_FILE_TMPDIR/run' \
		<'$BATS_FILE_TMPDIR/hogs.jsonl' |
		airlock-snaft -q -j 1 -t '$PTABLE' -r '$BATS_FILE_TMPDIR/run' |
		airlock-triage -q >>'$BATS_FILE_TMPDIR/out.jsonl'
	    pipeline -p 16 <'$BATS_FILE_TMPDIR/collusion.jsonl' \
		>>'$BATS_FILE_TMPDIR/out.jsonl'
	    for i in \$(seq 40); do
		pgrep -x python-runner >/dev/null || break
		sleep 0.05
	    done
	    ps -eo pid=,comm= | grep -v -e ' ps\$' -e ' bash\$' -e ' grep\$' || true"
	timeout -k 5 80 unshare --pid --fork --mount-proc bash -c "$p" \
	    >"$BATS_FILE_TMPDIR/leftover" 2>"$BATS_FILE_TMPDIR/stderr" 3>&- &
	local ns=$!
	# Note each wake's runtime directory, to look for its cgroups later.
	while kill -0 "$ns" 2>/dev/null; do
		ls "$BATS_FILE_TMPDIR/run" >>"$BATS_FILE_TMPDIR/wakes" 2>/dev/null || true
		sleep 0.1
	done
	wait "$ns" || true
	cat "$BATS_FILE_TMPDIR/hogs.jsonl" "$BATS_FILE_TMPDIR/collusion.jsonl" \
	    >>"$BATS_FILE_TMPDIR/frames.jsonl"
	# One file per channel, so that each test reads only its own.
	mkdir "$BATS_FILE_TMPDIR/rec"
	paste -d '\t' <(jq -r '.frame.channel_id // "none"' "$BATS_FILE_TMPDIR/out.jsonl") \
	    "$BATS_FILE_TMPDIR/out.jsonl" | while IFS=$'\t' read -r ch line; do
		printf '%s\n' "$line" >"$BATS_FILE_TMPDIR/rec/$ch"
	done
	# Runs one after another: what one does must not be seen by the next.
	{
		frame 1 code:execute "import builtins, json, os, random
open('/tmp/mark', 'w').write('x')
builtins.LEAK = 1
json.dumps = lambda *a, **k: 'poisoned'
os.environ['LD_PRELOAD'] = '/tmp/evil.so'
random.seed(42)
print('poisoned')"
		frame 2 code:execute "import builtins, json, os, random
print(os.path.exists('/tmp/mark'), hasattr(builtins, 'LEAK'), json.dumps(1),
      sorted(os.environ), random.random() == random.Random(42).random())"
	} | pipeline -p 0 >"$BATS_FILE_TMPDIR/seq.jsonl"
}

# verdict CHANNEL STATUS [FAMILY]: the record's verdict status, and for 403
# the family of its first violation.
verdict() {
	[ -s "$BATS_FILE_TMPDIR/rec/$1" ] ||
	    { echo "no record for channel $1" >&2; return 1; }
	local got
	got=$(jq -r '"\(.verdict.status) \(.exec.violations[0].family)"' \
	    "$BATS_FILE_TMPDIR/rec/$1")
	[ "${got%% *}" = "$2" ] ||
	    jq -c '[.verdict.reason, .exec.error]' "$BATS_FILE_TMPDIR/rec/$1" >&2
	assert_equal "${got%% *}" "$2"
	if [ -n "${3:-}" ]; then
		assert_equal "${got#* }" "$3"
	fi
}

# field CHANNEL JQ: one value of the record.
field() {
	jq -r "$2" "$BATS_FILE_TMPDIR/rec/$1"
}

stdout_of() {
	field "$1" '.exec.stdout.b64 | @base64d'
}

# killed CHANNEL STATUS REASON: a limit kill with its reason.
killed() {
	verdict "$1" "$2"
	assert_equal "$(field "$1" .exec.kill_reason)" "$3"
	assert_equal "$(field "$1" .verdict.token_type)" LIMIT_KILL
}

@test "hostile: every frame has exactly one record" {
	assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/out.jsonl")" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
	assert_equal "$(jq -r .id "$BATS_FILE_TMPDIR/out.jsonl" | sort -u | wc -l)" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
	# No record is a sandbox failure: each hostile payload earned its
	# verdict rather than breaking a stage.
	run_tool 0 jq -c 'select(.verdict.status == 500) | .frame.channel_id' \
	    "$BATS_FILE_TMPDIR/out.jsonl"
	assert_output ""
}

@test "hostile: no stage complained, crashed or left a sanitizer report" {
	assert_equal "$(cat "$BATS_FILE_TMPDIR/stderr")" ""
}

# ABI escapes.

@test "x32 system calls are foreign-ABI violations, whatever the call" {
	local c
	for c in 100 101 102 103 104; do
		verdict "$c" 403 foreign_abi
		assert_equal "$(field "$c" '.exec.violations[0].arch')" x32
	done
	assert_equal "$(field 100 '.exec.violations[0].syscall')" x32:39
	assert_equal "$(field 102 '.exec.violations[0].syscall')" x32:41
	assert_equal "$(field 104 '.exec.violations[0].syscall')" x32:512
}

# i386_verdict CHANNEL: an int 0x80 call never returns to the payload.  Where
# the kernel has the i386 entry point, seccomp sees the call and it is a
# foreign-ABI violation; where it has none (IA32 emulation off), the kernel
# faults the instruction itself and the payload dies of SIGSEGV.
i386_verdict() {
	if have_ia32; then
		verdict "$1" 403 foreign_abi
		assert_equal "$(field "$1" '.exec.violations[0].arch')" i386
	else
		assert_equal "$(field "$1" '.exec.outcome')" signaled
		assert_equal "$(field "$1" '.exec.signal')" 11
		assert_equal "$(field "$1" '.exec.violations | length')" 0
	fi
}

@test "an i386 system call through int 0x80 in libc's code is a foreign-ABI violation" {
	i386_verdict 105
	# It really reached the instruction, and never came back.
	assert_equal "$(stdout_of 105)" found
}

@test "an unknown system call number is unlisted" {
	verdict 106 403 unlisted
	assert_equal "$(field 106 '.exec.violations[0].syscall')" 1000
}

@test "system call -1 and 0xffffffff are violations" {
	verdict 107 403
	verdict 108 403
}

@test "system call -1 is named as what it is, not as an x32 call" {
	verdict 107 403 unlisted
	assert_equal "$(field 107 '.exec.violations[0].syscall')" -1
	verdict 108 403 unlisted
}

@test "high bits above a system call number are what the kernel ignores: getpid runs" {
	# The kernel takes the number as 32 bits; so does the filter, so the
	# call that runs is the call that was checked.
	verdict 109 200
	assert_equal "$(stdout_of 109)" True
	[ "$(field 109 .exec.observed_syscalls.getpid)" -ge 1 ]
}

# Argument tricks.

@test "ioctl with high bits in the request: TIOCSTI on /dev/null gets ENOTTY" {
	verdict 110 200
	assert_equal "$(stdout_of 110)" "1 3
-1 ENOTTY"
}

@test "ioctl that needs a host capability is refused (EPERM)" {
	verdict 111 200
	assert_equal "$(stdout_of 111)" "-1 EPERM"
}

@test "madvise asking for a host capability (MADV_HWPOISON, MADV_SOFT_OFFLINE) is refused" {
	verdict 123 200
	# EPERM, or EINVAL where the kernel has no memory-failure support.
	[[ "$(stdout_of 123)" =~ ^-1\ (EPERM|EINVAL)\ -1\ (EPERM|EINVAL)$ ]]
}

@test "a storm of allowed system calls, each one sent to the monitor, still ends at a limit" {
	verdict 124 408
	[[ "$(field 124 .exec.kill_reason)" =~ ^(cpu_time|wall_time)$ ]]
	[ "$(field 124 .exec.observed_syscalls.getpid)" -gt 1000 ]
}

@test "clone3 is killed as clone" {
	verdict 112 403 clone
	assert_equal "$(field 112 '.exec.violations[0].syscall')" clone3
}

@test "openat2 (allowed here) reaches the image's files and no host file" {
	verdict 113 200
	assert_equal "$(stdout_of 113)" "True None
False ENOENT
False ENOENT
False ENOENT"
}

@test "mmap, mprotect (high bits set) and pkey_mprotect asking for PROT_EXEC are dlopen" {
	verdict 114 403 dlopen
	assert_equal "$(field 114 '.exec.violations[0].syscall')" mmap
	verdict 115 403 dlopen
	assert_equal "$(field 115 '.exec.violations[0].syscall')" mprotect
	verdict 116 403 dlopen
	assert_equal "$(field 116 '.exec.violations[0].syscall')" pkey_mprotect
}

@test "prlimit64 setting pid 1's limit is killed as ptrace" {
	verdict 117 403 ptrace
	assert_equal "$(field 117 '.exec.violations[0].syscall')" prlimit64
}

@test "raising its own CPU limit fails, and the limit still kills (408)" {
	killed 118 408 cpu_time
	assert_equal "$(stdout_of 118)" "-1 EPERM"
}

@test "kill(-1), kill(0), tgkill on another tid and kill of its parent are violations" {
	verdict 119 403 unlisted
	assert_equal "$(field 119 '.exec.violations[0].syscall')" kill
	verdict 120 403 unlisted
	assert_equal "$(field 120 '.exec.violations[0].syscall')" kill
	verdict 121 403 unlisted
	assert_equal "$(field 121 '.exec.violations[0].syscall')" tgkill
	verdict 122 403 unlisted
}

# Kernel surfaces: each family with the call that reaches it.

@test "io_uring_setup is killed as io_uring" { verdict 130 403 io_uring; }
@test "bpf is killed as bpf" { verdict 131 403 bpf; }
@test "userfaultfd is killed as userfaultfd" { verdict 132 403 userfaultfd; }
@test "keyctl and add_key are killed as keyctl" {
	verdict 133 403 keyctl
	verdict 134 403 keyctl
	assert_equal "$(field 134 '.exec.violations[0].syscall')" add_key
}
@test "perf_event_open is killed as perf_event_open" { verdict 135 403 perf_event_open; }
@test "unshare and setns are killed as namespace" {
	verdict 136 403 namespace
	verdict 137 403 namespace
	assert_equal "$(field 137 '.exec.violations[0].syscall')" setns
}
@test "ptrace(PTRACE_ATTACH, 1) is killed as ptrace" { verdict 138 403 ptrace; }
@test "AF_PACKET, AF_VSOCK, AF_NETLINK, AF_UNIX sockets and socketpair are killed as socket" {
	verdict 139 403 socket
	assert_equal "$(field 139 '.exec.violations[0].arg')" "domain=17 type=0x80003"
	verdict 140 403 socket
	verdict 141 403 socket
	verdict 142 403 socket
	verdict 143 403 socket
	assert_equal "$(field 143 '.exec.violations[0].syscall')" socketpair
}
@test "init_module and finit_module are killed as module" {
	verdict 144 403 module
	verdict 145 403 module
}
@test "kexec_load and kexec_file_load are killed as kexec_load" {
	verdict 146 403 kexec_load
	verdict 147 403 kexec_load
	assert_equal "$(field 147 '.exec.violations[0].syscall')" kexec_file_load
}
@test "mount, pivot_root and chroot are killed as mount" {
	verdict 148 403 mount
	verdict 149 403 mount
	assert_equal "$(field 149 '.exec.violations[0].syscall')" pivot_root
	verdict 150 403 mount
	assert_equal "$(field 150 '.exec.violations[0].syscall')" chroot
}
@test "reboot is killed as reboot" { verdict 151 403 reboot; }
@test "swapon and settimeofday are killed as admin" {
	verdict 152 403 admin
	verdict 153 403 admin
	assert_equal "$(field 153 '.exec.violations[0].syscall')" settimeofday
}
@test "process_vm_readv is killed as ptrace" { verdict 154 403 ptrace; }
@test "execve, setuid, seccomp and personality are outside the policy" {
	local c
	for c in 155 156 157 158; do
		verdict "$c" 403 unlisted
	done
	assert_equal "$(field 155 '.exec.violations[0].syscall')" execve
	assert_equal "$(field 157 '.exec.violations[0].syscall')" seccomp
}

# Resource bombs.

@test "a fork loop is killed at its first fork" {
	verdict 160 403 fork
	assert_equal "$(field 160 '.exec.violations | length')" 1
}
@test "a hundred threads are killed at the first clone" { verdict 161 403 clone; }
@test "memory over the limit: one big bytearray, many small lists, a huge string (413)" {
	killed 162 413 memory
	killed 163 413 memory
	killed 164 413 memory
}
@test "filling /tmp ends in ENOSPC at its size, and the run is its own (200)" {
	verdict 165 200
	assert_equal "$(stdout_of 165)" "ENOSPC 4"
}
@test "inode exhaustion in /tmp ends in ENOSPC (200)" {
	verdict 166 200
	assert_equal "$(stdout_of 166)" "ENOSPC True"
}
@test "descriptor exhaustion ends in EMFILE (200)" {
	verdict 167 200
	assert_equal "$(stdout_of 167)" "EMFILE True"
}
@test "deep recursion ends in RecursionError (200)" {
	verdict 168 200
	assert_equal "$(field 168 .exec.exit_code)" 1
	field 168 '.exec.stderr.b64 | @base64d' | grep -q '^RecursionError: maximum recursion depth'
}

# Time and output.

@test "an infinite loop is killed at the CPU limit (408)" { killed 170 408 cpu_time; }
@test "a sleeper is killed at the wall-clock limit (408)" { killed 171 408 wall_time; }
@test "infinite stdout is killed at the output limit (413)" {
	killed 172 413 output
	assert_equal "$(field 172 .exec.stdout.captured_bytes)" 65536
}
@test "infinite stderr is killed at the output limit (413)" {
	killed 173 413 output
	assert_equal "$(field 173 .exec.stderr.truncated)" true
	assert_equal "$(field 173 .exec.stderr.captured_bytes)" 65536
}
@test "ignoring SIGTERM, SIGXCPU and friends does not outlive the limits" {
	killed 174 408 cpu_time
	killed 175 408 wall_time
	# SIGXCPU ignored: SIGKILL at the hard CPU limit, one second later,
	# or the wall-clock limit on a busy machine; killed either way.
	verdict 179 408
	assert_equal "$(field 179 .exec.signal)" 9
	[[ "$(field 179 .exec.kill_reason)" =~ ^(cpu_time|wall_time)$ ]]
}
@test "a payload that stops itself is killed at the wall-clock limit" { killed 176 408 wall_time; }
@test "closing stdout and stderr hides nothing: the loop is still killed" { killed 177 408 cpu_time; }
@test "output over the limit then a clean exit is still 413" {
	killed 178 413 output
	[ "$(field 178 .exec.stdout.bytes)" -gt 65536 ]
}

# Host reach.

@test "no host file, /proc, /sys or device node can be read" {
	verdict 180 200
	assert_equal "$(stdout_of 180)" "$(printf 'ENOENT\n%.0s' 1 2 3 4 5 6 7 8 9)"
}

@test "/proc/sysrq-trigger and core_pattern cannot be written" {
	verdict 181 200
	local o
	o=$(stdout_of 181)
	assert_equal "$(wc -l <<<"$o")" 2
	[[ "$o" != *wrote* ]]
}

@test "/etc is the image's, not the host's, and the host's files are not there" {
	verdict 182 200
	local img=$IMAGES/airlock-python/rootfs
	mapfile -t got < <(stdout_of 182)
	assert_equal "${got[0]}" "$(cd "$img/etc" && python3 -c 'import os; print(sorted(os.listdir(".")))')"
	assert_equal "${got[1]}" "$(sha256sum <"$img/etc/passwd" | cut -d' ' -f1)"
	[ "${got[1]}" != "$(sha256sum </etc/passwd | cut -d' ' -f1)" ]
	[ -f /etc/shadow ]
	assert_equal "${got[2]}" "False False"
}

@test "a symlink to a host file cannot be made" {
	verdict 183 403 unlisted
	assert_equal "$(field 183 '.exec.violations[0].syscall')" symlink
}

@test "'..' never climbs above the image's root" {
	verdict 184 200
	local root="['bin', 'dev', 'etc', 'input', 'lib', 'lib64', 'output', 'proc', 'tmp', 'usr']"
	assert_equal "$(stdout_of 184)" "$root
$root"
}

@test "os.chdir('..') is outside the policy" {
	verdict 185 403 unlisted
	assert_equal "$(field 185 '.exec.violations[0].syscall')" chdir
}

@test "the environment is exactly HOME, LANG and PATH, whatever the host's" {
	# The pipeline ran with PYTHONPATH, PYTHONSTARTUP and LD_LIBRARY_PATH
	# set: none of them reaches the payload.
	verdict 186 200
	assert_equal "$(stdout_of 186)" "[('HOME', '/tmp'), ('LANG', 'C.UTF-8'), ('PATH', '/usr/bin:/bin')]
[]"
}

@test "the image cannot be written" {
	verdict 187 200
	assert_equal "$(stdout_of 187)" "['EACCES', 'EACCES', 'EROFS', 'EROFS', 'EROFS']"
}

@test "no descriptor but 0, 1 and 2 is inherited" {
	verdict 188 200
	assert_equal "$(stdout_of 188)" "[0, 1, 2]"
}

# Snapshot hygiene.

@test "concurrent runs never share /tmp" {
	verdict 190 200
	verdict 191 200
	assert_equal "$(stdout_of 190)" "['left-by-190']"
	assert_equal "$(stdout_of 191)" "[]"
}

@test "runs never share randomness, in either mode" {
	local c v
	for c in 192 193 194 195; do
		verdict "$c" 200
		for v in $(stdout_of "$c"); do
			echo "$v"
		done
	done >"$BATS_TEST_TMPDIR/values"
	assert_equal "$(wc -l <"$BATS_TEST_TMPDIR/values")" 20
	assert_equal "$(sort -u "$BATS_TEST_TMPDIR/values" | wc -l)" 20
}

@test "what a run changes in the interpreter, /tmp or its environment is gone in the next" {
	assert_equal "$(jq -r 'select(.frame.channel_id == 1) | .verdict.status' \
	    "$BATS_FILE_TMPDIR/seq.jsonl")" 200
	assert_equal "$(record 2 "$BATS_FILE_TMPDIR/seq.jsonl" |
	    jq -r '.exec.stdout.b64 | @base64d')" "False False 1 ['HOME', 'LANG', 'PATH'] False"
}

# Fast mode.

@test "fast mode: socket, fork, dlopen, unlisted and x32 are killed all the same" {
	verdict 200 403 socket
	verdict 201 403 fork
	verdict 202 403 dlopen
	verdict 203 403 unlisted
	verdict 204 403 foreign_abi
	assert_equal "$(field 204 '.exec.violations[0].arch')" x32
	local c
	for c in 200 201 202 203 204; do
		assert_equal "$(field "$c" .exec.mode)" fast
	done
}

@test "fast mode: i386, kill(-1), prlimit64 on pid 1, clone3, bpf, threads, chdir" {
	i386_verdict 205
	verdict 206 403 unlisted
	verdict 207 403 ptrace
	verdict 208 403 clone
	verdict 209 403 bpf
	verdict 214 403 clone
	verdict 212 403 unlisted
}

@test "fast mode: mprotect to PROT_EXEC with high bits set is dlopen" {
	verdict 211 403 dlopen
	assert_equal "$(field 211 '.exec.violations[0].syscall')" mprotect
}

@test "fast mode: high bits above the number run getpid; the CPU limit holds" {
	verdict 210 200
	assert_equal "$(stdout_of 210)" True
	killed 213 408 cpu_time
}

# Reaching other sandboxes.  All sandboxes of a snapshot share the
# zygote's pid namespace and user (SECURITY.md), and kill, tkill and tgkill
# are stopped unless aimed at the payload itself; fcntl and ioctl are in the
# base set, but not their commands that make a descriptor signal its owner
# (family sigio).

@test "a payload cannot signal another sandbox through fcntl F_SETOWN and O_ASYNC" {
	# The attacker makes its stdout pipe signal each pid in turn: each
	# time airlock-snaft reads what it wrote, the kernel sends SIGIO (by
	# default fatal) to the pipe's owner.
	{
		frame 1 code:execute "import time; time.sleep(2); print('survived')"
		frame 2 code:execute "${L}import os, time
time.sleep(0.2)
me, parent = os.getpid(), os.getppid()
S(72, 1, 4, S(72, 1, 3, 0) | os.O_ASYNC)
for t in range(2, 40):
    if t not in (me, parent):
        S(72, 1, 8, t)
        os.write(1, b'.')
        time.sleep(0.03)"
	} | pipeline >"$BATS_TEST_TMPDIR/out.jsonl"
	assert_equal "$(record 1 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r .verdict.status)" 200
	assert_equal "$(record 1 "$BATS_TEST_TMPDIR/out.jsonl" |
	    jq -r '.exec.stdout.b64 | @base64d')" survived
	assert_equal "$(record 2 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r .verdict.status)" 403
	assert_equal "$(record 2 "$BATS_TEST_TMPDIR/out.jsonl" | jq -r '.exec.violations[0].family')" sigio
}

# Collusion: runs on different connections that try to reach each other.

@test "collusion: a run cannot forge another run's verdict through memory it inherited" {
	# The red team's attack: on a zygote that shared its hand-over pages
	# with every later fork, the victim came out 413 with its exit code
	# lost.  Its verdict must be its own.
	verdict 300 200
	assert_equal "$(field 300 .exec.exit_code)" 3
	assert_equal "$(field 300 .exec.kill_reason)" null
	verdict 301 200
}

@test "collusion: no bytes pass from one run to a later one through inherited memory" {
	verdict 302 200
	local o
	o=$(stdout_of 302)
	assert_equal "${o##*$'\n'}" "not seen"
}

@test "collusion: one run's /tmp is not another's, and the image cannot carry a file" {
	assert_equal "$(stdout_of 303)" EROFS
	assert_equal "$(stdout_of 304)" False
}

@test "collusion: file locks outside a run's own /tmp are refused, so no run sees another's" {
	# ENOLCK for the lock and for the question: a lock on the image is
	# on an inode every sandbox (and the host) shares.
	assert_equal "$(stdout_of 305)" "refused 37"
	assert_equal "$(stdout_of 306)" "['refused 37']"
	verdict 305 200
	verdict 306 200
}

@test "collusion: reading another process's limits is killed as ptrace" {
	verdict 307 200
	verdict 308 403 ptrace
	assert_equal "$(field 308 '.exec.violations[0].syscall')" prlimit64
}

@test "collusion: the machine looks the same whatever other runs allocate" {
	# One view of memory for the whole run (the run's own limit), the
	# fixed kernel release and one CPU, as a kvm sandbox sees them.
	verdict 309 200
	assert_equal "$(stdout_of 310)" "1 268435456 6.1.0-airlock 1"
}

@test "collusion: signals, SysV shared memory, message queues and abstract sockets are violations" {
	verdict 311 403
	assert_equal "$(field 311 '.exec.violations[0].syscall')" kill
	verdict 312 403 unlisted
	assert_equal "$(field 312 '.exec.violations[0].syscall')" shmget
	verdict 313 403 unlisted
	assert_equal "$(field 313 '.exec.violations[0].syscall')" mq_open
	verdict 314 403 socket
}

@test "a frame's own memory limit too small to start in is refused or a limit kill, never a sandbox failure" {
	{
		frame 1 code:execute "print(1)" '{"memory_bytes": 1}'
		frame 2 code:execute "print(1)" '{"memory_bytes": 1048576}'
	} | pipeline >"$BATS_TEST_TMPDIR/out.jsonl"
	local c st
	for c in 1 2; do
		st=$(record "$c" "$BATS_TEST_TMPDIR/out.jsonl" | jq -r .verdict.status)
		[[ "$st" =~ ^(400|413)$ ]]
	done
}

# Frames that never run.

@test "a payload with an escaped NUL or invalid UTF-8 is rejected (400)" {
	run_tool 0 jq -c 'select(.reject.error == "nul_byte" or .reject.error == "invalid_utf8") | .verdict.status' \
	    "$BATS_FILE_TMPDIR/out.jsonl"
	assert_output "400
400"
}

# What is left behind.

@test "after the batch no sandbox process, socket file or mount is left" {
	assert_equal "$(cat "$BATS_FILE_TMPDIR/leftover")" ""
	run_tool 0 find "$BATS_FILE_TMPDIR/run" -mindepth 1
	assert_output ""
	run_tool 1 grep -F "$BATS_FILE_TMPDIR" /proc/self/mountinfo
	# No cgroup of the wakes that ran the batch.
	local w d
	[ "$(sort -u "$BATS_FILE_TMPDIR/wakes" | wc -l)" -ge 2 ]
	for w in $(sort -u "$BATS_FILE_TMPDIR/wakes"); do
		for d in /sys/fs/cgroup/memory/airlock /sys/fs/cgroup/pids/airlock \
		    /sys/fs/cgroup/airlock /sys/fs/cgroup/unified/airlock; do
			if [ -e "$d/$w" ]; then
				echo "left behind: $d/$w" >&2
				return 1
			fi
		done
	done
}
