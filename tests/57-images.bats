#!/usr/bin/env bats
# The images of file:scan, analyze_malware_sample, call:voice:* and
# call:video:* (airlock-image(5)): recipes that take dependency closures,
# snapshots that preload every C extension, and the scanner's reports on
# real and hostile files, run in the image with the image as its root.
# tests/58-images-pipeline.bats runs the same work through the pipeline.

load helpers

IMAGES_DIR=$TOP/build/images
MAKE_IMAGES=(make -C "$TOP" --no-print-directory)

mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}

# in_image IMAGE INPUT OUTPUT: IN_IMAGE, the command that runs the words
# after it in IMAGE's root file system, with nothing of the host's
# environment but IMAGE_ENV (an array of NAME=VALUE), INPUT bound read-only
# at /input and OUTPUT at /output, in new user and mount namespaces.
in_image() {
	IN_IMAGE=(env -i PATH=/usr/bin:/usr/sbin:/bin "${IMAGE_ENV[@]}"
	    unshare -rm sh -c '
	    root=$1 in=$2 out=$3
	    shift 3
	    mount --bind "$in" "$root/input" &&
	    mount -o remount,bind,ro "$root/input" &&
	    mount --bind "$out" "$root/output" &&
	    exec chroot "$root" "$@"' sh "$IMAGES_DIR/$1/rootfs" "$2" "$3")
}

# scan [RULES]: the scanner on the samples, as file:scan's program runs it;
# the report and summary lines in $output, the report in $OUT/report.json.
scan() {
	rm -rf "$OUT"
	mkdir -p "$OUT"
	in_image airlock-scanner "$SAMPLES" "$OUT"
	run_tool "${WANT:-0}" "${IN_IMAGE[@]}" /usr/bin/python3.11 -I -S -c '
import sys
import airlock_site, airlock_scanner
sys.exit(airlock_scanner.main(sys.argv[1]))' "${1:-}"
	REPORT=${lines[0]}
	SUMMARY=${lines[1]}
}

# entry NAME: the report on one file.
entry() {
	jq -c --arg n "$1" '.files[] | select(.path == $n)' <<<"$REPORT"
}

setup_file() {
	AIRLOCK_TEST_TIMEOUT=1200 run_tool 0 "${MAKE_IMAGES[@]}" images
	SAMPLES=$BATS_FILE_TMPDIR/samples
	mkdir -p "$SAMPLES"
	cp /usr/bin/true "$SAMPLES/true.elf"
	if command -v x86_64-w64-mingw32-gcc >/dev/null; then
		printf '%s\n' '#include <windows.h>' \
		    'int main(void) { MessageBoxA(0, "hi", "airlock", 0); return 0; }' \
		    >"$BATS_FILE_TMPDIR/hello.c"
		x86_64-w64-mingw32-gcc -O2 -s -o "$SAMPLES/hello.exe" \
		    "$BATS_FILE_TMPDIR/hello.c"
	fi
	/usr/bin/python3.11 "$DATA/images/mksamples.py" "$SAMPLES"
	export SAMPLES
}

setup() {
	OUT=$BATS_TEST_TMPDIR/out
	IMAGE_ENV=()
}

# A copy of images/build beside recipes of our own.
recipe() {
	mkdir -p "$BATS_TEST_TMPDIR/r/images/$1"
	cp "$TOP/images/build" "$BATS_TEST_TMPDIR/r/images/"
	cat >"$BATS_TEST_TMPDIR/r/images/$1/packages"
}

@test "closure: a recipe's closure lines take every Depends and Pre-Depends, excluded packages and what only they need left out" {
	recipe t <<'EOF'
# plain lines are taken alone, as before
tzdata
closure python3-yara
exclude debconf
EOF
	cd "$BATS_TEST_TMPDIR/r"
	run_tool 0 images/build list t out
	list=$(cat out/t/packages.list)
	# The plain line first, then the closure, each once.
	[ "${list%%$'\n'*}" = tzdata ]
	for p in python3-yara libyara9 python3 python3.11 python3.11-minimal \
	    libpython3.11-stdlib libc6 libgcc-s1 libssl3; do
		grep -qx "$p" <<<"$list" || { echo "missing $p" >&2; return 1; }
	done
	[ -z "$(sort <<<"$list" | uniq -d)" ]
	! grep -qx debconf <<<"$list"
	# tzdata is named, so it is not followed: its debconf is not even
	# reached, and excluding it draws a warning.
	[[ $stderr == *"excluded package debconf: nothing depends on it"* ]]
	[[ $output == *"packages: 1 named, the closure of 1"* ]]
	# The lock pins every version, as for a hand-made list.
	run_tool 0 images/build lock t out "$TOP/build/images/debs"
	[ "$(grep -cv '^#' out/t/packages.lock)" -eq "$(wc -l <out/t/packages.list)" ]
	# Unchanged, the list is not rewritten (make rebuilds nothing).
	touch -d @0 out/t/packages.list
	run_tool 0 images/build list t out
	[ "$(stat -c %Y out/t/packages.list)" -eq 0 ]
}

@test "closure: an excluded package is neither taken nor followed" {
	recipe t <<'EOF'
closure libpython3.11-stdlib
exclude libreadline8 libncursesw6
EOF
	cd "$BATS_TEST_TMPDIR/r"
	run_tool 0 images/build list t out
	! grep -qx libreadline8 out/t/packages.list
	# readline-common is needed by libreadline8 alone.
	! grep -qx readline-common out/t/packages.list
	grep -qx libpython3.11-minimal out/t/packages.list
}

@test "closure: a package named on a plain line satisfies dependencies and is not followed" {
	recipe t <<'EOF'
closure python3-numpy
libopenblas0-serial
EOF
	cd "$BATS_TEST_TMPDIR/r"
	run_tool 0 images/build list t out
	# numpy's "libblas3 | libblas.so.3" is the named provider's.
	grep -qx libopenblas0-serial out/t/packages.list
	! grep -qx libblas3 out/t/packages.list
	! grep -qx liblapack3 out/t/packages.list
}

@test "closure: recipe mistakes are refused, naming them" {
	cd "$BATS_TEST_TMPDIR"
	recipe t <<<'closure python3-yara=4.2.0-1+b3'
	cd r
	run_tool 1 images/build list t out
	[[ $stderr == *"closure python3-yara=4.2.0-1+b3: a version can only be pinned on a line of its own"* ]]
	recipe t <<<'closure python3-yara
exclude python3-yara'
	run_tool 1 images/build list t out
	[[ $stderr == *"python3-yara is both wanted and excluded"* ]]
	recipe t <<<'closure airlock-no-such-package'
	run_tool 1 images/build list t out
	[[ $stderr == *"apt-cache depends airlock-no-such-package failed"* ]]
	recipe t <<<'exclude debconf'
	run_tool 1 images/build list t out
	[[ $stderr == *"exclude without closure"* ]]
	recipe t <<<'python3-yara libyara9'
	run_tool 1 images/build list t out
	[[ $stderr == *"python3-yara libyara9: one package a line"* ]]
}

@test "images: each is built with its digest, snapshots and airlock's layer" {
	for i in airlock-scanner airlock-sip airlock-webrtc; do
		d=$IMAGES_DIR/$i
		grep -Eqx 'sha256:[0-9a-f]{64}' "$d/digest"
		run_tool 0 "$TOP/images/verify" "$d/oci"
		[ -x "$d/rootfs/usr/libexec/airlock/python-runner" ]
		[ -f "$d/rootfs/usr/lib/python3.11/airlock_site.py" ]
		for m in input output tmp; do
			[ -d "$d/rootfs/$m" ] && [ -z "$(ls -A "$d/rootfs/$m")" ]
		done
		for s in "$TOP/images/$i/snapshots/"*; do
			cmp "$s" "$d/snapshots/${s##*/}"
		done
		layers=$(jq '[.layers[].size] | add' \
		    "$d/oci/blobs/sha256/$(cut -d: -f2 "$d/digest")")
		echo "# $i $(cat "$d/digest"): $(grep -cv '^#' "$d/packages.lock") packages, layers $(mib "$layers"), rootfs $(mib "$(du -sb "$d/rootfs" | cut -f1)")" >&3
	done
	[ -f "$IMAGES_DIR/airlock-scanner/rootfs/usr/libexec/airlock/scan.py" ]
	[ -f "$IMAGES_DIR/airlock-scanner/rootfs/var/lib/clamav/airlock-test.ndb" ]
	[ -f "$IMAGES_DIR/airlock-webrtc/rootfs/usr/lib/python3/dist-packages/airlock_av.py" ]
	# No documentation, manuals, test suites or headers.
	for i in airlock-scanner airlock-sip airlock-webrtc; do
		r=$IMAGES_DIR/$i/rootfs
		for p in usr/share/doc usr/share/man usr/share/locale \
		    usr/lib/python3.11/test usr/include; do
			[ ! -e "$r/$p" ] || { echo "$i: $p" >&2; return 1; }
		done
		[ -z "$(find "$r/usr/lib/python3/dist-packages" -name tests -type d)" ]
		[ -z "$(find "$r" -perm /6000 -o ! -type f ! -type d ! -type l)" ]
	done
}

@test "images: a closure recipe builds reproducibly: airlock-scanner twice gives one digest" {
	o=$BATS_TEST_TMPDIR/o
	cp "$IMAGES_DIR/airlock-scanner/rootfs/usr/libexec/airlock/python-runner" \
	    "$BATS_TEST_TMPDIR/runner"
	AIRLOCK_TEST_TIMEOUT=600 run_tool 0 "${MAKE_IMAGES[@]}" IMAGE_OUT="$o" \
	    IMAGE_RUNNER="$BATS_TEST_TMPDIR/runner" "$o/airlock-scanner/digest"
	[ "$(cat "$o/airlock-scanner/digest")" = "$(cat "$IMAGES_DIR/airlock-scanner/digest")" ]
	cmp "$o/airlock-scanner/packages.lock" "$IMAGES_DIR/airlock-scanner/packages.lock"
}

@test "images: every C extension module of an image is preloaded by its code snapshots" {
	for spec in airlock-scanner/malware-analysis airlock-sip/sip-ready \
	    airlock-webrtc/webrtc-ready; do
		i=${spec%/*}
		desc=$TOP/images/$i/snapshots/${spec#*/}
		mapfile -t mods < <(sed -n 's/^preload[[:space:]]*//p' "$desc" | tr -s ' \t' '\n')
		# The snapshot's env lines, as the zygote has them.
		mapfile -t IMAGE_ENV < <(sed -n 's/^env[[:space:]]*//p' "$desc")
		mkdir -p "$BATS_TEST_TMPDIR/x"
		cp "$DATA/images/preloaded.py" "$BATS_TEST_TMPDIR/x/"
		in_image "$i" "$BATS_TEST_TMPDIR/x" "$BATS_TEST_TMPDIR/x"
		run_tool 0 "${IN_IMAGE[@]}" /usr/bin/python3.11 -I -S \
		    /input/preloaded.py "${mods[@]}"
		echo "# $spec: ${lines[-1]}, ${#mods[@]} preload modules" >&3
	done
}

@test "scanner: the EICAR file, an ELF, a PE and a ZIP" {
	[ -f "$SAMPLES/hello.exe" ] || skip "no x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64) to build a PE"
	scan
	# The report on disk is the first line of standard output, and the
	# summary line gives its SHA-256.
	[ "$(head -n 1 <<<"$output")" = "$(cat "$OUT/report.json")" ]
	[ "$(jq -r .report_sha256 <<<"$SUMMARY")" = "sha256:$(sha256sum <"$OUT/report.json" | cut -d' ' -f1)" ]
	json_eq "$(jq -c .summary <<<"$REPORT")" "$(jq -c .summary <<<"$SUMMARY")"
	e=$(entry eicar.com)
	jq -e '.size == 68 and .md5 == "44d88612fea8a8f36de82e1278abb02f" and
	    .sha1 == "3395856ce81f2b7382dee72602f798b642f14140" and
	    .sha256 == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" and
	    .type == "EICAR virus test files" and .mime == "text/plain" and
	    ([.yara[] | "\(.namespace):\(.rule)"] == ["airlock:EICAR_test_file"]) and
	    (.clamav.detections | sort) == ["Airlock.Test.EICAR-String.UNOFFICIAL", "Airlock.Test.EICAR.UNOFFICIAL"] and
	    .entropy > 4.8 and .entropy < 5' <<<"$e"
	jq -e '.elf.machine == "EM_X86_64" and (.elf.needed | index("libc.so.6")) and
	    .elf.interpreter == "/lib64/ld-linux-x86-64.so.2" and
	    ([.elf.sections[].name] | index(".text")) and
	    (.elf.sections[] | select(.name == ".text") | .entropy > 4) and
	    .elf.ndynamic_symbols > 10 and .clamav.detections == [] and
	    (has("errors") | not)' <<<"$(entry true.elf)"
	jq -e '.pe.machine == "IMAGE_FILE_MACHINE_AMD64" and .pe.exe and
	    ([.pe.sections[].name] | index(".text")) and
	    (.pe.sections[0] | has("entropy")) and
	    (.pe.imports[] | select(.dll == "USER32.dll") | .functions == ["MessageBoxA"]) and
	    (.pe.imphash | test("^[0-9a-f]{32}$")) and
	    (.type | startswith("PE32+ executable"))' <<<"$(entry hello.exe)"
	# Inside the ZIP: each member examined as a file of its own, and
	# ClamAV finds the EICAR file in it.
	z=$(entry samples.zip)
	jq -e '.archive.verdict == "ok" and .archive.nmembers == 3 and
	    ([.archive.members[].path] == ["samples.zip/eicar.com", "samples.zip/true.elf", "samples.zip/hello.exe"]) and
	    (.archive.members[0].yara[0].rule == "EICAR_test_file") and
	    (.archive.members[1].elf.machine == "EM_X86_64") and
	    (.archive.members[2].pe.machine == "IMAGE_FILE_MACHINE_AMD64") and
	    (.clamav.detections | index("Airlock.Test.EICAR-String.UNOFFICIAL"))' <<<"$z"
	jq -e '.engines.clamav.signatures == 2 and .engines.clamav.databases == ["airlock-test.hdb", "airlock-test.ndb"] and
	    (.engines.yara.rules | index("EICAR_test_file")) and .engines.libmagic > 500' <<<"$REPORT"
}

@test "scanner: hostile inputs end in a verdict per file, and the scan in a report" {
	scan
	# A zip bomb (10 GiB of zeros inside a ZIP inside a ZIP) is not
	# inflated: its header's size is past the caps.
	jq -e '.archive.verdict == "too large" and
	    .archive.members[0].archive.members[0].verdict == "too large" and
	    .archive.members[0].archive.members[0].size == 10737418240' <<<"$(entry bomb.zip)"
	# A member that inflates past the size its header gives is read no
	# further than that size (and then fails its CRC).
	jq -e '.archive.verdict == "corrupt" and
	    .archive.members[0].verdict == "corrupt" and
	    .archive.members[0].error == "BadZipFile: Bad CRC-32 for file '"'"'small.txt'"'"'"' \
	    <<<"$(entry liar.zip)"
	# ZIPs 20 deep are opened 4 deep.
	jq -e '.archive.verdict == "too deep"' <<<"$(entry nested.zip)"
	jq -e '[.. | objects | select(.archive.verdict? == "too deep" and
	    (.archive.members | length) == 0)] | length == 1' <<<"$(entry nested.zip)"
	# Past 256 members, the rest of an archive is left alone.
	jq -e '.archive.verdict == "too many entries" and .archive.nmembers == 300 and
	    (.archive.members | length) == 256' <<<"$(entry many.zip)"
	# Parsers that fail on a malformed file cost that file's analysis only.
	jq -e '(.errors.elf | test("^ELF")) and .sha256 and .type' <<<"$(entry broken.elf)"
	if [ -f "$SAMPLES/hello.exe" ]; then
		jq -e '(.errors.pe | startswith("PEFormatError")) and
		    (.clamav.detections | index("Heuristics.Broken.Executable"))' \
		    <<<"$(entry truncated.exe)"
	fi
	jq -e '.summary.complete == false and .summary.errors >= 2 and
	    (.summary.limits | index("bomb.zip/inner.zip/zeros.bin: too large")) and
	    (.summary.limits | index("liar.zip/small.txt: corrupt")) and
	    (.summary.limits | map(select(endswith(": too deep"))) | length == 1) and
	    (.files | length) == (.summary.files)' <<<"$REPORT"
}

@test "scanner: a frame's YARA rules are used beside the shipped ones; rules that do not compile are an error in the report and exit 2" {
	scan 'rule calls_messagebox { strings: $a = "MessageBoxA" condition: $a }
rule big_file { condition: filesize > 30000 and extension == "elf" }'
	jq -e '.payload_rules == {given: true, rules: ["big_file", "calls_messagebox"]}' <<<"$REPORT"
	jq -e '.summary.matches | index("payload:big_file") and index("airlock:EICAR_test_file")' <<<"$REPORT"
	[ "$(entry true.elf | jq -c '[.yara[].rule]')" = '["big_file"]' ]
	WANT=2 scan 'rule broken { condition: $nope }'
	jq -e '.payload_rules.error == "SyntaxError: line 1: undefined string \"$nope\"" and
	    .summary.complete == false and (.summary.matches | index("airlock:EICAR_test_file"))' <<<"$REPORT"
}

@test "scanner: a summary stays within what the token binds (4096 bytes): long lists are cut and counted, the report keeps them all" {
	local rules i
	# 400 frame rules with long names that the EICAR file (68 bytes) matches.
	for i in $(seq 400); do
		rules+="rule the_eicar_file_matches_this_rule_with_a_rather_long_name_$i { condition: filesize == 68 }
"
	done
	scan "$rules"
	jq -e '(.summary | tojson | length) <= 4096 and .summary.matches_more > 0 and
	    (.summary.matches | length) + .summary.matches_more == 401 and
	    (.summary.detections | index("Airlock.Test.EICAR.UNOFFICIAL")) and
	    (has("truncated") | not) and
	    ([.. | objects | select(.namespace? == "payload") | .rule] | unique | length) == 400' <<<"$REPORT"
	json_eq "$(jq -c .summary <<<"$REPORT")" "$(jq -c .summary <<<"$SUMMARY")"
}

@test "scanner: a report too large for /output sheds its lists, then its details, and says so; the summary stays whole" {
	# shrunk MAX: the scan with REPORT_MAX at MAX; the report in $r.
	shrunk() {
		rm -rf "$OUT"
		mkdir -p "$OUT"
		in_image airlock-scanner "$SAMPLES" "$OUT"
		run_tool 0 "${IN_IMAGE[@]}" /usr/bin/python3.11 -I -S -c '
import sys
import airlock_site, airlock_scanner
airlock_scanner.REPORT_MAX = int(sys.argv[1])
sys.exit(airlock_scanner.main(""))' "$1"
		r=$(cat "$OUT/report.json")
		[ "$(stat -c %s "$OUT/report.json")" -le "$1" ]
		json_eq "$(jq -c .summary <<<"$r")" "$(jq -c .summary <<<"${lines[1]}")"
		jq -e '(.summary.detections | index("Airlock.Test.EICAR.UNOFFICIAL")) and
		    (.files | length) == .summary.files' <<<"$r"
	}
	shrunk 1000000
	jq -e 'has("truncated") | not' <<<"$r"
	full=$(stat -c %s "$OUT/report.json")
	shrunk $((full - 1))
	jq -e --argjson f "$full" '.truncated == "the full report was \($f) bytes, over \($f - 1): lists dropped"' <<<"$r"
	[ -z "$(jq -c '.. | objects | (.sections, .imports, .dynamic_symbols) // empty' <<<"$r")" ]
	jq -e '.files[] | select(.path == "hello.exe") | .pe.imphash' <<<"$r"
	shrunk $(((full + 2000) / 2))
	shrunk 2000
	jq -e '.truncated | endswith("only the files'"'"' digests kept")' <<<"$r"
	jq -e '.files[0] | keys == ["path", "sha256", "size"]' <<<"$r"
}

@test "scanner: the same files give the same report, byte for byte" {
	scan
	a=$(sha256sum <"$OUT/report.json")
	scan
	[ "$(sha256sum <"$OUT/report.json")" = "$a" ]
}
