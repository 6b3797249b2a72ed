/*
 * The fixed view of the machine (view.h; airlock-snaft(1) and
 * airlock-vmm(8) document it).
 */
#include <string.h>

#include "view.h"

void
view_uname(struct utsname *u)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->sysname, "Linux");
	strcpy(u->nodename, "airlock");
	strcpy(u->release, "6.1.0-airlock");
	strcpy(u->version, "#1 SMP airlock");
	strcpy(u->machine, "x86_64");
	strcpy(u->domainname, "(none)");
}

/* FNV-1a of the path, above the small numbers the sandbox's own use. */
uint64_t
view_ino(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *path != '\0'; path++)
		h = (h ^ (uint8_t)*path) * 0x100000001b3ULL;
	return h | (1ULL << 32);
}

/*
 * The stat of an image file (from the host's fstat) as a payload sees it:
 * its type, mode, size and link count stay, the rest is the fixed view.
 */
void
view_stat_image(struct stat *st, const char *path)
{
	st->st_dev = VIEW_DEV_IMAGE;
	st->st_ino = view_ino(path);
	st->st_uid = 0;
	st->st_gid = 0;
	st->st_rdev = 0;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
	    VIEW_MTIME;
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = 0;
}

void
view_sysinfo(struct sysinfo *si, uint64_t memory_bytes, uint64_t uptime_s)
{
	memset(si, 0, sizeof(*si));
	si->uptime = (long)uptime_s;
	si->totalram = (unsigned long)memory_bytes;
	si->freeram = (unsigned long)(memory_bytes / 2);
	si->procs = 1;
	si->mem_unit = 1;
}
