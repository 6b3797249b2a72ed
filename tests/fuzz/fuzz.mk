# Fuzzing (issue 7): libFuzzer harnesses built with clang, ASan and UBSan.
# Included from the top Makefile; tests/fuzz/README says what each
# harness checks.
#
#   make fuzz            build, then run each harness for FUZZ_SECONDS
#   make fuzz-regress    run each harness once over its committed seed
#                        corpus and regression inputs (a few seconds)
#   make fuzz-build      build only
#   make fuzz-NAME       fuzz one harness (NAME as in FUZZ_NAMES)
#
# Nothing here reuses build/lib: those objects are gcc's, without the
# coverage instrumentation libFuzzer steers by.  Everything lands in
# build/fuzz/.

ifndef FUZZ_MK_INCLUDED
FUZZ_MK_INCLUDED := 1

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_FLAGS	?=
FUZZ_OUT	 = build/fuzz
FUZZ_NAMES	 = jsonl jcs intents verify sign utf8_b64 vmm

# The project's warnings, but errors only in our own harnesses: a warning
# clang finds in lib/ must not stop the fuzzing of it.
FUZZ_WARN	 = -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
		   -Wstrict-prototypes -Wwrite-strings
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = -O1 -g -std=gnu11 -D_GNU_SOURCE $(FUZZ_SAN) $(FUZZ_WARN) \
		   -Ilib -Ibuild/gen -Iairlock-sign \
		   $(shell pkg-config --cflags jansson libsodium 2>/dev/null)
FUZZ_LIBS	 = $(shell pkg-config --libs jansson libsodium 2>/dev/null)

# lib/ and airlock-sign's modules (not its main) instrumented for
# coverage; each harness links what it uses from the two archives.
FUZZ_LIB_OBJS	 = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(wildcard lib/*.c))
FUZZ_SIGN_OBJS	 = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,\
		   $(filter-out airlock-sign/airlock-sign.c,\
		   $(wildcard airlock-sign/*.c)))
# The kvm backend's VMM without its main and its jail (which would need
# libseccomp and would jail the fuzzer).  The real vm.c comes along for
# vm_end() and the FS base calls, whose ioctls fail on the harness's vCPU
# descriptor -1; the rest is linked but never called.
FUZZ_VMM_OBJS	 = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,\
		   $(filter-out airlock-vmm/airlock-vmm.c \
		   airlock-vmm/jail.c,$(wildcard airlock-vmm/*.c)))
FUZZ_BINS	 = $(addprefix $(FUZZ_OUT)/fuzz_,$(FUZZ_NAMES))

# Tokens that the mutator splices in, by harness.
FUZZ_DICT_jsonl	 = tests/fuzz/json.dict
FUZZ_DICT_jcs	 = tests/fuzz/json.dict
FUZZ_DICT_verify = tests/fuzz/json.dict
FUZZ_DICT_sign	 = tests/fuzz/json.dict
FUZZ_DICT_intents = tests/fuzz/intents.dict

.PHONY: fuzz fuzz-build fuzz-regress $(addprefix fuzz-,$(FUZZ_NAMES))

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_OUT)/obj/lib/syscalls.o: build/gen/syscalls.h

$(FUZZ_OUT)/libairlock.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && $(AR) rcs $@ $^
$(FUZZ_OUT)/libsign.a: $(FUZZ_SIGN_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_OUT)/libvmm.a: $(FUZZ_VMM_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

# fuzz_vmm links the VMM's modules instead of the signer's.
$(FUZZ_OUT)/fuzz_vmm: tests/fuzz/fuzz_vmm.c tests/fuzz/fuzz.h \
    $(FUZZ_OUT)/libvmm.a $(FUZZ_OUT)/libairlock.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iairlock-vmm -Werror -fsanitize=fuzzer \
		-MMD -MP -o $@ $(filter %.c %.a,$^) $(FUZZ_LIBS)

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h \
    $(FUZZ_OUT)/libsign.a $(FUZZ_OUT)/libairlock.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -MMD -MP -o $@ \
		$(filter %.c %.a,$^) $(FUZZ_LIBS)

# One harness for FUZZ_SECONDS: new inputs go to the working corpus in
# build/fuzz/corpus/NAME (the first directory, the one libFuzzer writes),
# the committed seeds are read too.  A crash stops make, naming the
# reproducer; tests/fuzz/README says how to make it a regression input.
define fuzz_rule
fuzz-$(1): $(FUZZ_OUT)/fuzz_$(1)
	@mkdir -p $(FUZZ_OUT)/corpus/$(1) $(FUZZ_OUT)/crashes/$(1)
	@echo "fuzz: $(1) for $(FUZZ_SECONDS) s"
	@$(FUZZ_OUT)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_OUT)/crashes/$(1)/ \
	    $(if $(FUZZ_DICT_$(1)),-dict=$(FUZZ_DICT_$(1))) \
	    $(FUZZ_FLAGS) $(FUZZ_OUT)/corpus/$(1) tests/fuzz/corpus/$(1) \
	    >$(FUZZ_OUT)/fuzz_$(1).log 2>&1 || { \
		tail -n 60 $(FUZZ_OUT)/fuzz_$(1).log; \
		f=$$$$(sed -n 's/.*Test unit written to //p' \
		    $(FUZZ_OUT)/fuzz_$(1).log | tail -n 1); \
		echo "fuzz: $(1) failed (log: $(FUZZ_OUT)/fuzz_$(1).log)"; \
		[ -z "$$$$f" ] || echo "fuzz: reproducer: $$$$f;" \
		    "replay: $(FUZZ_OUT)/fuzz_$(1) $$$$f"; \
		exit 1; }
	@grep -E '^(#[0-9]+.*DONE|stat::)' $(FUZZ_OUT)/fuzz_$(1).log || true
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(n))))

fuzz: $(addprefix fuzz-,$(FUZZ_NAMES))

# Each harness runs every committed input once, with no mutation: what
# once crashed stays fixed.  Given files rather than directories,
# libFuzzer runs exactly those and exits non-zero at the first failure.
fuzz-regress: $(FUZZ_BINS)
	@for n in $(FUZZ_NAMES); do \
		files=$$(find tests/fuzz/corpus/$$n tests/fuzz/regress/$$n \
		    -type f ! -name README 2>/dev/null | LC_ALL=C sort); \
		[ -n "$$files" ] || continue; \
		echo "fuzz-regress: $$n: $$(echo "$$files" | wc -l) inputs"; \
		mkdir -p $(FUZZ_OUT)/crashes/$$n; \
		$(FUZZ_OUT)/fuzz_$$n -artifact_prefix=$(FUZZ_OUT)/crashes/$$n/ \
		    $$files >$(FUZZ_OUT)/regress_$$n.log 2>&1 || \
		    { tail -n 60 $(FUZZ_OUT)/regress_$$n.log; exit 1; }; \
	done

endif
