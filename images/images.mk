# Image recipes (airlock-image(5)), included from the top Makefile.
#
#   make images                  build every shipped image
#   make IMAGE_OUT=DIR images    build them under DIR instead of build/images
#
# Each image is built in steps, each a file under $(IMAGE_OUT)/NAME/ that make
# rebuilds only when its inputs changed: the package list, the lock (versions
# and sha256 of the .deb files, which are cached in $(IMAGE_DEBS)), the layer
# of Debian files, the layer of airlock's own files (the runner), and last
# the OCI layout, the unpacked rootfs and the digest file.  The snapshot
# descriptions are copied beside them, so that $(IMAGE_OUT) is a directory
# airlock-wake -I can use as it is.

IMAGE_OUT    ?= build/images
IMAGE_DEBS   ?= build/images/debs
IMAGE_RUNNER ?= build/guest/python-runner
IMAGES	      = airlock-python airlock-scanner airlock-sip airlock-webrtc

# Extra packages for an image, beyond its recipe: IMAGE_EXTRA_PACKAGES_NAME.
# Files of airlock's own layer for each image, as SRC:DEST: every image has
# the process backend's runner and the kvm backend's boot program.
IMAGE_BOOT = $(IMAGE_RUNNER):/usr/libexec/airlock/python-runner \
    guest/kvm-boot.py:/usr/libexec/airlock/kvm-boot.py
IMAGE_FILES_airlock-python = $(IMAGE_BOOT)

# airlock-scanner: file:scan's program and its engine, and the module every
# image but airlock-python preloads first (guest/airlock_site.py).
# CLAMAV_DB=DIR adds the ClamAV databases in DIR (main.cvd, daily.cvd and
# the like) beside the image's test database (airlock-image(5)).
CLAMAV_DB ?=
IMAGE_SITE = guest/airlock_site.py:/usr/lib/python3.11/airlock_site.py
IMAGE_FILES_airlock-scanner = $(IMAGE_BOOT) $(IMAGE_SITE) \
    guest/scan.py:/usr/libexec/airlock/scan.py \
    guest/airlock_scanner.py:/usr/lib/python3/dist-packages/airlock_scanner.py \
    $(if $(CLAMAV_DB),$(foreach f,$(sort $(wildcard $(addprefix $(CLAMAV_DB)/,\
        *.cvd *.cld *.cud *.hdb *.hsb *.mdb *.msb *.ndb *.ldb *.fp *.sfp *.ign2 \
        *.ftm *.crb *.pdb *.wdb *.yar *.yara))),$(f):/var/lib/clamav/$(notdir $(f))))

IMAGE_FILES_airlock-sip = $(IMAGE_BOOT) $(IMAGE_SITE)
IMAGE_FILES_airlock-webrtc = $(IMAGE_BOOT) $(IMAGE_SITE) \
    guest/airlock_av.py:/usr/lib/python3/dist-packages/airlock_av.py

.PHONY: images images-force kvm-snapshots

# Where /dev/kvm can be used, make images builds the kvm snapshot of every
# snapshot description with a kvm line too, so that an intent whose backend
# is auto runs on kvm there (airlock-wake(1), "Backends").  IMAGE_KVM=0
# leaves them out (the rows then run on the process backend).
IMAGE_KVM ?= $(shell [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && echo 1)

# $(1): image name.  The package list is regenerated every time but written
# only when it changed, so it is the step that notices a changed recipe or
# IMAGE_EXTRA_PACKAGES_NAME.
define image_rules
images: $(IMAGE_OUT)/$(1)/digest \
    $(patsubst images/%,$(IMAGE_OUT)/%,$(wildcard images/$(1)/snapshots/*))

$(IMAGE_OUT)/$(1)/packages.list: images-force
	@images/build list $(1) $(IMAGE_OUT) $$(IMAGE_EXTRA_PACKAGES_$(1))

$(IMAGE_OUT)/$(1)/packages.lock: $(IMAGE_OUT)/$(1)/packages.list images/build
	@images/build lock $(1) $(IMAGE_OUT) $(IMAGE_DEBS)

$(IMAGE_OUT)/$(1)/layers/base.tar: $(IMAGE_OUT)/$(1)/packages.lock \
    images/build $(wildcard images/$(1)/prune images/$(1)/config) \
    $(shell find images/$(1)/skel 2>/dev/null)
	@images/build base $(1) $(IMAGE_OUT) $(IMAGE_DEBS)

$(IMAGE_OUT)/$(1)/layers/files.tar: $(IMAGE_OUT)/$(1)/layers/base.tar \
    images/build $(foreach f,$(IMAGE_FILES_$(1)),$(firstword $(subst :, ,$(f))))
	@images/build files $(1) $(IMAGE_OUT) $(IMAGE_FILES_$(1))

$(IMAGE_OUT)/$(1)/digest: $(IMAGE_OUT)/$(1)/layers/base.tar \
    $(IMAGE_OUT)/$(1)/layers/files.tar images/build images/verify \
    $(wildcard images/$(1)/config)
	@images/build assemble $(1) $(IMAGE_OUT) base files

$(IMAGE_OUT)/$(1)/snapshots/%: images/$(1)/snapshots/%
	@mkdir -p $$(@D)
	@cp $$< $$@.tmp && mv -f $$@.tmp $$@
	@echo "image $(1): snapshot $$*"

# The kvm backend's snapshots (issue 6): the VM saved at its payload read.
# Nothing is made where /dev/kvm cannot be used (images/snapshot-kvm says
# so), and the rule then runs again next time, which costs a stat.
kvm-snapshots: $(patsubst images/%,$(IMAGE_OUT)/%.kvm,\
    $(wildcard images/$(1)/snapshots/*))
ifeq ($(IMAGE_KVM),1)
images: $(patsubst images/%,$(IMAGE_OUT)/%.kvm,\
    $(shell grep -l '^kvm[[:space:]]' images/$(1)/snapshots/* 2>/dev/null))
endif
$(IMAGE_OUT)/$(1)/snapshots/%.kvm: images/$(1)/snapshots/% \
    $(IMAGE_OUT)/$(1)/digest bin/airlock-vmm images/snapshot-kvm etc/intents
	@images/snapshot-kvm bin/airlock-vmm $(IMAGE_OUT) $(1) $$*

$(IMAGE_OUT)/$(1)/oci $(IMAGE_OUT)/$(1)/oci/ \
$(IMAGE_OUT)/$(1)/rootfs $(IMAGE_OUT)/$(1)/rootfs/: $(IMAGE_OUT)/$(1)/digest ;
endef
$(foreach i,$(IMAGES),$(eval $(call image_rules,$(i))))
