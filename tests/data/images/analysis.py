# An analyze_malware_sample payload (tests/58-images-pipeline.bats,
# README.md): the analyst's own look at the samples under /input with the
# scanner image's libraries, and the scanner's engine called directly.
import json

import airlock_scanner
import capstone
import magic
import pefile
import yara
from elftools.elf.elffile import ELFFile

out = {}
pe = pefile.PE("/input/hello.exe")
ep = pe.OPTIONAL_HEADER.AddressOfEntryPoint
code = pe.get_memory_mapped_image()[ep:ep + 64]
md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
out["entry"] = ["%s %s" % (i.mnemonic, i.op_str)
                for i in md.disasm(code, pe.OPTIONAL_HEADER.ImageBase + ep)][:3]
out["imports"] = sorted(e.dll.decode() for e in pe.DIRECTORY_ENTRY_IMPORT)
with open("/input/true.elf", "rb") as f:
    elf = ELFFile(f)
    out["elf_sections"] = elf.num_sections()
    out["elf_text"] = elf.get_section_by_name(".text")["sh_size"] > 0
out["magic"] = magic.from_file("/input/eicar.com")
rules = yara.compile(source='rule mz { condition: uint16(0) == 0x5A4D }')
out["yara"] = [str(m) for m in rules.match("/input/hello.exe")]
out["clamav"] = airlock_scanner.CLAMAV.scan("/input/eicar.com")
with open("/output/analysis.json", "w") as f:
    json.dump(out, f, sort_keys=True)
print(json.dumps(out, sort_keys=True))
