#!/usr/bin/env bats
# airlock-vmm, the kvm backend's VMM: tiny assembly guests for each exit
# and exception, hostile pointers and system calls, then unmodified
# busybox and Debian's python3.11 compared with native runs.

load helpers
load vmm

setup_file() {
	guest_root
}

setup() {
	have_kvm || skip "/dev/kvm cannot be opened"
	[ -x "$BIN/airlock-vmm" ] || skip "bin/airlock-vmm is not built"
	[ -x "$GROOT/hello" ] ||
	    skip "test guests not built (make build/tests/vmm/hello ...)"
}

# vmm STATUS guest args...: run a tiny guest with -j, the JSON on fd 3
# captured in $json.
vmm() {
	local want=$1
	shift
	run_tool "$want" sh -c '"$@" 3>"$JSONF" </dev/null' sh \
	    airlock-vmm -j -t 5000 -r "$GROOT" -- "$@"
	json=$(cat "$JSONF")
}

setup_json() {
	JSONF="$BATS_TEST_TMPDIR/json"
	export JSONF
}

@test "vmm: --version and -V" {
	run_tool 0 airlock-vmm --version
	[ "$output" = "airlock-vmm 0.1.0" ]
	run_tool 0 airlock-vmm -V
	[ "$output" = "airlock-vmm 0.1.0" ]
}

@test "vmm: usage errors exit 100" {
	run_tool 100 airlock-vmm
	run_tool 100 airlock-vmm -r /
	run_tool 100 airlock-vmm -m 7 -r / -- /bin/true
	run_tool 100 airlock-vmm -Q
}

@test "vmm: a program that is not in the image cannot start" {
	run_tool 112 airlock-vmm -r "$GROOT" -- /no-such-program </dev/null
	[[ "$stderr" == *"No such file"* ]]
	run_tool 112 airlock-vmm -r "$GROOT" -- /../../../bin/true </dev/null
	run_tool 112 airlock-vmm -r "$BATS_TEST_TMPDIR/no-such-root" -- /hello \
	    </dev/null
	# Not an ELF executable, and a directory.
	printf '#!/bin/sh\n' >"$BATS_TEST_TMPDIR/script"
	run_tool 112 airlock-vmm -r "$BATS_TEST_TMPDIR" -- /script </dev/null
	run_tool 112 airlock-vmm -r "$GROOT" -- / </dev/null
}

@test "vmm: write to stdout and exit status" {
	setup_json
	vmm 7 /hello
	[ "$output" = "hello from the guest" ]
	[ "$(jq -r .outcome <<<"$json")" = exited ]
	[ "$(jq -r .exit_code <<<"$json")" = 7 ]
	[ "$(jq -r .observed_syscalls.write <<<"$json")" = 1 ]
	[ "$(jq -r .stdout.bytes <<<"$json")" = 21 ]
	[ "$(jq -r .stdout.sha256 <<<"$json")" = \
	    "$(printf 'hello from the guest\n' | sha256sum | cut -d' ' -f1)" ]
}

@test "vmm: ud2 ends the run like SIGILL" {
	setup_json
	vmm 132 /ud2
	[ "$(jq -r .outcome <<<"$json")" = signaled ]
	[ "$(jq -r .signal <<<"$json")" = 4 ]
	[[ "$(jq -r .reason <<<"$json")" == "#UD"* ]]
}

@test "vmm: division by zero ends the run like SIGFPE" {
	setup_json
	vmm 136 /div0
	[ "$(jq -r .signal <<<"$json")" = 8 ]
	[[ "$(jq -r .reason <<<"$json")" == "#DE"* ]]
}

@test "vmm: a store to address 0 ends the run like SIGSEGV" {
	setup_json
	vmm 139 /null
	[ "$(jq -r .signal <<<"$json")" = 11 ]
	[[ "$(jq -r .reason <<<"$json")" == "#PF"*"address 0x0" ]]
}

@test "vmm: hlt and cli at CPL3 end the run like SIGSEGV" {
	setup_json
	vmm 139 /hlt
	[[ "$(jq -r .reason <<<"$json")" == "#GP"* ]]
	vmm 139 /cli
	[[ "$(jq -r .reason <<<"$json")" == "#GP"* ]]
}

@test "vmm: out to a port the I/O bitmap does not open is #GP" {
	setup_json
	vmm 139 /port
	[[ "$(jq -r .reason <<<"$json")" == "#GP"* ]]
}

@test "vmm: an access where a device would be is a fault, not MMIO" {
	setup_json
	vmm 139 /mmio
	[[ "$(jq -r .reason <<<"$json")" == "#PF"*"0xfee00000" ]]
}

@test "vmm: the guest cannot write its page tables or its syscall stub" {
	setup_json
	vmm 139 /tables
	[ -z "$output" ]
	[[ "$(jq -r .reason <<<"$json")" == "#PF"*"address 0x1000" ]]
	vmm 139 /stub
	[[ "$(jq -r .reason <<<"$json")" == "#PF"*"address 0x10000" ]]
}

@test "vmm: hostile pointers to write(2) and read(2) are EFAULT" {
	setup_json
	vmm 0 /efault
	[ "$(jq -r .outcome <<<"$json")" = exited ]
}

@test "vmm: every system call number with hostile arguments" {
	setup_json
	vmm 0 /fuzz
	[ "$(jq -r .outcome <<<"$json")" = exited ]
	[ "$(jq -r .exits <<<"$json")" -gt 1500 ]
}

@test "vmm: int 0x80 is a violation" {
	setup_json
	vmm 137 /int80
	[ "$(jq -r .kill_reason <<<"$json")" = violation ]
	[ "$(jq -c '.violations[0] | [.family, .syscall, .nr, .arch]' \
	    <<<"$json")" = '["foreign_abi","i386:20",20,"i386"]' ]
}

@test "vmm: an x32 system call is a violation" {
	setup_json
	vmm 137 /x32
	[ "$(jq -c '.violations[0] | [.family, .arch]' <<<"$json")" = \
	    '["foreign_abi","x32"]' ]
}

@test "vmm: an always-dangerous call kills the VM and is recorded" {
	setup_json
	vmm 137 /forbidden
	[ "$(jq -r .kill_reason <<<"$json")" = violation ]
	[ "$(jq -c '.violations[0] | [.family, .syscall, .nr, .args[0]]' \
	    <<<"$json")" = '["socket","socket",41,2]' ]
}

@test "vmm: a call outside the allow list kills the VM" {
	setup_json
	printf 'exit_group\n' >"$BATS_TEST_TMPDIR/allow"
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -a "$BATS_TEST_TMPDIR/allow" -r "$GROOT" -- /hello
	json=$(cat "$JSONF")
	[ -z "$output" ]
	[ "$(jq -r '.violations[0].syscall' <<<"$json")" = write ]
	printf 'write exit_group # comment\n' >"$BATS_TEST_TMPDIR/allow"
	run_tool 7 airlock-vmm -a "$BATS_TEST_TMPDIR/allow" -r "$GROOT" \
	    -- /hello </dev/null
	printf 'socket\n' >"$BATS_TEST_TMPDIR/allow"
	run_tool 100 airlock-vmm -a "$BATS_TEST_TMPDIR/allow" -r "$GROOT" \
	    -- /hello </dev/null
	[[ "$stderr" == *"always dangerous"* ]]
	[ "$(jq -c '.violations[0] | [.family, .syscall]' <<<"$json")" = \
	    '["unlisted","write"]' ]
}

# The -a file goes through the intent table's own allow-list parser
# (lib/intents.c): a list the table refuses, airlock-vmm refuses in the
# table's words, naming its own file and the line of the name at fault.
@test "vmm: an allow list the intent table refuses is refused in the table's words" {
	local list tab=$BATS_TEST_TMPDIR/intents a=$BATS_TEST_TMPDIR/allow want
	for list in socket dlopen clone3 no_such_call 'write write' \
	    'exit_group getpid fork'; do
		printf 'intent x\n\timage a\n\tsnapshot b\n\tallow %s\n' \
		    "$list" >"$tab"
		run_tool 1 "$TOP/build/tests/intentcheck" "$tab"
		want=${stderr#"intentcheck: $tab:4: "}
		[ "$want" != "$stderr" ]
		printf '# a comment\n\nopen # another\n%s\n' "$list" >"$a"
		run_tool 100 airlock-vmm -a "$a" -r "$GROOT" -- /hello \
		    </dev/null
		assert_equal "$stderr" "airlock-vmm: $a:4: $want"
	done
	# Names that run into a comment, over several lines, are a list.
	printf 'write#one\n\texit_group#two\n' >"$a"
	run_tool 7 airlock-vmm -a "$a" -r "$GROOT" -- /hello </dev/null
	printf '%0200d\n' 0 >"$a"
	run_tool 100 airlock-vmm -a "$a" -r "$GROOT" -- /hello </dev/null
	[[ "$stderr" == *"$a:1: name too long"* ]]
}

@test "vmm: the wall-time limit interrupts a spinning guest" {
	setup_json
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -t 300 -r "$GROOT" -- /spin
	json=$(cat "$JSONF")
	[ "$(jq -r .kill_reason <<<"$json")" = wall_time ]
}

@test "vmm: output over the cap kills the run" {
	setup_json
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -o 5 -r "$GROOT" -- /hello
	json=$(cat "$JSONF")
	[ "$output" = "hello" ]
	[ "$(jq -r .kill_reason <<<"$json")" = output ]
	[ "$(jq -r .stdout.truncated <<<"$json")" = true ]
}

@test "vmm: busybox echo matches native" {
	[ -x /bin/busybox ] || skip "busybox-static is not installed"
	want=$(/bin/busybox echo hello)
	run_tool 0 airlock-vmm -r / -- /bin/busybox echo hello </dev/null
	[ "$output" = "$want" ]
}

@test "vmm: busybox sh -c 'echo hi; exit 3' matches native" {
	[ -x /bin/busybox ] || skip "busybox-static is not installed"
	run_tool 3 /bin/busybox sh -c 'echo hi; exit 3'
	want=$output
	run_tool 3 airlock-vmm -r / -- /bin/busybox sh -c 'echo hi; exit 3' \
	    </dev/null
	[ "$output" = "$want" ]
}

@test "vmm: busybox cat reads the payload from stdin" {
	[ -x /bin/busybox ] || skip "busybox-static is not installed"
	run_tool 0 sh -c 'printf "payload\n" | airlock-vmm -r / -- \
	    /bin/busybox cat'
	[ "$output" = payload ]
}

@test "vmm: python3.11 hello world matches native" {
	needs_python
	want=$(/usr/bin/python3.11 -S -I -c "print('hello world')")
	run_tool 0 airlock-vmm -r "$PYROOT" -- /usr/bin/python3.11 -S -I \
	    -c "print('hello world')" </dev/null
	[ "$output" = "$want" ]
	[ "$output" = "hello world" ]
}

@test "vmm: python3.11 exit status and stderr match native" {
	needs_python
	run_tool 1 airlock-vmm -r "$PYROOT" -- /usr/bin/python3.11 -S -I \
	    -c "raise SystemExit('bye')" </dev/null
	[ "$stderr" = "bye" ]
	run_tool 5 airlock-vmm -r "$PYROOT" -- /usr/bin/python3.11 -S -I \
	    -c "import os; os._exit(5)" </dev/null
}

@test "vmm: python3.11 runs a payload from stdin with a private /tmp" {
	needs_python
	run_tool 0 sh -c 'printf "%s\n" \
	    "open(\"/tmp/x\", \"w\").write(\"in tmp\")" \
	    "print(open(\"/tmp/x\").read())" \
	    "import os; print(sorted(os.listdir(\"/tmp\")))" |
	    airlock-vmm -r "$1" -- /usr/bin/python3.11 -S -I -' sh "$PYROOT"
	[ "${lines[0]}" = "in tmp" ]
	[ "${lines[1]}" = "['x']" ]
	[ ! -e "$PYROOT/tmp/x" ]
}

@test "vmm: no path leaves the image root" {
	needs_python
	secret="$BATS_TEST_TMPDIR/secret"
	echo "host secret" >"$secret"
	# Every way a path could climb out of the root: absolute host paths,
	# "..", magic links of /proc, /tmp of the host, the rootfs's own path.
	run_tool 0 sh -c 'cat <<EOF | airlock-vmm -r "$2" -- \
	    /usr/bin/python3.11 -S -I -
import os
s = "$1"
paths = [s, "../../../../../../.." + s, "/proc/self/root" + s,
    "/proc/1/root" + s, "/proc/self/cwd/" + s, "//" + s, "/./" + s,
    "/tmp/../.." + s, "$2/../../../../.." + s, "$2" + s,
    "/proc/self/fd/0", "/dev/../../.." + s]
for p in paths:
    try:
        print("LEAK", p, open(p).read())
    except OSError as e:
        print("denied", type(e).__name__)
try:
    os.chdir("/../../../..")
    print("cwd", os.getcwd(), sorted(os.listdir("."))[:3])
except OSError as e:
    print("chdir", type(e).__name__)
EOF' sh "$secret" "$PYROOT"
	[[ "$output" != *LEAK* ]]
	[[ "$output" != *"host secret"* ]]
	[ "$(grep -c '^denied' <<<"$output")" = 12 ]
	[[ "$output" == *"cwd / "* ]]
}

@test "vmm: python3.11 socket() and fork() are violations" {
	needs_python
	setup_json
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c \
	    "import socket; socket.socket()"
	json=$(cat "$JSONF")
	[ "$(jq -r '.violations[0].family' <<<"$json")" = socket ]
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c "import os; os.fork()"
	json=$(cat "$JSONF")
	[ "$(jq -r '.violations[0].family' <<<"$json")" = fork ]
}

@test "vmm: -x makes executable mappings a violation (dlopen)" {
	needs_python
	setup_json
	[ -x /bin/busybox ] || skip "busybox-static is not installed"
	# A static program maps nothing executable; ld.so does.
	run_tool 0 airlock-vmm -x -r / -- /bin/busybox echo hi </dev/null
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j -x \
	    -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c "print(1)"
	json=$(cat "$JSONF")
	[ "$(jq -r '.violations[0].family' <<<"$json")" = dlopen ]
}

@test "vmm: the VMM runs jailed: seccomp, no capabilities, own namespaces" {
	airlock-vmm -t 10000 -r "$GROOT" -- /spin </dev/null &
	pid=$!
	# NoNewPrivs is set just before the filter is loaded.
	for _ in $(seq 50); do
		grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" && break
		sleep 0.1
	done
	sleep 0.2
	st=$(cat "/proc/$pid/status")
	ns_net=$(readlink "/proc/$pid/ns/net")
	ns_user=$(readlink "/proc/$pid/ns/user")
	ns_mnt=$(readlink "/proc/$pid/ns/mnt")
	kill "$pid"
	wait "$pid" || true
	# A sanitizer build is filtered too (jail.c).
	grep -q '^Seccomp:[[:space:]]*2' <<<"$st"
	grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st"
	grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$st"
	grep -q '^CapPrm:[[:space:]]*0000000000000000' <<<"$st"
	[ "$ns_net" != "$(readlink /proc/self/ns/net)" ]
	[ "$ns_user" != "$(readlink /proc/self/ns/user)" ]
	[ "$ns_mnt" != "$(readlink /proc/self/ns/mnt)" ]
}

@test "vmm: the wall-time limit interrupts a sleeping python3.11" {
	needs_python
	setup_json
	run_tool 137 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -t 500 -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c \
	    "import time; time.sleep(60)"
	json=$(cat "$JSONF")
	[ "$(jq -r .kill_reason <<<"$json")" = wall_time ]
}

@test "vmm: /tmp has directories, rename and removal, and stays private" {
	needs_python
	run_tool 0 sh -c 'airlock-vmm -r "$1" -- /usr/bin/python3.11 -I - \
	    <<EOF
import os, tempfile, shutil
d = tempfile.mkdtemp()
open(os.path.join(d, "a.txt"), "w").write("hello")
os.makedirs(os.path.join(d, "sub", "deeper"))
os.rename(os.path.join(d, "a.txt"), os.path.join(d, "sub", "b.txt"))
print(sorted(os.listdir(os.path.join(d, "sub"))))
print(open(os.path.join(d, "sub", "b.txt")).read())
try:
    os.rmdir(os.path.join(d, "sub"))
except OSError as e:
    print("rmdir", e.errno)
try:
    os.rename(os.path.join(d, "sub", "b.txt"), "/etc/x")
except OSError as e:
    print("rename", e.errno)
shutil.rmtree(d)
print(os.listdir("/tmp"))
EOF' sh "$PYROOT"
	[ "${lines[0]}" = "['b.txt', 'deeper']" ]
	[ "${lines[1]}" = hello ]
	[ "${lines[2]}" = "rmdir 39" ]
	[ "${lines[3]}" = "rename 18" ]
	[ "${lines[4]}" = "[]" ]
}

@test "vmm: /tmp is size-capped" {
	needs_python
	run_tool 0 airlock-vmm -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c "
try:
    open('/tmp/big', 'wb').write(b'x' * (32 << 20))
except OSError as e:
    print('full', e.errno)" </dev/null
	[ "$output" = "full 28" ]
}

@test "vmm: the vDSO tells the host's time without exits, never backwards" {
	needs_python
	setup_json
	before=$(date +%s)
	run_tool 0 sh -c '"$@" 3>"$JSONF" </dev/null' sh airlock-vmm -j \
	    -r "$PYROOT" -- /usr/bin/python3.11 -S -I -c "
import time
t = time.time(); prev = time.monotonic(); back = 0
for i in range(100000):
    m = time.monotonic(); back += m < prev; prev = m
# A sleep lasts at least what was asked; no upper bound, which a loaded
# host or the kvm test bed's emulation can pass.
s = time.monotonic(); time.sleep(0.2); d = time.monotonic() - s
print(int(t), back, d > 0.19)"
	after=$(date +%s)
	json=$(cat "$JSONF")
	read -r t back slept <<<"$output"
	[ "$t" -ge "$before" ] && [ "$t" -le "$after" ]
	[ "$back" = 0 ]
	[ "$slept" = True ]
	[ "$(jq -r '.observed_syscalls.clock_gettime // 0' <<<"$json")" = 0 ]
}
