#!/usr/bin/env bats
# Files in and out (airlock-wake(1) "files", airlock-snaft(1) "Files"): a
# frame's files appear read-only under /input; what the run leaves under
# /output comes back in the record, with each file's SHA-256 for the
# token.  And a snapshot's own program and environment (airlock-image(5)).

load helpers
load process

setup_file() {
	needs_image
	local d=$BATS_FILE_TMPDIR/images
	# An images directory with the built image and two more snapshots of
	# it: one that runs a program of the image (the standard library's
	# calendar module, whose main reads sys.argv), one that sets an
	# environment variable.
	mkdir -p "$d/airlock-python/snapshots"
	ln -s "$IMAGES/airlock-python/digest" "$IMAGES/airlock-python/rootfs" \
	    "$IMAGES/airlock-python/oci" "$d/airlock-python/"
	cp "$IMAGES/airlock-python/snapshots/python-safe-boot" \
	    "$d/airlock-python/snapshots/"
	{
		echo 'runner /usr/libexec/airlock/python-runner'
		echo 'program /usr/lib/python3.11/calendar.py'
		grep '^preload' "$IMAGES/airlock-python/snapshots/python-safe-boot"
		echo 'preload calendar argparse'
	} >"$d/airlock-python/snapshots/test-program"
	{
		echo 'runner /usr/libexec/airlock/python-runner'
		echo 'env AIRLOCK_TEST_ENV=hello'
		echo 'preload os sys'
	} >"$d/airlock-python/snapshots/test-env"
	{
		cat "$PTABLE"
		printf 'intent code:files\n\timage airlock-python\n\tsnapshot python-safe-boot\n\tbackend process\n'
		printf '\tlimits wall=5s cpu=2s memory=256M output=64K payload=64K files=3 input=64K outdir=64K\n'
		printf '\tallow open stat close getpid\n'
		printf 'intent test:program\n\timage airlock-python\n\tsnapshot test-program\n\tbackend process\n'
		printf 'intent test:env\n\timage airlock-python\n\tsnapshot test-env\n\tbackend process\n'
	} >"$BATS_FILE_TMPDIR/intents"
	local h='aGVsbG8='	# "hello"
	{
		files 1 code:files "import os, hashlib
print(sorted(os.listdir('/input')), open('/input/a.txt').read())
open('/output/upper.txt', 'w').write(open('/input/a.txt').read().upper())
open('/output/empty', 'w')" '{"a.txt": "'$h'", "b.bin": "AAEC"}'
		# /input is read-only; /output takes only regular files.
		files 2 code:files "import errno, os
for f in ('/input/a.txt', '/input/new'):
    try:
        open(f, 'w')
    except OSError as e:
        print(errno.errorcode[e.errno])
for f in ('/input/a.txt', '/input'):
    try:
        os.chmod(f, 0o777)
    except OSError as e:
        print(errno.errorcode[e.errno])
os.mkdir('/output/dir')
open('/output/bad\x01name', 'w')
open('/output/ok', 'w').write('ok')" '{"a.txt": "'$h'"}'
		# Over the output size and file count: the tmpfs says ENOSPC.
		files 3 code:files "import errno
for i in range(5):
    try:
        open('/output/f%d' % i, 'w').write('x')
    except OSError as e:
        print(i, errno.errorcode[e.errno])
try:
    open('/output/f0', 'wb').write(b'x' * 100000)
except OSError as e:
    print('big', errno.errorcode[e.errno])" '{}'
		# Bad files: each a 400 that names the problem; nothing runs.
		files 10 code:files "print(1)" '{"../x": "'$h'"}'
		files 11 code:files "print(1)" '{"a/b": "'$h'"}'
		files 12 code:files "print(1)" '{"x": "not base64!"}'
		files 13 code:files "print(1)" '{"x": 1}'
		files 14 code:files "print(1)" '["x"]'
		files 15 code:files "print(1)" '{"a": "", "b": "", "c": "", "d": ""}'
		files 16 code:files "print(1)" "{\"big\": \"$(head -c 70000 /dev/zero | base64 -w0)\"}"
		files 17 code:files "print(1)" '{".": "'$h'"}'
		files 18 code:files "print(1)" '{"": "'$h'"}'
		files 19 code:files "print(1)" "{\"$(printf '%*s' 129 '' | tr ' ' n)\": \"$h\"}"
		# The image's program, given the payload as its argument.
		frame 30 test:program "2026"
		frame 31 test:env "import os; print(os.environ.get('AIRLOCK_TEST_ENV'))"
	} >"$BATS_FILE_TMPDIR/frames.jsonl"
	mkdir -p "$BATS_FILE_TMPDIR/run"
	airlock-wake -q -t "$BATS_FILE_TMPDIR/intents" -I "$d" \
	    -r "$BATS_FILE_TMPDIR/run" <"$BATS_FILE_TMPDIR/frames.jsonl" |
	    airlock-snaft -q -t "$BATS_FILE_TMPDIR/intents" \
	    -r "$BATS_FILE_TMPDIR/run" | airlock-triage -q \
	    >"$BATS_FILE_TMPDIR/out.jsonl"
}

# files CHANNEL INTENT PAYLOAD FILES_JSON: a frame with files.
files() {
	jq -cn --argjson c "$1" --arg i "$2" --arg p "$3" --argjson f "$4" \
	    '{channel_id: $c, intent: $i, from_aint: "tests.aint", payload: $p,
	    files: $f}'
}

rec() {
	record "$1" "$BATS_FILE_TMPDIR/out.jsonl"
}

@test "files: every frame has its record" {
	assert_equal "$(wc -l <"$BATS_FILE_TMPDIR/out.jsonl")" \
	    "$(wc -l <"$BATS_FILE_TMPDIR/frames.jsonl")"
}

@test "files: input files are under /input; /output comes back with each file's digest" {
	local r
	r=$(rec 1)
	assert_equal "$(jq -r .verdict.status <<<"$r")" 200
	assert_equal "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$r")" \
	    "['a.txt', 'b.bin'] hello"
	json_eq "$(jq -c .exec.input_files <<<"$r")" \
	    "[{\"name\":\"a.txt\",\"bytes\":5,\"sha256\":\"$(printf hello | sha256sum | cut -c1-64)\"},{\"name\":\"b.bin\",\"bytes\":3,\"sha256\":\"$(printf '\0\1\2' | sha256sum | cut -c1-64)\"}]"
	json_eq "$(jq -c '[.exec.output_files[] | [.name, .bytes, (.b64 | @base64d), .sha256]]' <<<"$r")" \
	    "[[\"empty\",0,\"\",\"$(printf '' | sha256sum | cut -c1-64)\"],[\"upper.txt\",5,\"HELLO\",\"$(printf HELLO | sha256sum | cut -c1-64)\"]]"
}

@test "files: /input cannot be written, and /output gives back only regular files with good names" {
	local r
	r=$(rec 2)
	assert_equal "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$r")" $'EROFS\nEROFS\nEROFS\nEROFS'
	json_eq "$(jq -c '[.exec.output_files[].name]' <<<"$r")" '["ok"]'
	json_eq "$(jq -c '.exec.output_refused | sort_by(.why)' <<<"$r")" \
	    '[{"name":"?","why":"a name that is not printable UTF-8 of at most 128 bytes"},{"name":"dir","why":"not a regular file"}]'
}

@test "files: /output holds the intent's file count and size, no more" {
	local r
	r=$(rec 3)
	assert_equal "$(jq -r '.exec.stdout.b64 | @base64d' <<<"$r")" $'3 ENOSPC\n4 ENOSPC\nbig ENOSPC'
	assert_equal "$(jq -r '.exec.output_files | length' <<<"$r")" 3
}

@test "files: a bad name, bad base64, too many or too large files are a 400 naming it" {
	local c want
	for c in 10 11 12 13 14 15 16 17 18 19; do
		case $c in
		10 | 11 | 17 | 18 | 19) want='is not one path component' ;;
		12) want='its content is not base64' ;;
		13) want='its content must be a base64 string' ;;
		14) want='"files" must be an object' ;;
		15) want='4 files, more than the 3 this intent takes' ;;
		16) want='input files of more than 70000 bytes: this intent takes 65536' ;;
		esac
		assert_equal "$(rec "$c" | jq -r .verdict.status)" 400
		assert_equal "$(rec "$c" | jq -r .reject.error)" bad_files
		[[ $(rec "$c" | jq -r .verdict.reason) == *"$want"* ]] ||
		    { rec "$c" | jq -r .verdict.reason >&2; return 1; }
	done
}

@test "a snapshot's program runs instead of the payload, which is its argument" {
	assert_equal "$(rec 30 | jq -r .verdict.status)" 200
	assert_equal "$(rec 30 | jq -r '.exec.stdout.b64 | @base64d' | head -n 1 | tr -d ' ')" 2026
}

@test "a snapshot's env lines reach the sandbox's environment" {
	assert_equal "$(rec 31 | jq -r '.exec.stdout.b64 | @base64d')" hello
}

@test "a snapshot with a malformed env or program line does not start, and says so" {
	local d=$BATS_TEST_TMPDIR/images l
	mkdir -p "$d/airlock-python/snapshots"
	ln -s "$IMAGES/airlock-python/digest" "$IMAGES/airlock-python/rootfs" \
	    "$IMAGES/airlock-python/oci" "$d/airlock-python/"
	for l in 'env lower=1' 'env PATH=/evil' 'env A=two words' 'program relative.py'; do
		printf 'runner /usr/libexec/airlock/python-runner\n%s\n' "$l" \
		    >"$d/airlock-python/snapshots/test-env"
		run_tool 0 sh -c "$(declare -f frame); frame 1 test:env 'print(1)' |
		    airlock-wake -q -t '$BATS_FILE_TMPDIR/intents' -I '$d' -r '$BATS_TEST_TMPDIR/run' -p 0"
		assert_equal "$(jq -r .reject.status <<<"$output")" 500
		[[ $(jq -r .reject.reason <<<"$output") == *"test-env: malformed line"* ]]
	done
}
