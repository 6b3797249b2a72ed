/*
 * python-runner's language part (guest/lang.h): CPython, embedded.  The
 * zygote initialises the interpreter once with the snapshot's modules; a
 * payload process reseeds and warms up after its fork, and runs its
 * payload as __main__ in the pristine interpreter.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang.h"

const char *const lang_name = "python-runner";

/* The image's own program (snapshot "program"), run instead of a payload. */
static PyObject		*program;
static const char	*program_path;

/*
 * Compile the program once, here in the zygote, so that no run pays for
 * it (and so that a program that does not compile is the snapshot's
 * failure, not a run's).
 */
static void
loadprogram(const char *path)
{
	FILE *fp;
	char *src;
	long n;

	if ((fp = fopen(path, "re")) == NULL)
		die("program %s: %s", path, strerror(errno));
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    n > 16 * 1024 * 1024 || fseek(fp, 0, SEEK_SET) != 0 ||
	    (src = malloc((size_t)n + 1)) == NULL ||
	    fread(src, 1, (size_t)n, fp) != (size_t)n)
		die("program %s: cannot be read", path);
	fclose(fp);
	src[n] = '\0';
	if ((program = Py_CompileString(src, path, Py_file_input)) == NULL) {
		PyErr_Print();
		die("program %s does not compile", path);
	}
	free(src);
	program_path = path;
}

static int
exitcode(void)
{
	PyObject *type, *value, *tb, *code;
	long c = 1;

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	code = value ? PyObject_GetAttrString(value, "code") : NULL;
	if (code == NULL || code == Py_None)
		c = 0;
	else if (PyLong_Check(code))
		c = PyLong_AsLong(code) & 0xff;
	else {
		/* sys.exit("message") prints the message and exits 1. */
		PyObject_Print(code, stderr, Py_PRINT_RAW);
		fputc('\n', stderr);
		c = 1;
	}
	PyErr_Clear();
	Py_XDECREF(code);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return (int)c;
}

void
lang_init(int argc, char *argv[])
{
	PyConfig config;
	PyStatus st;
	PyObject *res, *scratch;
	int i;

	/*
	 * Isolated: no environment variables, no user site, no current
	 * directory on sys.path.  No site import: the image carries no site
	 * packages, and skipping it keeps start-up small.
	 */
	PyConfig_InitIsolatedConfig(&config);
	config.site_import = 0;
	config.write_bytecode = 0;
	config.install_signal_handlers = 1;
	st = PyConfig_SetString(&config, &config.program_name, L"python3");
	if (!PyStatus_Exception(st))
		st = PyConfig_SetString(&config, &config.home, L"/usr");
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st))
		die("initialising Python: %s", st.err_msg ? st.err_msg : "?");
	/*
	 * Without site, Debian's python3-* packages are not on the path: the
	 * images that ship them need /usr/lib/python3/dist-packages.
	 */
	if ((scratch = PyDict_New()) == NULL)
		die("out of memory");
	res = PyRun_String("import sys, os\n"
	    "d = '/usr/lib/python3/dist-packages'\n"
	    "if os.path.isdir(d): sys.path.append(d)\n",
	    Py_file_input, scratch, scratch);
	if (res == NULL)
		die("setting sys.path failed");
	Py_DECREF(res);
	Py_DECREF(scratch);

	/* runner [-p program] module...: see guest/lang.h. */
	i = 1;
	if (argc > 2 && strcmp(argv[1], "-p") == 0) {
		loadprogram(argv[2]);
		i = 3;
	}
	/* The snapshot's modules, imported once so no run pays for them. */
	for (; i < argc; i++) {
		PyObject *m = PyImport_ImportModule(argv[i]);

		if (m == NULL) {
			PyErr_Print();
			die("import %s failed", argv[i]);
		}
		Py_DECREF(m);
	}
	/*
	 * Everything imported so far is shared with every fork: freeze it out
	 * of the collector, so that no run's garbage collection walks (and so
	 * copies) the zygote's heap.  In a scratch namespace: the payload's
	 * __main__ stays as CPython made it.
	 */
	if ((scratch = PyDict_New()) == NULL)
		die("out of memory");
	res = PyRun_String("import sys, gc\nsys.argv = ['<payload>']\n"
	    "gc.collect()\ngc.freeze()\n", Py_file_input, scratch, scratch);
	if (res == NULL)
		die("setting sys.argv failed");
	Py_DECREF(res);
	Py_DECREF(scratch);
}

void
lang_after_fork(void)
{
	PyObject *scratch, *res;

	/*
	 * Fresh randomness for this process, which serves exactly one run:
	 * never the zygote's RNG state.  (random also reseeds itself in
	 * PyOS_AfterFork_Child through os.register_at_fork; seeding again
	 * costs little and does not depend on that.)  Then warm up: compile
	 * and run a small program now, while output still goes to /dev/null,
	 * so that the copy-on-write faults of the compiler and of printing
	 * are taken here and not in the run.  CPython ignores SIGXFSZ; a
	 * payload over the file limit must die of it (through the signal
	 * module, so that what it reports is what is).  All in a scratch
	 * namespace: the payload's __main__ stays as CPython made it.
	 */
	PyOS_AfterFork_Child();
	if ((scratch = PyDict_New()) == NULL ||
	    PyDict_SetItemString(scratch, "__builtins__",
	    PyEval_GetBuiltins()) != 0)
		die("out of memory for the warm-up");
	res = PyRun_String("import random, signal\nrandom.seed()\n"
	    "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
	    "print(compile('x = [str(i) for i in range(9)]\\n'"
	    "'print(x, {1: 2})', '<warm>', 'exec') is not None)\n"
	    "import sys\nsys.stdout.flush()\nsys.stderr.flush()\n",
	    Py_file_input, scratch, scratch);
	if (res == NULL)
		die("reseeding random and warming up failed");
	Py_DECREF(res);
	Py_DECREF(scratch);
}

int
lang_run(const char *src, size_t len)
{
	PyObject *main, *globals, *res;
	int code = 0;

	main = PyImport_AddModule("__main__");
	globals = PyModule_GetDict(main);
	if (program != NULL) {
		/* The image's program, with the payload as its one argument. */
		PyObject *args = Py_BuildValue("[ss#]", program_path, src,
		    (Py_ssize_t)len);

		if (args == NULL || PySys_SetObject("argv", args) != 0)
			die("setting sys.argv failed");
		Py_DECREF(args);
		res = PyEval_EvalCode(program, globals, globals);
	} else
		res = PyRun_StringFlags(src, Py_file_input, globals, globals,
		    NULL);
	if (res == NULL) {
		if (PyErr_ExceptionMatches(PyExc_SystemExit))
			code = exitcode();
		else {
			PyErr_Print();
			code = 1;
		}
	} else
		Py_DECREF(res);
	/* Flush what Python buffered; errors here are the payload's. */
	res = PyRun_String("import sys\ntry:\n sys.stdout.flush()\nexcept "
	    "BaseException:\n pass\ntry:\n sys.stderr.flush()\nexcept "
	    "BaseException:\n pass\n", Py_file_input, globals, globals);
	Py_XDECREF(res);
	PyErr_Clear();
	return code;
}
