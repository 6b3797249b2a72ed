#!/usr/bin/env bats
# The airlock-python image (airlock-image(5)): a valid OCI layout built
# reproducibly from Debian packages, whose root filesystem runs Python on
# its own; and images/import, which takes any layout but refuses blobs that
# do not match their digest and layers that would write outside the image.

load helpers

IMG=$TOP/build/images/airlock-python
ROOTFS=$IMG/rootfs

# make with the image rules, whether or not the top Makefile includes
# images/images.mk yet, for this image alone (57-images.bats builds the
# others); and a command of the image run with the image as its root (and
# nothing of the host's environment).
MAKE_IMAGES=(make -C "$TOP" --no-print-directory IMAGES=airlock-python)
grep -q '^include images/images.mk' "$TOP/Makefile" ||
    MAKE_IMAGES+=(-f Makefile -f images/images.mk)
IN_IMAGE=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare -r chroot "$ROOTFS")

mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}

setup_file() {
	# A cold build downloads the packages; later ones reuse the cache.
	AIRLOCK_TEST_TIMEOUT=900 run_tool 0 "${MAKE_IMAGES[@]}" images
	# The runner of that image, for the other builds: the one in
	# build/guest may be rebuilt meanwhile.
	cp "$ROOTFS/usr/libexec/airlock/python-runner" "$BATS_FILE_TMPDIR/runner"
}

# mklayout DIR [-z] TAR...: an OCI layout of one linux/amd64 image named
# "test" whose layers are the given tar files, gzipped with -z.
mklayout() {
	local dir=$1 t hex diff size diffs='[]' layers='[]' c m z= mt
	shift
	if [ "$1" = -z ]; then
		z=1
		shift
	fi
	mkdir -p "$dir/blobs/sha256"
	for t; do
		diff=$(sha256sum <"$t" | cut -d' ' -f1)
		mt=application/vnd.oci.image.layer.v1.tar
		if [ -n "$z" ]; then
			gzip -n <"$t" >"$t.gz"
			t=$t.gz
			mt=$mt+gzip
		fi
		hex=$(sha256sum <"$t" | cut -d' ' -f1)
		size=$(stat -c %s "$t")
		cp "$t" "$dir/blobs/sha256/$hex"
		diffs=$(jq -c --arg d "sha256:$diff" '. + [$d]' <<<"$diffs")
		layers=$(jq -c --arg d "sha256:$hex" --argjson s "$size" \
		    --arg mt "$mt" '. + [{mediaType: $mt, digest: $d, size: $s}]' \
		    <<<"$layers")
	done
	jq -cnj --argjson d "$diffs" '{architecture: "amd64", os: "linux",
	    rootfs: {type: "layers", diff_ids: $d}}' >"$dir/c"
	c=$(sha256sum <"$dir/c" | cut -d' ' -f1)
	jq -cnj --arg c "sha256:$c" --argjson cs "$(stat -c %s "$dir/c")" \
	    --argjson l "$layers" '{schemaVersion: 2,
	    mediaType: "application/vnd.oci.image.manifest.v1+json",
	    config: {mediaType: "application/vnd.oci.image.config.v1+json",
	             digest: $c, size: $cs}, layers: $l}' >"$dir/m"
	m=$(sha256sum <"$dir/m" | cut -d' ' -f1)
	jq -cnj --arg m "sha256:$m" --argjson ms "$(stat -c %s "$dir/m")" '
	    {schemaVersion: 2, manifests: [{
	     mediaType: "application/vnd.oci.image.manifest.v1+json",
	     digest: $m, size: $ms,
	     annotations: {"org.opencontainers.image.ref.name": "test"}}]}' \
	    >"$dir/index.json"
	mv "$dir/c" "$dir/blobs/sha256/$c"
	mv "$dir/m" "$dir/blobs/sha256/$m"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
}

# mktar OUT SPEC...: a tar whose members are SPEC = TYPE:NAME[:ARG], made
# with Debian's Python so that names the tar(1) command would refuse or
# rewrite (absolute, '..') go in exactly as written.  TYPE is f (ARG is the
# content), d, l (symlink to ARG), h (hard link to ARG) or c (a device).
mktar() {
	/usr/bin/python3.11 -I -c '
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(":", 2)
        arg = rest[0] if rest else ""
        m = tarfile.TarInfo(name)
        m.mode = 0o755 if kind == "d" else 0o644
        if kind == "f":
            m.size = len(arg.encode())
            t.addfile(m, io.BytesIO(arg.encode()))
            continue
        m.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
                  "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE}[kind]
        m.linkname = arg
        t.addfile(m)
' "$@"
}

@test "image: make builds the OCI layout, the root filesystem and the digest" {
	[ -f "$IMG/oci/oci-layout" ]
	[ -f "$IMG/oci/index.json" ]
	[ -d "$IMG/oci/blobs/sha256" ]
	[ -x "$ROOTFS/usr/bin/python3.11" ]
	[ -f "$IMG/snapshots/python-safe-boot" ]
	grep -Eqx 'sha256:[0-9a-f]{64}' "$IMG/digest"
	layers=$(jq '[.layers[].size] | add' \
	    "$IMG/oci/blobs/sha256/$(cut -d: -f2 "$IMG/digest")")
	rootfs=$(du -sb "$ROOTFS" | cut -f1)
	echo "# airlock-python $(cat "$IMG/digest"): layers $(mib "$layers"), rootfs $(mib "$rootfs"), $(find "$ROOTFS" | wc -l) files" >&3
}

@test "image: index -> manifest -> config -> layers; every blob is named by its sha256" {
	cd "$IMG/oci"
	jq -e '.imageLayoutVersion == "1.0.0"' oci-layout
	jq -e '.schemaVersion == 2 and
	    .mediaType == "application/vnd.oci.image.index.v1+json" and
	    (.manifests | length) == 1' index.json
	d=$(cat ../digest)
	jq -e --arg d "$d" '.manifests[0] | .digest == $d and
	    .mediaType == "application/vnd.oci.image.manifest.v1+json" and
	    .platform == {architecture: "amd64", os: "linux"} and
	    .annotations["org.opencontainers.image.ref.name"] == "airlock-python"' \
	    index.json
	m=blobs/sha256/${d#sha256:}
	[ "$(stat -c %s "$m")" -eq "$(jq '.manifests[0].size' index.json)" ]
	jq -e '.schemaVersion == 2 and
	    .config.mediaType == "application/vnd.oci.image.config.v1+json" and
	    (.layers | length) == 2 and
	    all(.layers[]; .mediaType == "application/vnd.oci.image.layer.v1.tar")' "$m"
	c=blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$m")
	[ "$(stat -c %s "$c")" -eq "$(jq '.config.size' "$m")" ]
	jq -e '.architecture == "amd64" and .os == "linux" and
	    .config.Entrypoint == ["/usr/libexec/airlock/python-runner"] and
	    .rootfs.type == "layers"' "$c"
	# Uncompressed layers: each diff_id is the layer's own digest.
	[ "$(jq -c '[.layers[].digest]' "$m")" = "$(jq -c .rootfs.diff_ids "$c")" ]
	while read -r ld ls; do
		[ "$(stat -c %s "blobs/sha256/${ld#sha256:}")" -eq "$ls" ]
	done < <(jq -r '.layers[] | "\(.digest) \(.size)"' "$m")
	# Every blob, and nothing but the image's four.
	[ "$(find blobs -type f | wc -l)" -eq 4 ]
	for f in blobs/sha256/*; do
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${f##*/}" ]
	done
	# Canonical JSON: compact, sorted keys, no trailing newline.
	for f in index.json "$m" "$c"; do
		[ "$(jq -cjS . "$f")" = "$(cat "$f")" ]
	done
	run_tool 0 "$TOP/images/verify" .
	[ "$output" = "$d	linux/amd64	airlock-python" ]
}

@test "image: two builds in fresh directories give byte-identical layers and one digest" {
	for o in a b; do
		AIRLOCK_TEST_TIMEOUT=600 run_tool 0 "${MAKE_IMAGES[@]}" \
		    IMAGE_OUT="$BATS_FILE_TMPDIR/$o" \
		    IMAGE_RUNNER="$BATS_FILE_TMPDIR/runner" images
	done
	a=$BATS_FILE_TMPDIR/a/airlock-python
	b=$BATS_FILE_TMPDIR/b/airlock-python
	[ "$(cat "$a/digest")" = "$(cat "$b/digest")" ]
	[ "$(cat "$a/digest")" = "$(cat "$IMG/digest")" ]
	cmp "$a/layers/base.tar" "$b/layers/base.tar"
	cmp "$a/layers/files.tar" "$b/layers/files.tar"
	diff -r "$a/oci" "$b/oci"
}

@test "image: make rebuilds only the steps whose inputs changed" {
	o=$BATS_FILE_TMPDIR/a
	[ -f "$o/airlock-python/digest" ] ||
	    AIRLOCK_TEST_TIMEOUT=600 run_tool 0 "${MAKE_IMAGES[@]}" \
	    IMAGE_OUT="$o" IMAGE_RUNNER="$BATS_FILE_TMPDIR/runner" images
	want=$(cat "$o/airlock-python/digest")
	run_tool 0 "${MAKE_IMAGES[@]}" IMAGE_OUT="$o" \
	    IMAGE_RUNNER="$BATS_FILE_TMPDIR/runner" images
	[ -z "$output" ]
	# A new runner file (same bytes): only airlock's layer is redone.
	cp "$BATS_FILE_TMPDIR/runner" "$BATS_TEST_TMPDIR/runner"
	run_tool 0 "${MAKE_IMAGES[@]}" IMAGE_OUT="$o" IMAGE_RUNNER="$BATS_TEST_TMPDIR/runner" images
	[[ $output == *"(/usr/libexec/airlock/python-runner /usr/libexec/airlock/kvm-boot.py, "* ]]
	[[ $output != *extracting* ]]
	[[ $output != *"Debian packages"* ]]
	[ "$(cat "$o/airlock-python/digest")" = "$want" ]
}

@test "image: Python runs in the image with nothing of the host" {
	run_tool 0 "${IN_IMAGE[@]}" /usr/bin/python3.11 -c \
	    "import json, re, hashlib, decimal, sqlite3; print('ok')"
	[ "$output" = ok ]
	run_tool 0 "${IN_IMAGE[@]}" /usr/bin/python3.11 -c '
import ssl, zoneinfo, lzma, bz2, zlib, ctypes, uuid, pyexpat, datetime, pwd
import hashlib
ams = zoneinfo.ZoneInfo("Europe/Amsterdam")
print(hashlib.sha256(b"abc").hexdigest()[:8],
      datetime.datetime(2026, 1, 1, tzinfo=ams).utcoffset(),
      pwd.getpwuid(65534).pw_name)'
	[ "$output" = "ba7816bf 1:00:00 nobody" ]
}

@test "image: every standard library module has unchecked-hash bytecode" {
	run_tool 0 "${IN_IMAGE[@]}" /usr/bin/python3.11 -c '
import importlib.util, pathlib
missing = bad = n = 0
for py in pathlib.Path("/usr/lib/python3.11").rglob("*.py"):
    n += 1
    pyc = pathlib.Path(importlib.util.cache_from_source(str(py)))
    if not pyc.exists():
        missing += 1
        print("no bytecode:", py)
    elif pyc.read_bytes()[4:8] != b"\x01\x00\x00\x00":
        bad += 1
        print("not unchecked-hash:", pyc)
print(n, missing, bad)'
	[[ ${lines[-1]} =~ ^[1-9][0-9]*\ 0\ 0$ ]]
}

@test "image: no documentation, manuals, locales or test suites" {
	for p in usr/share/doc usr/share/man usr/share/locale usr/share/info \
	    usr/lib/python3.11/test usr/lib/python3.11/idlelib \
	    usr/lib/python3.11/tkinter usr/lib/python3.11/turtledemo \
	    usr/lib/python3.11/ensurepip usr/lib/python3.11/lib2to3 \
	    usr/lib/x86_64-linux-gnu/gconv; do
		if [ -e "$ROOTFS/$p" ]; then
			echo "$p is in the image" >&2
			return 1
		fi
	done
	[ -z "$(find "$ROOTFS/usr/lib/python3.11" -name '_test*.so' -o -name 'test_*.py')" ]
	# No set-id file, no device node: the /dev entries are empty files.
	[ -z "$(find "$ROOTFS" -perm /6000 -o ! -type f ! -type d ! -type l)" ]
	for d in null zero urandom random; do
		[ -f "$ROOTFS/dev/$d" ] && [ ! -s "$ROOTFS/dev/$d" ]
	done
	[ "$(stat -c %a "$ROOTFS/tmp")" = 1777 ]
}

@test "image: the image's own ld.so finds every library every ELF file needs" {
	n=0
	while IFS= read -r -d '' f; do
		[ "$(head -c 4 "$f")" = $'\x7fELF' ] || continue
		rel=${f#"$ROOTFS"}
		case $rel in
		*/ld-linux-x86-64.so.2) continue ;;
		esac
		run_tool 0 "${IN_IMAGE[@]}" /lib64/ld-linux-x86-64.so.2 --list "$rel"
		if [[ $output == *"not found"* ]]; then
			echo "$rel: $output" >&2
			return 1
		fi
		n=$((n + 1))
	done < <(find "$ROOTFS" -type f -print0)
	[ "$n" -gt 50 ]
	run_tool 0 "$TOP/images/build" check-elf "$ROOTFS"
}

@test "image: a missing library fails the ELF check, naming it" {
	cp -a "$ROOTFS" "$BATS_TEST_TMPDIR/root"
	rm "$BATS_TEST_TMPDIR"/root/usr/lib/x86_64-linux-gnu/libsqlite3.so.0*
	run_tool 1 "$TOP/images/build" check-elf "$BATS_TEST_TMPDIR/root"
	[[ $stderr == *"/usr/lib/python3.11/lib-dynload/_sqlite3.cpython-311-x86_64-linux-gnu.so needs libsqlite3.so.0, which is not in the image"* ]]
}

@test "image: airlock's own files are the second layer, alone, in /usr/libexec/airlock" {
	m=$IMG/oci/blobs/sha256/$(cut -d: -f2 "$IMG/digest")
	l1=$IMG/oci/blobs/sha256/$(jq -r '.layers[0].digest | ltrimstr("sha256:")' "$m")
	l2=$IMG/oci/blobs/sha256/$(jq -r '.layers[1].digest | ltrimstr("sha256:")' "$m")
	[ "$(tar -tf "$l2" | paste -sd ' ' -)" = "usr/ usr/libexec/ usr/libexec/airlock/ usr/libexec/airlock/kvm-boot.py usr/libexec/airlock/python-runner" ]
	tar -tvf "$l2" usr/libexec/airlock/kvm-boot.py | grep -q '^-rw-r--r-- 0/0 '
	tar -xOf "$l2" usr/libexec/airlock/kvm-boot.py | cmp - "$TOP/guest/kvm-boot.py"
	! tar -tf "$l1" | grep -q '^usr/libexec/airlock'
	tar -tvf "$l2" usr/libexec/airlock/python-runner | grep -q '^-rwxr-xr-x 0/0 '
	tar -xOf "$l2" usr/libexec/airlock/python-runner |
	    cmp - "$ROOTFS/usr/libexec/airlock/python-runner"
	# The runner make built, unless it was rebuilt since.
	[ "$TOP/build/guest/python-runner" -nt "$IMG/digest" ] ||
	    cmp "$TOP/build/guest/python-runner" "$ROOTFS/usr/libexec/airlock/python-runner"
}

@test "image: packages.lock gives each .deb's version and sha256, and the cache matches" {
	n=0
	while read -r p v a s; do
		f=$TOP/build/images/debs/${p}_${v//:/%3a}_$a.deb
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$s" ]
		[ "$(dpkg-deb -f "$f" Package Version | paste -sd ' ' -)" = "Package: $p Version: $v" ]
		n=$((n + 1))
	done < <(grep -v '^#' "$IMG/packages.lock")
	[ "$n" -eq "$(grep -cv '^#' "$IMG/packages.list")" ]
	grep -q '^python3.11-minimal ' "$IMG/packages.lock"
	grep -q '^libpython3.11 ' "$IMG/packages.lock"
}

@test "image: a cached .deb that changed after locking stops the build" {
	o=$BATS_TEST_TMPDIR/out
	debs=$BATS_TEST_TMPDIR/debs
	cp -a "$TOP/build/images/debs" "$debs"
	cd "$TOP"
	run_tool 0 images/build list airlock-python "$o"
	run_tool 0 images/build lock airlock-python "$o" "$debs"
	f=$(ls "$debs"/libffi8_*.deb)
	printf 'x' >>"$f"
	run_tool 1 images/build base airlock-python "$o" "$debs"
	[[ $stderr == *"$f: sha256 differs from"* ]]
	# Locking again notices it against apt's lists and fetches it anew.
	run_tool 0 images/build lock airlock-python "$o" "$debs"
	[[ $output == *"downloading 1 packages"* ]]
}

@test "import: the built image imports to the same digest and root filesystem" {
	run_tool 0 "$TOP/images/import" -o "$BATS_TEST_TMPDIR/imp" "$IMG/oci"
	i=$BATS_TEST_TMPDIR/imp/airlock-python
	[ "$(cat "$i/digest")" = "$(cat "$IMG/digest")" ]
	diff -r "$i/oci" "$IMG/oci"
	diff <(cd "$i/rootfs" && find . -mindepth 1 -printf '%P %M %s %T@ %l\n' | sort) \
	    <(cd "$ROOTFS" && find . -mindepth 1 -printf '%P %M %s %T@ %l\n' | sort)
	diff -r --no-dereference "$i/rootfs" "$ROOTFS"
	# Imported once, it is not silently replaced.
	run_tool 1 "$TOP/images/import" -o "$BATS_TEST_TMPDIR/imp" "$IMG/oci"
	[[ $stderr == *"exists (replace it with -f)"* ]]
}

@test "import: a blob whose content is not its digest is refused" {
	cp -a "$IMG/oci" "$BATS_TEST_TMPDIR/bad"
	m=$BATS_TEST_TMPDIR/bad/blobs/sha256/$(cut -d: -f2 "$IMG/digest")
	l=$(jq -r '.layers[1].digest | ltrimstr("sha256:")' "$m")
	printf 'x' | dd of="$BATS_TEST_TMPDIR/bad/blobs/sha256/$l" bs=1 seek=600 \
	    conv=notrunc status=none
	run_tool 1 "$TOP/images/import" -o "$BATS_TEST_TMPDIR/imp" "$BATS_TEST_TMPDIR/bad"
	[[ $stderr == *"blob sha256:$l: content has sha256:"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/imp/airlock-python" ]
	run_tool 1 "$TOP/images/verify" "$BATS_TEST_TMPDIR/bad"
}

@test "import: whiteouts delete from the layers below, opaque directories empty them" {
	t=$BATS_TEST_TMPDIR
	mktar "$t/1.tar" d:a f:a/keep:1 f:a/gone:2 d:d f:d/x:3 d:d/sub f:d/sub/y:4
	mktar "$t/2.tar" f:a/.wh.gone: d:d f:d/.wh..wh..opq: f:d/new:5
	mklayout "$t/layout" "$t/1.tar" "$t/2.tar"
	run_tool 0 "$TOP/images/import" -o "$t/imp" "$t/layout"
	r=$t/imp/test/rootfs
	[ "$(cd "$r" && find . -mindepth 1 | sort | paste -sd ' ' -)" = "./a ./a/keep ./d ./d/new" ]
	[ "$(cat "$r/d/new")" = 5 ]
}

@test "import: gzip layers are checked against their diff_ids and unpacked" {
	t=$BATS_TEST_TMPDIR
	mktar "$t/1.tar" d:etc f:etc/os-release:test
	mklayout "$t/layout" -z "$t/1.tar"
	run_tool 0 "$TOP/images/import" -o "$t/imp" "$t/layout"
	[ "$(cat "$t/imp/test/rootfs/etc/os-release")" = test ]
	# The same compressed layer under another diff_id is refused.
	mktar "$t/2.tar" d:etc f:etc/os-release:other
	c=$(jq -r '.config.digest' "$t/layout/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$t/layout/index.json")")
	rm -rf "$t/bad"
	mklayout "$t/bad" -z "$t/2.tar"
	cp "$t/layout/blobs/sha256/${c#sha256:}" "$t/bad/blobs/sha256/"
	m=$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$t/bad/index.json")
	jq -cj --arg c "$c" --argjson s "$(stat -c %s "$t/layout/blobs/sha256/${c#sha256:}")" \
	    '.config.digest = $c | .config.size = $s' "$t/bad/blobs/sha256/$m" >"$t/m"
	rm "$t/bad/blobs/sha256/$m"
	m=$(sha256sum <"$t/m" | cut -d' ' -f1)
	mv "$t/m" "$t/bad/blobs/sha256/$m"
	jq -cj --arg m "sha256:$m" --argjson s "$(stat -c %s "$t/bad/blobs/sha256/$m")" \
	    '.manifests[0].digest = $m | .manifests[0].size = $s' "$t/bad/index.json" >"$t/i"
	mv "$t/i" "$t/bad/index.json"
	run_tool 1 "$TOP/images/import" -o "$t/imp2" "$t/bad"
	[[ $stderr == *"is not diff_id sha256:"* ]]
}

@test "import: absolute paths, '..', escaping links and devices are refused" {
	t=$BATS_TEST_TMPDIR
	refused() {
		local what=$1
		shift
		rm -rf "$t/layout" "$t/imp"
		mktar "$t/evil.tar" "$@"
		mklayout "$t/layout" "$t/evil.tar"
		run_tool 1 "$TOP/images/import" -o "$t/imp" "$t/layout"
		[[ $stderr == *"$what"* ]]
		[ ! -e "$t/imp/test" ]
	}
	refused "/tmp/airlock-evil: absolute path" f:/tmp/airlock-evil:x
	refused "../airlock-evil: '..' in path" f:../airlock-evil:x
	refused "a/../../airlock-evil: '..' in path" d:a f:a/../../airlock-evil:x
	refused "leaves the image" d:a l:a/up:../../etc/passwd
	refused "x: hard link to /etc/passwd leaves the image" h:x:/etc/passwd
	refused "x: hard link to etc/passwd, which is not" h:x:etc/passwd
	refused "x: hard link to ../x leaves the image" h:x:../x
	refused "device nodes are not allowed" c:null
	[ ! -e /tmp/airlock-evil ] && [ ! -e "$t/airlock-evil" ]
}

@test "import: a write through a symlink lands inside the image, never on the host" {
	t=$BATS_TEST_TMPDIR
	mkdir "$t/host"
	mktar "$t/1.tar" "l:out:$t/host" l:rel:usr/lib d:usr d:usr/lib
	mktar "$t/2.tar" f:out/pwned:x f:rel/lib.so:y
	mklayout "$t/layout" "$t/1.tar" "$t/2.tar"
	run_tool 0 "$TOP/images/import" -o "$t/imp" "$t/layout"
	r=$t/imp/test/rootfs
	[ ! -e "$t/host/pwned" ]
	[ "$(cat "$r$t/host/pwned")" = x ]
	[ "$(cat "$r/usr/lib/lib.so")" = y ]
	[ "$(readlink "$r/out")" = "$t/host" ]
}
