"""Helpers shared by the demo's Python functions (CommonLayer, unpacked at /opt/python)."""
import json


def envelope(status, body):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
