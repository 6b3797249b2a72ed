"""Write file:scan's test inputs into the directory argv[1], which already
holds hello.exe (a PE the test built) and true.elf (an ELF): the EICAR test
file, a ZIP of the three, and the hostile ones: a zip bomb, a ZIP whose
member inflates past the size its header gives, ZIPs nested 20 deep, a ZIP
of 300 members, a truncated PE and an ELF whose section table lies."""
import io
import os
import struct
import sys
import zipfile
import zlib

out = sys.argv[1]


def path(name):
    return os.path.join(out, name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


# The EICAR test file, its standard 68 bytes.
eicar = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
assert len(eicar) == 68
write("eicar.com", eicar)

b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    for n in ("eicar.com", "true.elf", "hello.exe"):
        z.writestr(n, read(n))
write("samples.zip", b.getvalue())


def zip64_stored_deflate(name, size, deflated, crc):
    """A ZIP of one member, deflated, whose headers give size (with zip64
    extra fields, so sizes past 4 GiB are honest)."""
    fname = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(deflated))
    local = struct.pack("<IHHHHHIIIHH", 0x04034b50, 45, 0, 8, 0, 0, crc,
                        0xffffffff, 0xffffffff, len(fname), len(extra))
    cextra = struct.pack("<HHQQQ", 1, 24, size, len(deflated), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, 0, 8, 0,
                          0, crc, 0xffffffff, 0xffffffff, len(fname),
                          len(cextra), 0, 0, 0, 0, 0)
    body = local + fname + extra + deflated
    cd = central + fname + cextra
    eocd = struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 1, 1, len(cd),
                       len(body), 0)
    return body + cd + eocd


# The zip bomb: bomb.zip holds inner.zip (10 MiB), which holds 10 GiB of
# zeros.  Deflating 16 MiB of zeros after the first gives the same bytes
# every time, so the 10 GiB stream is built without deflating it all; its
# CRC is computed for real, so the bomb is a valid archive.
chunk = bytes(16 << 20)
n = 640
co = zlib.compressobj(9, zlib.DEFLATED, -15)
first = co.compress(chunk) + co.flush(zlib.Z_SYNC_FLUSH)
rest = co.compress(chunk) + co.flush(zlib.Z_SYNC_FLUSH)
end = co.flush(zlib.Z_FINISH)
crc = 0
for _ in range(n):
    crc = zlib.crc32(chunk, crc)
inner = zip64_stored_deflate("zeros.bin", n * len(chunk),
                             first + rest * (n - 1) + end, crc)
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.writestr("inner.zip", inner)
write("bomb.zip", b.getvalue())

# A member whose header says 1000 bytes but which inflates to 64 MiB.
big = bytes(64 << 20)
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("small.txt", big)
liar = bytearray(b.getvalue())
for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    at = liar.index(sig)
    liar[at + off:at + off + 4] = struct.pack("<I", 1000)
write("liar.zip", bytes(liar))

# ZIPs nested 20 deep around the EICAR file.
data, name = eicar, "eicar.com"
for i in range(20):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr(name, data)
    data, name = b.getvalue(), "level%02d.zip" % (19 - i)
write("nested.zip", data)

# More members than the scanner examines in one archive.
b = io.BytesIO()
with zipfile.ZipFile(b, "w") as z:
    for i in range(300):
        z.writestr("m%03d.txt" % i, b"%d\n" % i)
write("many.zip", b.getvalue())

# A PE cut off in its section table, and an ELF whose section header table
# starts near the end of the file and claims 65520 entries.
write("truncated.exe", read("hello.exe")[:700])
elf = bytearray(read("true.elf"))
elf[0x28:0x30] = struct.pack("<Q", len(elf) - 10)
elf[0x3c:0x3e] = struct.pack("<H", 0xfff0)
write("broken.elf", bytes(elf))
