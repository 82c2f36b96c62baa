"""Lab for docs/disks/luks.md: a LUKS2 header on an image file, made and read by cryptsetup.

* `luksFormat` with a small forced argon2id cost (4 iterations, 32 MiB, 1
  thread: fast and independent of the machine's load) writes the header the
  page dumps: 16 KiB metadata twice, a 16744448-byte keyslot area, data at
  16 MiB, 4096-byte encryption sectors, a 258048-byte keyslot (64-byte key x
  4000 AF stripes, rounded up to 4 KiB); the page's `luksDump` equals ours
  once the UUID, salts and digest are masked;
* `luksAddKey` fills slot 1, `--test-passphrase` unlocks it and rejects a wrong
  passphrase (exit 2); `luksHeaderBackup` is 16 MiB; `erase` leaves no keyslot
  (exit 1 on unlock) and `luksHeaderRestore` brings them back;
* `cryptsetup open` needs device-mapper: without it (this kernel) it fails with
  "Cannot initialize device-mapper"; where it exists the mapping is made and
  closed again;
* `cryptsetup benchmark`: the argon2id line is measured in user space; the
  cipher part needs the kernel's AF_ALG skcipher interface and without it
  fails with "Required kernel crypto interface not available".
"""
from __future__ import annotations

import re
import secrets
import socket
import subprocess
from pathlib import Path


from labkit import make_image, need_root, need_tools, run
from pagekit import find_run, page_fences


ROOT = Path(__file__).resolve().parents[2]
PAGE_PATH = ROOT / "docs" / "disks" / "luks.md"
PAGE = PAGE_PATH.read_text(encoding="utf-8")
FENCES = page_fences(PAGE_PATH)
SMALL_KDF = ["--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-parallel", "1",
             "--pbkdf-force-iterations", "4"]


def _cs(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["cryptsetup", *args], check=check)


def _page_output(command: str) -> list[str]:
    """The output lines the page shows after the prompt line `# <command>` (cryptsetup benchmark's
    banner "# Tests are approximate ..." is output, not a prompt)."""
    return list(find_run(FENCES, command, prompt="#", also_output=("# Tests are ",)).output_lines)


HEX_RUN = re.compile(r"(?:[0-9a-f]{2} ){16}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _mask(lines: list[str]) -> list[str]:
    return [UUID.sub("UUID", HEX_RUN.sub("HEX ", l)).rstrip() for l in lines]


def _format(img: Path, key: Path) -> None:
    _cs("luksFormat", "-q", "--type", "luks2", *SMALL_KDF, "--label", "lab-luks",
        "--key-file", str(key), str(img))


def test_luks2_header_keyslots_backup_and_restore(tmp_path):
    need_tools("cryptsetup")
    img = make_image(tmp_path / "vol.img", 64 << 20)
    pw, backup, wrong = (tmp_path / n for n in ("pass.key", "backup.key", "wrong.key"))
    pw.write_text("correct horse")
    backup.write_text("backup phrase")
    wrong.write_text("wrong")
    _format(img, pw)

    dump = _cs("luksDump", str(img)).stdout.splitlines()
    assert _mask(dump) == _mask(_page_output("cryptsetup luksDump vol.img"))
    for line in ("Metadata area: \t16384 [bytes]", "Keyslots area: \t16744448 [bytes]",
                 "\toffset: 16777216 [bytes]", "\tsector: 4096 [bytes]",
                 "\tPBKDF:      argon2id", "\tAF stripes: 4000",
                 "\tArea offset:32768 [bytes]", "\tArea length:258048 [bytes]"):
        assert line in dump, line
    assert 16744448 == 16 * 2**20 - 2 * 16384                 # 16 MiB header minus two metadata copies
    assert 258048 == -(-64 * 4000 // 4096) * 4096 == 63 * 4096  # AF-split key, 4 KiB aligned
    assert 32768 == 2 * 16384                                # slot 0 right after both metadata copies
    assert b"correct horse" not in img.read_bytes()

    _cs("luksAddKey", "-q", *SMALL_KDF, "--key-file", str(pw), str(img), str(backup))
    slots = [l for l in _cs("luksDump", str(img)).stdout.splitlines() if re.match(r"^  \d+: luks2$", l)]
    assert slots == ["  0: luks2", "  1: luks2"] == _page_output(
        "cryptsetup luksDump vol.img | grep -E '^  [0-9]+: luks2'")

    ok = _cs("open", "--test-passphrase", "-v", "--key-file", str(backup), str(img))
    assert "Key slot 1 unlocked." in ok.stdout + ok.stderr
    bad = _cs("open", "--test-passphrase", "-v", "--key-file", str(wrong), str(img), check=False)
    assert bad.returncode == 2
    assert "No key available with this passphrase." in bad.stderr
    assert "Command failed with code -2 (no permission or bad passphrase)." in bad.stderr + bad.stdout
    assert "exit=2" in PAGE

    hdr = tmp_path / "vol-header.bak"
    _cs("luksHeaderBackup", str(img), "--header-backup-file", str(hdr))
    assert hdr.stat().st_size == 16 << 20

    _cs("erase", "-q", str(img))
    after = _cs("luksDump", str(img)).stdout
    assert "Keyslots:\nTokens:\n" in after
    gone = _cs("open", "--test-passphrase", "--key-file", str(pw), str(img), check=False)
    assert gone.returncode == 1 and "No usable keyslot is available." in gone.stderr
    assert "No usable keyslot is available.\nexit=1" in PAGE

    _cs("luksHeaderRestore", "-q", str(img), "--header-backup-file", str(hdr))
    assert _cs("open", "--test-passphrase", "--key-file", str(pw), str(img)).returncode == 0


def _device_mapper() -> bool:
    return any(l.split()[-1] == "device-mapper" for l in Path("/proc/misc").read_text().splitlines())


def test_open_needs_device_mapper(tmp_path):
    need_root()
    need_tools("cryptsetup")
    img = make_image(tmp_path / "vol.img", 64 << 20)
    pw = tmp_path / "pass.key"
    pw.write_text("correct horse")
    _format(img, pw)
    name = f"lab-{secrets.token_hex(3)}"
    res = _cs("open", "--key-file", str(pw), str(img), name, check=False)
    try:
        if _device_mapper():
            assert res.returncode == 0, res.stderr
            assert Path(f"/dev/mapper/{name}").exists()
        else:
            assert res.returncode == 1
            assert "Cannot initialize device-mapper. Is dm_mod kernel module loaded?" in res.stderr
            assert "Cannot initialize device-mapper. Is dm_mod kernel module loaded?" in PAGE
    finally:
        if Path(f"/dev/mapper/{name}").exists():
            _cs("close", name, check=False)


def _af_alg_skcipher() -> bool:
    try:
        with socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET) as s:
            s.bind(("skcipher", "xts(aes)"))
        return True
    except (OSError, AttributeError):
        return False


def test_benchmark_pbkdf_in_user_space_cipher_in_kernel():
    need_tools("cryptsetup")
    kdf = _cs("benchmark", "--pbkdf", "argon2id")
    assert re.search(r"^argon2id\s+\d+ iterations, \d+ memory, \d+ parallel threads \(CPUs\) "
                     r"for 256-bit key \(requested 2000 ms time\)$", kdf.stdout, re.M), kdf.stdout
    cipher = _cs("benchmark", "--cipher", "aes-xts", check=False)
    if _af_alg_skcipher():
        assert cipher.returncode == 0
        assert re.search(r"^\s*aes-xts\s+256b\s+[\d.]+ [MG]iB/s\s+[\d.]+ [MG]iB/s$", cipher.stdout, re.M)
    else:
        assert cipher.returncode == 1
        for line in ("Cipher aes-xts (with 256 bits key) is not available.",
                     "Required kernel crypto interface not available.",
                     "Ensure you have algif_skcipher kernel module loaded."):
            assert line in cipher.stderr and line in PAGE, line
