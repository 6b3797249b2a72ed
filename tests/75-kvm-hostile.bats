#!/usr/bin/env bats
# The hostile suite on both backends: every frame of tests/55-hostile.bats
# (hostile.bash) runs through wake | snaft | triage once with the process
# backend and once with the kvm backend, from the same image and the same
# rows, and each must earn the same verdict on both: the status, the
# family of its first violation and its kill reason (of the two time
# limits, whichever a busy machine lets fire first: see same_verdict).
# The differences there are, and why, are listed below and in SECURITY.md,
# "The kvm backend gives the process backend's verdicts"; any other is a
# failure.
#
# It needs a /dev/kvm that opens (PVM's counts); where there is none it is
# skipped, and the kvm test bed (make check-kvm) runs the VMM's own hostile
# suite (72-vmm-hostile.bats) instead: this many frames under software
# emulation would take too long.

load helpers
load process
load vmm
load hostile

# CHANNEL=WHY: frames whose kvm verdict differs from the process verdict by
# design.  The kvm verdict each must get is in expected_kvm below.
declare -gA DIFFERENT=(
	[117]="prlimit64 on pid 1: in a VM the program is pid 1, so that is itself; in a process sandbox pid 1 is the zygote, another process (ptrace)"
	[207]="the same call as 117, from the collusion family"
)

# CHANNEL=WHY: frames that measure how fast memory and system calls are, and
# so may meet the CPU-time or wall-clock limit first on the kvm backend
# where /dev/kvm is PVM's: a first touch of a page and a VM exit cost 20 to
# 40 us there (shadow paging), ten to a hundred times what they cost on
# hardware virtualisation.  Their kvm verdict is the process one or a 408
# (of either time limit, as same_verdict takes them), never anything else.
declare -gA TIMING=(
	[163]="grows a list to the memory limit: 65,536 first touches"
	[166]="makes files in /tmp to its node limit: thousands of exits"
	[309]="touches 96 MiB and sleeps 2 s"
)

setup_file() {
	have_kvm || skip "/dev/kvm cannot be opened"
	needs_image
	local d=$BATS_FILE_TMPDIR
	kvm_images "$d/kimages"
	sed 's/^\(\tbackend *\)process$/\1kvm/' "$PTABLE" >"$d/kintents"
	echo "host-only-marker" >"$d/host-marker"
	chmod 0644 "$d/host-marker"
	{
		hostile_frames
		hog_frames
		collusion_frames
	} >"$d/frames.jsonl"
	# Each backend in turn, two runs at a time, so that the two see the
	# same load; the collusion frames still overlap.
	mkdir -p "$d/run"
	pipeline -p 2 <"$d/frames.jsonl" >"$d/process.jsonl"
	airlock-wake -q -t "$d/kintents" -I "$d/kimages" -r "$d/run" -p 2 \
	    <"$d/frames.jsonl" |
	    airlock-snaft -q -t "$d/kintents" -r "$d/run" |
	    airlock-triage -q >"$d/kvm.jsonl"
	# CHANNEL STATUS FAMILY KILL_REASON, one line per frame, by channel.
	local b
	for b in process kvm; do
		jq -r '[.frame.channel_id // "none", .verdict.status,
		    (.exec.violations[0].family // "-"), (.exec.kill_reason // "-")] |
		    @tsv' "$d/$b.jsonl" | sort -n >"$d/$b.tsv"
	done
}

@test "kvm hostile: every frame has one record on each backend, none a 500" {
	both_backends_ran "$BATS_FILE_TMPDIR" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
}

@test "kvm hostile: every frame earns the process backend's verdict, but for the listed differences" {
	local ch p k bad=
	# Frames without a channel are rejected before any sandbox: the same
	# rejections on both.
	assert_equal "$(grep '^none' "$BATS_FILE_TMPDIR/kvm.tsv")" \
	    "$(grep '^none' "$BATS_FILE_TMPDIR/process.tsv")"
	while IFS=$'\t' read -r ch p; do
		[ "$ch" != none ] || continue
		k=$(awk -F'\t' -v c="$ch" '$1 == c { print $2, $3, $4 }' \
		    "$BATS_FILE_TMPDIR/kvm.tsv")
		p=$(tr '\t' ' ' <<<"$p")
		if [ -n "${DIFFERENT[$ch]:-}" ]; then
			[ "$k" = "$(expected_kvm "$ch")" ] ||
			    bad+="$ch: kvm $k, expected $(expected_kvm "$ch") (${DIFFERENT[$ch]})"$'\n'
		elif [ -n "${TIMING[$ch]:-}" ]; then
			[ "$k" = "$p" ] || same_verdict "$k" "408 - wall_time" ||
			    bad+="$ch: kvm $k, process $p (${TIMING[$ch]})"$'\n'
		elif ! same_verdict "$k" "$p"; then
			bad+="$ch: kvm $k, process $p"$'\n'
		fi
	done <"$BATS_FILE_TMPDIR/process.tsv"
	printf '%s' "$bad" >&2
	[ -z "$bad" ]
}

# same_verdict A B: two "STATUS FAMILY KILL_REASON" are the same verdict.
# A run past both its CPU and its wall-clock limit is 408 either way, and
# which limit fires first depends on how busy the machine is, so
# "408 - cpu_time" and "408 - wall_time" are one verdict here (the status
# and the token type are the same).
same_verdict() {
	[ "$1" = "$2" ] && return 0
	case "$1|$2" in
	"408 - cpu_time|408 - wall_time" | "408 - wall_time|408 - cpu_time") return 0 ;;
	esac
	return 1
}

# expected_kvm CHANNEL: the kvm verdict of a frame in DIFFERENT.
expected_kvm() {
	case $1 in
	117 | 207) echo "200 - -" ;;
	esac
}

@test "kvm hostile: the listed differences are real (the process backend's verdicts are what the lists say)" {
	# If the process backend changed, the lists would hide nothing but
	# would be wrong: hold them to what process gives.
	assert_equal "$(awk -F'\t' '$1 == 117 || $1 == 207 { print $2, $3 }' \
	    "$BATS_FILE_TMPDIR/process.tsv" | sort -u)" "403 ptrace"
	# Each difference is named in SECURITY.md.
	local ch
	for ch in "${!DIFFERENT[@]}" "${!TIMING[@]}"; do
		grep -q "channel $ch\b" "$TOP/SECURITY.md" ||
		    { echo "SECURITY.md does not name channel $ch" >&2; return 1; }
	done
}
