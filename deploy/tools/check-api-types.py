#!/usr/bin/env python3
"""Checks rendered manifests field by field against the Kubernetes API types, rejecting unknown fields and wrong
scalar types (what `kubectl apply --validate=strict` does with a cluster, which this machine does not have).

The types are those of the Kubernetes Python client (Debian: apt-get install python3-kubernetes python3-yaml;
22.6.0 has the Kubernetes 1.22 API). Not part of the test suite. Usage:
    kubectl kustomize deploy/k8s > /tmp/base.yaml && /usr/bin/python3 deploy/tools/check-api-types.py /tmp/base.yaml
"""
import re
import sys

import kubernetes.client.models as models
import yaml

errors = []


def walk(value, typ, path):
    if value is None:
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            walk(item, typ[5:-1], f"{path}[{i}]")
    elif typ.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        inner = re.match(r"dict\(([^,]*), (.*)\)", typ).group(2)
        # Resource quantities are strings in the client's types, but the API also takes plain numbers (gpu: 1).
        quantity = path.endswith((".limits", ".requests"))
        for key, item in value.items():
            if quantity and isinstance(item, (int, float)) and not isinstance(item, bool):
                continue
            walk(item, inner, f"{path}.{key}")
    elif typ == "str":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {value!r}")
    elif typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif typ == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {value!r}")
    elif typ not in ("object", "datetime"):  # object: int-or-string and free-form fields
        cls = getattr(models, typ)
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object {typ}")
            return
        fields = {json: name for name, json in cls.attribute_map.items()}
        for key, item in value.items():
            if key not in fields:
                errors.append(f"{path}.{key}: unknown field of {typ}")
            else:
                walk(item, cls.openapi_types[fields[key]], f"{path}.{key}")


for file in sys.argv[1:]:
    with open(file) as f:
        for doc in yaml.safe_load_all(f):
            typ = doc["apiVersion"].split("/")[-1].capitalize() + doc["kind"]  # apps/v1 StatefulSet: V1StatefulSet
            walk(doc, typ, f"{file}: {doc['kind']} {doc['metadata']['name']}")
            print(f"checked {typ} {doc['metadata']['name']}")
print("\n".join(errors) or "no errors")
sys.exit(1 if errors else 0)
