/*
 * python-runner's language part (guest/lang.h): CPython, embedded.  The
 * zygote initialises the interpreter once with the snapshot's modules; a
 * payload process reseeds and warms up after its fork, and runs its
 * payload as __main__ in the pristine interpreter.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>

#include "lang.h"

const char *const lang_name = "python-runner";

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

	/* The snapshot's modules, imported once so no run pays for them. */
	for (i = 1; i < argc; i++) {
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

	(void)len;	/* NUL-terminated, with no other NUL */
	main = PyImport_AddModule("__main__");
	globals = PyModule_GetDict(main);
	res = PyRun_StringFlags(src, Py_file_input, globals, globals, NULL);
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
