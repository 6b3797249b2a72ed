/*
 * The YARA rules airlock-scanner ships (airlock-image(5)).  The scanner
 * compiles every *.yar file of this directory once, in the snapshot's
 * zygote, each file a namespace named after it; a frame's own rules are
 * compiled per run in the namespace "payload".  Rules may use the
 * externals filename, extension and filetype (libmagic's description),
 * and YARA's pe, elf, math and hash modules.
 */
import "pe"

rule EICAR_test_file : test
{
    meta:
        description = "The EICAR anti-virus test file (eicar.org)"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar
}

rule UPX_packed_PE : packer
{
    meta:
        description = "A PE file whose sections UPX named: packed, its code hidden from static analysis"
    condition:
        pe.is_pe and
        for any i in (0 .. pe.number_of_sections - 1) :
            (pe.sections[i].name == "UPX0") and
        for any j in (0 .. pe.number_of_sections - 1) :
            (pe.sections[j].name == "UPX1")
}

rule PE_inside_non_PE : embedded
{
    meta:
        description = "A DOS stub inside a file that is not itself a PE: a dropper or an appended payload"
    strings:
        $stub = "This program cannot be run in DOS mode"
    condition:
        uint16(0) != 0x5A4D and $stub
}

rule PowerShell_download_cradle : script
{
    meta:
        description = "PowerShell that downloads and runs code"
    strings:
        $ps = "powershell" nocase
        $dl1 = "DownloadString" nocase
        $dl2 = "DownloadFile" nocase
        $dl3 = "Invoke-WebRequest" nocase
        $ex1 = "IEX" nocase fullword
        $ex2 = "Invoke-Expression" nocase
        $enc = /-e(nc(odedcommand)?)? +[A-Za-z0-9+\/=]{40,}/ nocase
    condition:
        $ps and ((any of ($dl*) and any of ($ex*)) or $enc)
}
