import os

SUMMARY_ENV = "FUZZ_SUMMARY"


def pytest_terminal_summary(terminalreporter):
    """Print each role's fuzz report (one line; the operations x checks table with FUZZ_SUMMARY=1). The reports
    travel as user properties, so this works under pytest-xdist too."""
    reports = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "fuzz_report"
    ]
    if not reports:
        return
    terminalreporter.section("contract fuzzing")
    for table in sorted(reports):
        terminalreporter.write_line(table if os.environ.get(SUMMARY_ENV) else table.splitlines()[0])
