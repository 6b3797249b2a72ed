#!/usr/bin/env bats
# The intent table (lib/intents.c, airlock-intents(5)): the shipped table,
# matching, every refusal with its exact message, policy digests, the
# families and the base set, each checked against the man page.

load helpers

IC=$TOP/build/tests/intentcheck
ID=$DATA/intents
MAN=$TOP/man/airlock-intents.5

# The items (".It Ic name" or ".It Cm name") of the man page after the
# line matching $1, up to the next .Ss or .Sh or a line matching $2, one
# name per line.
man_items() {
	awk -v start="$1" -v stop="${2:-^\\.S[sh] }" '
		$0 ~ start { on = 1; next }
		on && ($0 ~ stop || /^\.S[sh] /) { exit }
		on && /^\.It (Ic|Cm) / { print $3 }
	' "$MAN"
}

@test "the shipped table loads with the five original intents" {
	run_tool 0 "$IC" "$TOP/etc/intents"
	assert_equal "${#lines[@]}" 6
	assert_equal "$(jq -r .rows <<<"${lines[0]}")" 5
	assert_equal "$(jq -r .digest <<<"${lines[0]}")" \
	    "sha256:$(sha256sum "$TOP/etc/intents" | cut -d' ' -f1)"
	assert_equal "$(printf '%s\n' "${lines[@]:1}" |
	    jq -r '[.pattern, .image, .snapshot, .allow] | join("|")')" \
	    "analyze_malware_sample|airlock-scanner|malware-analysis|open stat close
code:execute|airlock-python|python-safe-boot|open stat close getpid
file:scan|airlock-scanner|scanner-ready|
call:voice:*|airlock-sip|sip-ready|sendto recvfrom ioctl mbind
call:video:*|airlock-webrtc|webrtc-ready|sendto recvfrom ioctl mbind"
}

@test "shipped rows allow the base set plus their extras, families expanded" {
	local row base extra
	run_tool 0 "$IC" "$TOP/etc/intents"
	base=$("$IC" base | sort)
	for row in "${lines[@]:1}"; do
		# Every base call is in every row.
		assert_equal "$(comm -23 <(echo "$base") \
		    <(jq -r '.allowed[]' <<<"$row" | sort))" ""
	done
	row=$(printf '%s\n' "${lines[@]}" | jq -c 'select(.pattern == "code:execute")')
	extra=$(comm -13 <(echo "$base") <(jq -r '.allowed[]' <<<"$row" | sort) |
	    tr '\n' ' ')
	assert_equal "$extra" "close_range getppid lstat open openat2 stat "
	row=$(printf '%s\n' "${lines[@]}" | jq -c 'select(.pattern == "file:scan")')
	extra=$(comm -13 <(echo "$base") <(jq -r '.allowed[]' <<<"$row" | sort) |
	    tr '\n' ' ')
	# The scanner's calls, libclamav's included, are all in the base set.
	assert_equal "$extra" ""
	row=$(printf '%s\n' "${lines[@]}" | jq -c 'select(.pattern == "call:voice:*")')
	extra=$(comm -13 <(echo "$base") <(jq -r '.allowed[]' <<<"$row" | sort) |
	    tr '\n' ' ')
	assert_equal "$extra" "mbind recvfrom sendto "
}

@test "no row of the shipped table allows an always-dangerous call" {
	local allowed fam kind m
	run_tool 0 "$IC" "$TOP/etc/intents"
	allowed=$(printf '%s\n' "${lines[@]:1}" | jq -r '.allowed[]' | sort -u)
	run_tool 0 "$IC" families
	while read -r fam kind m; do
		[ "$kind" = dangerous ] || continue
		for m in $m; do
			# A '*' member is dangerous only for some arguments.
			case $m in *'*') continue ;; esac
			if grep -qx "$m" <<<"$allowed"; then
				echo "$m ($fam) is allowed" >&2
				return 1
			fi
		done
	done <<<"$output"
}

@test "matching: exact beats '*', longest prefix wins, no prefix match" {
	run_tool 0 "$IC" "$ID/match.intents" match \
	    code:execute code:executeXYZ code:run code: call:voice:x \
	    call:voice: call:video:1 call x xy "" CODE:execute
	assert_equal "$output" "code:execute
code:exec*
code:*
code:*
call:voice:*
call:voice:*
call:*
none
x
none
none
none"
}

@test "matching the shipped table: code:executeXYZ is unknown" {
	run_tool 0 "$IC" "$TOP/etc/intents" match code:execute \
	    code:executeXYZ code:execut call:voice:x call:video:webrtc \
	    call:audio:x file:scan file:scanner analyze_malware_sample
	assert_equal "$output" "code:execute
none
none
call:voice:*
call:video:*
none
file:scan
none
analyze_malware_sample"
}

@test "every bad table is refused with its exact message" {
	local f n=0 want
	cd "$ID"
	for f in bad-*.intents; do
		n=$((n + 1))
		want="intentcheck: $(cat "${f%.intents}.err")"
		run_tool 1 "$IC" "$f"
		assert_equal "$stderr" "$want"
		assert_equal "$output" ""
	done
	[ "$n" -ge 60 ]
}

@test "each always-dangerous family has a fixture that tries to allow it" {
	local fam kind rest
	run_tool 0 "$IC" families
	while read -r fam kind rest; do
		[ "$kind" = dangerous ] || continue
		[ -f "$ID/bad-dangerous-$fam.intents" ]
		grep -qx "bad-dangerous-$fam.intents:5: $fam is always dangerous and cannot be allowed" \
		    "$ID/bad-dangerous-$fam.err"
	done <<<"$output"
}

@test "every always-dangerous member is refused by name" {
	local fam kind m tab
	tab=$BATS_TEST_TMPDIR/t.intents
	while read -r fam kind m; do
		[ "$kind" = dangerous ] || continue
		for m in $m; do
			case $m in *'*') continue ;; esac
			printf 'intent x\n\timage a\n\tsnapshot b\n\tallow %s\n' \
			    "$m" >"$tab"
			run_tool 1 "$IC" "$tab"
			# A call that is also a family's name reads as the
			# family (clone is in fork too, without CLONE_THREAD).
			if "$IC" families | cut -d' ' -f1 | grep -qx "$m"; then
				assert_equal "$stderr" "intentcheck: $tab:4: $m is always dangerous and cannot be allowed"
			else
				assert_equal "$stderr" "intentcheck: $tab:4: $m is in the always-dangerous family $fam and cannot be allowed"
			fi
		done
	done < <("$IC" families)
}

@test "members dangerous only for some arguments stay allowable" {
	run_tool 0 "$IC" "$ID/policy.intents"
	assert_equal "$(printf '%s\n' "${lines[@]}" |
	    jq -r 'select(.pattern == "mmap") | .allow')" \
	    "mmap mprotect pkey_mprotect"
}

@test "limits: defaults, units and suffixes" {
	local tab=$BATS_TEST_TMPDIR/t.intents
	printf 'intent a\n\timage a\n\tsnapshot b\nintent b\n\timage a\n\tsnapshot b\n\tlimits wall=1500ms cpu=2m memory=1G output=1 file=3K tmp=1M payload=4M\n' >"$tab"
	run_tool 0 "$IC" "$tab"
	json_eq "$(jq -c .limits <<<"${lines[1]}")" \
	    '{"wall_ms":10000,"cpu_ms":5000,"memory_bytes":536870912,"output_bytes":1048576,"file_bytes":16777216,"tmp_bytes":16777216,"payload_bytes":1048576,"files":16,"input_bytes":1048576,"outdir_bytes":1048576}'
	json_eq "$(jq -c .limits <<<"${lines[2]}")" \
	    '{"wall_ms":1500,"cpu_ms":120000,"memory_bytes":1073741824,"output_bytes":1,"file_bytes":3072,"tmp_bytes":1048576,"payload_bytes":4194304,"files":16,"input_bytes":1048576,"outdir_bytes":1048576}'
	assert_equal "$(jq -r '[.backend, .mode, .allow] | join("|")' <<<"${lines[1]}")" \
	    "auto|observe|"
}

@test "limits: the ends of each range are accepted" {
	local tab=$BATS_TEST_TMPDIR/t.intents
	printf 'intent a\n\timage a\n\tsnapshot b\n\tlimits wall=1ms cpu=60m memory=64M output=2M file=16G tmp=16G payload=1 files=0 input=0 outdir=0\n' >"$tab"
	run_tool 0 "$IC" "$tab"
	printf 'intent a\n\timage a\n\tsnapshot b\n\tlimits wall=3600000ms memory=64G output=1 file=1 tmp=1024K files=64 input=4M outdir=1M\n' >"$tab"
	run_tool 0 "$IC" "$tab"
	printf 'intent a\n\timage a\n\tsnapshot b\n\tlimits output=1 payload=1 input=0 outdir=4M\n' >"$tab"
	run_tool 0 "$IC" "$tab"
}

@test "a line of exactly 4096 bytes is accepted, one more is not" {
	local tab=$BATS_TEST_TMPDIR/t.intents pad
	pad=$(printf '%*s' 4086 '' | tr ' ' x)
	printf 'intent a\n\timage a\n\tsnapshot b\n#%s\n' "$pad" >"$tab"
	printf '#%s' "$pad" | wc -c | grep -qx 4087
	run_tool 0 "$IC" "$tab"
	pad=$(printf '%*s' 4095 '' | tr ' ' x)
	printf 'intent a\n\timage a\n\tsnapshot b\n#%s\n' "$pad" >"$tab"
	run_tool 0 "$IC" "$tab"
	printf 'intent a\n\timage a\n\tsnapshot b\n#x%s\n' "$pad" >"$tab"
	run_tool 1 "$IC" "$tab"
	assert_equal "$stderr" "intentcheck: $tab:4: line longer than 4096 bytes"
}

@test "a table of exactly 1 MiB loads, one byte more is refused" {
	local tab=$BATS_TEST_TMPDIR/t.intents n
	printf 'intent a\n\timage a\n\tsnapshot b\n' >"$tab"
	# Fill with 64-byte comment lines, then one shorter line to the byte.
	n=$(((1048576 - $(wc -c <"$tab")) / 64))
	yes "$(printf '#%62s' '' | tr ' ' y)" | head -n "$n" >>"$tab"
	printf '#%*s\n' $((1048576 - $(wc -c <"$tab") - 2)) '' >>"$tab"
	assert_equal "$(wc -c <"$tab")" 1048576
	run_tool 0 "$IC" "$tab"
	printf '\n' >>"$tab"
	run_tool 1 "$IC" "$tab"
	assert_equal "$stderr" "intentcheck: $tab: larger than 1 MiB"
}

@test "a missing table is a clear error" {
	run_tool 1 "$IC" "$BATS_TEST_TMPDIR/nonexistent"
	assert_equal "$stderr" "intentcheck: $BATS_TEST_TMPDIR/nonexistent: No such file or directory"
}

@test "policy digest: golden text and digest for the base set" {
	run_tool 0 "$IC" "$ID/policy.intents" policy base
	assert_equal "$output" "$(cat "$ID/policy-base.txt")"
	assert_equal "$(sha256sum "$ID/policy-base.txt" | cut -d' ' -f1)" \
	    905b3e582539d276445cba4293c9c2eae02639c1f7e059ece3c56ea21220f4d0
	run_tool 0 "$IC" "$ID/policy.intents"
	assert_equal "$(printf '%s\n' "${lines[@]}" |
	    jq -r 'select(.pattern == "base") | .policy_digest')" \
	    sha256:905b3e582539d276445cba4293c9c2eae02639c1f7e059ece3c56ea21220f4d0
}

@test "policy digest: the allow line lists exactly the base set's numbers" {
	local nums names
	nums=$(sed -n 's/^allow //p' "$ID/policy-base.txt" | tr , '\n')
	# Increasing order, no repeats.
	assert_equal "$nums" "$(sort -n -u <<<"$nums")"
	run_tool 0 "$IC" "$ID/policy.intents"
	names=$(printf '%s\n' "${lines[@]}" |
	    jq -r 'select(.pattern == "base") | .allowed[]' | sort)
	assert_equal "$names" "$("$IC" base | sort)"
	assert_equal "$(wc -l <<<"$nums")" "$(wc -l <<<"$names")"
}

@test "policy digest: every row's digest is the SHA-256 of its text" {
	local p want
	run_tool 0 "$IC" "$ID/policy.intents"
	for p in $(printf '%s\n' "${lines[@]:1}" | jq -r .pattern); do
		want=$(printf '%s\n' "${lines[@]}" |
		    jq -r --arg p "$p" 'select(.pattern == $p) | .policy_digest')
		assert_equal "sha256:$("$IC" "$ID/policy.intents" policy "$p" |
		    sha256sum | cut -d' ' -f1)" "$want"
	done
}

@test "policy digest changes exactly when the enforced policy changes" {
	run_tool 0 "$IC" "$ID/policy.intents"
	d() {
		printf '%s\n' "${lines[@]}" |
		    jq -r --arg p "$1" 'select(.pattern == $p) | .policy_digest'
	}
	# Same calls, same mode: same digest, however spelled.
	assert_equal "$(d read)" "$(d base)"
	assert_equal "$(d other)" "$(d base)"
	assert_equal "$(d getpid3)" "$(d getpid)"
	assert_equal "$(d getppid)" "$(d getpid)"
	# More calls, or another mode: another digest.
	assert_not_equal "$(d getpid)" "$(d base)"
	assert_not_equal "$(d fast)" "$(d base)"
	assert_not_equal "$(d mmap)" "$(d base)"
	"$IC" "$ID/policy.intents" policy fast | grep -qx 'mode fast'
}

@test "family_of_dangerous classifies by number and arguments" {
	local c
	# name arg0 arg2 expected
	while read -r c; do
		set -- $c
		run_tool 0 "$IC" classify "$1" "$2" "$3"
		assert_equal "$output" "$4"
	done <<-'EOF'
	mmap 0 0x5 dlopen
	mmap 0 0x4 dlopen
	mmap 0 0x3 none
	mmap 0 0 none
	mprotect 0 0x7 dlopen
	mprotect 0 0x1 none
	pkey_mprotect 0 0x4 dlopen
	pkey_mprotect 0 0x3 none
	clone 0x11 0 fork
	clone 0x1200011 0 fork
	clone 0x3d0f00 0 clone
	clone 0x10000 0 clone
	clone3 0 0 clone
	fork 0 0 fork
	vfork 0 0 fork
	socket 2 0 socket
	socketpair 1 0 socket
	connect 3 0 connect
	ptrace 16 0 ptrace
	process_vm_readv 1 0 ptrace
	process_vm_writev 1 0 ptrace
	prlimit64 0 0x1000 none
	prlimit64 7 0 ptrace
	prlimit64 7 0x1000 ptrace
	mount 0 0 mount
	umount2 0 0 mount
	pivot_root 0 0 mount
	fsopen 0 0 mount
	reboot 0 0 reboot
	kexec_load 0 0 kexec_load
	kexec_file_load 0 0 kexec_load
	bpf 0 0 bpf
	perf_event_open 0 0 perf_event_open
	userfaultfd 0 0 userfaultfd
	io_uring_setup 0 0 io_uring
	keyctl 0 0 keyctl
	unshare 0 0 namespace
	setns 0 0 namespace
	finit_module 0 0 module
	settimeofday 0 0 admin
	read 0 0 none
	openat 0 0 none
	execve 0 0 none
	kill 0 0 none
	EOF
}

@test "every always-dangerous member classifies into a dangerous family" {
	local fam kind m nr
	while read -r fam kind m; do
		[ "$kind" = dangerous ] || continue
		for m in $m; do
			m=${m%'*'}
			# The worst arguments: another pid, PROT_EXEC, no
			# CLONE_THREAD, a command that sets a signal owner.
			run_tool 0 "$IC" classify "$m" 1 0xffff worst
			[ "$output" != none ] || { echo "$m: none" >&2; return 1; }
		done
	done < <("$IC" families)
}

@test "no base call is dangerous with ordinary arguments" {
	local s
	for s in $("$IC" base); do
		# Zero: own pid, no PROT_EXEC.
		run_tool 0 "$IC" classify "$s" 0 0
		assert_equal "$output" none
	done
}

@test "the syscall table maps names and numbers both ways" {
	run_tool 0 "$IC" syscalls
	assert_regex "$output" '^ok [0-9]{3}$'
	# As many as the kernel headers define.
	assert_equal "$output" "ok $(echo '#include <asm/unistd_64.h>' |
	    ${CC:-cc} -dM -E - | grep -c '^#define __NR_')"
}

@test "the man page documents every family with every member" {
	local fam kind m text
	while read -r fam kind m; do
		# The family's item, from its .It line to the next .It.
		text=$(awk -v f="$fam" '
			$0 == ".It Cm " f { on = 1; next }
			on && /^\.(It|El)/ { exit }
			on { print }
		' "$MAN")
		[ -n "$text" ] || { echo "$fam: not in the man page" >&2; return 1; }
		for m in $m; do
			m=${m%'*'}
			grep -qw -- "$m" <<<"$text" ||
			    { echo "$fam: $m missing" >&2; return 1; }
		done
	done < <("$IC" families)
	# And lists no family the library does not have.
	assert_equal "$(man_items '^\.Ss Families' | sort)" \
	    "$("$IC" families | cut -d' ' -f1 | sort)"
}

@test "the man page gives a reason for every base call, and only those" {
	assert_equal "$(man_items '^\.Ss The base set' '^Left out' | sort)" \
	    "$("$IC" base | sort)"
}

@test "the man page gives a reason for every name in a shipped row's allow list, and only those" {
	run_tool 0 "$IC" "$TOP/etc/intents"
	assert_equal "$(man_items '^\.Ss The shipped rows' | sort -u)" \
	    "$(printf '%s\n' "${lines[@]:1}" | jq -r '.allow' | tr ' ' '\n' |
	    sed '/^$/d' | sort -u)"
}

@test "the base set stays out of what the man page says is left out" {
	local left s
	left=$(awk '/^Left out of the base set/ { on = 1; next }
		on && /^\.El/ { exit }
		on && /^\.It Ic / { for (i = 3; i <= NF; i++) print $i }' "$MAN" |
	    tr -d ,)
	[ -n "$left" ]
	for s in $left; do
		if "$IC" base | grep -qx "$s"; then
			echo "$s is both in the base set and left out" >&2
			return 1
		fi
	done
	grep -qx execve <<<"$left"
	grep -qx kill <<<"$left"
	grep -qx wait4 <<<"$left"
	grep -qx pipe2 <<<"$left"
}

@test "the man page's example row is the shipped code:execute row" {
	local tab=$BATS_TEST_TMPDIR/t.intents ship
	awk '/^The shipped row/ { on = 1 }
		on && /^\.Bd/ { in_bd = 1; next }
		in_bd && /^\.Ed/ { exit }
		in_bd { print }' "$MAN" >"$tab"
	grep -q '^intent code:execute$' "$tab"
	run_tool 0 "$IC" "$tab"
	ship=$("$IC" "$TOP/etc/intents" |
	    jq -c 'select(.pattern == "code:execute") | del(.line)')
	json_eq "$(jq -c 'del(.line)' <<<"${lines[1]}")" "$ship"
}
