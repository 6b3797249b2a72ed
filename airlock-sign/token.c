/*
 * Building and signing TIBET tokens.  The signer copies what the stages
 * recorded and interprets as little as it can: each token field has one
 * source in the record and one type.  A source that is missing becomes
 * null (or an empty default); a source of the wrong type, or a real
 * number anywhere, makes the record unsignable as it is, and it gets a
 * 500 token that says why instead.  The one exception is a rejected
 * frame's own members: the client wrote them, and the 400 already says
 * what is wrong with them, so a member of the wrong type is null there.
 * No record is ever dropped.
 */
#include <err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "airlock.h"
#include "b64.h"
#include "jsonl.h"
#include "sha256.h"
#include "token.h"

struct build {
	json_t	*rec;
	int	 rejected;	/* the verdict is 400: frame.* is the client's */
	char	 fault[256];	/* the first thing wrong with rec, or "" */
};

static void	setfault(struct build *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
setfault(struct build *b, const char *fmt, ...)
{
	va_list ap;

	if (b->fault[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(b->fault, sizeof(b->fault), fmt, ap);
	va_end(ap);
}

static const char *
typename(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "of the expected type";
	}
}

/*
 * The member of the record at a dotted path, if it has type want
 * (JSON_TRUE stands for either boolean).  A missing member, or a JSON
 * null, is null; a member of another type is a fault.  Returns a new
 * reference.
 */
static json_t *
field(struct build *b, const char *path, json_type want)
{
	const char *p = path, *dot;
	json_t *cur = b->rec, *v = NULL;
	char name[64];
	size_t len;
	int ok;

	for (;;) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len >= sizeof(name))
			errx(EXIT_SYSTEM, "field path too long: %s", path);
		memcpy(name, p, len);
		name[len] = '\0';
		v = json_object_get(cur, name);
		if (v == NULL || json_is_null(v))
			return json_null();
		if (dot == NULL)
			break;
		if (!json_is_object(v)) {
			setfault(b, "%.*s is not an object", (int)(dot - path),
			    path);
			return json_null();
		}
		cur = v;
		p = dot + 1;
	}
	ok = want == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == want;
	if (ok && json_is_integer(v) && (json_integer_value(v) > JCS_INT_MAX ||
	    json_integer_value(v) < -JCS_INT_MAX))
		ok = -1;
	if (ok != 1 && b->rejected && strncmp(path, "frame.", 6) == 0)
		return json_null();
	if (ok == -1)
		return json_incref(v);	/* token_canon says why */
	if (!ok) {
		if (want == JSON_INTEGER && json_is_real(v))
			setfault(b, "%s is a real number (signed numbers are "
			    "integers only)", path);
		else
			setfault(b, "%s is not %s", path, typename(want));
		return json_null();
	}
	return json_incref(v);
}

static void
set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		errx(EXIT_SYSTEM, "out of memory");
}

static void
copy(struct build *b, json_t *obj, const char *key, const char *path,
    json_type want)
{
	set(obj, key, field(b, path, want));
}

/* Copy, but a missing source gets dflt (a new reference) rather than null. */
static void
copyor(struct build *b, json_t *obj, const char *key, const char *path,
    json_type want, json_t *dflt)
{
	json_t *v = field(b, path, want);

	if (json_is_null(v)) {
		set(obj, key, dflt);
		return;
	}
	json_decref(dflt);
	set(obj, key, v);
}

/*
 * A list of files as the token binds them: [{name, bytes, sha256}, ...],
 * without their contents (exec.output_files carries them as base64), or
 * null when the record has none.
 */
static json_t *
filelist(struct build *b, const char *path)
{
	json_t *list = field(b, path, JSON_ARRAY), *out, *f;
	size_t i;

	if (json_is_null(list))
		return list;
	if ((out = json_array()) == NULL)
		errx(EXIT_SYSTEM, "out of memory");
	json_array_foreach(list, i, f) {
		if (!json_is_string(json_object_get(f, "name")) ||
		    !json_is_integer(json_object_get(f, "bytes")) ||
		    !json_is_string(json_object_get(f, "sha256"))) {
			setfault(b, "%s[%zu] is not a {name, bytes, sha256} "
			    "object", path, i);
			break;
		}
		json_array_append_new(out, json_pack("{s:O, s:O, s:O}",
		    "name", json_object_get(f, "name"),
		    "bytes", json_object_get(f, "bytes"),
		    "sha256", json_object_get(f, "sha256")));
	}
	json_decref(list);
	return out;
}

/*
 * The token without seq, parent, content_hash and signature, in the
 * order airlock-token(5) lists the fields (the order carries no meaning;
 * the signature covers the canonical form).
 */
static json_t *
body(struct build *b, const struct verdict *ov, const char *host,
    const char *when)
{
	json_t *tok, *erin, *eraan, *eromheen, *erachter, *payload;
	json_t *status, *ttype, *reason, *severity, *verdict;
	struct verdict missing;
	char hex[SHA256_HEXLEN + 1];

	if (ov != NULL) {
		b->rejected = ov->status == 400;
		status = json_integer(ov->status);
		ttype = json_string(ov->token_type);
		reason = json_string(ov->reason);
		severity = json_string(ov->severity);
	} else if ((verdict = json_object_get(b->rec, "verdict")) == NULL ||
	    json_is_null(verdict)) {
		verdict_set(&missing, 500, "record reached airlock-sign "
		    "without a verdict");
		status = json_integer(missing.status);
		ttype = json_string(missing.token_type);
		reason = json_string(missing.reason);
		severity = json_string(missing.severity);
	} else {
		status = field(b, "verdict.status", JSON_INTEGER);
		b->rejected = json_integer_value(status) == 400;
		ttype = field(b, "verdict.token_type", JSON_STRING);
		reason = field(b, "verdict.reason", JSON_STRING);
		severity = field(b, "verdict.severity", JSON_STRING);
		if (json_is_null(status))
			setfault(b, "verdict.status is missing");
		if (json_is_null(ttype))
			setfault(b, "verdict.token_type is missing");
	}

	if ((tok = json_object()) == NULL || (erin = json_object()) == NULL ||
	    (eraan = json_object()) == NULL ||
	    (eromheen = json_object()) == NULL ||
	    (erachter = json_object()) == NULL)
		errx(EXIT_SYSTEM, "out of memory");

	set(tok, "tbz_version", json_string(TBZ_VERSION));
	copy(b, tok, "token_id", "id", JSON_STRING);
	set(tok, "token_type", ttype);
	set(tok, "timestamp", json_string(when));
	copy(b, tok, "ains_identity", "frame.from_aint", JSON_STRING);
	copy(b, tok, "intent", "frame.intent", JSON_STRING);
	copyor(b, tok, "execution_time_us", "exec.run_us", JSON_INTEGER,
	    json_integer(0));
	copy(b, tok, "vm_id", "wake.handle", JSON_STRING);
	copyor(b, tok, "violations", "exec.violations", JSON_ARRAY,
	    json_array());
	copyor(b, tok, "observed_syscalls", "exec.observed_syscalls",
	    JSON_OBJECT, json_object());

	/* erin: what is in it.  The payload digest is the only one we make. */
	payload = field(b, "frame.payload", JSON_STRING);
	if (json_is_string(payload)) {
		sha256_hex(json_string_value(payload),
		    json_string_length(payload), hex);
		set(erin, "payload_sha256", json_string(hex));
		set(erin, "payload_bytes",
		    json_integer((json_int_t)json_string_length(payload)));
	} else {
		set(erin, "payload_sha256", json_null());
		set(erin, "payload_bytes", json_null());
	}
	json_decref(payload);
	copy(b, erin, "stdout_sha256", "exec.stdout.sha256", JSON_STRING);
	copy(b, erin, "stdout_bytes", "exec.stdout.bytes", JSON_INTEGER);
	copy(b, erin, "stdout_truncated", "exec.stdout.truncated", JSON_TRUE);
	copy(b, erin, "stderr_sha256", "exec.stderr.sha256", JSON_STRING);
	copy(b, erin, "stderr_bytes", "exec.stderr.bytes", JSON_INTEGER);
	copy(b, erin, "stderr_truncated", "exec.stderr.truncated", JSON_TRUE);
	copy(b, erin, "outcome", "exec.outcome", JSON_STRING);
	copy(b, erin, "exit_code", "exec.exit_code", JSON_INTEGER);
	copy(b, erin, "signal", "exec.signal", JSON_INTEGER);
	copy(b, erin, "kill_reason", "exec.kill_reason", JSON_STRING);
	set(erin, "input_files", filelist(b, "exec.input_files"));
	set(erin, "output_files", filelist(b, "exec.output_files"));
	set(tok, "erin", erin);

	/* eraan: what is attached. */
	copy(b, eraan, "image", "route.image", JSON_STRING);
	copy(b, eraan, "image_digest", "route.image_digest", JSON_STRING);
	copy(b, eraan, "snapshot", "route.snapshot", JSON_STRING);
	copy(b, eraan, "snapshot_digest", "route.snapshot_digest",
	    JSON_STRING);
	copy(b, eraan, "kernel_digest", "wake.kernel_digest", JSON_STRING);
	copy(b, eraan, "policy", "route.policy", JSON_STRING);
	copy(b, eraan, "policy_digest", "route.policy_digest", JSON_STRING);
	set(tok, "eraan", eraan);

	/* eromheen: what is around it. */
	copy(b, eromheen, "backend", "wake.backend", JSON_STRING);
	set(eromheen, "host", json_string(host));
	copy(b, eromheen, "limits", "route.limits", JSON_OBJECT);
	copy(b, eromheen, "wake_us", "wake.wake_us", JSON_INTEGER);
	copy(b, eromheen, "run_us", "exec.run_us", JSON_INTEGER);
	copy(b, eromheen, "pool", "wake.pool", JSON_STRING);
	copy(b, eromheen, "snaft_mode", "exec.mode", JSON_STRING);
	set(eromheen, "airlock_version", json_string(AIRLOCK_VERSION));
	set(tok, "eromheen", eromheen);

	/* erachter: what is behind it. */
	copy(b, erachter, "intent", "frame.intent", JSON_STRING);
	copy(b, erachter, "from_aint", "frame.from_aint", JSON_STRING);
	copy(b, erachter, "channel_id", "frame.channel_id", JSON_INTEGER);
	set(erachter, "status", status);
	set(erachter, "reason", reason);
	set(erachter, "severity", severity);
	copy(b, erachter, "report", "verdict.report", JSON_OBJECT);
	copy(b, erachter, "input_sha256", "input.sha256", JSON_STRING);
	set(tok, "erachter", erachter);
	return tok;
}

/*
 * What is left of a record that cannot be signed as it is: the members
 * that identify it, where they have their proper types.
 */
static json_t *
salvage(json_t *rec)
{
	json_t *m, *frame, *v;
	const char *s;

	if ((m = json_object()) == NULL || (frame = json_object()) == NULL)
		errx(EXIT_SYSTEM, "out of memory");
	if ((s = jsonl_get_string(rec, "id")) != NULL)
		set(m, "id", json_string(s));
	v = json_object_get(rec, "frame");
	if ((s = jsonl_get_string(v, "intent")) != NULL)
		set(frame, "intent", json_string(s));
	if ((s = jsonl_get_string(v, "from_aint")) != NULL)
		set(frame, "from_aint", json_string(s));
	v = json_object_get(v, "channel_id");
	if (json_is_integer(v) && json_integer_value(v) <= JCS_INT_MAX &&
	    json_integer_value(v) >= -JCS_INT_MAX)
		set(frame, "channel_id", json_incref(v));
	set(m, "frame", frame);
	v = json_object_get(rec, "input");
	if ((s = jsonl_get_string(v, "sha256")) != NULL)
		set(m, "input", json_pack("{s:s}", "sha256", s));
	return m;
}

int
token_canon(json_t *tok, int hashonly, struct jcsbuf *buf, char *err,
    size_t errlen)
{
	json_t *c;
	int rc;

	/* A shallow copy suffices: only top-level members are left out. */
	if ((c = json_copy(tok)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_object_del(c, "signature");
	if (hashonly)
		json_object_del(c, "content_hash");
	jcsbuf_reset(buf);
	rc = jcs_encode(c, buf, err, errlen);
	json_decref(c);
	return rc;
}

/* RFC 3339 UTC to the second, or the fixed time a test asked for. */
static void
stamp(const struct signer *s, char *out, size_t len)
{
	struct tm tm;
	time_t t;

	if (s->fixedtime != NULL) {
		snprintf(out, len, "%s", s->fixedtime);
		return;
	}
	t = time(NULL);
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		errx(EXIT_SYSTEM, "cannot format the time");
}

int
token_restart_parent(json_t *restart, struct jcsbuf *buf,
    char out[HASH_STRLEN + 1], char *err, size_t errlen)
{
	jcsbuf_reset(buf);
	if (jcs_encode(restart, buf, err, errlen) != 0)
		return -1;
	memcpy(out, "sha256:", 7);
	sha256_hex(buf->data, buf->len, out + 7);
	return 0;
}

/*
 * Build the token for rec, linked after the chain's last token; or, the
 * first after an unclean stop, the restart token that says what it skips
 * and is linked to that statement instead (airlock-token(5), Restarts).
 */
static json_t *
build(struct signer *s, json_t *rec, const struct verdict *v,
    const char *when, struct build *b)
{
	struct chain *c = &s->chain;
	json_t *tok, *restart;
	char parent[HASH_STRLEN + 1], err[256];

	memset(b, 0, sizeof(*b));
	b->rec = rec;
	tok = body(b, v, s->host, when);
	set(tok, "seq", json_integer((json_int_t)(c->seq + 1)));
	if (!c->restart) {
		set(tok, "parent", json_string(c->last));
		return tok;
	}
	/*
	 * The last token known issued, and the lease: every seq between may
	 * or may not have been issued, and this token is the next after the
	 * lease.  Its parent is the hash of this statement, which no other
	 * token can have: a token issued after seq after_seq before the stop
	 * has after_hash as its parent, and no two tokens share one.
	 */
	restart = json_pack("{s:I, s:s, s:I}",
	    "after_seq", (json_int_t)c->saved,
	    "after_hash", c->savedhash,
	    "lease", (json_int_t)c->lease);
	if (restart == NULL)
		errx(EXIT_SYSTEM, "out of memory");
	if (token_restart_parent(restart, &s->buf, parent, err,
	    sizeof(err)) != 0)
		errx(EXIT_SYSTEM, "restart: %s", err);
	set(tok, "restart", restart);
	set(tok, "parent", json_string(parent));
	return tok;
}

json_t *
token_sign(struct signer *s, json_t *rec, const struct verdict *v)
{
	struct build b;
	struct verdict fv;
	json_t *tok, *m;
	uint8_t sig[SIG_LEN];
	char when[32], err[256], reason[320];
	char hash[HASH_STRLEN + 1], sigb64[B64_ENCLEN(SIG_LEN)];
	const char *id;

	if (s->chain.seq >= (uint64_t)JCS_INT_MAX)
		errx(EXIT_SYSTEM, "%s: chain exhausted at seq %llu",
		    s->chain.path, (unsigned long long)s->chain.seq);
	stamp(s, when, sizeof(when));

	tok = build(s, rec, v, when, &b);
	if (b.fault[0] == '\0' &&
	    token_canon(tok, 1, &s->buf, err, sizeof(err)) != 0)
		setfault(&b, "%s%s", err, strncmp(err, "real number", 11) ?
		    "" : " (signed numbers are integers only)");
	if (b.fault[0] != '\0') {
		/* Sign what identifies the record, and why not the rest. */
		snprintf(reason, sizeof(reason), "record cannot be signed: %s",
		    b.fault);
		id = jsonl_get_string(rec, "id");
		log_info("%s: %s", id ? id : "record without id", reason);
		json_decref(tok);
		/*
		 * Nothing can tell whose fault that record is; the pipeline
		 * made it, so it is a failure of the pipeline, not of the
		 * frame.
		 */
		verdict_set(&fv, 500, "%s", reason);
		m = salvage(rec);
		tok = build(s, m, &fv, when, &b);
		json_decref(m);
		if (b.fault[0] != '\0' ||
		    token_canon(tok, 1, &s->buf, err, sizeof(err)) != 0)
			errx(EXIT_SYSTEM, "cannot sign even the failure token: "
			    "%s", b.fault[0] ? b.fault : err);
	}

	memcpy(hash, "sha256:", 7);
	sha256_hex(s->buf.data, s->buf.len, hash + 7);
	set(tok, "content_hash", json_string(hash));

	if (token_canon(tok, 0, &s->buf, err, sizeof(err)) != 0)
		errx(EXIT_SYSTEM, "canonical form: %s", err);
	crypto_sign_detached(sig, NULL, (const unsigned char *)s->buf.data,
	    s->buf.len, s->key.sk);
	b64_encode(sig, sizeof(sig), sigb64);
	set(tok, "signature", json_pack("{s:s, s:s, s:s}", "alg", "Ed25519",
	    "key_id", s->keyid, "sig", sigb64));

	/*
	 * The caller makes the state durable (chain_commit) before the token
	 * leaves: a crash may lose a seq but never issue one twice.
	 */
	chain_stage(&s->chain, s->chain.seq + 1, hash);
	log_debug("seq %llu: %s", (unsigned long long)s->chain.seq, hash);
	return tok;
}
