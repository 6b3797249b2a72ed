/*
 * The intent table (DESIGN.md section 3): parsing airlock-intents(5),
 * matching intents to rows, expanding allow lists into system call sets
 * (with lib/families.c) and giving each policy a digest.
 *
 * The table is a policy file: a mistake in it widens what a payload may do,
 * so the parser refuses anything it does not fully understand and names the
 * line.  Every check here has a fixture in tests/data/intents/.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/sched.h>
#include <linux/sockios.h>

#include <asm/unistd_64.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "intents.h"
#include "sha256.h"

#define TABLE_MAX_BYTES	(1024 * 1024)	/* a bigger table is refused */
#define LINE_MAX_BYTES	4096		/* newline excluded */
#define PATTERN_MAX	128
#define NAME_MAX_LEN	64		/* image and snapshot names */
#define POLICY_VERSION	"airlock-policy/1"

/* Loading. */

enum keyword {
	KW_IMAGE,
	KW_SNAPSHOT,
	KW_BACKEND,
	KW_MODE,
	KW_LIMITS,
	KW_ALLOW,
	KW_MAX
};

static const char *const keywords[KW_MAX] = {
	"image", "snapshot", "backend", "mode", "limits", "allow",
};

struct limitdef {
	const char	*name;
	int		 is_time;	/* else a size */
	size_t		 off;		/* in struct limits */
	uint64_t	 min, max, def;
	const char	*range;		/* min and max, as written */
};

#define KiB	1024ULL
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)

static const struct limitdef limitdefs[] = {
	{ "wall", 1, offsetof(struct limits, wall_ms),
	    1, 3600000, 10000, "1ms to 60m" },
	{ "cpu", 1, offsetof(struct limits, cpu_ms),
	    1, 3600000, 5000, "1ms to 60m" },
	{ "memory", 0, offsetof(struct limits, memory_bytes),
	    LIMIT_MEMORY_MIN, 64 * GiB, 512 * MiB, "64M to 64G" },
	{ "output", 0, offsetof(struct limits, output_bytes),
	    1, 2 * MiB, 1 * MiB, "1 to 2M" },
	{ "file", 0, offsetof(struct limits, file_bytes),
	    1, 16 * GiB, 16 * MiB, "1 to 16G" },
	{ "tmp", 0, offsetof(struct limits, tmp_bytes),
	    1 * MiB, 16 * GiB, 16 * MiB, "1M to 16G" },
	{ "payload", 0, offsetof(struct limits, payload_bytes),
	    1, 4 * MiB, 1 * MiB, "1 to 4M" },
	{ "files", 0, offsetof(struct limits, files),
	    0, 64, 16, "0 to 64" },
	{ "input", 0, offsetof(struct limits, input_bytes),
	    0, 4 * MiB, 1 * MiB, "0 to 4M" },
	{ "outdir", 0, offsetof(struct limits, outdir_bytes),
	    0, 4 * MiB, 1 * MiB, "0 to 4M" },
};

#define NLIMITS	(sizeof(limitdefs) / sizeof(limitdefs[0]))

struct parser {
	const char		*path;
	int			 line;
	char			*errbuf;
	size_t			 errlen;
	struct intent_table	*t;
	struct intent		*cur;		/* the stanza being read */
	int			 seen[KW_MAX];	/* line of each keyword, or 0 */
	uint8_t			 base[SYSCALL_MAX];
};

static int
perr(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report an error at the current line; always returns -1. */
static int
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errlen == 0)
		return -1;
	if (p->line > 0)
		n = snprintf(p->errbuf, p->errlen, "%s:%d: ", p->path, p->line);
	else
		n = snprintf(p->errbuf, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->errbuf + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Read the whole file, refusing one over TABLE_MAX_BYTES.  We read one byte
 * past the cap rather than trust st_size, which a pipe or /proc file does
 * not have.
 */
static int
readtable(struct parser *p, char **bufp, size_t *lenp)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC)) == -1)
		return perr(p, "%s", strerror(errno));
	if ((buf = malloc(TABLE_MAX_BYTES + 1)) == NULL) {
		saved = errno;
		close(fd);
		return perr(p, "%s", strerror(saved));
	}
	for (;;) {
		n = read(fd, buf + len, TABLE_MAX_BYTES + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			free(buf);
			close(fd);
			return perr(p, "%s", strerror(saved));
		}
		if (n == 0)
			break;
		len += n;
		if (len > TABLE_MAX_BYTES) {
			free(buf);
			close(fd);
			return perr(p, "larger than 1 MiB");
		}
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
}

/*
 * Refuse a line that is not plain ASCII text.  A CR would make "image
 * x\r" a different name than the one the reader sees; a NUL would cut a
 * line short in any C consumer.
 */
static int
checkbytes(struct parser *p, const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	if (len > LINE_MAX_BYTES)
		return perr(p, "line longer than %d bytes", LINE_MAX_BYTES);
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '\0')
			return perr(p, "NUL byte");
		if (c == '\r')
			return perr(p, "carriage return (lines end in \\n "
			    "alone)");
		if (c >= 0x80)
			return perr(p, "non-ASCII byte 0x%02x", c);
		if (c < 0x20 && c != '\t')
			return perr(p, "control character 0x%02x", c);
		if (c == 0x7f)
			return perr(p, "control character 0x7f");
	}
	return 0;
}

/* Split s in place into words; a '#' starts a comment. */
static size_t
splitwords(char *s, char **words, size_t max)
{
	size_t n = 0;
	char *c;

	if ((c = strchr(s, '#')) != NULL)
		*c = '\0';
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || n == max)
			break;
		words[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
	return n;
}

static int
checkpattern(struct parser *p, const char *pat)
{
	const char *star;
	size_t len = strlen(pat);

	if (len > PATTERN_MAX)
		return perr(p, "bad pattern \"%.20s...\": longer than %d "
		    "characters", pat, PATTERN_MAX);
	if (strcmp(pat, "*") == 0)
		return perr(p, "bad pattern \"*\": a pattern that matches "
		    "every intent would make unknown intents run; name a "
		    "prefix");
	star = strchr(pat, '*');
	if (star != NULL && star != pat + len - 1)
		return perr(p, "bad pattern \"%s\": '*' may only end a "
		    "pattern", pat);
	return 0;
}

/*
 * Image and snapshot names become file names: letters, digits, '.', '_'
 * and '-', starting with a letter or digit, so neither "/" nor ".." can
 * reach outside the store.
 */
static int
checkname(struct parser *p, const char *kw, const char *name)
{
	const char *s;

	if (strlen(name) > NAME_MAX_LEN)
		goto bad;
	if (!(name[0] >= 'a' && name[0] <= 'z') &&
	    !(name[0] >= 'A' && name[0] <= 'Z') &&
	    !(name[0] >= '0' && name[0] <= '9'))
		goto bad;
	for (s = name; *s != '\0'; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '.' && *s != '_' &&
		    *s != '-')
			goto bad;
	return 0;
bad:
	return perr(p, "bad %s name \"%s\": use letters, digits, '.', '_' "
	    "and '-', starting with a letter or digit, at most %d "
	    "characters", kw, name, NAME_MAX_LEN);
}

/*
 * Digits followed by a unit.  The value saturates at UINT64_MAX rather
 * than wrapping, so a huge number is reported as out of range.
 */
static int
parsevalue(const struct limitdef *ld, const char *s, uint64_t *out)
{
	uint64_t v = 0, mul;
	int nd = 0;

	for (; *s >= '0' && *s <= '9'; s++, nd++)
		v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
		    v * 10 + (*s - '0');
	if (nd == 0)
		return -1;
	if (ld->is_time) {
		if (strcmp(s, "ms") == 0)
			mul = 1;
		else if (strcmp(s, "s") == 0)
			mul = 1000;
		else if (strcmp(s, "m") == 0)
			mul = 60 * 1000;
		else
			return -1;
	} else {
		if (*s == '\0')
			mul = 1;
		else if (strcmp(s, "K") == 0)
			mul = KiB;
		else if (strcmp(s, "M") == 0)
			mul = MiB;
		else if (strcmp(s, "G") == 0)
			mul = GiB;
		else
			return -1;
	}
	*out = v > UINT64_MAX / mul ? UINT64_MAX : v * mul;
	return 0;
}

static void
setdefaults(struct limits *l)
{
	size_t i;

	for (i = 0; i < NLIMITS; i++)
		*(uint64_t *)((char *)l + limitdefs[i].off) = limitdefs[i].def;
}

static int
parselimits(struct parser *p, char **w, size_t nw)
{
	const struct limitdef *ld;
	uint64_t v;
	int seen[NLIMITS] = { 0 };
	size_t i, j;
	char *eq;

	if (nw == 0)
		return perr(p, "limits needs at least one name=value");
	for (i = 0; i < nw; i++) {
		if ((eq = strchr(w[i], '=')) == NULL)
			return perr(p, "limits: \"%s\" is not name=value",
			    w[i]);
		*eq = '\0';
		ld = NULL;
		for (j = 0; j < NLIMITS; j++)
			if (strcmp(limitdefs[j].name, w[i]) == 0) {
				ld = &limitdefs[j];
				break;
			}
		if (ld == NULL)
			return perr(p, "limits: unknown limit \"%s\" (expected "
			    "wall, cpu, memory, output, file, tmp, payload, "
			    "files, input or outdir)", w[i]);
		if (seen[j])
			return perr(p, "limits: %s given twice", ld->name);
		seen[j] = 1;
		if (parsevalue(ld, eq + 1, &v) == -1)
			return perr(p, "limits: %s=%s: bad %s", ld->name,
			    eq + 1, ld->is_time ?
			    "time (digits and ms, s or m)" :
			    "size (digits and an optional K, M or G)");
		if (v < ld->min || v > ld->max)
			return perr(p, "limits: %s=%s is out of range (%s)",
			    ld->name, eq + 1, ld->range);
		*(uint64_t *)((char *)&p->cur->limits + ld->off) = v;
	}
	return 0;
}

/* An allow list, as every reader of one checks it (intents.h). */
int
intents_allow(char *const *w, size_t nw, uint8_t set[SYSCALL_MAX], char *err,
    size_t errlen, size_t *bad)
{
	const char *fam;
	size_t i, j;
	int nr;

	for (i = 0; i < nw; i++) {
		*bad = i;
		for (j = 0; j < i; j++)
			if (strcmp(w[i], w[j]) == 0)
				return errorf(err, errlen, "allow lists \"%s\" "
				    "twice", w[i]);
		if (family_known(w[i])) {
			if (family_dangerous(w[i]))
				return errorf(err, errlen, "%s is always "
				    "dangerous and cannot be allowed", w[i]);
		} else if ((nr = syscall_number(w[i])) == -1) {
			return errorf(err, errlen, "unknown system call or "
			    "family \"%s\"", w[i]);
		} else if ((fam = family_always(nr)) != NULL) {
			return errorf(err, errlen, "%s is in the "
			    "always-dangerous family %s and cannot be allowed",
			    w[i], fam);
		}
		(void)family_expand(w[i], set);
	}
	return 0;
}

/* A row's allow line, through intents_allow(), kept as written too. */
static int
parseallow(struct parser *p, char **w, size_t nw, uint8_t extra[SYSCALL_MAX])
{
	char why[256];
	size_t i, bad, len = 0;

	if (nw == 0)
		return perr(p, "allow needs at least one system call or "
		    "family name");
	if (intents_allow(w, nw, extra, why, sizeof(why), &bad) == -1)
		return perr(p, "%s", why);
	for (i = 0; i < nw; i++)
		len += strlen(w[i]) + 1;
	if ((p->cur->allow_text = malloc(len)) == NULL)
		return perr(p, "%s", strerror(errno));
	p->cur->allow_text[0] = '\0';
	for (i = 0; i < nw; i++) {
		if (i > 0)
			strcat(p->cur->allow_text, " ");
		strcat(p->cur->allow_text, w[i]);
	}
	return 0;
}

/* The canonical text of a policy; airlock-intents(5) defines it. */
char *
intents_policy_text(const struct intent *in)
{
	char *buf, *s;
	size_t cap;
	int nr, first = 1;

	/* "NNN," per call at most, plus the fixed lines. */
	cap = 128 + SYSCALL_MAX * 4;
	if ((buf = malloc(cap)) == NULL)
		return NULL;
	s = buf + snprintf(buf, cap, "%s\narch x86_64\nmode %s\nallow ",
	    POLICY_VERSION, in->mode == SNAFT_FAST ? "fast" : "observe");
	for (nr = 0; nr < SYSCALL_MAX; nr++) {
		if (!in->allowed[nr])
			continue;
		s += snprintf(s, cap - (s - buf), "%s%d", first ? "" : ",", nr);
		first = 0;
	}
	snprintf(s, cap - (s - buf), "\n");
	return buf;
}

/* Check the stanza just ended and give it its allowed set and digest. */
/* The most a record of a row with limits l can grow to. */
static uint64_t
recordbytes(const struct limits *l)
{
	uint64_t raw = l->input_bytes + 2 * l->output_bytes + l->outdir_bytes;

	return l->payload_bytes + (raw + 2) / 3 * 4 + RECORD_SLACK;
}

static int
endstanza(struct parser *p, const uint8_t extra[SYSCALL_MAX])
{
	struct intent *in = p->cur;
	char *text, hex[SHA256_HEXLEN + 1];
	uint64_t need;
	int nr, saved = p->line;

	if (in == NULL)
		return 0;
	p->line = in->line;
	if (in->image == NULL)
		return perr(p, "intent \"%s\" has no image", in->pattern);
	if (in->snapshot == NULL)
		return perr(p, "intent \"%s\" has no snapshot", in->pattern);
	if ((need = recordbytes(&in->limits)) > RECORD_LINE_MAX)
		return perr(p, "intent \"%s\": its payload, input files, output "
		    "and output files (as base64) need %llu bytes of a record, "
		    "more than the %u a record line holds between stages",
		    in->pattern, (unsigned long long)need, RECORD_LINE_MAX);
	p->line = saved;
	if (in->backend == NULL && (in->backend = strdup("auto")) == NULL)
		return perr(p, "%s", strerror(errno));
	if (in->allow_text == NULL && (in->allow_text = strdup("")) == NULL)
		return perr(p, "%s", strerror(errno));
	for (nr = 0; nr < SYSCALL_MAX; nr++)
		in->allowed[nr] = p->base[nr] | extra[nr];
	if ((text = intents_policy_text(in)) == NULL)
		return perr(p, "%s", strerror(errno));
	sha256_hex(text, strlen(text), hex);
	free(text);
	snprintf(in->policy_digest, sizeof(in->policy_digest), "sha256:%s",
	    hex);
	p->cur = NULL;
	return 0;
}

static int
startstanza(struct parser *p, char **w, size_t nw)
{
	struct intent_table *t = p->t;
	struct intent *rows;
	size_t i;

	if (nw != 1)
		return perr(p, nw == 0 ? "intent needs a pattern" :
		    "intent takes one pattern");
	if (checkpattern(p, w[0]) == -1)
		return -1;
	for (i = 0; i < t->nrows; i++)
		if (strcmp(t->rows[i].pattern, w[0]) == 0)
			return perr(p, "duplicate intent \"%s\" (first at "
			    "line %d)", w[0], t->rows[i].line);
	if ((rows = reallocarray(t->rows, t->nrows + 1,
	    sizeof(*rows))) == NULL)
		return perr(p, "%s", strerror(errno));
	t->rows = rows;
	p->cur = &rows[t->nrows++];
	memset(p->cur, 0, sizeof(*p->cur));
	p->cur->line = p->line;
	p->cur->mode = SNAFT_OBSERVE;
	setdefaults(&p->cur->limits);
	memset(p->seen, 0, sizeof(p->seen));
	if ((p->cur->pattern = strdup(w[0])) == NULL)
		return perr(p, "%s", strerror(errno));
	return 0;
}

static int
parseline(struct parser *p, char *s, uint8_t extra[SYSCALL_MAX])
{
	char *w[LINE_MAX_BYTES / 2 + 1], **val;
	size_t nw, nval;
	int kw;

	nw = splitwords(s, w, sizeof(w) / sizeof(w[0]));
	if (nw == 0)
		return 0;
	if (strcmp(w[0], "intent") == 0) {
		if (endstanza(p, extra) == -1)
			return -1;
		memset(extra, 0, SYSCALL_MAX);
		return startstanza(p, w + 1, nw - 1);
	}
	for (kw = 0; kw < KW_MAX; kw++)
		if (strcmp(w[0], keywords[kw]) == 0)
			break;
	if (kw == KW_MAX)
		return perr(p, "unknown keyword \"%s\"", w[0]);
	if (p->cur == NULL)
		return perr(p, "%s before the first intent line", w[0]);
	if (p->seen[kw])
		return perr(p, "%s given twice in intent \"%s\" (first at "
		    "line %d)", w[0], p->cur->pattern, p->seen[kw]);
	p->seen[kw] = p->line;
	val = w + 1;
	nval = nw - 1;
	switch (kw) {
	case KW_LIMITS:
		return parselimits(p, val, nval);
	case KW_ALLOW:
		return parseallow(p, val, nval, extra);
	}
	if (nval != 1)
		return perr(p, "%s takes one value", w[0]);
	switch (kw) {
	case KW_IMAGE:
		if (checkname(p, w[0], val[0]) == -1)
			return -1;
		if ((p->cur->image = strdup(val[0])) == NULL)
			return perr(p, "%s", strerror(errno));
		break;
	case KW_SNAPSHOT:
		if (checkname(p, w[0], val[0]) == -1)
			return -1;
		if ((p->cur->snapshot = strdup(val[0])) == NULL)
			return perr(p, "%s", strerror(errno));
		break;
	case KW_BACKEND:
		if (strcmp(val[0], "auto") != 0 &&
		    strcmp(val[0], "process") != 0 &&
		    strcmp(val[0], "kvm") != 0)
			return perr(p, "unknown backend \"%s\" (expected auto, "
			    "process or kvm)", val[0]);
		if ((p->cur->backend = strdup(val[0])) == NULL)
			return perr(p, "%s", strerror(errno));
		break;
	case KW_MODE:
		if (strcmp(val[0], "observe") == 0)
			p->cur->mode = SNAFT_OBSERVE;
		else if (strcmp(val[0], "fast") == 0)
			p->cur->mode = SNAFT_FAST;
		else
			return perr(p, "unknown mode \"%s\" (expected observe "
			    "or fast)", val[0]);
		break;
	}
	return 0;
}

/*
 * The base set, resolved once per load.  Every name must be a real system
 * call and none may be always dangerous: a mistake in policy_base[] is
 * reported like a mistake in the table, never ignored.
 */
static int
loadbase(struct parser *p)
{
	const char *const *b;
	const char *fam;
	int nr;

	memset(p->base, 0, sizeof(p->base));
	for (b = policy_base; *b != NULL; b++) {
		if ((nr = syscall_number(*b)) == -1)
			return perr(p, "base set: unknown system call \"%s\"",
			    *b);
		if ((fam = family_always(nr)) != NULL)
			return perr(p, "base set: %s is in the "
			    "always-dangerous family %s", *b, fam);
		p->base[nr] = 1;
	}
	return 0;
}

static int
parsetable(struct parser *p, char *buf, size_t len)
{
	uint8_t extra[SYSCALL_MAX];
	char *s, *nl, line[LINE_MAX_BYTES + 1];
	size_t ll;

	memset(extra, 0, sizeof(extra));
	for (s = buf; s < buf + len; s = nl + 1) {
		p->line++;
		if ((nl = memchr(s, '\n', buf + len - s)) == NULL) {
			/*
			 * A table cut short by a failed write must not be
			 * read as a complete one ("memory=2560M" would
			 * become "memory=256").
			 */
			ll = buf + len - s;
			if (checkbytes(p, s, ll) == -1)
				return -1;
			return perr(p, "last line does not end in a newline");
		}
		ll = nl - s;
		if (checkbytes(p, s, ll) == -1)
			return -1;
		memcpy(line, s, ll);
		line[ll] = '\0';
		if (parseline(p, line, extra) == -1)
			return -1;
	}
	if (endstanza(p, extra) == -1)
		return -1;
	if (p->t->nrows == 0) {
		p->line = 0;
		return perr(p, "no intent stanzas");
	}
	return 0;
}

struct intent_table *
intents_load(const char *path, char *errbuf, size_t errlen)
{
	struct parser p;
	struct intent_table *t;
	char *buf = NULL, hex[SHA256_HEXLEN + 1];
	size_t len = 0;

	memset(&p, 0, sizeof(p));
	p.path = path;
	p.errbuf = errbuf;
	p.errlen = errlen;
	if (errlen > 0)
		errbuf[0] = '\0';
	if (loadbase(&p) == -1)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		perr(&p, "%s", strerror(errno));
		return NULL;
	}
	p.t = t;
	if ((t->path = strdup(path)) == NULL) {
		perr(&p, "%s", strerror(errno));
		goto fail_table;
	}
	if (readtable(&p, &buf, &len) == -1)
		goto fail_table;
	sha256_hex(buf, len, hex);
	snprintf(t->digest, sizeof(t->digest), "sha256:%s", hex);
	if (parsetable(&p, buf, len) == -1)
		goto fail_buf;
	free(buf);
	return t;

fail_buf:
	free(buf);
fail_table:
	intents_free(t);
	return NULL;
}

void
intents_free(struct intent_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows; i++) {
		free(t->rows[i].pattern);
		free(t->rows[i].image);
		free(t->rows[i].snapshot);
		free(t->rows[i].backend);
		free(t->rows[i].allow_text);
	}
	free(t->rows);
	free(t->path);
	free(t);
}

const struct intent *
intents_match(const struct intent_table *t, const char *name)
{
	const struct intent *best = NULL;
	size_t i, plen, bestlen = 0;

	if (t == NULL || name == NULL)
		return NULL;
	for (i = 0; i < t->nrows; i++) {
		plen = strlen(t->rows[i].pattern);
		if (t->rows[i].pattern[plen - 1] != '*') {
			/* Exact patterns are unique and beat any '*'. */
			if (strcmp(t->rows[i].pattern, name) == 0)
				return &t->rows[i];
			continue;
		}
		plen--;
		if (strncmp(t->rows[i].pattern, name, plen) == 0 &&
		    (best == NULL || plen > bestlen)) {
			best = &t->rows[i];
			bestlen = plen;
		}
	}
	return best;
}

const struct intent *
intents_find(const struct intent_table *t, const char *pattern)
{
	size_t i;

	if (t == NULL || pattern == NULL)
		return NULL;
	for (i = 0; i < t->nrows; i++)
		if (strcmp(t->rows[i].pattern, pattern) == 0)
			return &t->rows[i];
	return NULL;
}
