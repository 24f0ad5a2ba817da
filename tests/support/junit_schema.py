"""Checks an XML document against ``junit-10.xsd`` (this folder) without an XSD library.

Neither ``xmlschema`` nor ``lxml`` is installed, so this reads the subset of XML Schema the file uses: global
elements that are ``xs:string`` or a ``complexType`` (``mixed`` or not) whose content is a ``sequence`` or
``choice`` of element refs with ``minOccurs``/``maxOccurs``, attributes (``use="required"``, ``xs:string`` or
a ``simpleType`` restricted by a ``pattern``). Each content model becomes a regular expression over the
children's tag names, so order and counts are checked as the schema says.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XS = "{http://www.w3.org/2001/XMLSchema}"
SCHEMA = Path(__file__).with_name("junit-10.xsd")


@dataclass
class ElementRule:
    """What the schema allows one element."""

    simple: bool = False
    """``type="xs:string"``: text only, no attribute, no child."""
    mixed: bool = False
    attributes: dict[str, tuple[bool, str]] = field(default_factory=dict)
    """name -> (required, type name)."""
    content: str = ""
    """A regular expression over ``tag,`` for each child, in order."""


def _occurs(node: ET.Element, inner: str) -> str:
    low = int(node.get("minOccurs", "1"))
    high = node.get("maxOccurs", "1")
    if (low, high) == (1, "1"):
        return inner
    return f"(?:{inner}){{{low},{'' if high == 'unbounded' else high}}}"


def _model(node: ET.Element) -> str:
    tag = node.tag.removeprefix(XS)
    if tag == "element":
        return _occurs(node, f"(?:{re.escape(node.get('ref') or node.get('name') or '')},)")
    parts = [_model(child) for child in node if child.tag.removeprefix(XS) in ("element", "sequence", "choice")]
    inner = "".join(parts) if tag == "sequence" else "|".join(parts)
    return _occurs(node, f"(?:{inner})")


def load_schema(path: Path = SCHEMA) -> tuple[dict[str, ElementRule], dict[str, re.Pattern[str]]]:
    """The schema's global elements and its pattern types."""
    root = ET.parse(path).getroot()
    types = {node.get("name", ""): re.compile(pattern.get("value", ""))
             for node in root.iter(f"{XS}simpleType") for pattern in node.iter(f"{XS}pattern")}
    rules: dict[str, ElementRule] = {}
    for node in root.findall(f"{XS}element"):
        rule = ElementRule()
        if node.get("type") == "xs:string":
            rule.simple = True
        complex_type = node.find(f"{XS}complexType")
        if complex_type is not None:
            rule.mixed = complex_type.get("mixed") == "true"
            for attribute in complex_type.findall(f"{XS}attribute"):
                rule.attributes[attribute.get("name", "")] = (attribute.get("use") == "required",
                                                              attribute.get("type", "xs:string"))
            groups = [child for child in complex_type if child.tag in (f"{XS}sequence", f"{XS}choice")]
            rule.content = "".join(_model(group) for group in groups)
        rules[node.get("name", "")] = rule
    return rules, types


def validate(document: bytes | str, path: Path = SCHEMA) -> list[str]:
    """Every way ``document`` breaks the schema at ``path`` (empty when it is valid); a document that does
    not parse is one error."""
    rules, types = load_schema(path)
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        return [f"not well-formed XML: {error}"]
    errors: list[str] = []

    def check(element: ET.Element, where: str) -> None:
        here = f"{where}/{element.tag}"
        rule = rules.get(element.tag)
        if rule is None:
            errors.append(f"{here}: element not in the schema")
            return
        if rule.simple:
            if len(element) or element.attrib:
                errors.append(f"{here}: a text-only element has children or attributes")
            return
        for name, value in element.attrib.items():
            if name not in rule.attributes:
                errors.append(f"{here}: attribute {name!r} not allowed")
                continue
            kind = rule.attributes[name][1]
            if kind in types and not types[kind].fullmatch(value):
                errors.append(f"{here}: attribute {name}={value!r} is not a {kind}")
        errors.extend(f"{here}: attribute {name!r} is required" for name, (required, _) in rule.attributes.items()
                      if required and name not in element.attrib)
        children = "".join(f"{child.tag}," for child in element)
        if not re.fullmatch(rule.content, children):
            errors.append(f"{here}: children {children!r} do not match the content model")
        texts = [element.text or ""] + [child.tail or "" for child in element]
        if not rule.mixed and any(text.strip() for text in texts):
            errors.append(f"{here}: text is not allowed here")
        for index, child in enumerate(element):
            check(child, f"{here}[{index}]")

    check(root, "")
    return errors
