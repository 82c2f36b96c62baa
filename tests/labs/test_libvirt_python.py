"""Lab: the libvirt Python binding on libvirt's test driver (libvirt 9.0.0).

Everything virsh does in docs/virtualization/virsh.md and virsh-ops.md goes
through the same C API; these tests do the same steps from Python in one connection (the test
driver's state lives in the connection's process) and check what the pages say:
list domains, define from XML, start, pause, snapshot and revert, undefine,
the default network, and the error raised for a missing domain.
"""
from __future__ import annotations

import pytest

import libvirt  # libvirt-python in .venv (python3-libvirt on Debian)

import virt_fixtures as vf


DOMAIN_XML = vf.page_files((vf.DOCS / "virsh.md").read_text())["vm1.xml"]


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    try:
        yield c
    finally:
        c.close()


def test_library_version_is_encoded_major_million_minor_thousand(conn):
    major, minor, micro = 9, 0, 0
    assert conn.getLibVersion() == major * 1_000_000 + minor * 1000 + micro
    assert conn.getType() == "TEST"


def test_the_test_driver_starts_with_one_running_domain(conn):
    doms = conn.listAllDomains()
    assert [(d.name(), d.isActive(), d.ID()) for d in doms] == [("test", 1, 1)]
    state, _reason = doms[0].state()
    assert state == libvirt.VIR_DOMAIN_RUNNING == 1
    # info(): state, max memory KiB, memory KiB, vCPUs, cpu time
    assert doms[0].info()[:4] == [1, 8388608, 2097152, 2]


def test_define_from_xml_start_pause_resume_destroy(conn):
    dom = conn.defineXML(DOMAIN_XML)
    assert dom.name() == "vm1"
    assert dom.UUIDString() == "11111111-2222-3333-4444-555555555555"
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF == 5
    assert dom.isPersistent() == 1 and dom.isActive() == 0
    assert dom.create() == 0
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert dom.ID() == 2                      # ids are handed out in start order
    dom.suspend()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED == 3
    dom.resume()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    dom.destroy()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    # destroy keeps the definition
    assert "vm1" in [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)]
    dom.undefine()
    assert "vm1" not in [d.name() for d in conn.listAllDomains()]


def test_xml_desc_fills_in_defaults(conn):
    dom = conn.defineXML(DOMAIN_XML)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert "<memory unit='KiB'>1048576</memory>" in xml      # 1024 MiB
    assert "<boot dev='hd'/>" in xml
    assert "<mac address='52:54:00:12:34:56'/>" in xml


def test_snapshot_create_list_current_revert_delete(conn):
    dom = conn.defineXML(DOMAIN_XML)
    dom.create()
    s1 = dom.snapshotCreateXML("<domainsnapshot><name>s1</name><description>before</description>"
                               "</domainsnapshot>")
    dom.suspend()
    s2 = dom.snapshotCreateXML("<domainsnapshot><name>s2</name></domainsnapshot>")
    assert sorted(dom.snapshotListNames()) == ["s1", "s2"]
    assert dom.snapshotCurrent().getName() == "s2"
    assert s2.getParent().getName() == "s1"              # a new snapshot hangs under the current one
    assert "<description>before</description>" in s1.getXMLDesc()
    # s1 was taken while running, so reverting to it runs the domain again
    assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
    dom.revertToSnapshot(s1)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert dom.snapshotCurrent().getName() == "s1"
    s2.delete()
    assert dom.snapshotListNames() == ["s1"]


def test_default_network_and_pool(conn):
    net = conn.networkLookupByName("default")
    assert net.bridgeName() == "virbr0"
    assert "<forward mode='nat'/>" in net.XMLDesc()
    pool = conn.storagePoolLookupByName("default-pool")
    state, capacity, allocation, available = pool.info()
    assert state == libvirt.VIR_STORAGE_POOL_RUNNING
    assert capacity == 100 * 1024**3 == allocation + available


def test_volume_of_3_gib_in_a_new_pool(conn):
    pool = conn.storagePoolDefineXML(
        "<pool type='dir'><name>vmdisk</name><target><path>/data/vmfs</path></target></pool>")
    pool.build()
    pool.create()
    vol = pool.createXML(
        "<volume><name>test.qcow2</name><capacity unit='G'>3</capacity>"
        "<target><format type='qcow2'/></target></volume>")
    assert vol.path() == "/data/vmfs/test.qcow2"
    assert vol.info()[1] == 3 * 1024**3                   # 'G' is binary in libvirt
    assert pool.listVolumes() == ["test.qcow2"]


def test_missing_domain_raises_libvirt_error_no_domain(conn):
    with pytest.raises(libvirt.libvirtError) as err:
        conn.lookupByName("no-such-vm")
    assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN == 42
    assert str(err.value) == "Domain not found"
