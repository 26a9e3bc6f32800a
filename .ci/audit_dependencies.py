"""Check the locked dependencies for known vulnerabilities with pip-audit, and never pass blind.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it looked up no package:
a package its vulnerability service cannot find is skipped, not failed. This script therefore

1. probes the advisory source first, asking it about a release with published advisories
   (jinja2 2.4.1): the source counts as reachable only if it answers with advisories;
2. exports the locked requirements with `uv export` and audits them with pip-audit (JSON report);
3. judges the report: every locked package must appear in it, looked up, not skipped.

Exit codes: 0 every package checked, none vulnerable; 1 vulnerabilities found; 2 the audit is
incomplete (packages skipped or missing, or pip-audit or uv failed); 3 no advisory source reachable,
no package checked. `--probe` only probes: 0 reachable, 3 not (with the reason on stdout).

Run with the project's interpreter: .venv/bin/python .ci/audit_dependencies.py [--service ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "parcelrisk"

CLEAN, VULNERABLE, INCOMPLETE, UNREACHABLE = 0, 1, 2, 3

# A release with published advisories (CVE-2014-1402 and later): a working source lists them.
CANARY = ("jinja2", "2.4.1")
PROBE_SECONDS = 15.0  # the whole probe of one source, name resolution included
REQUEST_SECONDS = 10  # pip-audit's socket timeout per request
AUDIT_SECONDS = 600  # the whole pip-audit run

SOURCES = {
    "pypi": "PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json)",
    "osv": "OSV (https://api.osv.dev/v1/query)",
}


# --- probing the advisory source ---------------------------------------------------------------


def _canary_request(service: str) -> urllib.request.Request:
    name, version = CANARY
    if service == "pypi":
        return urllib.request.Request(f"https://pypi.org/pypi/{name}/{version}/json")
    body = {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}
    return urllib.request.Request(
        "https://api.osv.dev/v1/query",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )


def _advisories(service: str, answer: object) -> list:
    key = "vulnerabilities" if service == "pypi" else "vulns"
    found = answer.get(key) if isinstance(answer, dict) else None
    return found if isinstance(found, list) else []


def probe(service: str, seconds: float = PROBE_SECONDS) -> str | None:
    """Ask `service` about the canary release: None if it answers with advisories, else why not."""
    request = _canary_request(service)
    outcome: list[str | None] = []

    def ask() -> None:
        try:
            with urllib.request.urlopen(request, timeout=seconds) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            outcome.append(f"HTTP {error.code} from {request.full_url}")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            outcome.append(f"cannot reach {request.host} ({reason})")
        except ValueError as error:
            outcome.append(f"{request.full_url} answered no JSON ({error})")
        else:
            if _advisories(service, answer):
                outcome.append(None)
            else:
                outcome.append(
                    f"{request.full_url} answered without the advisories of {' '.join(CANARY)}"
                    ": not a vulnerability feed"
                )

    # urlopen's timeout does not bound name resolution: bound the whole exchange
    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(seconds)
    if not outcome:
        return f"no answer from {request.host} within {seconds:g} s"
    return outcome[0]


def first_reachable(services: list[str]) -> tuple[str | None, list[str]]:
    """The first service answering the probe, and the reasons of those that did not."""
    reasons = []
    for service in services:
        reason = probe(service)
        if reason is None:
            return service, reasons
        reasons.append(f"{service}: {reason}")
    return None, reasons


# --- judging pip-audit's JSON report -----------------------------------------------------------


@dataclass
class Verdict:
    code: int
    checked: list[str] = field(default_factory=list)
    vulnerabilities: list[str] = field(default_factory=list)  # "name version id (aliases) fix: …"
    unchecked: list[str] = field(default_factory=list)  # "name: why"

    def lines(self, source: str) -> list[str]:
        out = [f"audit: {len(self.checked)} packages checked against {source}"]
        out.append(f"audit: {len(self.vulnerabilities)} known vulnerabilities")
        out += [f"  {line}" for line in self.vulnerabilities]
        if self.unchecked:
            out.append(
                f"audit: INCOMPLETE: {len(self.unchecked)} packages not checked: "
                "this is not a clean result"
            )
            out += [f"  {line}" for line in self.unchecked]
        return out


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def judge(report: dict, expected: set[str] | None = None, project: str = PROJECT) -> Verdict:
    """Judge pip-audit's JSON report: clean only if every package was looked up and none is
    vulnerable. `expected`: the package names the audit had to cover; any absent is unchecked."""
    verdict = Verdict(CLEAN)
    seen = set()
    for dep in report.get("dependencies", []):
        name = _canonical(dep["name"])
        seen.add(name)
        if name == _canonical(project):
            continue
        if "skip_reason" in dep or "version" not in dep:
            verdict.unchecked.append(f"{name}: {dep.get('skip_reason', 'no version looked up')}")
            continue
        verdict.checked.append(name)
        for vuln in dep.get("vulns", []):
            aliases = ", ".join(vuln.get("aliases") or [])
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none"
            verdict.vulnerabilities.append(
                f"{name} {dep['version']}  {vuln['id']}"
                + (f" ({aliases})" if aliases else "")
                + f"  fix: {fixes}"
            )
    for name in sorted((expected or set()) - seen - {_canonical(project)}):
        verdict.unchecked.append(f"{name}: locked, but absent from pip-audit's report")
    if not verdict.checked and not verdict.unchecked:
        verdict.unchecked.append("(none): pip-audit's report lists no package at all")
    if verdict.unchecked:
        verdict.code = INCOMPLETE
    elif verdict.vulnerabilities:
        verdict.code = VULNERABLE
    return verdict


def expected_packages(requirements: str) -> set[str]:
    """The names a requirements file pins for this interpreter (its markers evaluated here)."""
    from packaging.requirements import Requirement

    names = set()
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            names.add(_canonical(requirement.name))
    return names


# --- running the audit -------------------------------------------------------------------------


def fail(code: int, message: str) -> int:
    print(f"audit: {message}", file=sys.stderr)
    return code


def export_requirements() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not on PATH: cannot export the locked requirements")
    export = "export --frozen --no-hashes --no-emit-project --extra postgres --all-groups"
    done = subprocess.run(
        [uv, *export.split(), "--format", "requirements.txt", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"uv export failed: {done.stderr.strip()}")
    return done.stdout


def audit(service: str) -> int:
    source = SOURCES[service]
    try:
        requirements = export_requirements()
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return fail(INCOMPLETE, str(error))
    expected = expected_packages(requirements)
    pip_audit = Path(sys.executable).parent / "pip-audit"
    with tempfile.TemporaryDirectory(prefix="audit-") as work:
        requirements_file = Path(work) / "requirements.txt"
        requirements_file.write_text(requirements)
        report_file = Path(work) / "report.json"
        command = [
            str(pip_audit), "--requirement", str(requirements_file), "--no-deps", "--disable-pip",
            "--vulnerability-service", service, "--format", "json", "--output", str(report_file),
            "--progress-spinner", "off", "--timeout", str(REQUEST_SECONDS),
        ]  # fmt: skip
        print(f"audit: {len(expected)} locked packages, looked up in {source}", flush=True)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=AUDIT_SECONDS)
        except subprocess.TimeoutExpired:
            return fail(INCOMPLETE, f"pip-audit did not finish within {AUDIT_SECONDS} s")
        try:
            report = json.loads(report_file.read_text())
        except (OSError, ValueError):
            stderr = done.stderr.strip().splitlines()
            last = stderr[-1] if stderr else "(nothing on stderr)"
            return fail(
                INCOMPLETE,
                f"pip-audit wrote no report (exit {done.returncode}): {last}: "
                "this is not a clean result",
            )
    verdict = judge(report, expected)
    for line in verdict.lines(source):
        print(line, file=sys.stderr if verdict.code == INCOMPLETE else sys.stdout)
    return verdict.code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--service",
        choices=["auto", *SOURCES],
        default="auto",
        help="the advisory source; auto: the first of pypi, osv that answers (default)",
    )
    parser.add_argument(
        "--probe", action="store_true", help="only probe the source: exit 0 if it answers, else 3"
    )
    args = parser.parse_args(argv)
    services = list(SOURCES) if args.service == "auto" else [args.service]
    service, reasons = first_reachable(services)
    if args.probe:
        print(f"advisory source reachable: {service}" if service else "; ".join(reasons))
        return CLEAN if service else UNREACHABLE
    if service is None:
        return fail(
            UNREACHABLE,
            f"no advisory source reachable ({'; '.join(reasons)}): "
            "no package was checked: this is not a clean result",
        )
    return audit(service)


if __name__ == "__main__":
    sys.exit(main())
