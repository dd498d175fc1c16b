"""apps/automated/openapi.json against what it describes: the routes the
daemon serves (`automated routes`), the route table of docs/api.md, the
messages of libautomate/proto/automate/v1/*.proto, and what the daemon serves
at /v1/openapi.json.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_openapi.py
"""

import json
import os
import re
import subprocess
import urllib.request

from conftest import REPO
from daemon import AUTOMATED_BIN, Daemon

OPENAPI = REPO / "apps" / "automated" / "openapi.json"
API_MD = REPO / "docs" / "api.md"
PROTO_DIR = REPO / "libautomate" / "proto" / "automate" / "v1"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Routes that need no token (docs/api.md, "Auth").
PUBLIC = {("GET", "/"), ("GET", "/ping"), ("GET", "/metrics"), ("GET", "/v1/openapi.json"),
          ("GET", "/ui/{}")}


def load_doc():
    return json.loads(OPENAPI.read_text())


def normalize(path):
    """/v1/jobs/{name} and /v1/jobs/{job} are the same route: /v1/jobs/{}."""
    return re.sub(r"\{[^}/]*\}", "{}", path)


def operations(doc):
    """(METHOD, normalized path) -> operation object."""
    return {(method.upper(), normalize(path)): op
            for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


def route_matches(a, b):
    """Same method, and the paths are equal once normalized, or one is a
    template that the other (a concrete path such as /ui/app.js) fills."""
    if a[0] != b[0]:
        return False
    pa, pb = normalize(a[1]), normalize(b[1])
    if pa == pb:
        return True
    pattern = lambda p: re.compile("".join("[^/]+" if part == "{}" else re.escape(part)
                                           for part in re.split(r"(\{\})", p)))
    return bool(pattern(pa).fullmatch(pb) or pattern(pb).fullmatch(pa))


def unmatched(routes, others):
    return sorted(r for r in routes if not any(route_matches(r, o) for o in others))


def require_daemon():
    assert os.access(AUTOMATED_BIN, os.X_OK), \
        f"automated binary not found: {AUTOMATED_BIN} (build it, or set AUTOMATED_BIN)"


# ---------------------------------------------------------------------------
# The document itself

def test_document_is_openapi_3_0_3_with_resolvable_refs_and_unique_operation_ids():
    doc = load_doc()
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["security"] == [{"bearerAuth": []}]
    bearer = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")

    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved $ref {ref}"
            node = node[part]

    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            params = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert params == declared, f"{method.upper()} {path}: path parameters {params} != {declared}"


def test_public_routes_need_no_token_and_the_others_say_401_and_403():
    for route, op in operations(load_doc()).items():
        if route in PUBLIC:
            assert op["security"] == [], f"{route} is public: security must be []"
        else:
            assert op["security"] and {"bearerAuth": []} in op["security"], route
            assert "401" in op["responses"] and "403" in op["responses"], route
        assert any(code.startswith("2") for code in op["responses"]), f"{route}: no 2xx response"
        assert "default" in op["responses"], f"{route}: no default (Error) response"


def test_every_route_of_docs_api_md_is_documented_and_vice_versa():
    table = set()
    for line in API_MD.read_text().splitlines():
        m = re.match(r"^\| `(GET|PUT|POST|DELETE|PATCH) (/[^`]*)` \|", line)
        if m:
            table.add((m.group(1), m.group(2)))
    assert len(table) >= 20, "could not read the route table of docs/api.md"
    documented = set(operations(load_doc()))
    assert not unmatched(table, documented), \
        f"in docs/api.md but not in openapi.json: {unmatched(table, documented)}"
    # The page's static files under /ui/ are named in prose, not in the table.
    extra = unmatched(documented, table)
    assert extra == [("GET", "/ui/{}")], f"in openapi.json but not in docs/api.md: {extra}"


# ---------------------------------------------------------------------------
# The schemas against the .proto files (proto3 JSON mapping: lowerCamelCase)

def json_name(field):
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), field)


def parse_protos():
    """(messages, enums): qualified name ("Attempt.Status") -> JSON field
    names / value names, read from the .proto files with a small parser."""
    messages, enums = {}, {}
    for proto in sorted(PROTO_DIR.glob("*.proto")):
        text = re.sub(r"//[^\n]*", "", proto.read_text())
        stack = []  # (kind, name) of the enclosing message / enum / oneof
        for m in re.finditer(r"\b(message|enum|oneof)\s+(\w+)\s*\{|\}|([^;{}]+);", text):
            if m.group(1):
                kind, name = m.group(1), m.group(2)
                if kind != "oneof":
                    qualified = ".".join([n for k, n in stack if k != "oneof"] + [name])
                    (messages if kind == "message" else enums)[qualified] = set() if kind == "message" else []
                stack.append((kind, name))
            elif m.group(0) == "}":
                stack.pop()
            elif stack:
                statement = m.group(3).strip()
                owners = [(k, n) for k, n in stack if k != "oneof"]
                qualified = ".".join(n for _, n in owners)
                if statement.startswith(("option ", "reserved ")):
                    continue
                if owners[-1][0] == "enum":
                    value = re.fullmatch(r"(\w+)\s*=\s*-?\d+", statement)
                    assert value, f"{proto.name}: cannot read enum value {statement!r}"
                    enums[qualified].append(value.group(1))
                else:
                    field = re.fullmatch(
                        r"(?:optional\s+|repeated\s+)?(?:map\s*<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+", statement)
                    assert field, f"{proto.name}: cannot read field {statement!r}"
                    messages[qualified].add(json_name(field.group(1)))
        assert not stack, f"{proto.name}: unbalanced braces"
    return messages, enums


def test_schemas_match_the_proto_messages_and_enums():
    messages, enums = parse_protos()
    assert {"JobSpec", "Execution", "LogRecord", "Error", "Attempt.Status"} <= set(messages) | set(enums)
    schemas = load_doc()["components"]["schemas"]
    assert set(schemas) == set(messages) | set(enums), (
        f"without a schema: {sorted(set(messages) | set(enums) - set(schemas))}; "
        f"without a proto type: {sorted(set(schemas) - set(messages) - set(enums))}")
    for name, fields in messages.items():
        assert set(schemas[name]["properties"]) == fields, f"schema {name}"
    for name, values in enums.items():
        assert schemas[name]["enum"] == values, f"schema {name}"


# ---------------------------------------------------------------------------
# Against the daemon

def served_routes():
    require_daemon()
    out = subprocess.run([AUTOMATED_BIN, "routes"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"automated routes: rc={out.returncode}\n{out.stderr}"
    routes = set()
    for line in out.stdout.splitlines():
        if line.strip():
            parts = line.split()
            assert len(parts) == 2 and parts[1].startswith("/"), f"not `METHOD /path`: {line!r}"
            routes.add((parts[0].upper(), parts[1]))
    assert routes, "automated routes printed nothing"
    return routes


def test_every_served_route_is_documented_and_every_documented_route_is_served():
    served = served_routes()
    documented = set(operations(load_doc()))
    assert not unmatched(served, documented), f"served but not in openapi.json: {unmatched(served, documented)}"
    assert not unmatched(documented, served), f"in openapi.json but not served: {unmatched(documented, served)}"


def test_daemon_serves_this_document(tmp_path):
    require_daemon()
    daemon = Daemon(tmp_path / "state").start()
    try:
        with urllib.request.urlopen(daemon.url + "/v1/openapi.json", timeout=10) as response:
            assert response.status == 200
            assert response.headers.get_content_type() == "application/json"
            body = response.read()
    finally:
        daemon.stop()
    assert body == OPENAPI.read_bytes(), "GET /v1/openapi.json differs from apps/automated/openapi.json"
