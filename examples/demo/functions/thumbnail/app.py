"""Thumbnail function: packaged as a container image (PackageType: Image)."""


def handler(event, context):
    key = ((event or {}).get("pathParameters") or {}).get("key")
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "thumbnail of " + str(key)}
