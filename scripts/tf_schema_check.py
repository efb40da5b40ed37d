#!/usr/bin/env python3
# Vendored from the team's shared tools (tf_schema_check.py) so CI needs nothing outside the
# repository; not in the mypy paths, and ruff skips it (next line). Refresh by copying.
# ruff: noqa
"""Check Terraform files against the AWS provider schema, without a terraform binary.

The schema comes from the TypeScript declarations that the npm package
``@cdktf/provider-aws`` ships (or its community fork ``@cdktn/provider-aws``, which
follows newer provider releases) (``lib/<resource>/index.d.ts`` and
``lib/<resource>/index-structs/*.d.ts``). Every resource and data source has a
``<Class>Config`` interface whose properties are the settable arguments (``?`` =
optional), nested blocks are typed by further interfaces (their JSDoc says
``<name> block``), and every property's JSDoc links to the registry page with the real
Terraform name as the anchor (``...docs/resources/s3_bucket#cors_rule``). The main class
has a getter for every attribute, computed-only ones included, which is what references
such as ``aws_s3_bucket.x.arn`` are checked against.

Checks (what ``terraform validate`` would also reject):
  * unknown resource / data source types;
  * unknown arguments and nested blocks (recursively, through ``dynamic`` content);
  * block syntax used for an argument, or argument syntax for a block;
  * more than one instance of a block that allows at most one;
  * missing required arguments and blocks;
  * literal values of an obviously wrong type (a list for a string, "yes" for a bool);
  * literal values outside an enum where the .d.ts documents one ("Valid values ...");
  * references to attributes a resource/data source does not have
    (``aws_x.name.attr``), to undeclared resources, variables, locals, modules and
    module outputs, and module-call arguments the child module does not declare or
    required child variables that are not passed;
  * provider "aws" block arguments; lifecycle arguments.

Give ``--schema-from`` more than once (e.g. a 6.x and a 5.x build of the package) to
see which findings hold for every provider version and which are version-sensitive.

Usage:
  python tf_schema_check.py --schema-from node_modules/@cdktf/provider-aws DIR...
  python tf_schema_check.py --schema-from PKG6 --schema-from PKG5 --json DIR...

Getting a schema (no install needed, only the .d.ts files; a few MB of 350+):
  npm pack @cdktf/provider-aws@21.22.1        # aws provider 6.25.0
  mkdir -p D && tar xzf cdktf-provider-aws-21.22.1.tgz -C D --strip-components=1 \
      --wildcards 'package/package.json' 'package/README.md' 'package/lib/*.d.ts'
  Other builds: @cdktf/provider-aws 19.46.0 = aws 5.80.0, 19.65.1 = 5.99.1;
  @cdktn/provider-aws 25.7.0 = aws 6.66.0 (`npm view PKG@V cdktf.provider.version`).

Limits: expressions are not evaluated (only literals are type/enum-checked); cdktf types
very deep recursive blocks as ``any`` (aws_wafv2_web_acl / rule_group ``statement``), so
their content and required-ness are not checked; framework blocks whose minimum count is
a validator (not the schema) are not reported missing; enums are rarely documented in
the .d.ts; python-hcl2 rejects a few valid forms (a newline before ``=>`` in a for
expression) and such a file is reported as a parse-error and skipped.

``--self-test`` checks the checker against a built-in file of known mistakes.

Exit status: 0 no finding, 1 findings, 2 usage error. Needs python-hcl2 (v7+/v8 output
format with ``__is_block__`` markers).
"""

from __future__ import annotations

import argparse
import difflib
import glob
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field

SCHEMA_FORMAT = 5

# ----------------------------------------------------------------------------- schema

_LINK_RE = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/([^/]+)/docs/"
    r"(?:resources|data-sources|ephemeral-resources)?/?(\w*)#(\S+) "
)
_IFACE_RE = re.compile(r"^export interface (\w+)(?: extends ([\w.]+))? \{\n(.*?)^\}", re.M | re.S)
_CLASS_RE = re.compile(
    r"^export declare class (\w+) extends cdkt[fn]\.(TerraformResource|TerraformDataSource|TerraformProvider) \{\n(.*?)^\}",
    re.M | re.S,
)
_TFTYPE_RE = re.compile(r'static readonly tfResourceType = "([\w-]+)";')
_GETTER_RE = re.compile(r"^\s+get (\w+)\(\)", re.M)
_PROP_RE = re.compile(r"^readonly (\w+)(\??): (.*)$")
_BOILERPLATE = (
    "Docs at Terraform Registry",
    "Please be aware that the id field",
    "If you experience problems setting this value",
)


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


def _norm(name: str) -> str:
    """Compare names independent of camel/snake case ("bucketRegionalDomainName")."""
    return name.replace("_", "").replace("-", "").lower()


def _parse_props(body: str):
    lines = body.split("\n")
    props, doc, i = [], [], 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("/**"):
            doc = [s]
            while not lines[i].strip().endswith("*/"):
                i += 1
                doc.append(lines[i].strip())
            i += 1
            continue
        m = _PROP_RE.match(s)
        if m:
            name, opt, typ = m.groups()
            depth = typ.count("{") - typ.count("}")
            while depth > 0 or not typ.rstrip().endswith(";"):
                i += 1
                t = lines[i].strip()
                typ += " " + t
                depth += t.count("{") - t.count("}")
            props.append((name, opt == "?", typ.rstrip().rstrip(";").strip(), "\n".join(doc)))
            doc = []
        i += 1
    return props


def _type_of(typ: str, ifaces: dict):
    """-> (kind, ref, is_list) where kind is 'nested' or a primitive type name."""
    t = re.sub(r"\s*\|\s*cdkt[fn]\.IResolvable$", "", typ.strip())
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    is_list = False
    base = t
    if base.endswith("[]"):
        is_list, base = True, base[:-2]
    if re.fullmatch(r"\w+", base) and base in ifaces:
        return "nested", base, is_list
    if t.startswith("{"):
        return "map", None, False
    if t.endswith("[][]"):
        return "list(list)", None, False
    if is_list:
        prim = {"string": "string", "number": "number"}.get(base, "any")
        return f"list({prim})", None, False
    if t.startswith("boolean"):
        return "bool", None, False
    if t in ("string", "number", "any"):
        return t, None, False
    return "any", None, False


def _description(doc: str, tf_name: str) -> str:
    out = []
    for line in doc.split("\n"):
        line = line.strip().lstrip("/").lstrip("*").rstrip("/").rstrip("*").strip()
        if not line or any(b in line for b in _BOILERPLATE) or line == f"{tf_name} block":
            continue
        out.append(line)
    return " ".join(out)


_ENUM_INTRO = re.compile(
    r"(?:valid values(?: are| include)?|possible values(?: are)?|must be one of|one of)\s*[:\-]?\s*((?:`[^`]+`[\s,;]*(?:and|or)?\s*)+)",
    re.I,
)


def _enum_from_description(desc: str):
    m = _ENUM_INTRO.search(desc)
    if not m:
        return None
    vals = re.findall(r"`([^`]+)`", m.group(1))
    return sorted(set(vals)) if len(vals) >= 2 else None


def build_schema(pkg_dir: str) -> dict:
    lib = os.path.join(pkg_dir, "lib")
    if not os.path.isdir(lib):
        raise SystemExit(f"error: {lib} not found (expected an unpacked @cdktf/provider-aws)")
    version = None
    readme = os.path.join(pkg_dir, "README.md")
    pkg_json = os.path.join(pkg_dir, "package.json")
    package_version = None
    if os.path.exists(pkg_json):
        with open(pkg_json) as fh:
            pj = json.load(fh)
        package_version = pj.get("version")
        version = ((pj.get("cdktf") or pj.get("cdktn") or {}).get("provider") or {}).get("version")
    if not version and os.path.exists(readme):
        with open(readme) as fh:
            m = re.search(r"hashicorp/aws provider version ([\d.]+)", fh.read())
            version = m and m.group(1)
    schema = {
        "format": SCHEMA_FORMAT,
        "provider_version": version or "unknown",
        "package_version": package_version,
        "interfaces": {},
        "resource": {},
        "data": {},
        "provider": None,
    }
    for d in sorted(os.listdir(lib)):
        main = os.path.join(lib, d, "index.d.ts")
        if not os.path.isfile(main):
            continue
        texts = [open(main, encoding="utf-8").read()]
        for extra in sorted(glob.glob(os.path.join(lib, d, "index-structs", "*.d.ts"))):
            texts.append(open(extra, encoding="utf-8").read())
        text = "\n".join(texts)
        raw_ifaces = {m.group(1): m.group(3) for m in _IFACE_RE.finditer(text)}
        cls = _CLASS_RE.search(texts[0])
        if not cls:
            continue
        cls_name, base, cls_body = cls.groups()
        tf_type = _TFTYPE_RE.search(cls_body)
        if not tf_type:
            continue
        prefix = d + "/"
        for iname, body in raw_ifaces.items():
            props = {}
            for name, optional, typ, doc in _parse_props(body):
                link = _LINK_RE.search(doc)
                tf_name = link.group(3) if link else _snake(name)
                kind, ref, is_list = _type_of(typ, raw_ifaces)
                desc = _description(doc, tf_name)
                entry = {"required": not optional, "ts": name}
                is_block = bool(re.search(rf"^\*\s*{re.escape(tf_name)} block$", doc, re.M))
                if kind == "nested":
                    entry.update(kind="block" if is_block else "nested_attr", ref=prefix + ref,
                                 max_one=not is_list)
                elif is_block:
                    # cdktf types too-deep recursive blocks (wafv2 `statement`) as `any`:
                    # a block whose content (and required-ness) cannot be checked.
                    entry.update(kind="block", ref=None, max_one=False, opaque=True)
                else:
                    entry.update(kind="attr", type=kind)
                    enum = _enum_from_description(desc)
                    if enum:
                        entry["enum"] = enum
                if desc:
                    entry["desc"] = desc[:400]
                props[tf_name] = entry
            schema["interfaces"][prefix + iname] = props
        getters = sorted({g for g in _GETTER_RE.findall(cls_body)
                          if not (g.endswith("Input") and g[:-5] in cls_body)})
        ctor = re.search(r"constructor\(scope: Construct, id: string, config\??: (\w+)\)", cls_body)
        config_name = ctor.group(1) if ctor else f"{cls_name}Config"
        entry = {"config": prefix + config_name, "class": cls_name, "dir": d,
                 "getters": [_norm(g) for g in getters]}
        if base == "TerraformProvider":
            schema["provider"] = entry
        elif base == "TerraformDataSource":
            schema["data"][tf_type.group(1)] = entry
        else:
            schema["resource"][tf_type.group(1)] = entry
    return schema


def load_schema(pkg_or_json: str, cache_dir: str | None) -> dict:
    if pkg_or_json.endswith(".json") and os.path.isfile(pkg_or_json):
        with open(pkg_or_json) as fh:
            return json.load(fh)
    cache = None
    if cache_dir:
        pj = os.path.join(pkg_or_json, "package.json")
        key = os.path.abspath(pkg_or_json)
        if os.path.exists(pj):
            key += open(pj).read()
        digest = hashlib.sha256(f"{SCHEMA_FORMAT}:{key}".encode()).hexdigest()[:16]
        cache = os.path.join(cache_dir, f"tf_schema_check-{digest}.json")
        if os.path.exists(cache):
            with open(cache) as fh:
                return json.load(fh)
    schema = build_schema(pkg_or_json)
    if cache:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = cache + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(schema, fh)
        os.replace(tmp, cache)
    return schema


# ----------------------------------------------------------------------------- HCL


def _unquote(s):
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _is_literal_string(v) -> bool:
    return isinstance(v, str) and len(v) >= 2 and v[0] == '"' and v[-1] == '"' and "${" not in v and "%{" not in v


def _is_expr(v) -> bool:
    return isinstance(v, str) and not _is_literal_string(v)


def _is_block_list(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) and x.get("__is_block__") for x in v)


def _items(d: dict):
    for k, v in d.items():
        if isinstance(k, str) and k.startswith("__"):
            continue
        yield _unquote(k), v


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            if isinstance(k, str) and k.startswith("__"):
                continue
            if isinstance(k, str):
                yield k
            yield from _strings(x)


@dataclass
class Finding:
    file: str
    line: int
    address: str
    path: str
    code: str
    message: str
    versions: list = field(default_factory=list)

    def key(self):
        return (self.file, self.address, self.path, self.code)


_FILE_LINES: dict = {}


def _locate(blk, path: str, code: str) -> int:
    """Best-effort line of a finding: walk the path's names forward from the block header."""
    if not blk.line or not path:
        return blk.line
    lines = _FILE_LINES.get(blk.file)
    if lines is None:
        with open(blk.file, encoding="utf-8") as fh:
            lines = _FILE_LINES[blk.file] = fh.read().split("\n")
    if re.match(r"(var|local|module|data|aws_)", path) and "." in path and code not in (
            "unknown-argument", "unknown-block", "missing-required", "wrong-type"):
        for n in range(blk.line - 1, len(lines)):
            if path in lines[n]:
                return n + 1
        return blk.line
    comps = [c for c in re.sub(r"\[\d+\]", "", path).split(".") if c and c not in ("dynamic", "content")]
    if code == "missing-required" or code == "missing-module-argument":
        comps = comps[:-1]
    cur = blk.line - 1
    for c in comps:
        pat = re.compile(r'^\s*(' + re.escape(c) + r'\s*(=|\{)|dynamic\s+"' + re.escape(c) + r'")')
        for n in range(cur + 1, len(lines)):
            if pat.match(lines[n]):
                cur = n
                break
        else:
            return cur + 1
    return cur + 1


@dataclass
class Block:
    kind: str  # resource | data | provider | module | variable | output | locals | terraform
    labels: list
    body: dict
    file: str
    line: int


RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
LIFECYCLE_ARGS = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by",
                  "precondition", "postcondition"}
MODULE_META = {"source", "version", "providers", "count", "for_each", "depends_on"}
PROVIDER_META = {"alias", "version"}


def _header_line(lines: list, kind: str, labels: list) -> int:
    pat = re.compile(r"^\s*" + re.escape(kind) + "".join(r'\s+"?' + re.escape(l) + r'"?' for l in labels) + r"\s*\{")
    for i, line in enumerate(lines, 1):
        if pat.match(line):
            return i
    return 0


def parse_dir(directory: str):
    import hcl2
    try:
        from hcl2.utils import SerializationOptions
        opts = {"serialization_options": SerializationOptions(with_comments=False)}
    except ImportError:  # pragma: no cover - older python-hcl2
        opts = {}
    blocks, files = [], sorted(glob.glob(os.path.join(directory, "*.tf")))
    for path in files:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        lines = text.split("\n")
        try:
            doc = hcl2.loads(text, **opts)
        except Exception as exc:  # python-hcl2 cannot parse it: say so, check the rest
            msg = str(exc).strip().split("\n")[0][:200]
            blocks.append(Block("parse-error", [os.path.basename(path)], {"error": msg}, path, 0))
            continue
        for kind, entries in doc.items():
            if kind.startswith("__"):
                continue
            for entry in entries if isinstance(entries, list) else [entries]:
                if kind in ("resource", "data"):
                    for t, named in _items(entry):
                        for n, body in _items(named):
                            blocks.append(Block(kind, [t, n], body, path, _header_line(lines, kind, [t, n])))
                elif kind in ("provider", "module", "variable", "output"):
                    for n, body in _items(entry):
                        blocks.append(Block(kind, [n], body, path, _header_line(lines, kind, [n])))
                else:  # locals, terraform, moved, import, check ...
                    blocks.append(Block(kind, [], entry, path, _header_line(lines, kind, [])))
    return files, blocks


# ----------------------------------------------------------------------------- checking

_NUM_RE = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _literal_type_problem(value, typ: str):
    """A message when a literal value cannot convert to the attribute type."""
    if value is None or _is_expr(value):
        return None
    if isinstance(value, dict) and value.get("__is_block__"):
        return None
    kind = ("string" if _is_literal_string(value) else "bool" if isinstance(value, bool)
            else "number" if isinstance(value, (int, float)) else "list" if isinstance(value, list)
            else "object" if isinstance(value, dict) else None)
    if kind is None:
        return None
    if typ == "string" and kind in ("list", "object"):
        return f"a {kind} literal given where a string is expected"
    if typ == "number":
        if kind in ("list", "object", "bool"):
            return f"a {kind} literal given where a number is expected"
        if kind == "string" and not _NUM_RE.match(_unquote(value)):
            return f"string {value} given where a number is expected"
    if typ == "bool":
        if kind in ("list", "object", "number"):
            return f"a {kind} literal given where a bool is expected"
        if kind == "string" and _unquote(value) not in ("true", "false"):
            return f"string {value} given where a bool is expected"
    if typ.startswith("list(") and kind in ("string", "number", "bool", "object"):
        return f"a {kind} literal given where a list/set is expected"
    if typ == "map" and kind in ("string", "number", "bool", "list"):
        return f"a {kind} literal given where a map is expected"
    return None


class Checker:
    def __init__(self, schema: dict):
        self.s = schema
        self.findings: list[Finding] = []
        self.counts = {"blocks": 0, "arguments": 0, "nested_blocks": 0, "references": 0}

    def add(self, blk: Block, path: str, code: str, msg: str):
        addr = ".".join(([blk.kind] if blk.kind in ("data", "provider", "module", "output", "variable")
                         else []) + blk.labels) or blk.kind
        line = _locate(blk, path, code)
        self.findings.append(Finding(blk.file, line, addr, path, code, msg))

    # -- one configuration body against one interface
    def check_body(self, blk: Block, body: dict, iface: str, path: str, meta: set, attr_mode=False):
        props = self.s["interfaces"].get(iface, {})
        present = set()
        for key, val in _items(body):
            if key in meta:
                if key == "lifecycle" and _is_block_list(val):
                    for inst in val:
                        for k, _ in _items(inst):
                            if k not in LIFECYCLE_ARGS:
                                self.add(blk, f"{path}lifecycle.{k}", "unknown-lifecycle-argument",
                                         f"lifecycle has no argument {k!r}")
                continue
            if key == "dynamic" and not attr_mode and isinstance(val, list):
                for dyn in val:
                    for label, dbody in _items(dyn):
                        self._check_dynamic(blk, props, label, dbody, iface, path, present)
                continue
            self.counts["arguments"] += 1
            prop = props.get(key)
            if prop is None:
                self._unknown(blk, path, key, props, val)
                continue
            present.add(key)
            block_syntax = _is_block_list(val)
            if prop["kind"] == "block":
                if attr_mode:
                    continue
                if not block_syntax:
                    self.add(blk, path + key, "block-as-argument",
                             f"{key!r} is a nested block: write `{key} {{ ... }}`, not `{key} = ...`")
                    continue
                if prop.get("max_one") and len(val) > 1:
                    self.add(blk, path + key, "too-many-blocks",
                             f"at most one {key!r} block is allowed here, found {len(val)}")
                for i, inst in enumerate(val):
                    self.counts["nested_blocks"] += 1
                    if not prop.get("ref"):
                        continue  # opaque (`any`) block
                    sub = f"{path}{key}" + (f"[{i}]" if len(val) > 1 else "") + "."
                    self.check_body(blk, inst, prop["ref"], sub, set())
            elif prop["kind"] == "nested_attr":
                if block_syntax and prop.get("max_one"):
                    # Terraform accepts block syntax for list/set-of-object attributes
                    # (SDKv2 attributes-as-blocks such as aws_security_group ingress, and
                    # framework list-of-object attributes), never for a single object.
                    self.add(blk, path + key, "possible-argument-as-block",
                             f"{key!r} is a single-object argument (nested attribute), written as a block: "
                             f"write `{key} = {{ ... }}`")
                for i, inst in enumerate(val if isinstance(val, list) else [val]):
                    if isinstance(inst, dict):
                        self.check_body(blk, inst, prop["ref"], f"{path}{key}.", set(),
                                        attr_mode=not block_syntax)
            else:
                if block_syntax:
                    self.add(blk, path + key, "argument-as-block",
                             f"{key!r} is an argument, not a block: write `{key} = ...`")
                    continue
                problem = _literal_type_problem(val, prop.get("type", "any"))
                if problem:
                    self.add(blk, path + key, "wrong-type", f"{key}: {problem}")
                enum = prop.get("enum")
                if enum:
                    vals = val if isinstance(val, list) else [val]
                    for v in vals:
                        if _is_literal_string(v) and _unquote(v) not in enum:
                            self.add(blk, path + key, "invalid-enum",
                                     f"{key} = {v}: not one of {', '.join(enum)} (from the .d.ts description)")
        for name, prop in props.items():
            if prop.get("required") and name not in present:
                what = "block" if prop["kind"] == "block" else "argument"
                self.add(blk, path + name, "missing-required", f"required {what} {name!r} is missing")

    def _check_dynamic(self, blk, props, label, dbody, iface, path, present):
        prop = props.get(label)
        if prop is None:
            self._unknown(blk, path, label, props, None, dynamic=True)
            return
        present.add(label)
        if prop["kind"] == "attr" or (prop["kind"] == "nested_attr" and prop.get("max_one")):
            self.add(blk, path + f"dynamic.{label}",
                     "dynamic-not-block" if prop["kind"] == "attr" else "possible-dynamic-not-block",
                     f"dynamic {label!r}: {label!r} is an argument, not a nested block")
            return
        for k, _ in _items(dbody):
            if k not in ("for_each", "iterator", "labels", "content"):
                self.add(blk, path + f"dynamic.{label}.{k}", "unknown-dynamic-argument",
                         f"dynamic block has no argument {k!r}")
        if "for_each" not in dbody:
            self.add(blk, path + f"dynamic.{label}", "missing-required", "dynamic block needs for_each")
        content = dbody.get("content")
        if not _is_block_list(content):
            self.add(blk, path + f"dynamic.{label}", "missing-required", "dynamic block needs a content block")
            return
        self.counts["nested_blocks"] += 1
        if prop.get("ref"):
            self.check_body(blk, content[0], prop["ref"], path + f"dynamic.{label}.content.", set())

    def _unknown(self, blk, path, key, props, val, dynamic=False):
        close = difflib.get_close_matches(key, list(props), n=2, cutoff=0.75)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        what = "block type" if (dynamic or _is_block_list(val)) else "argument"
        extra = ""
        if not path and blk.kind in ("resource", "data"):
            ent = self.s[blk.kind].get(blk.labels[0])
            if ent and _norm(key) in ent["getters"]:
                extra = " (it is a computed, read-only attribute: it cannot be set)"
        self.add(blk, path + key, "unknown-" + ("block" if what == "block type" else "argument"),
                 f"unsupported {what} {key!r}{extra}{hint}")

    def check_block(self, blk: Block):
        if blk.kind == "parse-error":
            self.add(blk, "", "parse-error", f"python-hcl2 could not parse this file (not checked): "
                                             f"{blk.body['error']}")
            return
        if blk.kind in ("resource", "data"):
            t = blk.labels[0]
            self.counts["blocks"] += 1
            if not t.startswith("aws_"):
                return  # another provider: not covered by this schema
            ent = self.s[blk.kind].get(t)
            if ent is None:
                other = "data" if blk.kind == "resource" else "resource"
                close = difflib.get_close_matches(t, list(self.s[blk.kind]), n=2, cutoff=0.8)
                hint = ""
                if t in self.s[other]:
                    hint = f" (it exists as a {'data source' if other == 'data' else 'resource'})"
                elif close:
                    hint = f" (did you mean {' or '.join(close)}?)"
                self.add(blk, "", "unknown-type", f"unknown {blk.kind} type {t!r}{hint}")
                return
            self.check_body(blk, blk.body, ent["config"], "",
                            RESOURCE_META if blk.kind == "resource" else DATA_META)
        elif blk.kind == "provider" and blk.labels[0] == "aws" and self.s.get("provider"):
            self.counts["blocks"] += 1
            self.check_body(blk, blk.body, self.s["provider"]["config"], "", PROVIDER_META)


# ----------------------------------------------------------------------------- module-level

_REF_RE = re.compile(
    r"(?<![\w.\-\"])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w\-]*)((?:\[[^\]\[]*(?:\[[^\]]*\][^\]\[]*)*\])?)(?:\.([A-Za-z_]\w*))?"
)
_VAR_RE = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w\-]*)")
_LOCAL_RE = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w\-]*)")
_MODULE_RE = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w\-]*)(?:\.([A-Za-z_][\w\-]*))?")


def _interpolations(s: str):
    """The text inside each top-level ${...} of a python-hcl2 value string."""
    i = 0
    while True:
        start = s.find("${", i)
        if start < 0:
            return
        if start > 0 and s[start - 1] == "$":  # $${ is an escaped literal
            i = start + 2
            continue
        depth, j, quote = 1, start + 2, False
        while j < len(s) and depth:
            ch = s[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == '"':
                    quote = False
            elif ch == '"':
                quote = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            j += 1
        yield s[start + 2:j - 1]
        i = j


def _expr_text(value):
    """Only the expression parts: ${...} values and the ${...} inside templates."""
    for s in _strings(value):
        if isinstance(s, str):
            yield from _interpolations(s)


def module_checks(checker: Checker, blocks: list, directory: str, schema: dict):
    # A file python-hcl2 could not parse hides declarations: no "undeclared" findings then.
    complete = not any(b.kind == "parse-error" for b in blocks)
    declared = {("resource", b.labels[0], b.labels[1]) for b in blocks if b.kind == "resource"}
    declared |= {("data", b.labels[0], b.labels[1]) for b in blocks if b.kind == "data"}
    variables = {b.labels[0]: b for b in blocks if b.kind == "variable"}
    locals_ = set()
    for b in blocks:
        if b.kind == "locals":
            locals_ |= {k for k, _ in _items(b.body)}
    modules = {b.labels[0]: b for b in blocks if b.kind == "module"}
    child_cache = {}

    def child(name):
        if name in child_cache:
            return child_cache[name]
        src = _unquote(modules[name].body.get("source", ""))
        info = None
        if isinstance(src, str) and src.startswith("."):
            cdir = os.path.normpath(os.path.join(directory, src))
            if os.path.isdir(cdir) and glob.glob(os.path.join(cdir, "*.tf")):
                _, cblocks = parse_dir(cdir)
                info = {
                    "dir": cdir,
                    "outputs": {b.labels[0] for b in cblocks if b.kind == "output"},
                    "variables": {b.labels[0]: ("default" in b.body) for b in cblocks if b.kind == "variable"},
                }
        child_cache[name] = info
        return info

    for blk in blocks:
        if blk.kind == "module":
            info = child(blk.labels[0])
            if info:
                for k, _ in _items(blk.body):
                    if k not in MODULE_META and k not in info["variables"]:
                        checker.add(blk, k, "unknown-module-argument",
                                    f"module {blk.labels[0]!r} ({info['dir']}) declares no variable {k!r}")
                for v, has_default in info["variables"].items():
                    if not has_default and v not in blk.body:
                        checker.add(blk, v, "missing-module-argument",
                                    f"module {blk.labels[0]!r} requires variable {v!r}, which is not passed")
        for text in _expr_text(blk.body):
            for m in _VAR_RE.finditer(text):
                if complete and m.group(1) not in variables:
                    checker.add(blk, f"var.{m.group(1)}", "undeclared-variable",
                                f"reference to undeclared input variable var.{m.group(1)}")
            for m in _LOCAL_RE.finditer(text):
                if complete and m.group(1) not in locals_:
                    checker.add(blk, f"local.{m.group(1)}", "undeclared-local",
                                f"reference to undeclared local value local.{m.group(1)}")
            for m in _MODULE_RE.finditer(text):
                name, out = m.groups()
                if name not in modules:
                    if complete:
                        checker.add(blk, f"module.{name}", "undeclared-module", f"no module call {name!r}")
                    continue
                info = child(name)
                if info and out and out not in info["outputs"]:
                    checker.add(blk, f"module.{name}.{out}", "unknown-module-output",
                                f"module {name!r} has no output {out!r}")
            for m in _REF_RE.finditer(text):
                is_data, t, name, _index, attr = m.groups()
                kind = "data" if is_data else "resource"
                checker.counts["references"] += 1
                if (kind, t, name) not in declared:
                    # "aws_s3_bucket.x" inside a string that is not a reference is rare;
                    # types unknown to the schema are already reported.
                    if complete and t in schema[kind]:
                        checker.add(blk, f"{'data.' if is_data else ''}{t}.{name}", "undeclared-reference",
                                    f"reference to undeclared {kind} {t}.{name}")
                    continue
                ent = schema[kind].get(t)
                if ent and attr and _norm(attr) not in ent["getters"]:
                    checker.add(blk, f"{'data.' if is_data else ''}{t}.{name}.{attr}", "unknown-attribute",
                                f"{kind} type {t!r} has no attribute {attr!r}")


# ----------------------------------------------------------------------------- driver


def run(schema: dict, dirs: list):
    checker = Checker(schema)
    nfiles = 0
    for d in dirs:
        files, blocks = parse_dir(d)
        nfiles += len(files)
        for blk in blocks:
            checker.check_block(blk)
        module_checks(checker, blocks, d, schema)
    return checker, nfiles


SELF_TEST_TF = '''
variable "known" { type = string }
locals { l1 = 1 }
resource "aws_s3_bucket" "b" {
  bucket        = "x"
  acceleration  = "y"
  arn           = "x"
  force_destroy = "yes"
  tags {
    a = "b"
  }
  lifecycle {
    prevent_destroyy = true
  }
}
resource "aws_s3_bucket_versioning" "v" {
  bucket = aws_s3_bucket.b.id
}
resource "aws_s3_bucket_lifecycle_configuration" "lc" {
  bucket = aws_s3_bucket.b.id
  rule {
    id     = "r"
    status = "Enabled"
    filter {
      prefixx = "a"
    }
  }
}
resource "aws_lambda_function" "f" {
  function_name = "f"
  role          = "r"
  environment {
    variables = { A = "1" }
  }
  environment {
    variables = { B = "1" }
  }
  tracing_config = { mode = "Active" }
}
resource "aws_s3_bucket_acls" "x" {}
resource "aws_iam_policy_document" "p" {}
resource "aws_sqs_queue" "q" {
  delay_seconds = [1]
  name          = "${var.unknown_var}-q"
  tags          = { x = local.nope }
}
resource "aws_dynamodb_table" "t" {
  name     = "t"
  hash_key = "pk"
  dynamic "attribute" {
    for_each = {}
    content {
      name  = "pk"
      typee = "S"
    }
  }
}
resource "aws_wafv2_web_acl" "w" {
  name  = "w"
  scope = "REGIONAL"
  default_action {
    allow {}
  }
}
output "o" {
  value = aws_s3_bucket.b.bucket_arn
}
output "o2" {
  value = module.nope.x
}
provider "aws" {
  regionn = "x"
}
'''
SELF_TEST_EXPECT = {
    ("aws_s3_bucket.b", "acceleration", "unknown-argument"),
    ("aws_s3_bucket.b", "arn", "unknown-argument"),
    ("aws_s3_bucket.b", "force_destroy", "wrong-type"),
    ("aws_s3_bucket.b", "tags", "argument-as-block"),
    ("aws_s3_bucket.b", "lifecycle.prevent_destroyy", "unknown-lifecycle-argument"),
    ("aws_s3_bucket_versioning.v", "versioning_configuration", "missing-required"),
    ("aws_s3_bucket_lifecycle_configuration.lc", "rule.filter.prefixx", "unknown-argument"),
    ("aws_lambda_function.f", "environment", "too-many-blocks"),
    ("aws_lambda_function.f", "tracing_config", "block-as-argument"),
    ("aws_s3_bucket_acls.x", "", "unknown-type"),
    ("aws_iam_policy_document.p", "", "unknown-type"),
    ("aws_sqs_queue.q", "delay_seconds", "wrong-type"),
    ("aws_sqs_queue.q", "var.unknown_var", "undeclared-variable"),
    ("aws_sqs_queue.q", "local.nope", "undeclared-local"),
    ("aws_dynamodb_table.t", "dynamic.attribute.content.typee", "unknown-argument"),
    ("aws_dynamodb_table.t", "dynamic.attribute.content.type", "missing-required"),
    ("aws_wafv2_web_acl.w", "visibility_config", "missing-required"),
    ("output.o", "aws_s3_bucket.b.bucket_arn", "unknown-attribute"),
    ("output.o2", "module.nope", "undeclared-module"),
    ("provider.aws", "regionn", "unknown-argument"),
}


def self_test(schema: dict) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "main.tf"), "w") as fh:
            fh.write(SELF_TEST_TF)
        checker, _ = run(schema, [tmp])
    got = {(f.address, f.path, f.code) for f in checker.findings}
    missing, extra = SELF_TEST_EXPECT - got, got - SELF_TEST_EXPECT
    for m in sorted(missing):
        print("self-test: NOT reported:", m)
    for e in sorted(extra):
        print("self-test: unexpected:", e)
    print(f"self-test (aws {schema['provider_version']}): {len(SELF_TEST_EXPECT) - len(missing)} passed, "
          f"{len(missing) + len(extra)} failed")
    return 1 if (missing or extra) else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schema-from", action="append", required=True,
                    help="unpacked @cdktf/provider-aws package dir (or a schema JSON from --dump-schema); "
                         "repeat to compare provider versions")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "tf_schema_check_cache"),
                    help="where to cache the extracted schema ('' to disable)")
    ap.add_argument("--dump-schema", metavar="FILE", help="write the (first) extracted schema as JSON")
    ap.add_argument("--json", action="store_true", help="print findings as JSON")
    ap.add_argument("--self-test", action="store_true", help="check the checker on known mistakes")
    ap.add_argument("dirs", nargs="*", help="Terraform module directories (*.tf, not recursive)")
    args = ap.parse_args(argv)
    if not args.dirs and not args.self_test:
        ap.error("give at least one directory (or --self-test)")
    for d in args.dirs:
        if not os.path.isdir(d):
            ap.error(f"not a directory: {d}")

    schemas = [load_schema(p, args.cache_dir or None) for p in args.schema_from]
    if args.self_test:
        rc = max(self_test(s) for s in schemas)
        if not args.dirs:
            return rc
    if args.dump_schema:
        with open(args.dump_schema, "w") as fh:
            json.dump(schemas[0], fh, indent=1)

    merged: dict = {}
    stats = None
    for schema in schemas:
        v = schema["provider_version"]
        checker, nfiles = run(schema, args.dirs)
        if stats is None:
            stats = dict(checker.counts, files=nfiles)
        seen = set()
        for f in checker.findings:
            if f.key() in seen:
                continue
            seen.add(f.key())
            merged.setdefault(f.key(), f).versions.append(v)
    all_versions = [s["provider_version"] for s in schemas]
    for f in merged.values():
        if f.code == "invalid-enum" and len(f.versions) < len(all_versions):
            # Only some builds document the enum; the others are silent, not permissive.
            f.message += f" [enum documented in aws {', '.join(f.versions)}]"
            f.versions = list(all_versions)
    findings = sorted(merged.values(), key=lambda f: (f.file, f.line, f.path))

    if args.json:
        print(json.dumps({
            "provider_versions": all_versions,
            "stats": stats,
            "findings": [dict(f.__dict__, version_sensitive=len(f.versions) < len(all_versions))
                         for f in findings],
        }, indent=1))
    else:
        print(f"schema: aws provider {', '.join(all_versions)} "
              f"({', '.join(str(len(s['resource'])) + ' resources/' + str(len(s['data'])) + ' data sources' for s in schemas)})")
        print(f"checked: {stats['files']} files, {stats['blocks']} resource/data/provider blocks, "
              f"{stats['arguments']} arguments, {stats['nested_blocks']} nested blocks, "
              f"{stats['references']} resource references")
        for f in findings:
            where = f"{os.path.relpath(f.file)}:{f.line}"
            scope = "" if len(f.versions) == len(all_versions) else f" [only with aws {', '.join(f.versions)}]"
            path = f" {f.path}" if f.path else ""
            print(f"{where}: {f.address}{path}: {f.code}: {f.message}{scope}")
        print(f"{len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
