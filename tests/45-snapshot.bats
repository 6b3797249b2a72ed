#!/usr/bin/env bats
# The kvm snapshot container (lib/snapfile.c, airlock-image(5)): what
# airlock-vmm -S writes and what airlock-wake and airlock-vmm -R load.
# These need no KVM: build/tests/snapcheck writes a snapshot of known
# contents and loads it the way the loaders do.

load helpers

SNAPCHECK=$TOP/build/tests/snapcheck

setup() {
	cd "$BATS_TEST_TMPDIR"
	run_tool 0 "$SNAPCHECK" write s.kvm
}

# poke FILE OFFSET: flip the bits of one byte.
poke() {
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# redigest FILE: what an attacker who can also write FILE.digest does.
redigest() {
	echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)" >"$1.digest"
}

@test "snapshot: written, loaded and unpacked byte for byte, sealed" {
	run_tool 0 "$SNAPCHECK" load s.kvm
	assert_output "ok $(cat s.kvm.digest) 422"
	# The digest is the file's SHA-256, checkable with any tool.
	assert_equal "$(cat s.kvm.digest)" \
	    "sha256:$(sha256sum s.kvm | cut -d' ' -f1)"
}

@test "snapshot: one changed byte anywhere is refused (digest mismatch)" {
	local size off
	size=$(stat -c %s s.kvm)
	# Header, state, page table, first page, a middle page, last byte.
	for off in 0 9 70 100 3500 $((size / 2)) $((size - 1)); do
		cp s.kvm t.kvm
		cp s.kvm.digest t.kvm.digest
		poke t.kvm "$off"
		run_tool 1 "$SNAPCHECK" load t.kvm
		assert_output --partial "digest mismatch"
	done
}

@test "snapshot: a truncated or extended file is refused" {
	cp s.kvm.digest t.kvm.digest
	head -c -1 s.kvm >t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "digest mismatch"
	{ cat s.kvm; printf x; } >t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "digest mismatch"
}

@test "snapshot: without its digest file it is refused" {
	cp s.kvm t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "t.kvm.digest"
}

@test "snapshot: with a matching forged digest, a bad structure is still refused" {
	# Guest memory size no longer a whole number of pages.
	cp s.kvm t.kvm
	poke t.kvm 8
	redigest t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "bad snapshot header"
	# More pages claimed than the file holds.
	cp s.kvm t.kvm
	poke t.kvm 31
	redigest t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "bad snapshot header"
	# A page address out of order (the second entry of the page table,
	# after the 64-byte header and the state padded to 8 bytes).
	cp s.kvm t.kvm
	poke t.kvm $((64 + 48 + 8 + 1))
	redigest t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "bad page address"
	# A byte more than the header accounts for.
	{ cat s.kvm; printf x; } >t.kvm
	redigest t.kvm
	run_tool 1 "$SNAPCHECK" load t.kvm
	assert_output --partial "does not match its header"
}
