"""Examples in the contract, taken from the demo practice: a drf-spectacular postprocessing hook.

`api/examples.json` holds, per operation, a request body and the 2xx answer the real API gave when the demo's
people used it (`make examples`, tools/examples.py). This hook puts them under each operation's request body and
answer media types as `examples: {demo: ...}`; tests/api/test_examples.py checks that every operation has them and
that each validates against its schema. Nothing here is typed by hand.
"""

import json
from functools import cache
from pathlib import Path

EXAMPLES_FILE = Path(__file__).resolve().parent / "examples.json"
EXAMPLE_NAME = "demo"
WHO = {
    "anyone": "anyone (no token)",
    "admin": "the practice admin (admin@demo.test)",
    "supervisor": "the supervisor (supervisor@demo.test)",
    "clinician": "the clinician (clinician@demo.test)",
    "alex": "Alex, a client, in the partners' app (alex@demo.test)",
    "sam": "Sam, a client, in the partners' app (sam@demo.test)",
    "riley": "Riley, a client leaving care, in the partners' app (riley@demo.test)",
}


@cache
def recorded() -> dict[str, dict]:
    return json.loads(EXAMPLES_FILE.read_text()) if EXAMPLES_FILE.exists() else {}


def example(entry: dict, *, answer: bool) -> dict:
    query = "&".join(f"{name}={value}" for name, value in entry.get("query", {}).items())
    if not answer:
        summary = f"The demo practice: sent by {WHO[entry['role']]}"
    elif query:
        summary = f"The demo practice: the answer to {WHO[entry['role']]}, asking with ?{query}"
    else:
        summary = f"The demo practice: the answer to {WHO[entry['role']]}"
    return {"summary": summary, "value": entry["response"] if answer else entry["request"]}


def image_example(entry: dict) -> str:
    """How the answer's description names the demo practice's image (tests/api/test_examples.py reads it back)."""
    return f"In the demo practice, the answer to {WHO[entry['role']]}: {entry['description']}"


def postprocess_examples(result, generator, request, public, **kwargs):
    """Add the recorded request body and 2xx answer of each operation to the contract."""
    examples = recorded()
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            entry = examples.get(f"{method.upper()} {path}")
            if not isinstance(operation, dict) or entry is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "request" in entry:
                body["examples"] = {EXAMPLE_NAME: example(entry, answer=False)}
            answer = operation.get("responses", {}).get(str(entry["status"]), {})
            if "response" in entry and entry["response"] is None:
                # An image is described in words in the answer's description: an example object without a value
                # (none can hold the bytes) crashes ReDoc.
                answer["description"] = f"{answer.get('description', '')} {image_example(entry)}".strip()
                continue
            for media_type, content in answer.get("content", {}).items():
                if media_type == entry["media_type"]:
                    content["examples"] = {EXAMPLE_NAME: example(entry, answer=True)}
    return result
