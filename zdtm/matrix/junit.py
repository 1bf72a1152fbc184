"""A merged zdtm report as JUnit XML: one <testsuite> per kernel and machine,
its cases carrying the properties `zdtm report` reads back (zdtm_test,
zdtm_flavor, zdtm_modes, phase, message), so the file merges again."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import OrderedDict


def junit(doc: dict) -> str:
    suites = OrderedDict()
    for t in doc["tests"]:
        suites.setdefault((t["kernel"], t["machine"]), []).append(t)
    root = ET.Element("testsuites", name="zdtm")
    for (kernel, machine), tests in suites.items():
        suite = ET.SubElement(root, "testsuite", name=f"zdtm @ {kernel}", hostname=machine,
                              tests=str(len(tests)),
                              failures=str(sum(t["outcome"] == "failed" for t in tests)),
                              skipped=str(sum(t["outcome"] == "skipped" for t in tests)),
                              time=f"{sum(t['duration'] for t in tests):.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="zdtm_kernel", value=kernel)
        for t in tests:
            _case(suite, kernel, t)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(suite, kernel: str, t: dict) -> None:
    case = ET.SubElement(suite, "testcase", classname=kernel, name=t["id"], time=f"{t['duration']:.3f}")
    props = ET.SubElement(case, "properties")
    values = [("zdtm_test", t["test"]), ("zdtm_flavor", t["flavor"]), ("zdtm_modes", ",".join(t["modes"])),
              ("phase", t.get("phase") or ""), ("message", t.get("message", "")),
              ("identity", t.get("identity", "")), ("artifacts", t.get("artifacts", ""))]
    values += [(f"time_{k}", str(v)) for k, v in t.get("timings", {}).items()]
    values += [("warning", w) for w in t.get("warnings", [])]
    for name, value in values:
        ET.SubElement(props, "property", name=name, value=str(value))
    if t["outcome"] == "failed":
        ET.SubElement(case, "failure", message=(t.get("message") or "").split("\n")[0][:500]).text = \
            f"phase {t.get('phase')}: {t.get('message', '')}\nartifacts: {t.get('artifacts', '')}"
    elif t["outcome"] == "skipped":
        ET.SubElement(case, "skipped", message=t.get("message", ""))
