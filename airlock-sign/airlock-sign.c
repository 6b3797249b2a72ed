/*
 * airlock-sign: the last stage.  It adds a signed, chained TIBET token to
 * every record (airlock-token(5)), generates keys in signify's format
 * (-G), and verifies tokens and chains offline (-V).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "airlock.h"
#include "jsonl.h"
#include "chain.h"
#include "key.h"
#include "narrow.h"
#include "token.h"
#include "verify.h"
#include "trace.h"

#define DEFAULT_SECKEY	"/var/lib/airlock/airlock.sec"

static struct signer signer;
/* AIRLOCK_SIGN_STATS: each record says in which batch it was signed. */
static int	stats;
/* SIGTERM or SIGINT: sign what is waiting, save the state, end. */
static volatile sig_atomic_t gotsig;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: airlock-sign [-cqvw] [-k seckey] [-l lease] [-s chain]\n"
	    "       airlock-sign -G [-fq] [-k seckey] [-p pubkey]\n"
	    "       airlock-sign -V [-qrv] [-p pubkey] ... [-x dir] [file ...]\n");
	exit(EXIT_USAGE);
}

/* err(3) and exit(3) run this, so no path out leaves the key in memory. */
static void
wipe(void)
{
	key_wipe(&signer.key);
}

/* An environment variable naming a path; unset and empty are the same. */
static const char *
getenvpath(const char *name)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? s : NULL;
}

/* path with its ".sec" suffix replaced by suffix, or suffix appended. */
static char *
sibling(const char *path, const char *suffix)
{
	size_t len = strlen(path);
	char *s;

	if (len > 4 && strcmp(path + len - 4, ".sec") == 0)
		len -= 4;
	if (asprintf(&s, "%.*s%s", (int)len, path, suffix) == -1)
		err(EXIT_SYSTEM, "asprintf");
	return s;
}

/* Create the missing directories above path, mode 0700. */
static void
mkparents(const char *path)
{
	char *copy, *dir, *q;
	char c;

	if ((copy = strdup(path)) == NULL)
		err(EXIT_SYSTEM, "strdup");
	dir = dirname(copy);
	for (q = dir + 1;; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		c = *q;
		*q = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			err(EXIT_SYSTEM, "mkdir %s", dir);
		*q = c;
		if (c == '\0')
			break;
	}
	free(copy);
}

static void
generate(const char *sec, const char *pub, int force)
{
	struct seckey k;
	const char *failed = NULL;
	char id[KEYID_HEXLEN + 1];

	if (key_generate(sec, pub, force, &failed) == -1) {
		if (errno == EEXIST)
			errx(EXIT_SYSTEM, "%s: already exists; -f replaces it",
			    failed);
		err(EXIT_SYSTEM, "write %s", failed);
	}
	key_readsec(sec, &k);
	key_idhex(k.keynum, id);
	key_wipe(&k);
	log_info("wrote %s and %s, key id %s", sec, pub, id);
}

/* Check AIRLOCK_SIGN_TIME: exactly YYYY-MM-DDTHH:MM:SSZ. */
static int
validtime(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (strlen(s) != sizeof(form) - 1)
		return 0;
	for (i = 0; form[i] != '\0'; i++)
		if (form[i] == 'd' ? (s[i] < '0' || s[i] > '9') :
		    s[i] != form[i])
			return 0;
	return 1;
}

/* The test-only overrides of the time and host (airlock-sign(1)). */
static void
testenv(void)
{
	static char host[256];
	const char *s;

	if ((s = getenv("AIRLOCK_SIGN_TIME")) != NULL && *s != '\0') {
		if (!validtime(s))
			errx(EXIT_USAGE, "AIRLOCK_SIGN_TIME: not "
			    "YYYY-MM-DDTHH:MM:SSZ: %s", s);
		log_info("AIRLOCK_SIGN_TIME is set: every token says %s", s);
		signer.fixedtime = s;
	}
	if ((s = getenv("AIRLOCK_SIGN_STATS")) != NULL && *s != '\0')
		stats = 1;
	if ((s = getenv("AIRLOCK_SIGN_HOST")) != NULL && *s != '\0') {
		log_info("AIRLOCK_SIGN_HOST is set: tokens name host %s", s);
		signer.host = s;
		return;
	}
	if (gethostname(host, sizeof(host) - 1) == -1)
		err(EXIT_SYSTEM, "gethostname");
	signer.host = host;
}

/* Load the secret key, creating it first with create, and lock it. */
static void
openkey(const char *sec, const char *pub, int create, int wait)
{
	const char *failed = NULL;
	int fd;

	if (create && access(sec, F_OK) == -1 && errno == ENOENT) {
		mkparents(sec);
		/* Another signer may have won the race; then use its key. */
		if (key_generate(sec, pub, 0, &failed) == 0)
			log_info("created key pair %s and %s", sec, pub);
		else if (errno != EEXIST)
			err(EXIT_SYSTEM, "write %s", failed);
	}
	key_readsec(sec, &signer.key);
	key_idhex(signer.key.keynum, signer.keyid);

	/*
	 * Two signers with one key but different state files would both
	 * issue the same seq: hold a lock on the key file too.  The
	 * descriptor stays open, and so the lock held, until we exit.
	 */
	if ((fd = open(sec, O_RDONLY | O_CLOEXEC)) == -1)
		err(EXIT_SYSTEM, "open %s", sec);
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			errx(EXIT_SYSTEM, "%s: key in use by another signer",
			    sec);
		err(EXIT_SYSTEM, "flock %s", sec);
	}
}

/*
 * Group commit: sign every record already waiting (up to BATCH_MAX), make
 * the chain state durable once if the batch needs it, then write the
 * batch.  Syncing every batch, that is one sync per batch instead of per
 * token under load; with a lease (chain.c), one per lease.
 */
#define BATCH_MAX	256

static json_t	*batch[BATCH_MAX];
static uint64_t	 readat[BATCH_MAX];	/* when each was read, for stats */

static void
flushbatch(size_t *n)
{
	uint64_t t0, t1;
	size_t i;
	int synced;

	if (*n == 0)
		return;
	for (i = 0; trace_on() && i < *n; i++)
		trace_event(jsonl_get_string(batch[i], "id"),
		    "sign.sync_start");
	t0 = now_us();
	synced = chain_commit(&signer.chain);
	t1 = now_us();
	for (i = 0; trace_on() && i < *n; i++)
		trace_event(jsonl_get_string(batch[i], "id"),
		    "sign.sync_end");
	for (i = 0; stats && i < *n; i++)
		if (json_object_set_new(batch[i], "sign", json_pack(
		    "{s:I, s:I, s:b, s:I, s:I}", "batch", (json_int_t)*n,
		    "batch_index", (json_int_t)i, "synced", synced,
		    "sync_us", (json_int_t)(synced ? t1 - t0 : 0),
		    "held_us", (json_int_t)(t1 - readat[i]))) != 0)
			errx(EXIT_SYSTEM, "out of memory");
	for (i = 0; i < *n; i++) {
		/* Traced before the write: muxd may read it at once. */
		TRACE_RECORD(batch[i], "sign.out");
		if (jsonl_write(stdout, batch[i]) != 0)
			err(EXIT_SYSTEM, "write");
		json_decref(batch[i]);
	}
	*n = 0;
	chain_issued(&signer.chain);
}

static void
onsignal(int sig)
{
	gotsig = sig;
}

static void
sign(void)
{
	struct jsonl_reader *r;
	struct jsonl_error je;
	struct verdict rejected;
	struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
	struct sigaction sa;
	sigset_t ends, waiting;
	json_t *rec, *tok;
	size_t n = 0;
	int rc;

	if ((r = jsonl_reader_new(STDIN_FILENO, 0)) == NULL)
		err(EXIT_SYSTEM, "jsonl_reader_new");
	if (fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) |
	    O_NONBLOCK) == -1)
		err(EXIT_SYSTEM, "stdin");
	/*
	 * SIGTERM and SIGINT (a service manager's stop, Ctrl-C on a
	 * pipeline) end the signer in order, so that a lease out does not
	 * cost the next signer a restart.  They are blocked but while it
	 * waits for input, so they never interrupt a write.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	sigemptyset(&ends);
	sigaddset(&ends, SIGTERM);
	sigaddset(&ends, SIGINT);
	if (sigprocmask(SIG_BLOCK, &ends, &waiting) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		err(EXIT_SYSTEM, "sigaction");
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	/*
	 * Everything is open: the key (in memory), the chain state, our
	 * pipes.  From here on we parse what others wrote while holding the
	 * key, so we do no more than sign (narrow.c).
	 */
	/* What libraries would open on first use, opened now. */
	trace_init();
	json_object_seed(0);	/* jansson's hash seed, from /dev/urandom */
	tzset();		/* glibc's gmtime_r reads /etc/localtime */
	if (narrow() != 0)
		err(EXIT_SYSTEM, "narrowing to the signing loop");
	for (;;) {
		rc = jsonl_next_record(r, "sign", JSONL_CHECK_VERSION, &rec,
		    &je);
		if (rc == -1 && (errno == EAGAIN || errno == EINTR)) {
			/* Nothing more waiting: this batch is complete. */
			flushbatch(&n);
			if (gotsig) {
				log_info("signal %d: every record waiting is "
				    "signed; ending", (int)gotsig);
				rc = 0;
				break;
			}
			if (ppoll(&pfd, 1, NULL, &waiting) == -1 &&
			    errno != EINTR)
				err(EXIT_SYSTEM, "poll");
			continue;
		}
		if (rc != 1)
			break;
		if (rec == NULL)
			errx(EXIT_SYSTEM, "out of memory");
		TRACE_RECORD(rec, "sign.in");
		if (stats)
			readat[n] = now_us();
		/*
		 * A line that is not a record becomes the reject record, and
		 * its token a 400 that says what was wrong.
		 */
		if (je.code != JSONL_OK) {
			log_info("refused a line: %s", je.text);
			verdict_set(&rejected, 400, "%s", je.text);
		}
		tok = token_sign(&signer, rec,
		    je.code != JSONL_OK ? &rejected : NULL);
		if (json_object_set_new(rec, "token", tok) != 0)
			errx(EXIT_SYSTEM, "out of memory");
		batch[n++] = rec;
		if (n == BATCH_MAX)
			flushbatch(&n);
	}
	flushbatch(&n);
	if (rc == -1)
		err(EXIT_SYSTEM, "read");
	/* Everything signed is out: the next signer goes on from here. */
	chain_close(&signer.chain);
	jsonl_reader_free(r);
	jcsbuf_free(&signer.buf);
	trace_cpu("sign");
}

/* -l or AIRLOCK_SIGN_LEASE: 0, or the seqs one sync reserves. */
static uint64_t
leasearg(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    v > CHAIN_LEASE_MAX)
		errx(EXIT_USAGE, "lease: not a number from 0 to %d: %s",
		    CHAIN_LEASE_MAX, s);
	return (uint64_t)v;
}

int
main(int argc, char *argv[])
{
	const char *sec = NULL, *pub = NULL, *chainpath = NULL;
	const char *exportdir = NULL;
	char **pubs;
	uint64_t reserve;
	size_t npub = 0;
	const char *lease = NULL;
	char *puballoc = NULL, *chainalloc = NULL;
	int ch, mode = 0, create = 0, force = 0, rooted = 0, wait = 0, rc;
	int quiet = 0, verbose = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("airlock-sign %s\n", AIRLOCK_VERSION);
		return EXIT_OK;
	}
	/* -V takes several public keys, one chain each. */
	if ((pubs = calloc((size_t)argc, sizeof(*pubs))) == NULL)
		err(EXIT_SYSTEM, "calloc");
	while ((ch = getopt(argc, argv, "cfGk:l:p:qrs:vVwx:")) != -1) {
		switch (ch) {
		case 'G':
		case 'V':
			if (mode != 0 && mode != ch)
				usage();
			mode = ch;
			break;
		case 'c':
			create = 1;
			break;
		case 'f':
			force = 1;
			break;
		case 'k':
			sec = optarg;
			break;
		case 'l':
			lease = optarg;
			break;
		case 'p':
			pub = optarg;
			pubs[npub++] = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'r':
			rooted = 1;
			break;
		case 's':
			chainpath = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'w':
			wait = 1;
			break;
		case 'x':
			exportdir = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;

	/* Each mode takes only the options its synopsis line shows. */
	switch (mode) {
	case 0:
		if (force || rooted || pub || exportdir || argc)
			usage();
		break;
	case 'G':
		if (create || rooted || chainpath || wait || verbose ||
		    exportdir || lease || argc || npub > 1)
			usage();
		break;
	case 'V':
		if (create || force || sec || chainpath || wait || lease)
			usage();
		break;
	}
	if (quiet && verbose)
		usage();
	log_level = quiet ? 0 : verbose ? 2 : 1;

	if (sodium_init() < 0)
		errx(EXIT_SYSTEM, "sodium_init failed");
	atexit(wipe);
	/* A reader that went away is an error to report, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (sec == NULL && (sec = getenvpath("AIRLOCK_SIGN_KEY")) == NULL)
		sec = DEFAULT_SECKEY;
	if (pub == NULL)
		pub = pubs[npub++] = puballoc = sibling(sec, ".pub");
	if (chainpath == NULL &&
	    (chainpath = getenvpath("AIRLOCK_CHAIN")) == NULL)
		chainpath = chainalloc = sibling(sec, ".chain");

	switch (mode) {
	case 'G':
		generate(sec, pub, force);
		rc = EXIT_OK;
		goto out;
	case 'V':
		rc = verify_main(pubs, npub, argv, (size_t)argc, rooted,
		    exportdir, quiet, verbose);
		goto out;
	}
	if (lease == NULL && (lease = getenv("AIRLOCK_SIGN_LEASE")) != NULL &&
	    *lease == '\0')
		lease = NULL;
	reserve = lease == NULL ? CHAIN_LEASE_DEFAULT : leasearg(lease);
	testenv();
	openkey(sec, pub, create, wait);
	chain_open(&signer.chain, chainpath, signer.keyid, reserve, wait);
	chain_ready(&signer.chain);
	if (signer.chain.restart)
		log_info("%s: seq %llu to %llu may have been issued before an "
		    "unclean stop; the next token, seq %llu, says so", chainpath,
		    (unsigned long long)signer.chain.saved + 1,
		    (unsigned long long)signer.chain.lease,
		    (unsigned long long)signer.chain.lease + 1);
	log_debug("key %s, chain %s at seq %llu, %s", signer.keyid, chainpath,
	    (unsigned long long)signer.chain.seq, reserve == 0 ?
	    "a sync per batch" : "a lease");
	sign();
	rc = EXIT_OK;
out:
	free(chainalloc);
	free(puballoc);
	free(pubs);
	return rc;
}
