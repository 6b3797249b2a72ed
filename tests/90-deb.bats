#!/usr/bin/env bats
# The Debian package (issue 17): make deb builds it and lintian passes it;
# apt installs it into a clean Debian 12 root (debootstrap, made once and
# kept in build/deb/base; a fresh copy per run), airlock-image-build builds
# the image there from the archive, airlock-muxd serves from the installed
# paths with its defaults and answers a frame with a token the installed
# public key verifies; apt purges it and nothing of it is left.  Then make
# install and make uninstall from this tree into the same root.  The
# installed units pass systemd-analyze verify inside the root, where their
# paths exist.  tests/deb/debroot says how the root is entered: by
# pivot_root, not chroot, since a chrooted process may not make the user
# namespaces a sandbox needs.
#
# Needs root and Debian's archive (the configured mirror, or
# AIRLOCK_DEB_MIRROR for debootstrap).  The tests run in order, each on
# what the one before left in the root.

load helpers
load process

DEBROOT=$TOP/tests/deb/debroot
LOADGEN=$TOP/build/tests/loadgen

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (apt and pivot_root in the root)"
	make -C "$TOP" --no-print-directory deb >"$BATS_FILE_TMPDIR/deb.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/deb.log" >&2
		return 1
	}
	DEB=$(ls "$TOP"/build/deb/airlock_*_amd64.deb)
	"$DEBROOT" base "$TOP/build/deb"
	ROOT=$BATS_FILE_TMPDIR/root
	cp -a "$TOP/build/deb/base" "$ROOT"
	# What apt needs to install from the archive, and the state of the
	# clean root with it, to compare the purged root with.
	"$DEBROOT" enter "$ROOT" apt-get update -q >"$BATS_FILE_TMPDIR/apt.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/apt.log" >&2
		return 1
	}
	"$DEBROOT" state "$ROOT" >"$BATS_FILE_TMPDIR/clean.state"
	export DEB ROOT
}

# A test's muxd ends with the test, whether it passed or not (a variable
# set in a test does not reach teardown_file).
teardown() {
	[ -z "${MUXPID:-}" ] || end_process "$MUXPID"
	MUXPID=
}

# changed A B: the lines of state file A that B lacks ("< line") and those
# B has that A lacks ("> line"), files in $BATS_FILE_TMPDIR.
changed() {
	comm -3 --output-delimiter=@ "$BATS_FILE_TMPDIR/$1" "$BATS_FILE_TMPDIR/$2" |
	    sed 's/^@/> /; t; s/^/< /'
}

# ask FRAME: one original-airlock exchange (no newline, read to EOF).
ask() {
	printf '%s' "$1" | "$LOADGEN" -S -a "127.0.0.1:$PORT" -T 60
}

# in_root STATUS CMD...: CMD inside the root, under run_tool.
in_root() {
	local want=$1
	shift
	run_tool "$want" "$DEBROOT" enter "$ROOT" "$@"
}

@test "make deb: the package holds the tools, the man pages, the conffile and units with /usr paths" {
	run_tool 0 dpkg-deb -c "$DEB"
	local t m
	for t in airlock-wake airlock-snaft airlock-triage airlock-sign \
	    airlock-muxd airlock-vmm airlock-mcp; do
		assert_output --partial " ./usr/bin/$t"
	done
	assert_output --partial " ./usr/sbin/airlock-image-build"
	for m in "$TOP"/man/*.[1-8]; do
		assert_output --partial " ./usr/share/man/man${m##*.}/${m##*/}.gz"
	done
	assert_output --partial " ./usr/lib/airlock/images/build"
	assert_output --partial " ./usr/lib/airlock/images/airlock-python/files/usr/libexec/airlock/python-runner"
	run_tool 0 dpkg-deb -f "$DEB" Package Version Architecture
	assert_output "$(printf 'Package: airlock\nVersion: %s\nArchitecture: amd64' \
	    "$(sed -n 's/^#define AIRLOCK_VERSION[[:space:]]*"\(.*\)"$/\1/p' "$TOP/lib/airlock.h")")"
	run_tool 0 sh -c "dpkg-deb --ctrl-tarfile '$DEB' | tar -xOf - ./conffiles"
	assert_output /etc/airlock/intents
	run_tool 0 sh -c "dpkg-deb --fsys-tarfile '$DEB' |
	    tar -xOf - ./lib/systemd/system/airlock-muxd.service"
	assert_line ExecStart=/usr/bin/airlock-muxd
	refute_output --partial /usr/local
	refute_output --regexp '@[A-Z_]+@'
}

@test "make deb: lintian reports no error and no warning, and shows each override" {
	run_tool 0 cat "$TOP/build/deb/lintian.txt"
	refute_output --regexp '^[EW]: '
	# Each override in debian/airlock.lintian-overrides is used: without
	# it, lintian would report its tag.
	local tag
	while read -r tag; do
		assert_output --partial "O: airlock: $tag"
	done < <(sed -n 's/^airlock: \([a-z0-9.+-]*\).*/\1/p' \
	    "$TOP/debian/airlock.lintian-overrides")
}

@test "apt installs the package into a clean Debian 12 root: user, key pair, enabled socket" {
	cp "$DEB" "$ROOT/tmp/"
	AIRLOCK_TEST_TIMEOUT=300 in_root 0 env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends "/tmp/${DEB##*/}"
	rm -f "$ROOT/tmp/${DEB##*/}"
	in_root 0 getent passwd _airlock
	assert_output --regexp '^_airlock:x:[0-9]+:[0-9]+::/nonexistent:/usr/sbin/nologin$'
	in_root 0 stat -c '%a %U %n' /var/lib/airlock /var/lib/airlock/airlock.sec \
	    /var/lib/airlock/airlock.pub
	assert_line '700 root /var/lib/airlock'
	assert_line '600 root /var/lib/airlock/airlock.sec'
	in_root 0 readlink /etc/systemd/system/sockets.target.wants/airlock-muxd.socket
	assert_output /lib/systemd/system/airlock-muxd.socket
	in_root 0 dpkg-query -W -f '${Conffiles}' airlock
	assert_output --partial /etc/airlock/intents
	# A reinstall (or an upgrade) keeps the key pair.
	local key
	key=$(sha256sum <"$ROOT/var/lib/airlock/airlock.sec")
	cp "$DEB" "$ROOT/tmp/"
	AIRLOCK_TEST_TIMEOUT=300 in_root 0 env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --reinstall "/tmp/${DEB##*/}"
	rm -f "$ROOT/tmp/${DEB##*/}"
	assert_equal "$(sha256sum <"$ROOT/var/lib/airlock/airlock.sec")" "$key"
}

@test "the package's units pass systemd-analyze verify where they are installed" {
	in_root 0 systemd-analyze verify --man=no \
	    /lib/systemd/system/airlock-muxd.socket \
	    /lib/systemd/system/airlock-muxd.service
	assert_equal "$stderr" ""
	# The documentation they name is installed.
	in_root 0 test -f /usr/share/man/man8/airlock-muxd.8.gz
}

@test "airlock-image-build builds the airlock-python image in the root from the archive" {
	local img=/var/lib/airlock/images/airlock-python digest
	# First without kvm snapshots (-K), then as by default.
	AIRLOCK_TEST_TIMEOUT=600 in_root 0 airlock-image-build -K airlock-python
	assert_line --regexp '^image airlock-python: downloading [0-9]+ packages'
	assert_line 'image airlock-python: snapshot python-safe-boot'
	refute_output --partial 'kvm snapshot'
	in_root 0 cat "$img/digest"
	assert_output --regexp '^sha256:[0-9a-f]{64}$'
	digest=$output
	in_root 0 test -x "$img/rootfs/usr/libexec/airlock/python-runner"
	in_root 1 test -e "$img/snapshots/python-safe-boot.kvm"

	AIRLOCK_TEST_TIMEOUT=600 in_root 0 airlock-image-build airlock-python
	assert_line --regexp '^image airlock-python: [0-9]+ packages, all cached$'
	# Where /dev/kvm can be used, a kvm snapshot too, as make images
	# makes; the shipped row (backend auto) then runs on kvm.
	if have_kvm; then
		assert_line --regexp '^image airlock-python: kvm snapshot python-safe-boot sha256:'
		in_root 0 test -s "$img/snapshots/python-safe-boot.kvm"
		echo kvm >"$BATS_FILE_TMPDIR/backend"
	else
		assert_line --partial 'kvm snapshot python-safe-boot skipped'
		echo process >"$BATS_FILE_TMPDIR/backend"
	fi
	# The same packages give the same image.
	in_root 0 cat "$img/digest"
	assert_output "$digest"
	in_root 100 airlock-image-build no/such
	in_root 1 airlock-image-build airlock-nosuch
	assert_equal "$stderr" "airlock-image-build: airlock-nosuch: no such recipe in /usr/lib/airlock/images"
}

@test "airlock-muxd from the installed paths answers 200 with a token the installed key verifies" {
	serve_muxd "$BATS_FILE_TMPDIR/muxd.log" "$DEBROOT" enter "$ROOT" airlock-muxd
	export MUXPID
	# It serves as the package's user.
	local uid
	in_root 0 id -u _airlock
	uid=$output
	run_tool 0 awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$MUXPID/status"
	assert_output "$uid $uid $uid $uid"

	output=$(ask "$(frame 1 code:execute 'print(6 * 7)')")
	assert_equal "$(jq -r .status <<<"$output")" 200
	assert_equal "$(jq -r .result.stdout <<<"$output")" 42
	# On the backend the image build prepared (auto: kvm where it can).
	assert_equal "$(jq -r .tibet_provenance.eromheen.backend <<<"$output")" \
	    "$(cat "$BATS_FILE_TMPDIR/backend")"
	jq -c .tibet_provenance <<<"$output" >"$ROOT/tmp/token.jsonl"
	output=$(ask "$(frame 2 code:execute 'import socket; socket.socket()')")
	assert_equal "$(jq -r .status <<<"$output")" 403
	jq -c .tibet_provenance <<<"$output" >>"$ROOT/tmp/token.jsonl"
	end_process "$MUXPID"
	MUXPID=
	assert_equal "$ENDRC" 0

	in_root 0 airlock-sign -V -p /var/lib/airlock/airlock.pub /tmp/token.jsonl
	# Another key does not verify them.
	cp "$DATA/test.pub" "$ROOT/tmp/other.pub"
	in_root 1 airlock-sign -V -p /tmp/other.pub /tmp/token.jsonl
	rm -f "$ROOT/tmp/token.jsonl" "$ROOT/tmp/other.pub"
	# The signer's chain is the default one, in the state directory.
	in_root 0 jq -r .seq /var/lib/airlock/airlock.chain
	assert_output 2
}

@test "apt purge leaves nothing of the package; the system user stays, as Debian does" {
	AIRLOCK_TEST_TIMEOUT=300 in_root 0 env DEBIAN_FRONTEND=noninteractive \
	    apt-get purge -y -q airlock
	AIRLOCK_TEST_TIMEOUT=300 in_root 0 env DEBIAN_FRONTEND=noninteractive \
	    apt-get autoremove --purge -y -q
	in_root 1 dpkg-query -W -f '${Status}' airlock
	"$DEBROOT" state "$ROOT" >"$BATS_FILE_TMPDIR/purged.state"
	# What differs is the user and group _airlock in the account files
	# and their backups, and nothing else: no file, link or directory of
	# the package, no unit link, no state.
	run changed clean.state purged.state
	assert_success
	assert_line --regexp '^> \./etc/passwd sha256 '
	local line
	for line in "${lines[@]}"; do
		[[ $line =~ ^[\<\>]\ \./etc/(passwd|group|shadow|gshadow)-?\ sha256\  ]] ||
		    fail "left after purge: $line"
	done
	in_root 0 getent passwd _airlock
	assert_output --regexp ':/nonexistent:/usr/sbin/nologin$'
}

@test "make install and make uninstall from the tree: units with PREFIX's paths, and what stays" {
	# The unit reloads with /bin/kill: procps, which the package depends
	# on, and a Debian system has (Priority: important), but the purge
	# above took away again.
	AIRLOCK_TEST_TIMEOUT=300 in_root 0 env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends procps
	"$DEBROOT" state "$ROOT" >"$BATS_FILE_TMPDIR/before.state"
	AIRLOCK_TEST_TIMEOUT=600 run_tool 0 make -C "$TOP" --no-print-directory \
	    install IMAGES=airlock-python DESTDIR="$ROOT"
	in_root 0 grep -x 'ExecStart=/usr/local/bin/airlock-muxd' \
	    /lib/systemd/system/airlock-muxd.service
	in_root 0 systemd-analyze verify --man=no \
	    /lib/systemd/system/airlock-muxd.socket \
	    /lib/systemd/system/airlock-muxd.service
	assert_equal "$stderr" ""
	in_root 0 grep -E '^(lib|vmm|out|cache)=/' /usr/local/sbin/airlock-image-build
	assert_output "$(printf '%s\n' lib=/usr/local/lib/airlock/images \
	    vmm=/usr/local/bin/airlock-vmm out=/var/lib/airlock/images \
	    cache=/var/cache/airlock/debs)"
	in_root 0 test -f /var/lib/airlock/images/airlock-python/digest
	AIRLOCK_TEST_TIMEOUT=300 run_tool 0 make -C "$TOP" --no-print-directory \
	    uninstall IMAGES=airlock-python DESTDIR="$ROOT"
	"$DEBROOT" state "$ROOT" >"$BATS_FILE_TMPDIR/after.state"
	# Only the intent table (configuration) and the state directory
	# (keys, chain) stay, as a removed package's configuration does.
	run changed before.state after.state
	assert_success
	assert_output "$(printf '%s\n' \
	    '> ./etc/airlock d 755 0 0 ' \
	    '> ./etc/airlock/intents f 644 0 0 ' \
	    "> ./etc/airlock/intents sha256 $(sha256sum <"$TOP/etc/intents" | cut -d' ' -f1)" \
	    '> ./var/lib/airlock d 700 0 0 ')"
}
