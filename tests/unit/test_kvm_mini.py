"""Unit tests of snippets/kvm_mini.py that need no /dev/kvm: ioctl numbers and guest code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

import kvm_mini

SNIPPET = Path(__file__).resolve().parents[2] / "snippets" / "kvm_mini.py"


def test_ioctl_numbers_match_the_kernel_header_values():
    # Hand calculation from include/uapi/linux/kvm.h and asm-generic/ioctl.h:
    # _IO(t,n) = t<<8|n ; _IOW = 1<<30 | size<<16 | t<<8 | n ; _IOR = 2<<30 | ...
    assert kvm_mini.KVM_GET_API_VERSION == 0xAE00
    assert kvm_mini.KVM_CREATE_VM == 0xAE01
    assert kvm_mini.KVM_GET_VCPU_MMAP_SIZE == 0xAE04
    assert kvm_mini.KVM_CREATE_VCPU == 0xAE41
    assert kvm_mini.KVM_RUN == 0xAE80
    assert kvm_mini.KVM_SET_USER_MEMORY_REGION == 0x4000_0000 | 32 << 16 | 0xAE46 == 0x4020AE46
    assert kvm_mini.KVM_SET_REGS == 0x4090AE82          # sizeof(struct kvm_regs) = 18 * 8 = 144
    assert kvm_mini.KVM_GET_SREGS == 0x8138AE83         # sizeof(struct kvm_sregs) = 312
    assert kvm_mini.KVM_SET_SREGS == 0x4138AE84


printable = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=256)


@given(printable, st.integers(0, 0xFFFF))
def test_guest_code_is_mov_dx_then_mov_al_out_per_byte_then_hlt(message, port):
    code = kvm_mini.guest_code(message, port)
    assert len(code) == 3 + 3 * len(message) + 1
    assert code[0] == 0xBA and int.from_bytes(code[1:3], "little") == port
    body = code[3:-1]
    assert bytes(body[0::3]) == b"\xb0" * len(message)          # mov al, imm8
    assert bytes(body[1::3]) == message.encode("ascii")         # the immediate is the byte
    assert bytes(body[2::3]) == b"\xee" * len(message)          # out dx, al
    assert code[-1] == 0xF4                                     # hlt


@given(st.one_of(st.just(""), st.text(min_size=257, max_size=300),
                 st.text(min_size=1).filter(lambda s: any(not 32 <= ord(c) < 127 for c in s))))
def test_guest_code_rejects_empty_long_or_non_printable_messages(message):
    try:
        kvm_mini.guest_code(message)
    except ValueError as err:
        assert "1 to 256 printable ASCII characters" in str(err)
    else:
        raise AssertionError(f"{message!r} was accepted")


def test_bad_port_is_refused():
    try:
        kvm_mini.guest_code("x", 0x10000)
    except ValueError as err:
        assert str(err) == "port must be 0 to 65535, got 65536"
    else:
        raise AssertionError("port 65536 accepted")


def test_script_reports_bad_message_with_exit_2_and_no_traceback():
    proc = subprocess.run([sys.executable, str(SNIPPET), "--message", "é"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "kvm_mini.py: message must be 1 to 256 printable ASCII characters, got 'é'"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("port", [1016.0, 0.5, True, -1, 2**16, 10**400])
def test_a_port_that_is_not_a_16_bit_whole_number_is_refused(port):
    """A float port was an AttributeError ('float' object has no attribute 'to_bytes')."""
    with pytest.raises(ValueError, match=r"^port must be 0 to 65535, got "):
        kvm_mini.guest_code("x", port)
    # mov dx, 0x3f8 is ba f8 03: the port as a little-endian 16-bit immediate
    assert kvm_mini.guest_code("x", 0x3F8)[:3] == bytes([0xBA, 0xF8, 0x03])
