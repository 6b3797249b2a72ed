"""airlock-scanner's engine: examine files and report on them as JSON.

Imported once in the zygote of the image's snapshots (airlock-image(5)),
which is when the costly and forbidden parts happen: libmagic loads its
database, the shipped YARA rules are compiled, and libclamav is loaded
(dlopen is forbidden in a run), its databases read and its engine
compiled.  A run then only scans: guest/scan.py, the file:scan program,
calls main(); an analyst's payload under analyze_malware_sample may call
examine() or scan_file() itself.

Everything read here is hostile.  Each parser runs inside a try that turns
any exception into an "error" in that object's report, so a file that
crashes pefile or pyelftools costs its own analysis, never the scan; and
archives are opened within fixed caps (depth, entries, bytes), so that a
zip bomb or a deep nest ends in a verdict ("too deep", "too large", "too
many entries") instead of exhausting the sandbox's limits.
"""
import ctypes
import hashlib
import io
import json
import math
import os
import stat
import sys
import zipfile
from collections import Counter

import airlock_site  # noqa: F401  dist-packages and find_library first
import magic
import pefile
import yara
from elftools.common.exceptions import ELFError  # noqa: F401
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

INPUT = "/input"
OUTPUT = "/output"
REPORT = "report.json"
RULES_DIR = "/usr/share/airlock/yara"
CLAMAV_DB = "/var/lib/clamav"
REPORT_VERSION = 1

# The caps on what one scan looks at inside archives.  A member larger than
# MEMBER_MAX, or one that would take the scan past TOTAL_MAX bytes read out
# of archives, is not read ("too large"); an archive nested deeper than
# MAX_DEPTH is not opened ("too deep"); an archive with more than
# MAX_ENTRIES members, or members past TOTAL_ENTRIES in the whole scan,
# has only the first examined ("too many entries").
MAX_DEPTH = 4
MAX_ENTRIES = 256
TOTAL_ENTRIES = 1024
MEMBER_MAX = 16 << 20
TOTAL_MAX = 64 << 20
# Lists in a report are cut at these lengths (the count is always given).
MAX_SECTIONS = 128
MAX_IMPORTS = 1024
MAX_SYMBOLS = 1024
MAX_STRINGS = 16
MAX_LIMITS = 64
SUMMARY_MAX = 3584	# bytes of compact JSON, under triage's 4096
YARA_TIMEOUT = 10
# The report's largest size, which file:scan's /output and standard output
# hold (etc/intents): a larger one loses its lists, then its details (and
# says so in "truncated"); the summary is always whole.
REPORT_MAX = 960 << 10

EXTERNALS = {"filename": "", "extension": "", "filetype": ""}

# libmagic: the database is read once, here.
MAGIC_TEXT = magic.Magic()
MAGIC_MIME = magic.Magic(mime=True)
magic.from_buffer(b"")		# python-magic's own default instance, for payloads


def _compile_shipped():
    """The shipped rules, one namespace per file, and their file names."""
    try:
        names = sorted(n for n in os.listdir(RULES_DIR) if n.endswith(".yar"))
    except OSError:
        names = []
    if not names:
        return None, []
    sources = {}
    for n in names:
        with open(os.path.join(RULES_DIR, n), encoding="utf-8") as f:
            sources[n[:-4]] = f.read()
    return yara.compile(sources=sources, externals=EXTERNALS), names


SHIPPED_RULES, SHIPPED_FILES = _compile_shipped()
SHIPPED_RULE_NAMES = sorted(r.identifier for r in SHIPPED_RULES) \
    if SHIPPED_RULES else []


class ClamAV:
    """libclamav through ctypes: loaded, its databases read and its engine
    compiled when this module is imported, which is in the zygote."""

    CL_SUCCESS = 0
    CL_VIRUS = 1
    CL_DB_PHISHING = 0x2
    CL_DB_PHISHING_URLS = 0x8
    # Engine fields (enum cl_engine_field in clamav.h of libclamav 1.x).
    MAX_SCANSIZE, MAX_FILESIZE, MAX_RECURSION, MAX_FILES = 0, 1, 2, 3
    TMPDIR = 13
    DISABLE_CACHE = 25
    MAX_SCANTIME = 31
    GENERAL_ALLMATCHES = 0x1
    GENERAL_HEURISTICS = 0x4
    HEURISTIC_BROKEN = 0x2
    HEURISTIC_EXCEEDS_MAX = 0x4
    HEURISTIC_ENCRYPTED_ARCHIVE = 0x40

    class Options(ctypes.Structure):
        _fields_ = [("general", ctypes.c_uint32), ("parse", ctypes.c_uint32),
                    ("heuristic", ctypes.c_uint32), ("mail", ctypes.c_uint32),
                    ("dev", ctypes.c_uint32)]

    VIRUS_FOUND = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p,
                                   ctypes.c_void_p)

    def __init__(self, dbdir):
        self.error = None
        self.version = None
        self.signatures = 0
        self.databases = []
        self.engine = None
        self.found = []
        try:
            self._start(dbdir)
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)
            self.engine = None

    def _start(self, dbdir):
        lib = self.lib = ctypes.CDLL("libclamav.so.12")
        lib.cl_retver.restype = ctypes.c_char_p
        lib.cl_strerror.restype = ctypes.c_char_p
        lib.cl_strerror.argtypes = [ctypes.c_int]
        lib.cl_engine_new.restype = ctypes.c_void_p
        lib.cl_engine_set_num.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                          ctypes.c_longlong]
        lib.cl_engine_set_str.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                          ctypes.c_char_p]
        lib.cl_engine_set_clcb_virus_found.argtypes = [ctypes.c_void_p,
                                                       self.VIRUS_FOUND]
        lib.cl_load.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                ctypes.POINTER(ctypes.c_uint), ctypes.c_uint]
        lib.cl_engine_compile.argtypes = [ctypes.c_void_p]
        lib.cl_scandesc.argtypes = [
            ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p,
            ctypes.POINTER(self.Options)]
        self.version = lib.cl_retver().decode()
        self._check("cl_init", lib.cl_init(0))
        engine = lib.cl_engine_new()
        if not engine:
            raise RuntimeError("cl_engine_new failed")
        for field, value in ((self.MAX_SCANSIZE, TOTAL_MAX),
                             (self.MAX_FILESIZE, MEMBER_MAX * 2),
                             (self.MAX_RECURSION, 8),
                             (self.MAX_FILES, MAX_ENTRIES),
                             (self.MAX_SCANTIME, 15000),
                             (self.DISABLE_CACHE, 1)):
            self._check("cl_engine_set_num",
                        lib.cl_engine_set_num(engine, field, value))
        # Its temporary files go to the sandbox's private /tmp.
        self._check("cl_engine_set_str",
                    lib.cl_engine_set_str(engine, self.TMPDIR, b"/tmp"))
        # The callback is made here, in the zygote: ctypes makes it
        # executable memory, which a run may not map.
        self._callback = self.VIRUS_FOUND(self._virus_found)
        lib.cl_engine_set_clcb_virus_found(engine, self._callback)
        self.databases = sorted(os.listdir(dbdir)) if os.path.isdir(dbdir) \
            else []
        sigs = ctypes.c_uint(0)
        # No bytecode signatures: libclamav may compile them to native code,
        # and a run may make no memory executable.
        self._check("cl_load", lib.cl_load(
            dbdir.encode(), engine, ctypes.byref(sigs),
            self.CL_DB_PHISHING | self.CL_DB_PHISHING_URLS))
        self.signatures = sigs.value
        self._check("cl_engine_compile", lib.cl_engine_compile(engine))
        self.engine = engine
        self.options = self.Options(
            general=self.GENERAL_ALLMATCHES | self.GENERAL_HEURISTICS,
            parse=0xffffffff,
            heuristic=(self.HEURISTIC_BROKEN | self.HEURISTIC_EXCEEDS_MAX |
                       self.HEURISTIC_ENCRYPTED_ARCHIVE))

    def _check(self, what, status):
        if status != self.CL_SUCCESS:
            raise RuntimeError("%s: %s" % (what, self.lib.cl_strerror(status)
                                           .decode(errors="replace")))

    def _virus_found(self, fd, name, context):
        self.found.append(name.decode(errors="replace"))

    def info(self):
        d = {"version": self.version, "signatures": self.signatures,
             "databases": self.databases}
        if self.error:
            d["error"] = self.error
        return d

    def scan(self, path):
        """libclamav's verdict on the file at path, archives included."""
        if self.engine is None:
            return {"error": "no engine: %s" % self.error}
        self.found = []
        virname = ctypes.c_char_p()
        scanned = ctypes.c_ulong(0)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            return {"error": str(e)}
        try:
            status = self.lib.cl_scandesc(
                fd, os.path.basename(path).encode(), ctypes.byref(virname),
                ctypes.byref(scanned), self.engine, ctypes.byref(self.options))
        finally:
            os.close(fd)
        found = list(dict.fromkeys(self.found))
        if status == self.CL_VIRUS and not found and virname.value:
            found = [virname.value.decode(errors="replace")]
        if status not in (self.CL_SUCCESS, self.CL_VIRUS):
            return {"detections": found,
                    "error": self.lib.cl_strerror(status).decode(errors="replace")}
        return {"detections": found}


CLAMAV = ClamAV(CLAMAV_DB)


def entropy(data):
    """Shannon entropy in bits per byte, 0 to 8, to 4 decimals."""
    if not data:
        return 0.0
    n = len(data)
    h = -sum(c / n * math.log2(c / n) for c in Counter(data).values())
    return round(h + 0.0, 4)


def hashes(data):
    return {"md5": hashlib.md5(data).hexdigest(),
            "sha1": hashlib.sha1(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest()}


def _error(e):
    return "%s: %s" % (type(e).__name__, e)


def _text(b):
    if isinstance(b, bytes):
        return b.decode("utf-8", errors="replace")
    return str(b)


def pe_report(data):
    pe = pefile.PE(data=data, fast_load=True)
    try:
        pe.parse_data_directories(directories=[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]])
        fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
        r = {"machine": pefile.MACHINE_TYPE.get(fh.Machine, hex(fh.Machine)),
             "timestamp": fh.TimeDateStamp,
             "dll": bool(pe.is_dll()), "exe": bool(pe.is_exe()),
             "entry_point": oh.AddressOfEntryPoint,
             "image_base": oh.ImageBase,
             "subsystem": pefile.SUBSYSTEM_TYPE.get(oh.Subsystem,
                                                    str(oh.Subsystem)),
             "sections": [], "imports": [], "exports": []}
        r["nsections"] = len(pe.sections)
        for s in pe.sections[:MAX_SECTIONS]:
            r["sections"].append({
                "name": _text(s.Name.rstrip(b"\0")),
                "virtual_address": s.VirtualAddress,
                "virtual_size": s.Misc_VirtualSize,
                "raw_size": s.SizeOfRawData,
                "entropy": round(s.get_entropy(), 4),
                "characteristics": s.Characteristics})
        nimports = 0
        for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
            funcs = []
            for imp in entry.imports:
                nimports += 1
                if nimports > MAX_IMPORTS:
                    break
                funcs.append(_text(imp.name) if imp.name is not None
                             else "ordinal %d" % imp.ordinal)
            r["imports"].append({"dll": _text(entry.dll), "functions": funcs})
        r["nimports"] = nimports
        exports = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        if exports is not None:
            r["exports"] = [_text(e.name) if e.name else "ordinal %d" % e.ordinal
                            for e in exports.symbols[:MAX_SYMBOLS]]
        try:
            r["imphash"] = pe.get_imphash()
        except Exception as e:
            r["imphash_error"] = _error(e)
        warnings = pe.get_warnings()
        if warnings:
            r["warnings"] = warnings[:MAX_STRINGS]
        return r
    finally:
        pe.close()


def elf_report(data):
    elf = ELFFile(io.BytesIO(data))
    h = elf.header
    r = {"class": elf.elfclass, "little_endian": elf.little_endian,
         "machine": h["e_machine"], "type": h["e_type"],
         "entry_point": h["e_entry"], "sections": [], "segments": []}
    r["nsections"] = elf.num_sections()
    for i, s in enumerate(elf.iter_sections()):
        if i >= MAX_SECTIONS:
            break
        d = {"name": s.name, "type": s["sh_type"], "address": s["sh_addr"],
             "size": s["sh_size"]}
        if s["sh_type"] != "SHT_NOBITS":
            d["entropy"] = entropy(s.data())
        r["sections"].append(d)
    r["nsegments"] = elf.num_segments()
    for i, seg in enumerate(elf.iter_segments()):
        if i >= MAX_SECTIONS:
            break
        d = {"type": seg["p_type"], "flags": seg["p_flags"],
             "size": seg["p_memsz"]}
        if seg["p_type"] == "PT_INTERP":
            r["interpreter"] = seg.get_interp_name()
        r["segments"].append(d)
    for s in elf.iter_sections():
        if isinstance(s, DynamicSection):
            r["needed"] = [t.needed for t in s.iter_tags()
                           if t.entry.d_tag == "DT_NEEDED"]
            sonames = [t.soname for t in s.iter_tags()
                       if t.entry.d_tag == "DT_SONAME"]
            if sonames:
                r["soname"] = sonames[0]
        elif isinstance(s, SymbolTableSection) and s.name == ".dynsym":
            names = [sym.name for sym in s.iter_symbols() if sym.name]
            r["ndynamic_symbols"] = len(names)
            r["dynamic_symbols"] = names[:MAX_SYMBOLS]
    return r


def yara_matches(rules, data, name, filetype):
    ext = os.path.splitext(name)[1].lstrip(".")
    out = []
    for m in rules.match(data=data, timeout=YARA_TIMEOUT, externals={
            "filename": name, "extension": ext, "filetype": filetype}):
        out.append({"rule": m.rule, "namespace": m.namespace,
                    "tags": list(m.tags),
                    "meta": {k: v for k, v in sorted(m.meta.items())},
                    "strings": [{"offset": off, "id": ident}
                                for off, ident, _ in m.strings[:MAX_STRINGS]]})
    return out


class Scan:
    """One scan: the caps it has used so far and what it found."""

    def __init__(self, payload_rules):
        self.payload_rules = payload_rules
        self.entries = 0
        self.bytes_read = 0
        self.objects = 0
        self.matches = set()
        self.limits = []
        self.errors = 0

    def examine(self, data, path, depth=0):
        """The report on one object: a file, or a member of an archive."""
        self.objects += 1
        r = {"path": path, "size": len(data)}
        r.update(hashes(data))
        r["entropy"] = entropy(data)
        errors = {}
        try:
            r["type"] = MAGIC_TEXT.from_buffer(data)
            r["mime"] = MAGIC_MIME.from_buffer(data)
        except Exception as e:
            errors["magic"] = _error(e)
        name = path.rsplit("/", 1)[-1]
        matches = []
        for label, rules in (("shipped", SHIPPED_RULES),
                             ("payload", self.payload_rules)):
            if rules is None:
                continue
            try:
                matches += yara_matches(rules, data, name, r.get("type", ""))
            except Exception as e:
                errors["yara_" + label] = _error(e)
        r["yara"] = matches
        for m in matches:
            self.matches.add("%s:%s" % (m["namespace"], m["rule"]))
        if data[:2] == b"MZ":
            try:
                r["pe"] = pe_report(data)
            except Exception as e:
                errors["pe"] = _error(e)
        if data[:4] == b"\x7fELF":
            try:
                r["elf"] = elf_report(data)
            except Exception as e:
                errors["elf"] = _error(e)
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            try:
                r["archive"] = self.unzip(data, path, depth)
            except Exception as e:
                errors["archive"] = _error(e)
                r["archive"] = {"kind": "zip", "verdict": "corrupt"}
                self.limits.append("%s: corrupt" % path)
        if errors:
            r["errors"] = errors
            self.errors += len(errors)
        return r

    def unzip(self, data, path, depth):
        """The members of a ZIP archive, each examined, within the caps."""
        a = {"kind": "zip", "verdict": "ok", "members": []}
        if depth >= MAX_DEPTH:
            a["verdict"] = "too deep"
            self.limits.append("%s: too deep" % path)
            return a
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError,
                EOFError, OSError) as e:
            a["verdict"] = "corrupt"
            a["error"] = _error(e)
            self.limits.append("%s: corrupt" % path)
            return a
        infos = zf.infolist()
        a["nmembers"] = len(infos)
        for n, info in enumerate(infos):
            mpath = "%s/%s" % (path, info.filename)
            if n >= MAX_ENTRIES or self.entries >= TOTAL_ENTRIES:
                a["verdict"] = "too many entries"
                self.limits.append("%s: too many entries" % path)
                break
            self.entries += 1
            m = {"path": mpath, "size": info.file_size,
                 "compressed_size": info.compress_size}
            if info.is_dir():
                m["directory"] = True
                a["members"].append(m)
                continue
            if info.flag_bits & 0x1:
                m["verdict"] = "encrypted"
                a["members"].append(m)
                continue
            if (info.file_size > MEMBER_MAX or
                    self.bytes_read + info.file_size > TOTAL_MAX):
                m["verdict"] = "too large"
                a["verdict"] = "too large"
                self.limits.append("%s: too large" % mpath)
                a["members"].append(m)
                continue
            try:
                with zf.open(info) as f:
                    # One byte more than the header says: a member that
                    # inflates past its declared size is refused, so the
                    # header's size bounds what is read.
                    body = f.read(info.file_size + 1)
            except Exception as e:
                m["verdict"] = "corrupt"
                m["error"] = _error(e)
                a["verdict"] = "corrupt"
                self.limits.append("%s: corrupt" % mpath)
                a["members"].append(m)
                continue
            self.bytes_read += len(body)
            if len(body) != info.file_size:
                m["verdict"] = "corrupt"
                m["error"] = "inflates to a size other than its header's"
                a["verdict"] = "corrupt"
                self.limits.append("%s: corrupt" % mpath)
                a["members"].append(m)
                continue
            inner = self.examine(body, mpath, depth + 1)
            inner["compressed_size"] = info.compress_size
            a["members"].append(inner)
            sub = inner.get("archive", {}).get("verdict", "ok")
            if sub != "ok" and a["verdict"] == "ok":
                a["verdict"] = sub
        return a


def compile_payload_rules(text):
    """The frame's own YARA rules, or None, and the error if they do not
    compile."""
    if not text.strip():
        return None, None
    try:
        return yara.compile(sources={"payload": text},
                            externals=EXTERNALS), None
    except Exception as e:
        return None, _error(e)


def engines():
    return {"libmagic": magic.version(),
            "yara": {"version": yara.__version__, "files": SHIPPED_FILES,
                     "rules": SHIPPED_RULE_NAMES},
            "clamav": CLAMAV.info()}


def scan(rules_text="", input_dir=INPUT):
    """Scan every regular file at the top of input_dir; the report, and
    the exit status main() gives it."""
    payload_rules, rules_error = compile_payload_rules(rules_text)
    s = Scan(payload_rules)
    report = {"report_version": REPORT_VERSION, "engines": engines(),
              "payload_rules": {"given": bool(rules_text.strip())},
              "files": []}
    if payload_rules is not None:
        report["payload_rules"]["rules"] = sorted(
            r.identifier for r in payload_rules)
    if rules_error:
        report["payload_rules"]["error"] = rules_error
    try:
        names = sorted(os.listdir(input_dir))
    except OSError as e:
        names = []
        report["input_error"] = _error(e)
    detections = set()
    for name in names:
        path = os.path.join(input_dir, name)
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                report["files"].append({"path": name,
                                        "error": "not a regular file"})
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            report["files"].append({"path": name, "error": _error(e)})
            s.errors += 1
            continue
        try:
            r = s.examine(data, name)
        except Exception as e:	# a bug of ours: that file's loss only
            r = {"path": name, "size": len(data),
                 "errors": {"scanner": _error(e)}}
            s.errors += 1
        r["clamav"] = CLAMAV.scan(path)
        detections.update(r["clamav"].get("detections", []))
        if "error" in r["clamav"] and CLAMAV.engine is not None:
            s.errors += 1
        report["files"].append(r)
    report["summary"] = {
        "files": len(report["files"]),
        "objects": s.objects,
        "matches": sorted(s.matches),
        "detections": sorted(detections),
        "limits": s.limits[:MAX_LIMITS],
        "errors": s.errors,
        "complete": not s.limits and not s.errors and
        CLAMAV.engine is not None and rules_error is None}
    if len(s.limits) > MAX_LIMITS:
        report["summary"]["limits_more"] = len(s.limits) - MAX_LIMITS
    fit_summary(report["summary"])
    return report, 2 if rules_error else 0


def fit_summary(summary):
    """Keep the summary within SUMMARY_MAX bytes of compact JSON: the token
    binds it (airlock-triage(1), Reports: at most 4096).  The longest list
    is halved until it fits, and LIST_more counts what it lost; the report
    itself keeps every match."""
    def size():
        return len(json.dumps(summary, separators=(",", ":")))
    while size() > SUMMARY_MAX:
        key = max(("matches", "detections", "limits"),
                  key=lambda k: len(json.dumps(summary[k])))
        lst = summary[key]
        if not lst:
            break
        keep = len(lst) // 2
        summary[key + "_more"] = summary.get(key + "_more", 0) + \
            len(lst) - keep
        summary[key] = lst[:keep]


# What a report keeps of an object when it must shrink: first everything
# but the long lists, then only what identifies the object and its verdicts.
LISTS = ("sections", "segments", "imports", "exports", "dynamic_symbols",
         "strings", "meta", "warnings")
BRIEF = ("path", "size", "md5", "sha1", "sha256", "type", "verdict", "error",
         "errors", "clamav")


def _shrink(obj, level):
    if isinstance(obj, list):
        return [_shrink(v, level) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        if level >= 1 and k in LISTS and isinstance(v, (list, dict)):
            continue
        if level >= 2 and "sha256" in obj and k not in BRIEF:
            if k == "yara":
                out[k] = ["%s:%s" % (m["namespace"], m["rule"]) for m in v]
            elif k == "archive":
                out[k] = {"verdict": v.get("verdict"),
                          "members": _shrink(v.get("members", []), level)}
            continue
        out[k] = _shrink(v, level)
    return out


def encode(report):
    """The report as bytes of at most REPORT_MAX, shrunk if it must be."""
    full = None
    for level in (0, 1, 2, 3):
        r = report
        if level == 3:
            r = {k: v for k, v in report.items() if k != "files"}
            r["files"] = [{k: f.get(k) for k in ("path", "size", "sha256")}
                          for f in report["files"]]
        elif level:
            r = dict(report, files=_shrink(report["files"], level))
        if level:
            r["truncated"] = ("the full report was %d bytes, over %d: %s"
                              % (full, REPORT_MAX,
                                 ("lists dropped", "details dropped",
                                  "only the files' digests kept")[level - 1]))
        body = (json.dumps(r, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True) + "\n").encode()
        if full is None:
            full = len(body)
        if len(body) <= REPORT_MAX:
            break
    return body


def main(rules_text="", input_dir=INPUT, output_dir=OUTPUT):
    """file:scan: the report to output_dir/report.json and to standard
    output, then one line: the summary and the report's SHA-256."""
    report, status = scan(rules_text, input_dir)
    body = encode(report)
    text = body.decode()
    digest = hashlib.sha256(body).hexdigest()
    try:
        with open(os.path.join(output_dir, REPORT), "wb") as f:
            f.write(body)
    except OSError as e:
        print("airlock-scanner: writing %s: %s" % (REPORT, e), file=sys.stderr)
    sys.stdout.write(text)
    sys.stdout.write(json.dumps({"report_sha256": "sha256:" + digest,
                                 "summary": report["summary"]},
                                sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return status
