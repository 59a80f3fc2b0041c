"""Thumbnail function: packaged as a container image (PackageType: Image)."""


def handler(event, context):
    return {"statusCode": 200, "body": "thumbnail of " + str((event or {}).get("key"))}
