"""The unit tests that `make check` leaves to `make test` (marker ``slow``).

`make check` is the fast loop (about half a minute on an idle 2-core machine): it runs
``pytest -m "not slow" docs snippets tests/unit``.  The tests below take seconds each
because of what they prove (scale, linear time, every byte of a header, a second pytest
run), so they carry the ``slow`` marker and run in `make test` only.
"""
from __future__ import annotations

import pytest

SLOW = {
    "test_ci_skips.py": {"test_only_listed_host_capabilities_may_be_missing_under_ci"},
    "test_crush.py": {"test_out_moves_only_the_osds_own_replicas_removing_it_moves_at_least_as_many"},
    "test_crush_hostile.py": {"test_the_placement_bound_counts_every_rule_and_replica_count",
                              "test_60000_buckets_parse_and_the_65537th_is_refused"},
    "test_input_guards.py": {"test_exports_lint_is_linear_in_the_file_size"},
    "test_partition_table.py": {"test_any_damaged_primary_header_byte_is_detected_and_backup_used",
                                "test_a_2_gib_entry_array_is_refused_before_it_is_read"},
    "test_qcow2_hostile.py": {"test_read_of_16_mib_streams_the_dump"},
    "test_sigv4.py": {"test_authorization_equals_botocore_s3_signer"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if getattr(item, "originalname", None) in SLOW.get(item.path.name, ()):
            item.add_marker(pytest.mark.slow)
