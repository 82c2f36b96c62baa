"""Lab for docs/disks/swap.md: a swap file on a loop-mounted ext4.

* `mkswap` on a 32 MiB file reports 32 MiB minus one 4 KiB page (the header),
  and `swapon`/`/proc/swaps` show it (in KiB), then `swapoff` removes it;
* a sparse file gets a warning from mkswap and is refused twice: by
  swapon(8)'s own check ("skipping - it appears to have holes") and, when
  the swapon(2) system call is made directly, by the kernel (EINVAL).
"""
from __future__ import annotations

import ctypes
import errno
import os


from disks_fixtures import ext4_image
from labkit import loop_device, mounted, need_tools, run


SIZE = 32 << 20


def _active_swaps() -> list[str]:
    with open("/proc/swaps") as f:
        return [line.split()[0] for line in f.read().splitlines()[1:]]


def test_swap_file_on_and_off_and_sparse_file_refused(tmp_path):
    need_tools("mkswap", "swapon", "swapoff")
    img = ext4_image(tmp_path / "fs.img", 128 << 20, "-b", "4096")   # page-sized blocks
    with loop_device(img, partitions=False) as dev, mounted(dev, tmp_path / "mnt") as mnt:
        good = mnt / "swapfile"
        with open(good, "wb") as f:                 # written, not truncated: no holes
            for _ in range(SIZE // (1 << 20)):
                f.write(bytes(1 << 20))
        os.chmod(good, 0o600)
        st = os.stat(good)
        assert st.st_blocks * 512 >= st.st_size, "fully allocated"
        out = run(["mkswap", str(good)]).stdout
        assert f"size = 32 MiB ({SIZE - 4096} bytes)" in out
        run(["swapon", str(good)])
        try:
            assert str(good) in _active_swaps()
            show = run(["swapon", "--show=NAME,TYPE,SIZE", "--bytes", "--noheadings"]).stdout
            assert [str(good), "file", str(SIZE - 4096)] in [
                line.split() for line in show.splitlines()], show
            with open("/proc/swaps") as f:
                line = next(l for l in f if l.startswith(str(good)))
            assert line.split()[1:3] == ["file", str((SIZE - 4096) // 1024)]   # 32764 KiB
        finally:
            run(["swapoff", str(good)])
        assert str(good) not in _active_swaps()

        sparse = mnt / "sparse.swap"
        with open(sparse, "wb") as f:
            f.truncate(SIZE)
        os.chmod(sparse, 0o600)
        mk = run(["mkswap", str(sparse)])
        assert "contains holes or other unsupported extents" in mk.stderr
        st = os.stat(sparse)
        assert st.st_blocks * 512 < st.st_size          # only the header page is allocated
        refused = run(["swapon", str(sparse)], check=False)
        assert refused.returncode != 0
        assert "skipping - it appears to have holes" in refused.stderr
        # the kernel refuses it too when asked directly (swapon(2))
        libc = ctypes.CDLL(None, use_errno=True)
        rc = libc.swapon(os.fsencode(str(sparse)), 0)
        err = ctypes.get_errno()
        if rc == 0:                                      # never leave it active
            libc.swapoff(os.fsencode(str(sparse)))
        assert (rc, err) == (-1, errno.EINVAL)
        assert f"swapon: file {sparse} has unallocated extents" in run(["dmesg"]).stdout
        assert str(sparse) not in _active_swaps()
