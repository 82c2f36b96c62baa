"""Search quality: Chinese and mixed queries typed into the real search box in Chromium.

Each query must bring one of the named pages into the top 3 results.  This is
what tunes jieba_userdict.txt, headings and search boosts.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.site

# query -> pages (site paths) of which at least one must be among the top 3
QUERIES: dict[str, tuple[str, ...]] = {
    # disks
    "分区表": ("disks/partitions/", "disks/raw-disk/"),
    "保护性 MBR": ("disks/partitions/",),
    "GPT 分区项": ("disks/partitions/",),
    "扩展分区": ("disks/partitions-mbr/", "disks/partitions/"),
    "分区对齐": ("disks/partitions-layout/",),
    "交换分区": ("disks/swap/",),
    "swappiness": ("disks/swap/",),
    "逻辑卷": ("disks/lvm/",),
    "vgcreate": ("disks/lvm/",),
    "fstab": ("disks/mount/",),
    "PARTUUID": ("disks/mount/", "disks/partitions-layout/"),
    "磁盘配额": ("disks/quota/",),
    "宽限期": ("disks/quota/",),
    "e2fsck": ("disks/fsck/",),
    "xfs_repair": ("disks/fsck/",),
    "inode 耗尽": ("disks/usage/",),
    "超级块": ("disks/fsck/", "disks/raw-disk/"),
    "iostat await": ("disks/performance/",),
    "fio 队列深度": ("disks/performance/",),
    "I/O 调度器": ("disks/io-scheduler/",),
    "fsync 落盘": ("disks/durability/",),
    "文件系统只读": ("disks/troubleshooting/",),
    "target is busy": ("disks/troubleshooting/",),
    "NVMe 多路径": ("disks/hotplug-nvme/",),
    "LUKS 密钥槽": ("disks/luks/",),
    # raid
    "奇偶校验": ("raid/parity/", "raid/"),
    "写惩罚": ("raid/calculator/", "raid/parity/", "raid/"),
    "热备盘": ("raid/mdadm/",),
    "mismatch_cnt": ("raid/mdadm/",),
    "write hole": ("raid/raid6/", "raid/mdadm/"),
    "条带化": ("raid/",),
    "URE 重建": ("raid/calculator/",),
    "mdadm": ("raid/mdadm/",),
    "事件计数": ("raid/md-recovery/",),
    # network storage
    "rpcbind": ("network-storage/nfs/",),
    "showmount": ("network-storage/nfs-workflow/", "network-storage/nfs-config/"),
    "root_squash": ("network-storage/nfs-config/",),
    "IQN": ("network-storage/san-iscsi/",),
    "LUN": ("network-storage/san-iscsi/",),
    "IP SAN": ("network-storage/san-iscsi/",),
    "对象存储": ("network-storage/object-storage/",),
    "块存储和文件存储": ("network-storage/", "network-storage/object-storage/"),
    # ceph
    "归置组": ("ceph/placement/", "ceph/crush/", "ceph/pools-pg/", "ceph/architecture/"),
    "故障域": ("ceph/failure-domains/", "ceph/crush/"),
    "straw2": ("ceph/crush/",),
    "纠删码": ("ceph/pools-pg/",),
    "min_size": ("ceph/pools-pg/", "ceph/ha/"),
    "BlueStore": ("ceph/architecture/", "ceph/ha/"),
    "RADOS": ("ceph/architecture/",),
    "RBD 快照": ("ceph/rbd-rgw-cephfs/",),
    "慢请求": ("ceph/troubleshooting/",),
    "monmap": ("ceph/mon-recovery/",),
    "block.db": ("ceph/deployment/",),
    # virtualization
    "virbr0": ("virtualization/libvirt-network/", "virtualization/libvirt/"),
    "snapshot-revert": ("virtualization/virsh-ops/", "virtualization/virsh/"),
    "写时复制": ("virtualization/disk-images/",),
    "qcow2": ("virtualization/disk-images/", "virtualization/qcow2-internals/"),
    "backing file": ("virtualization/backing-snapshots/", "virtualization/disk-images/"),
    "virt-clone": ("virtualization/virsh-ops/", "virtualization/virsh/"),
    "半虚拟化": ("virtualization/", "virtualization/kvm/"),
    "KVM 组件": ("virtualization/kvm/", "virtualization/"),
    "增量备份": ("virtualization/backup-sharing/",),
    "virtiofs": ("virtualization/backup-sharing/",),
    "热迁移 CPU 型号": ("virtualization/vm-platform/",),
    "iothread": ("virtualization/vm-performance/",),
}


@pytest.fixture(scope="module")
def search_page(browser, site_url):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(site_url, wait_until="networkidle")
    yield page
    ctx.close()


def _top3(page, site_url, query: str) -> list[str]:
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    # Empty the box and wait until the previous query's results are gone: on a busy machine
    # the worker answers late, and results still on screen would be read as this query's.
    # Material reads the query on keyboard events, hence the End key after each fill.
    page.fill("input.md-search__input", "")
    page.keyboard.press("End")
    page.wait_for_function("document.querySelectorAll('.md-search-result__item').length === 0",
                           timeout=20000)
    page.fill("input.md-search__input", query)
    page.keyboard.press("End")
    page.wait_for_function(
        "q => document.querySelector('input.md-search__input').value === q && "
        "document.querySelectorAll('.md-search-result__item').length > 0", arg=query, timeout=20000)
    hrefs = page.eval_on_selector_all(
        ".md-search-result__list > .md-search-result__item > a", "els => els.map(e => e.href)")
    pages = []
    for h in hrefs:
        path = h.replace(site_url, "").split("#")[0].split("?")[0]
        if path not in pages:
            pages.append(path)
    return pages[:3]


def test_there_are_at_least_40_queries():
    assert len(QUERIES) >= 40


@pytest.mark.parametrize("query", list(QUERIES))
def test_query_finds_its_page_in_the_top_3(search_page, site_url, query):
    top = _top3(search_page, site_url, query)
    assert any(p in top for p in QUERIES[query]), f"{query!r}: top 3 = {top}"
