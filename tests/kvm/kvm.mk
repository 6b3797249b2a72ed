# The kvm test bed (tests/kvm/testbed), included from the top Makefile.
#
#   make check-kvm       run the kvm share of the suite inside a Linux
#                        guest under QEMU's software emulation, whose
#                        kvm_amd gives it a /dev/kvm; where the host's own
#                        /dev/kvm is hardware KVM, directly on the host
#   make kvm-testbed     only build the test VM
#
# Each part of the test VM is a file under $(KVM_OUT) that make rebuilds
# only when its inputs changed: the guest kernel and its modules (from
# Debian's package, kept in $(KVM_OUT)/debs), the debootstrap root and its
# ext4 image (rebuilt when tests/kvm/packages changes; rm -rf
# $(KVM_OUT)/base to force it), the initramfs; only the project disk, the
# built tree, is made afresh for every run.

KVM_OUT	?= build/kvm
# The kvm share of the suite: the test files that need /dev/kvm.
KVM_TESTS ?= 70-vmm.bats 71-vmm-snapshot.bats 72-vmm-hostile.bats \
	     73-vmm-jail.bats 74-kvm-pipeline.bats
# What make check runs in the test VM: a bounded part of the kvm share.
# All of it is about 5 minutes of the test VM's time here (README), so
# that is the part; name fewer files to bound it more.
KVM_TESTS_CHECK ?= $(KVM_TESTS)
KVM_TIMEOUT ?= 1800
HAVE_KVM := $(shell [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && echo 1)
# Where /dev/kvm is PVM's (kvm_pvm), `syscall` stays at CPL3 and the VMM
# returns to RCX itself; on hardware KVM the stub enters CPL0 and returns
# with sysretq, and a restored VM resumes past the stub's `out` in ring 0.
# The host's bats runs test the first path; the test VM, nested SVM, the
# second: so it runs wherever /dev/kvm is missing or is PVM's.
KVM_PVM := $(shell [ -d /sys/module/kvm_pvm ] && echo 1)
KVM_TESTBED ?= $(if $(HAVE_KVM),$(if $(KVM_PVM),1,0),1)
export KVM_TIMEOUT
.PHONY: check-kvm kvm-testbed deps-kvm

deps-kvm:
	@sh mk/deps kvm

$(KVM_OUT)/kernel/vmlinuz:
	@tests/kvm/testbed kernel $(KVM_OUT)
$(KVM_OUT)/base/airlock: tests/kvm/packages
	@tests/kvm/testbed base $(KVM_OUT)
$(KVM_OUT)/root.ext4: $(KVM_OUT)/base/airlock
	@tests/kvm/testbed root $(KVM_OUT)
$(KVM_OUT)/initrd.gz: $(KVM_OUT)/kernel/vmlinuz tests/kvm/init
	@tests/kvm/testbed initrd $(KVM_OUT)

kvm-testbed: $(KVM_OUT)/kernel/vmlinuz $(KVM_OUT)/root.ext4 \
    $(KVM_OUT)/initrd.gz

ifeq ($(KVM_TESTBED),0)
check-kvm:
	@$(MAKE) --no-print-directory all images $(TEST_BINS) $(TEST_BINS_EXTRA)
	bats $(addprefix tests/,$(KVM_TESTS))
else
check-kvm: deps-kvm
	@$(MAKE) --no-print-directory all images $(TEST_BINS) $(TEST_BINS_EXTRA)
	@$(MAKE) --no-print-directory kvm-testbed
	@tests/kvm/testbed project $(KVM_OUT)
	@tests/kvm/testbed run $(KVM_OUT) $(KVM_TESTS)
endif
