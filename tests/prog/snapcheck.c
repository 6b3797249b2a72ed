/*
 * Checks for lib/snapfile.c, the kvm snapshot container, without KVM:
 *
 *   snapcheck write FILE   write a test snapshot (8 MiB of guest memory with
 *                          a known pattern in some pages, a known state) to
 *                          FILE and its digest to FILE.digest
 *   snapcheck load FILE    load FILE as airlock-vmm -R and airlock-wake do:
 *                          digest, header and page checks, unpacking into
 *                          a sealed memfd; then check every byte of the
 *                          unpacked copy and that it cannot be changed.
 *                          Prints "ok DIGEST" or the loader's refusal
 *                          (exit 1).
 */
#include <sys/mman.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfile.h"

#define MEMSIZE		(8ULL << 20)
#define NPAGES		(MEMSIZE / SNAP_PAGE)
#define STATE		"the VMM's state, opaque to the container"

/* Page pg's byte at i, for the pages the test snapshot keeps. */
static uint8_t
pattern(uint64_t pg, uint64_t i)
{
	return (uint8_t)(pg * 31 + i * 7 + 1);
}

/* Pages 1-16, every 5th page after, and page NPAGES-1; 40 is kept but 0. */
static int
kept(uint64_t pg)
{
	return (pg >= 1 && pg <= 16) || (pg > 16 && pg % 5 == 0) ||
	    pg == NPAGES - 1;
}

static int
nonzero(uint64_t pg)
{
	return kept(pg) && pg != 40;
}

static int
cmd_write(const char *path)
{
	char digest[SNAP_DIGEST_LEN + 1], dpath[4096], why[256];
	uint8_t *mem, *keep;
	uint64_t pg, i;
	FILE *f;
	int fd;

	if ((mem = calloc(1, MEMSIZE)) == NULL ||
	    (keep = calloc(1, NPAGES)) == NULL)
		err(111, NULL);
	for (pg = 0; pg < NPAGES; pg++) {
		keep[pg] = (uint8_t)kept(pg);
		if (nonzero(pg))
			for (i = 0; i < SNAP_PAGE; i++)
				mem[pg * SNAP_PAGE + i] = pattern(pg, i);
	}
	/* A page that is not kept must not come back, whatever it holds. */
	memset(mem + 18 * SNAP_PAGE, 0xee, SNAP_PAGE);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		err(111, "%s", path);
	if (snap_write(fd, MEMSIZE, STATE, strlen(STATE), mem, keep, digest,
	    why, sizeof(why)) != 0)
		errx(1, "%s", why);
	close(fd);
	snprintf(dpath, sizeof(dpath), "%s.digest", path);
	if ((f = fopen(dpath, "w")) == NULL)
		err(111, "%s", dpath);
	fprintf(f, "%s\n", digest);
	fclose(f);
	printf("%s\n", digest);
	free(mem);
	free(keep);
	return 0;
}

static int
cmd_load(const char *path)
{
	struct snapmem hdr, again;
	char why[512], state[sizeof(STATE)];
	uint8_t *mem, b = 0;
	uint64_t pg, i;
	int fd;

	if ((fd = snap_load(path, NULL, &hdr, why, sizeof(why))) < 0) {
		printf("%s\n", why);
		return 1;
	}
	if (snap_check(fd, &again, why, sizeof(why)) != 0)
		errx(1, "snap_check: %s", why);
	if (hdr.memsize != MEMSIZE || again.memsize != MEMSIZE ||
	    hdr.state_len != strlen(STATE) ||
	    memcmp(hdr.digest, again.digest, sizeof(hdr.digest)) != 0)
		errx(1, "header does not round-trip");
	if (pread(fd, state, strlen(STATE), SNAP_PAGE) !=
	    (ssize_t)strlen(STATE) || memcmp(state, STATE, strlen(STATE)) != 0)
		errx(1, "state does not round-trip");
	mem = mmap(NULL, MEMSIZE, PROT_READ, MAP_PRIVATE, fd,
	    (off_t)hdr.mem_off);
	if (mem == MAP_FAILED)
		err(1, "mmap");
	for (pg = 0; pg < NPAGES; pg++)
		for (i = 0; i < SNAP_PAGE; i++)
			if (mem[pg * SNAP_PAGE + i] != (nonzero(pg) ?
			    pattern(pg, i) : 0))
				errx(1, "page %llu byte %llu differs",
				    (unsigned long long)pg,
				    (unsigned long long)i);
	/* Sealed: nobody may change what every VM maps. */
	if (pwrite(fd, &b, 1, (off_t)hdr.mem_off) != -1 || errno != EPERM)
		errx(1, "the unpacked snapshot is writable");
	if (ftruncate(fd, 0) != -1)
		errx(1, "the unpacked snapshot can shrink");
	if (mmap(NULL, SNAP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) !=
	    MAP_FAILED)
		errx(1, "the unpacked snapshot can be mapped writable");
	/*
	 * What a VM does with it: a private writable mapping, whose writes
	 * stay in this process (copy-on-write) and never reach the copy the
	 * next VM maps.
	 */
	munmap(mem, MEMSIZE);
	mem = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
	    (off_t)hdr.mem_off);
	if (mem == MAP_FAILED)
		err(1, "mmap private writable");
	mem[SNAP_PAGE] = 0x5a;
	if (pread(fd, &b, 1, (off_t)(hdr.mem_off + SNAP_PAGE)) != 1 ||
	    b != pattern(1, 0) || b == 0x5a || mem[SNAP_PAGE] != 0x5a)
		errx(1, "a write to a private mapping reached the snapshot");
	munmap(mem, MEMSIZE);
	printf("ok %s %llu\n", hdr.digest, (unsigned long long)hdr.npages);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2]);
	if (argc == 3 && strcmp(argv[1], "load") == 0)
		return cmd_load(argv[2]);
	fprintf(stderr, "usage: snapcheck write|load FILE\n");
	return 100;
}
