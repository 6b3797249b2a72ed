/*
 * JSON lines: reading and writing one JSON object per line, failing closed
 * as DESIGN.md section 2 says.  lib/ never exits; every function returns an
 * error and the tool decides.
 */
#ifndef JSONL_H
#define JSONL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "airlock.h"

/* Default cap on one line, newline excluded. */
#define JSONL_MAX_DEFAULT	RECORD_LINE_MAX

enum jsonl_errcode {
	JSONL_OK = 0,
	JSONL_TOO_LONG,		/* line longer than the cap */
	JSONL_NUL,		/* a NUL byte, raw or escaped as \u0000 */
	JSONL_UTF8,		/* invalid UTF-8 */
	JSONL_SYNTAX,		/* not JSON */
	JSONL_DUPKEY,		/* an object repeats a key */
	JSONL_NOT_OBJECT,	/* valid JSON but not an object */
	JSONL_VERSION,		/* "v" missing, not an integer, or unknown */
	JSONL_TYPE,		/* a member has the wrong type (set by callers) */
};

struct jsonl_error {
	enum jsonl_errcode	 code;
	size_t			 offset;	/* byte offset in the line */
	char			 text[256];	/* human-readable, no newline */
};

/* A short stable name for code: "too_long", "nul_byte", "invalid_utf8", ... */
const char	*jsonl_errname(enum jsonl_errcode);

struct jsonl_reader;

/*
 * Read lines from fd with the given cap (0 = JSONL_MAX_DEFAULT).  The reader
 * owns nothing but its buffer; the caller closes fd.
 */
struct jsonl_reader	*jsonl_reader_new(int fd, size_t maxline);
void			 jsonl_reader_free(struct jsonl_reader *);

/*
 * Next line.  Returns 1 and sets *line and *len (valid until the next call; the
 * line is NUL-terminated at len but may contain NULs) on a complete line;
 * a last line without newline counts as a line.  A line over the cap is
 * consumed whole and returned with *line == NULL and *len = its length.
 * Returns 0 at end of input, -1 with errno on a read error.  Empty lines
 * are skipped.  On a non-blocking descriptor -1 with EAGAIN means "no
 * complete line yet", and on a signal -1 with EINTR: call again later,
 * nothing is lost.
 */
int	jsonl_next(struct jsonl_reader *, const char **line, size_t *len);

/*
 * The record on the next line, with jsonl_next()'s return values: 1 with
 * *rec the parsed object, version-checked with JSONL_CHECK_VERSION; or,
 * for a line that is not one (over the cap, not JSON, of another version),
 * 1 with *rec the record jsonl_reject_line() builds for it and *je saying
 * what was wrong, in the one wording every stage uses.  je->code is
 * JSONL_OK for a good line.  *rec is NULL only when out of memory.
 */
#define JSONL_CHECK_VERSION	0x1
int	jsonl_next_record(struct jsonl_reader *, const char *stage, int flags,
	    json_t **rec, struct jsonl_error *je);

/* 1 if the reader holds input not yet returned (so poll(2) may not wake). */
int	jsonl_pending(const struct jsonl_reader *);

/*
 * Parse one line fail-closed: NUL bytes, invalid UTF-8, duplicate keys,
 * trailing garbage and non-objects are refused.  Returns a new reference or
 * NULL with *err filled in.
 */
json_t	*jsonl_parse(const char *line, size_t len, struct jsonl_error *err);

/*
 * Check that rec has "v" equal to RECORD_VERSION.  Returns 0, or -1 with
 * *err (JSONL_VERSION) filled in.
 */
int	jsonl_check_version(json_t *rec, struct jsonl_error *err);

/*
 * Write rec as one compact line to fp and flush.  Returns 0, or -1 with
 * errno set (EPIPE when the reader went away).
 */
int	jsonl_write(FILE *fp, json_t *rec);

/*
 * The record a stage emits for an input line it could not parse, so that
 * nothing is ever dropped:
 *   {"v":1,"id":"<new>","input":{"bytes":N,"sha256":"<hex>"},
 *    "reject":{"status":400,"error":"<jsonl_errname>","reason":"<text>",
 *              "stage":"<stage>"}}
 * Returns a new reference, or NULL if out of memory.
 */
json_t	*jsonl_reject_line(const char *line, size_t len,
	    const struct jsonl_error *err, const char *stage);

/* Helpers for typed members; each returns NULL/-1 if absent or mistyped. */
const char	*jsonl_get_string(json_t *obj, const char *key);
int		 jsonl_get_int(json_t *obj, const char *key, long long *out);

#endif
