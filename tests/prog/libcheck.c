/*
 * Unit checks for lib/: SHA-256 against FIPS 180-2 vectors, base64 against
 * RFC 4648 section 10, and the JSON-lines reader and parser.
 *
 *   libcheck sha256 | b64       run the vectors, print "ok" or fail
 *   libcheck read MAX           read stdin with a cap of MAX bytes and print,
 *                               per line, "ok" or "<error_name>: <text>"
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airlock.h"
#include "b64.h"
#include "jsonl.h"
#include "sha256.h"

static int
check_sha256(void)
{
	static const struct {
		const char *in, *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char hex[SHA256_HEXLEN + 1], *a;
	struct sha256 s;
	uint8_t d[SHA256_LEN];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256_hex(v[i].in, strlen(v[i].in), hex);
		if (strcmp(hex, v[i].hex) != 0) {
			warnx("sha256 vector %zu: %s", i, hex);
			bad = 1;
		}
	}
	/* One million 'a', fed in odd-sized pieces to exercise buffering. */
	if ((a = malloc(1000000)) == NULL)
		err(111, NULL);
	memset(a, 'a', 1000000);
	sha256_init(&s);
	for (i = 0; i < 1000000; i += 777)
		sha256_update(&s, a + i, i + 777 > 1000000 ? 1000000 - i : 777);
	sha256_final(&s, d);
	sha256_tohex(d, hex);
	free(a);
	if (strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") != 0) {
		warnx("sha256 million a: %s", hex);
		bad = 1;
	}
	return bad;
}

static int
check_b64(void)
{
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	static const char *badin[] = { "Zg=", "Zg=a", "Z===", "Zh==", "Zm9=", "Zm9v\n", "====", "Zm9v====", "Z!==" };
	char out[64], dec[64];
	long n;
	size_t i;
	int bad = 0;

	for (i = 0; i < 7; i++) {
		b64_encode(plain[i], strlen(plain[i]), out);
		n = b64_decode(enc[i], strlen(enc[i]), dec);
		if (strcmp(out, enc[i]) != 0 || n != (long)strlen(plain[i]) ||
		    memcmp(dec, plain[i], (size_t)n) != 0) {
			warnx("b64 vector %zu", i);
			bad = 1;
		}
	}
	for (i = 0; i < sizeof(badin) / sizeof(badin[0]); i++)
		if (b64_decode(badin[i], strlen(badin[i]), dec) != -1) {
			warnx("b64 accepted bad input %zu", i);
			bad = 1;
		}
	return bad;
}

static int
readlines(size_t max)
{
	struct jsonl_reader *r;
	struct jsonl_error e;
	const char *line;
	size_t len;
	json_t *v;
	int rc;

	if ((r = jsonl_reader_new(0, max)) == NULL)
		err(111, NULL);
	while ((rc = jsonl_next(r, &line, &len)) == 1) {
		if (line == NULL) {
			printf("too_long: %zu bytes\n", len);
			continue;
		}
		if ((v = jsonl_parse(line, len, &e)) == NULL) {
			printf("%s: %s\n", jsonl_errname(e.code), e.text);
			continue;
		}
		if (jsonl_check_version(v, &e) != 0)
			printf("%s: %s\n", jsonl_errname(e.code), e.text);
		else
			printf("ok %zu\n", len);
		json_decref(v);
	}
	if (rc < 0)
		err(111, "read");
	jsonl_reader_free(r);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "sha256") == 0)
		return check_sha256() ? 1 : (puts("ok"), 0);
	if (argc == 2 && strcmp(argv[1], "b64") == 0)
		return check_b64() ? 1 : (puts("ok"), 0);
	if (argc == 3 && strcmp(argv[1], "read") == 0)
		return readlines(strtoul(argv[2], NULL, 10));
	errx(100, "usage: libcheck sha256 | b64 | read max");
}
