/*
 * kvm snapshots (airlock-image(5), DESIGN.md section 8): the container
 * format shared by airlock-vmm, which writes snapshots and restores VMs
 * from them, and airlock-wake, which checks a snapshot's digest once and
 * hands every VM of its pool the same sealed, verified copy.
 *
 * On disk a snapshot is packed: a header, the VMM's state (opaque here),
 * the guest physical addresses of the pages it holds, then those pages.
 * Its digest is the SHA-256 of the whole file, kept beside it in
 * FILE.digest as "sha256:HEX".
 *
 * In memory (snap_load) it is unpacked into a sealed memfd: a header page,
 * the state, then the guest's memory at mem_off, page for page, holes
 * where the guest had nothing.  A VM maps that memory copy-on-write, so
 * all VMs of a snapshot share its pages until they write them, and
 * nobody, not even the process that made it, can change it any more.
 */
#ifndef SNAPFILE_H
#define SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_PAGE		4096ULL
#define SNAP_MEM_MAX		(4ULL << 30)
#define SNAP_STATE_MAX		(8ULL << 20)
#define SNAP_DIGEST_LEN		71	/* "sha256:" and 64 hex digits */

/* The header of an unpacked snapshot, at offset 0 of its memfd. */
struct snapmem {
	char		magic[8];	/* "ALSNMEM1" */
	uint64_t	memsize;	/* guest memory, bytes */
	uint64_t	state_len;	/* VMM state at SNAP_PAGE */
	uint64_t	mem_off;	/* guest memory starts here */
	uint64_t	npages;		/* pages the snapshot held */
	char		digest[SNAP_DIGEST_LEN + 1];	/* of the packed file */
};

/*
 * Write a packed snapshot to fd (then fsync it): memsize bytes of guest
 * memory at mem, of which the pages whose byte in keep[] is nonzero are
 * stored (all-zero pages are left out: they read as zeros anyway).
 * digest receives the file's digest, for FILE.digest.  Returns 0, or -1
 * with a reason in err.
 */
int	snap_write(int fd, uint64_t memsize, const void *state,
	    size_t state_len, const uint8_t *mem, const uint8_t *keep,
	    char digest[SNAP_DIGEST_LEN + 1], char *err, size_t errlen);

/*
 * Read the packed snapshot at path, check that its digest is want (or,
 * with want NULL, what path.digest says), and unpack it into a new sealed
 * memfd, which is returned (close-on-exec).  Every field and page address
 * is checked: a snapshot that was cut short, altered or built wrong is
 * refused.  Returns the fd, or -1 with a reason in err.
 */
int	snap_load(const char *path, const char *want, struct snapmem *hdr,
	    char *err, size_t errlen);

/*
 * Check an unpacked snapshot handed to us as fd: sealed against every
 * change, a sane header, a size that matches.  Fills hdr; returns 0, or
 * -1 with a reason in err.
 */
int	snap_check(int fd, struct snapmem *hdr, char *err, size_t errlen);

#endif
