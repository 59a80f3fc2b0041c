"""Quote function: answers from demo_quotes, a dependency the pip builder installs."""
import json

import demo_quotes  # from requirements.txt, installed into /var/task at build time


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"quote": demo_quotes.QUOTE, "dependency": "demo-quotes " + demo_quotes.VERSION}),
    }
