"""Hello function: greets the caller, using the shared layer's helper."""
import json
import os

from common_util import envelope  # from the CommonLayer (/opt/python)


def handler(event, context):
    name = (event or {}).get("name", "world")
    return envelope(200, {
        "message": f"{os.environ.get('GREETING', 'Hello')}, {name}!",
        "storage": os.environ.get("STORAGE_ENDPOINT"),
    })


if __name__ == "__main__":
    print(json.dumps(handler({"name": "local"}, None)))
