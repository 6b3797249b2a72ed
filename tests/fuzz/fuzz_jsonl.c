/*
 * fuzz_jsonl: the frame and record parser (lib/jsonl.c).
 *
 * Input: one byte choosing the line cap, one byte seeding how the stream
 * is cut into writes (and, when its top three bits are set, asking for the
 * stream to be repeated past 64 KiB), then the stream itself.  The stream goes through a
 * non-blocking pipe to jsonl_next() in pieces, and what comes out is
 * compared with an independent split of the same bytes; every line then
 * goes through jsonl_parse() and jsonl_check_version(), or through
 * jsonl_reject_line(), whose record must itself be a valid record.  That
 * is the contract of DESIGN.md section 2: one line in, one line out, never
 * a line dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "airlock.h"
#include "jsonl.h"
#include "utf8.h"
#include "fuzz.h"

/* Past the reader's first 64 KiB buffer, so that it has to grow. */
#define BIG_STREAM	(70 * 1024)

/*
 * Lines parsed per input, beyond which the reader alone is checked: a
 * stream repeated to 70 KiB holds thousands of copies of a few lines, and
 * parsing each would cut the rate of inputs a hundredfold.
 */
#define PARSE_MAX	16

static int	parsed;

/* The lines the reader should return, from a plain split on '\n'. */
struct want {
	const uint8_t	*s;
	size_t		 pos;		/* where the next line starts */
	size_t		 end;
	size_t		 max;
	const uint8_t	*line;		/* the line wantnext() found */
	size_t		 len;
	int		 toolong;
};

/*
 * The next line the reader must return, as jsonl.h promises: a line over
 * the cap comes back as NULL with its length, empty lines and a lone "\r"
 * (before a newline or at the very end) are skipped, and any other last
 * line without a newline counts.  Returns 0 when no line is left.
 */
static int
wantnext(struct want *w)
{
	const uint8_t *nl;
	size_t start, l;

	while (w->pos < w->end) {
		start = w->pos;
		nl = memchr(w->s + start, '\n', w->end - start);
		l = nl ? (size_t)(nl - (w->s + start)) : w->end - start;
		w->pos = nl ? start + l + 1 : w->end;
		w->line = w->s + start;
		w->len = l;
		w->toolong = l > w->max;
		if (!w->toolong && (nl != NULL || l == 1) &&
		    (l == 0 || (l == 1 && w->line[0] == '\r')))
			continue;
		return 1;
	}
	return 0;
}

/* A JSON text must be strict UTF-8 without NUL to travel as a line. */
static void
checkline(const char *s, size_t len)
{
	size_t i = 0;

	CHECK(memchr(s, '\0', len) == NULL && memchr(s, '\n', len) == NULL);
	while (i < len)
		CHECK(utf8_decode((const unsigned char *)s, len, &i) >= 0);
}

/*
 * A record that passed goes out as the next stage will read it: one
 * compact line, which parses back to an equal record.
 */
static void
checkwrite(json_t *rec)
{
	struct jsonl_error je;
	json_t *back;
	char *text;
	size_t len;
	long long v;
	FILE *fp;

	CHECK(jsonl_get_int(rec, "v", &v) == 0 && v == RECORD_VERSION);
	CHECK(jsonl_get_string(rec, "v") == NULL);
	CHECK((fp = open_memstream(&text, &len)) != NULL);
	CHECK(jsonl_write(fp, rec) == 0);
	CHECK(fclose(fp) == 0);
	CHECK(len > 0 && text[len - 1] == '\n');
	checkline(text, len - 1);
	CHECK((back = jsonl_parse(text, len - 1, &je)) != NULL);
	CHECK(json_equal(back, rec));
	json_decref(back);
	free(text);
}

static void
parseline(const char *line, size_t len)
{
	struct jsonl_error je;
	json_t *rec, *back;
	char *text;

	rec = line ? jsonl_parse(line, len, &je) : NULL;
	if (line == NULL) {
		memset(&je, 0, sizeof(je));
		je.code = JSONL_TOO_LONG;
		snprintf(je.text, sizeof(je.text), "line longer than the cap");
	} else if (rec != NULL) {
		CHECK(json_is_object(rec));
		memset(&je, 0, sizeof(je));
		if (jsonl_check_version(rec, &je) == 0) {
			checkwrite(rec);
			json_decref(rec);
			return;
		}
		CHECK(je.code == JSONL_VERSION);
		json_decref(rec);
	} else {
		CHECK(je.code != JSONL_OK && je.code != JSONL_TOO_LONG);
		CHECK(je.offset <= len);
	}
	CHECK(je.text[0] != '\0');
	CHECK(strcmp(jsonl_errname(je.code), "unknown_error") != 0);

	/*
	 * The rejection stands for the line: it must exist (only lack of
	 * memory excuses NULL, and the fuzzer has memory), be written as one
	 * line, and read back as a valid record by the next stage.
	 */
	rec = jsonl_reject_line(line, len, &je, "fuzz");
	CHECK(rec != NULL);
	text = json_dumps(rec, JSON_COMPACT);
	CHECK(text != NULL);
	checkline(text, strlen(text));
	back = jsonl_parse(text, strlen(text), &je);
	CHECK(back != NULL);
	CHECK(jsonl_check_version(back, &je) == 0);
	CHECK(json_equal(back, rec));
	free(text);
	json_decref(back);
	json_decref(rec);
}

/* Write some of the stream, without blocking.  Returns bytes written. */
static size_t
feed(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	w = write(fd, p, n);
	if (w == -1 && errno == EAGAIN)
		return 0;
	CHECK(w > 0);
	return (size_t)w;
}

/* Take every line the reader has; returns 0 once it reports the end. */
static int
drain(struct jsonl_reader *r, struct want *w)
{
	const char *line;
	size_t len;
	int rc;

	while ((rc = jsonl_next(r, &line, &len)) == 1) {
		CHECK(wantnext(w));
		CHECK(len == w->len);
		if (w->toolong)
			CHECK(line == NULL);
		else {
			CHECK(line != NULL && line[len] == '\0');
			CHECK(memcmp(line, w->line, len) == 0);
		}
		if (parsed++ < PARSE_MAX)
			parseline(line, len);
	}
	if (rc == 0)
		return 0;
	CHECK(rc == -1 && errno == EAGAIN);
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonl_reader *r;
	struct want w;
	uint8_t *stream = NULL;
	size_t max, slen, off, n;
	uint32_t rnd;
	int p[2];

	if (size < 2)
		return 0;
	/* Caps from 1 byte to 128 KiB; small ones make long lines common. */
	max = data[0] < 0x80 ? (size_t)data[0] + 1 :
	    (size_t)(data[0] - 0x7f) * 1024;
	rnd = data[1] | 1;
	slen = size - 2;
	if ((data[1] & 0xe0) == 0xe0 && slen > 0) {
		/* Repeat a short stream until the reader must grow. */
		if ((stream = malloc(BIG_STREAM + slen)) == NULL)
			abort();
		for (n = 0; n < BIG_STREAM; n += slen)
			memcpy(stream + n, data + 2, slen);
		slen = n;
	}

	/* The whole stream as one line, as a tool given one line sees it. */
	parseline((const char *)data + 2, size - 2);
	parsed = 0;

	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK((r = jsonl_reader_new(p[0], max)) != NULL);
	memset(&w, 0, sizeof(w));
	w.s = stream ? stream : data + 2;
	w.end = slen;
	w.max = max;
	off = 0;
	while (off < slen) {
		/* Writes of 1 byte to 4 KiB, chosen by a xorshift. */
		rnd ^= rnd << 13;
		rnd ^= rnd >> 17;
		rnd ^= rnd << 5;
		n = 1 + rnd % 4096;
		if (n > slen - off)
			n = slen - off;
		off += feed(p[1], w.s + off, n);
		CHECK(drain(r, &w));
	}
	close(p[1]);
	CHECK(drain(r, &w) == 0);
	CHECK(!wantnext(&w));
	CHECK(!jsonl_pending(r));
	/* The end stays the end. */
	CHECK(drain(r, &w) == 0);
	jsonl_reader_free(r);
	close(p[0]);
	free(stream);
	return 0;
}
