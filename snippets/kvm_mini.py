"""Run a few bytes of guest code on KVM through /dev/kvm, doing by hand the job QEMU does.

The KVM kernel module only runs guest instructions on the CPU (with Intel VT-x
or AMD-V) and manages guest memory; everything else is left to a user-space
program such as QEMU.  This module is that user-space program at its smallest:

1. ``open("/dev/kvm")`` and ``KVM_CREATE_VM``: a VM is a file descriptor;
2. ``KVM_SET_USER_MEMORY_REGION``: 4 KiB of *our* memory becomes guest RAM;
3. ``KVM_CREATE_VCPU`` + ``KVM_SET_SREGS``/``KVM_SET_REGS``: one vCPU in real
   mode, starting at guest physical address 0x1000;
4. loop on ``KVM_RUN``: the guest runs until it does something KVM does not
   emulate; an ``out`` to the serial port 0x3f8 comes back to us as
   ``KVM_EXIT_IO`` and we "emulate the UART" by collecting the byte; ``hlt``
   ends the run.

The ioctl numbers and structure layouts are those of the kernel's
``include/uapi/linux/kvm.h`` and ``Documentation/virt/kvm/api.rst`` (x86-64).

Usage: ``python snippets/kvm_mini.py --message KVM [--trace]`` (needs /dev/kvm).
"""
from __future__ import annotations

import argparse

# --8<-- [start:ioctls]
import ctypes
import fcntl
import mmap
import os
import struct
import sys

KVMIO = 0xAE                     # the ioctl "type" byte of every KVM ioctl


def _io(nr: int) -> int:
    """_IO(KVMIO, nr): an ioctl without a data structure."""
    return (KVMIO << 8) | nr


def _iow(nr: int, size: int) -> int:
    """_IOW(KVMIO, nr, type): user space writes a structure of `size` bytes."""
    return (1 << 30) | (size << 16) | (KVMIO << 8) | nr


def _ior(nr: int, size: int) -> int:
    """_IOR(KVMIO, nr, type): the kernel fills a structure of `size` bytes."""
    return (2 << 30) | (size << 16) | (KVMIO << 8) | nr


KVM_GET_API_VERSION = _io(0x00)           # 12; api.rst: refuse to run on anything else
KVM_CREATE_VM = _io(0x01)                 # returns a VM file descriptor
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)        # size of the shared struct kvm_run
KVM_CREATE_VCPU = _io(0x41)               # returns a vCPU file descriptor
KVM_RUN = _io(0x80)                       # run the vCPU until the next exit
KVM_SET_USER_MEMORY_REGION = _iow(0x46, 32)   # struct kvm_userspace_memory_region
KVM_SET_REGS = _iow(0x82, 144)            # struct kvm_regs: 18 x u64
KVM_GET_SREGS = _ior(0x83, 312)           # struct kvm_sregs
KVM_SET_SREGS = _iow(0x84, 312)

KVM_EXIT_IO = 2                           # the guest did in/out on a port
KVM_EXIT_HLT = 5                          # the guest executed hlt
EXIT_NAMES = {KVM_EXIT_IO: "IO", KVM_EXIT_HLT: "HLT"}

SERIAL_PORT = 0x3F8                       # COM1, where a PC's first UART lives
GUEST_ADDR = 0x1000                       # guest physical address of our code
GUEST_MEM = 0x1000                        # 4 KiB of guest RAM
MAX_MESSAGE = 256
# --8<-- [end:ioctls]


# --8<-- [start:guest]
def guest_code(message: str, port: int = SERIAL_PORT) -> bytes:
    """16-bit x86 machine code that writes `message` to an I/O port, then halts.

    mov dx, port ; then for each byte: mov al, byte ; out dx, al ; finally hlt

    >>> guest_code("KVM").hex(" ")
    'ba f8 03 b0 4b ee b0 56 ee b0 4d ee f4'
    >>> guest_code("")
    Traceback (most recent call last):
        ...
    ValueError: message must be 1 to 256 printable ASCII characters, got ''
    """
    if not 1 <= len(message) <= MAX_MESSAGE or not all(32 <= ord(c) < 127 for c in message):
        raise ValueError(f"message must be 1 to {MAX_MESSAGE} printable ASCII characters, "
                         f"got {message!r}")
    if type(port) is not int or not 0 <= port <= 0xFFFF:
        raise ValueError(f"port must be 0 to 65535, got {port!r}")
    code = bytes([0xBA]) + port.to_bytes(2, "little")          # mov dx, imm16
    for ch in message.encode("ascii"):
        code += bytes([0xB0, ch, 0xEE])                         # mov al, imm8 ; out dx, al
    return code + bytes([0xF4])                                 # hlt
# --8<-- [end:guest]


# --8<-- [start:run]
class GuestRun:
    """What happened while the guest ran: the bytes it sent and every exit to user space."""

    def __init__(self, api_version: int) -> None:
        self.api_version = api_version
        self.output = ""
        self.exits: list[str] = []


def run_guest(message: str, port: int = SERIAL_PORT) -> GuestRun:
    """Create a VM with one vCPU, run guest_code(message) in it, and play the UART."""
    code = guest_code(message, port)
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    fds = [kvm]
    try:
        result = GuestRun(api_version=fcntl.ioctl(kvm, KVM_GET_API_VERSION))
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        fds.append(vm)

        # Guest RAM is ordinary memory of this process (in QEMU too).
        ram = mmap.mmap(-1, GUEST_MEM)
        ram.write(code)
        ram_buf = ctypes.c_char.from_buffer(ram)
        region = struct.pack("IIQQQ", 0, 0, GUEST_ADDR, GUEST_MEM, ctypes.addressof(ram_buf))
        fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)   # slot 0 at guest 0x1000

        vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
        fds.append(vcpu)
        run_size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
        run = mmap.mmap(vcpu, run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

        # Real mode, code segment base 0, so the vCPU fetches from guest address RIP.
        sregs = bytearray(312)
        fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs, True)
        struct.pack_into("Q", sregs, 0, 0)        # cs.base
        struct.pack_into("H", sregs, 12, 0)       # cs.selector
        fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
        regs = bytearray(144)
        struct.pack_into("QQ", regs, 128, GUEST_ADDR, 0x2)      # rip, rflags (bit 1 is always 1)
        fcntl.ioctl(vcpu, KVM_SET_REGS, bytes(regs))

        for _ in range(len(code)):                # every exit consumes at least one instruction
            fcntl.ioctl(vcpu, KVM_RUN, 0)
            reason = struct.unpack_from("I", run, 8)[0]          # kvm_run.exit_reason
            result.exits.append(EXIT_NAMES.get(reason, str(reason)))
            if reason == KVM_EXIT_IO:
                direction, size, io_port, count, offset = struct.unpack_from("BBHIQ", run, 32)
                if (direction, size, io_port, count) != (1, 1, port, 1):
                    raise RuntimeError(f"unexpected I/O exit: dir={direction} size={size} "
                                       f"port={io_port:#x} count={count}")
                result.output += chr(run[offset])                # the byte the guest wrote
            else:
                break
        del ram_buf
        run.close()
        ram.close()
        return result
    finally:
        for fd in reversed(fds):
            os.close(fd)
# --8<-- [end:run]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--message", default="KVM", help="text the guest writes to its serial port")
    parser.add_argument("--trace", action="store_true", help="print every exit to user space")
    args = parser.parse_args(argv)
    try:
        guest_code(args.message)
    except ValueError as err:
        print(f"kvm_mini.py: {err}", file=sys.stderr)
        return 2
    try:
        result = run_guest(args.message)
    except OSError as err:
        print(f"cannot use /dev/kvm: {err}", file=sys.stderr)
        return 1
    print(f"KVM API version: {result.api_version}")
    if args.trace:
        print("exits: " + " ".join(result.exits))
    print(f"guest wrote: {result.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
