"""great-expectations Data Docs for a validation, published under ``reports/validation/data_docs/``.

GX renders Data Docs from validation results kept in a context's stores, and only a file-backed
context builds a site, so each publication uses a throw-away file context in a temporary
directory: the suite and a GX validation result rebuilt from our own outcomes (the checks are not
run a second time) are stored there, the site is built, and its files are copied into the object
store. All validations share one site: static assets are written once, each validation page
lives at its own path (run name = snapshot id, run time = now), and the suite page and
``index.html`` show the latest suite and validation.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.storage import ObjectStore
from pipeline.validation.expectations import ExpectationOutcome
from pipeline.validation.suite import Suite

log = logging.getLogger(__name__)

DOCS_PREFIX = "reports/validation/data_docs"
_SHARED_PAGES = ("index.html", "expectations/")
"""Pages rebuilt by every publication (derived, so replacing them loses nothing)."""


def publish_data_docs(store: ObjectStore, suite: Suite, outcomes: Sequence[ExpectationOutcome], snapshot_id: str,
                      reference_snapshot_id: str | None, prefix: str = DOCS_PREFIX) -> str:
    """Render the Data Docs page of one validation and store the site; returns the page's URI."""
    from pipeline.validation.gx_support import (
        import_gx,
        quiet_context,
        silenced,
        to_gx_suite,
    )

    gx = import_gx()
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    by_id = {e.id: e for e in suite.expectations}
    results = [ExpectationValidationResult(
        success=o.success, expectation_config=ExpectationConfiguration(**by_id[o.id].to_gx_dict()), result=o.result,
        exception_info={"raised_exception": bool(o.error), "exception_message": o.error, "exception_traceback": None})
        for o in outcomes]
    passed = sum(o.success for o in outcomes)
    run_id = RunIdentifier(run_name=snapshot_id, run_time=datetime.now(UTC))
    batch = f"{snapshot_id}-new-since-{reference_snapshot_id or 'start'}"
    result = ExpectationSuiteValidationResult(
        success=passed == len(outcomes), results=results, suite_name=suite.name,
        statistics={"evaluated_expectations": len(outcomes), "successful_expectations": passed,
                    "unsuccessful_expectations": len(outcomes) - passed,
                    "success_percent": 100.0 * passed / len(outcomes) if outcomes else 100.0},
        meta={"run_id": run_id, "validation_time": run_id.run_time, "active_batch_definition": None,
              "batch_spec": {"snapshot_id": snapshot_id, "reference_snapshot_id": reference_snapshot_id},
              "great_expectations_version": gx.__version__})
    key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
                                     run_id=run_id, batch_identifier=batch)
    with tempfile.TemporaryDirectory(prefix="ct-data-docs-") as tmp, silenced():
        context = quiet_context(gx.get_context(mode="file", project_root_dir=tmp))
        context.suites.add(to_gx_suite(suite))
        context.validation_results_store.set(key, result)
        context.build_data_docs(resource_identifiers=[key, ExpectationSuiteIdentifier(name=suite.name)])
        page = Path(context.get_docs_sites_urls(resource_identifier=key)[0]["site_url"].removeprefix("file://"))
        site = next(p for p in page.parents if p.name == "local_site")
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            rel = path.relative_to(site).as_posix()
            if rel.startswith(_SHARED_PAGES):
                store.replace(f"{prefix}/{rel}", path.read_bytes())
            else:
                store.put(f"{prefix}/{rel}", path.read_bytes())
        page_key = f"{prefix}/{page.relative_to(site).as_posix()}"
    log.info("Data Docs of snapshot %s: %s", snapshot_id, store.uri(page_key))
    return store.uri(page_key)
