"""Hello function: greets the caller named in the path, using the shared layer's helper."""
import json
import os

from common_util import envelope  # from the CommonLayer (/opt/python)


def handler(event, context):
    event = event or {}
    name = (event.get("pathParameters") or {}).get("name") or event.get("name", "world")
    return envelope(200, {
        "message": f"{os.environ.get('GREETING', 'Hello')}, {name}!",
        "layer": "common_util",
        "function": context.function_name if context else None,
        "storage": os.environ.get("STORAGE_ENDPOINT"),
    })


if __name__ == "__main__":
    print(json.dumps(handler({"name": "local"}, None)))
