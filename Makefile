# airlock: one plain, non-recursive Makefile (STYLE.md).
#
#   make            build the tools into bin/
#   make check      install missing Debian packages (as root), build, test;
#                   where /dev/kvm is missing or PVM's, the kvm share of
#                   the suite runs in a test VM under QEMU (make check-kvm)
#   make check-kvm  the kvm share of the suite only (tests/kvm/kvm.mk)
#   make check-long make check, then a long soak, fuzzing and the suite
#                   under ASan/UBSan (mk/check-long; about 40 minutes)
#   make run        install, build, serve the pipeline on 127.0.0.1:4430
#   make bench      print the numbers
#   make lint       man pages through mandoc -Tlint, shell through shellcheck
#
# SANITIZE=1 builds with ASan and UBSan; WERROR=0 stops treating warnings as
# errors.

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DESTDIR	?=
CC	?= cc
CFLAGS	?= -O2 -g
LDFLAGS	?=
WERROR	?= 1
SANITIZE ?=

WARN	= -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
	  -Wstrict-prototypes -Wwrite-strings
ifeq ($(WERROR),1)
WARN	+= -Werror
endif
ifeq ($(SANITIZE),1)
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
endif

ALL_CFLAGS  = $(CFLAGS) -std=gnu11 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 \
	      -fstack-protector-strong -fPIE $(SANFLAGS) $(WARN) -Ilib \
	      $(shell pkg-config --cflags jansson 2>/dev/null)
ALL_LDFLAGS = $(LDFLAGS) -pie -Wl,-z,relro,-z,now $(SANFLAGS)

TOOLS	= airlock-wake airlock-snaft airlock-triage airlock-sign airlock-muxd \
	  airlock-vmm airlock-mcp
# Tools with code so far; a directory without .c files builds nothing.
BUILT	= $(foreach t,$(TOOLS),$(if $(wildcard $(t)/*.c),$(t)))
BINS	= $(addprefix bin/,$(BUILT))
MANS	= $(wildcard man/*.[1-8])

# Each binary links only what it uses: only airlock-sign links libsodium,
# airlock-snaft, airlock-sign (narrowing itself) and airlock-vmm link
# libseccomp, and airlock-vmm no jansson (it writes its one JSON line itself).
PKGS_airlock-sign  = jansson libsodium libseccomp
PKGS_airlock-snaft = jansson libseccomp
PKGS_airlock-wake  = jansson
PKGS_airlock-triage = jansson
PKGS_airlock-muxd  = jansson
PKGS_airlock-vmm   = libseccomp
PKGS_airlock-mcp   = jansson

LIB_SRCS = $(wildcard lib/*.c)
LIB_OBJS = $(patsubst %.c,build/%.o,$(LIB_SRCS))

.PHONY: all check check-long check-fast run bench lint install install-tools \
	install-images uninstall clean deps deb \
	deps-check deps-run

all: $(BINS) build/guest/python-runner

build/libairlock.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

# The x86-64 system call table, generated from the installed kernel headers
# so that no syscall number is typed by hand (lib/syscalls.c includes it).
# One SYSCALL(name, nr) per __NR_* macro, sorted by name for bsearch(3).
ALL_CFLAGS += -Ibuild/gen
build/gen/syscalls.h:
	@mkdir -p $(@D)
	echo '#include <asm/unistd_64.h>' | $(CC) -dM -E - | \
	    sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9][0-9]*\)$$/\1 \2/p' | \
	    LC_ALL=C sort -k1,1 | sed 's/^\([^ ]*\) \(.*\)$$/SYSCALL(\1, \2)/' >$@.tmp
	test -s $@.tmp && mv $@.tmp $@
build/lib/syscalls.o: build/gen/syscalls.h

build/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

define tool_rule
bin/$(1): $(patsubst %.c,build/%.o,$(wildcard $(1)/*.c)) build/libairlock.a
	@mkdir -p bin
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(shell pkg-config --libs $$(PKGS_$(1)))
endef
$(foreach t,$(BUILT),$(eval $(call tool_rule,$(t))))

# Dependency files of our own objects; never anything inside an image, a
# root file system (whose /usr/sbin/invoke-rc.d is no make file) or the
# sanitizer build's copy of the tree (check-long), which has its own.
-include $(shell find build \( -path build/images -o -path build/kvm -o -path build/deb \
    -o -path build/sanitize \) -prune -o -name '*.d' -type f -print 2>/dev/null)

# Tiny guests for the VMM's tests: assembly, linked static, no libc.
VMM_GUESTS = $(patsubst tests/vmm/%.S,build/tests/vmm/%,$(wildcard tests/vmm/*.S))
build/tests/vmm/%: tests/vmm/%.S tests/vmm/check.inc
	@mkdir -p $(@D)
	$(CC) -nostdlib -static -no-pie -Wl,--build-id=none -o $@ $<
TEST_BINS_EXTRA = $(VMM_GUESTS)

# The runners that run inside the sandbox: guest/runner.c (the sandbox and
# its supervision) with one language part each, guest/LANG.c, built as
# build/guest/LANG-runner (guest/lang.h).  They link libc and what their
# language needs, never a sanitizer (they run in the image's root, without
# its runtime).
RUNNER_CFLAGS = $(CFLAGS) -std=gnu11 -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 \
	-fstack-protector-strong -fPIE $(WARN) -Ilib
RUNNER_FLAGS_python = $(shell pkg-config --cflags python-3.11-embed 2>/dev/null)
RUNNER_LIBS_python = $(shell pkg-config --libs python-3.11-embed 2>/dev/null)
build/guest/%-runner: guest/runner.c guest/%.c guest/lang.h lib/sbmsg.c lib/intents.h \
    lib/sandbox.h lib/airlock.h
	@mkdir -p $(@D)
	$(CC) $(RUNNER_CFLAGS) $(RUNNER_FLAGS_$*) -pie -Wl,-z,relro,-z,now \
		-o $@ guest/runner.c guest/$*.c lib/sbmsg.c $(RUNNER_LIBS_$*)

# Image recipes: make images builds the OCI layouts and root filesystems.
include images/images.mk
# Fuzzing: make fuzz (FUZZ_SECONDS per harness), make fuzz-regress.
include tests/fuzz/fuzz.mk
# The kvm test bed: make check-kvm.
include tests/kvm/kvm.mk

# Test-only programs (unit tests of lib/, fixtures generators).
TEST_SRCS = $(wildcard tests/prog/*.c)
TEST_BINS = $(patsubst tests/prog/%.c,build/tests/%,$(TEST_SRCS))
build/tests/%: tests/prog/%.c build/libairlock.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson)

# The official MCP SDK for tests/67-mcp.bats, from the npm registry, at the
# versions tests/mcp/package-lock.json pins.
MCP_SDK = build/mcp/node_modules/.airlock-installed
$(MCP_SDK): tests/mcp/package.json tests/mcp/package-lock.json
	@mkdir -p build/mcp
	cp tests/mcp/package.json tests/mcp/package-lock.json build/mcp/
	cd build/mcp && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# make deb: the Debian package, from a copy of this tree (mk/deb), remade
# when a file it is built from changed.
DEB_VERSION = $(shell head -n 1 debian/changelog | cut -d ' ' -f 2 | tr -d '()')
DEB = build/deb/airlock_$(DEB_VERSION)_amd64.deb
deb: $(DEB)
$(DEB): $(shell find Makefile debian etc guest images lib man mk \
    $(TOOLS) -type f 2>/dev/null)
	@sh mk/deps deb
	@sh mk/deb build/deb

deps-check:
	@sh mk/deps check
deps-run:
	@sh mk/deps run

check: deps-check
	@$(MAKE) --no-print-directory all images $(TEST_BINS) $(TEST_BINS_EXTRA) \
	    $(MCP_SDK)
	bats tests/
	@[ "$(KVM_TESTBED)" = 0 ] || $(MAKE) --no-print-directory check-kvm \
	    KVM_TESTS="$(KVM_TESTS_CHECK)"

check-long: check
	@KVM_CHECK_WAS_ALL=$(if $(filter-out $(KVM_TESTS_CHECK),$(KVM_TESTS)),0,1) \
	    sh mk/check-long

run: deps-run
	@$(MAKE) --no-print-directory all images
	@sh mk/run

bench: deps-check
	@$(MAKE) --no-print-directory all images $(TEST_BINS) $(TEST_BINS_EXTRA)
	@sh mk/bench

lint:
	mandoc -Tlint -W warning $(MANS)
	shellcheck -s sh mk/deps mk/run mk/bench mk/check-long .ci/run \
	    images/snapshot-kvm tests/kvm/testbed tests/kvm/init \
	    tests/kvm/guest-init images/airlock-image-build.in mk/deb \
	    debian/airlock.postinst debian/airlock.postrm tests/deb/debroot
	# bats sets and reads status and lines, which shellcheck cannot see.
	shellcheck -s bash -e SC2034 tests/*.bash images/build images/verify images/import

# The tools read /etc/airlock/intents and /var/lib/airlock/images by
# default: install puts the shipped table and the built images there (an
# existing table is kept, as a configuration file should be).  It is two
# parts: install-tools, the tools, pages, table, units and image recipes,
# all that the Debian package holds (debian/rules), and install-images, the
# images built here, which the package leaves to airlock-image-build(8) on
# the host it is installed on (airlock-image(5), Installed images).
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
SYSCONFDIR ?= /etc
STATEDIR   ?= /var/lib
CACHEDIR   ?= /var/cache
UNITDIR    ?= /lib/systemd/system

# Files made at install time from a template FILE.in: each @NAME@ in it
# becomes the make variable NAME, so that the units and
# airlock-image-build name the paths this install really used (PREFIX=/usr
# for the package, /usr/local by default).  A name left over fails.
INSTALL_VARS = BINDIR SBINDIR LIBDIR STATEDIR CACHEDIR SYSCONFDIR
define install_template
	sed $(foreach v,$(INSTALL_VARS),-e 's|@$(v)@|$($(v))|g') $(1) >$(2).tmp
	if grep -n '@[A-Z_]*@' $(2).tmp; then rm -f $(2).tmp; exit 1; fi
	chmod $(3) $(2).tmp && mv -f $(2).tmp $(2)
endef

# What airlock-image-build needs beside images/build: images/verify,
# images/snapshot-kvm, and per image its recipe (images/NAME/) and airlock's own files for its files
# layer (IMAGE_FILES_NAME, SRC:DEST), installed under files/ at DEST.
IMAGE_LIB = $(DESTDIR)$(LIBDIR)/airlock/images

install: install-tools install-images

install-tools: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	for b in $(BINS); do install -m 0755 $$b $(DESTDIR)$(BINDIR)/; done
	for m in $(MANS); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -d $(DESTDIR)$(SYSCONFDIR)/airlock
	[ -e $(DESTDIR)$(SYSCONFDIR)/airlock/intents ] || \
		install -m 0644 etc/intents $(DESTDIR)$(SYSCONFDIR)/airlock/intents
	install -d $(DESTDIR)$(UNITDIR)
	install -m 0644 etc/airlock-muxd.socket $(DESTDIR)$(UNITDIR)/
	$(call install_template,etc/airlock-muxd.service.in,$(DESTDIR)$(UNITDIR)/airlock-muxd.service,0644)
	$(call install_template,images/airlock-image-build.in,$(DESTDIR)$(SBINDIR)/airlock-image-build,0755)
	rm -rf $(IMAGE_LIB)
	install -d $(IMAGE_LIB)
	install -m 0755 images/build images/verify images/snapshot-kvm $(IMAGE_LIB)/
	for i in $(IMAGES); do cp -R images/$$i $(IMAGE_LIB)/$$i || exit 1; done
	$(foreach i,$(IMAGES),for f in $(IMAGE_FILES_$(i)); do \
		s=$${f%%:*}; m=0644; [ ! -x $$s ] || m=0755; \
		install -D -m $$m $$s $(IMAGE_LIB)/$(i)/files$${f#*:} || exit 1; \
	done;) true

install-images: all images
	install -d -m 0700 $(DESTDIR)$(STATEDIR)/airlock
	install -d $(DESTDIR)$(STATEDIR)/airlock/images
	for i in $(IMAGES); do rm -rf $(DESTDIR)$(STATEDIR)/airlock/images/$$i; \
		mkdir -p $(DESTDIR)$(STATEDIR)/airlock/images/$$i && \
		cp -a $(IMAGE_OUT)/$$i/digest $(IMAGE_OUT)/$$i/oci \
		    $(IMAGE_OUT)/$$i/rootfs $(IMAGE_OUT)/$$i/snapshots \
		    $(DESTDIR)$(STATEDIR)/airlock/images/$$i/; done

# The intent table, the state directory (keys, chain) and the package cache
# of airlock-image-build stay, as a package's configuration and data stay
# on removal; the images go, and the directories install made that are
# left empty.
uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	rm -f $(DESTDIR)$(SBINDIR)/airlock-image-build
	for m in $(MANS); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; \
		rmdir --ignore-fail-on-non-empty $(DESTDIR)$(MANDIR)/man$$s 2>/dev/null; \
	done; true
	for i in $(IMAGES); do rm -rf $(DESTDIR)$(STATEDIR)/airlock/images/$$i; done
	! [ -d $(DESTDIR)$(STATEDIR)/airlock/images ] || \
		rmdir --ignore-fail-on-non-empty $(DESTDIR)$(STATEDIR)/airlock/images
	rm -rf $(IMAGE_LIB)
	! [ -d $(DESTDIR)$(LIBDIR)/airlock ] || rmdir $(DESTDIR)$(LIBDIR)/airlock
	rm -f $(DESTDIR)$(UNITDIR)/airlock-muxd.socket \
		$(DESTDIR)$(UNITDIR)/airlock-muxd.service

clean:
	rm -rf build bin
