"""Runs one invocation of a Python handler for the runtime stand-in (lambda-entrypoint).

The event arrives on stdin, the handler (module.function) as the first argument; the result,
or the error, is written as JSON to file descriptor 3, so whatever the handler prints stays
in the function's log (stdout and stderr) and never mixes with the answer.
"""
import importlib
import json
import os
import sys
import time
import traceback


class Context:
    """The subset of Lambda's context object handlers commonly read."""

    def __init__(self):
        env = os.environ.get
        self.function_name = env("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = env("AWS_LAMBDA_REQUEST_ID", "")
        self.invoked_function_arn = "arn:aws:lambda:local:000000000000:function:" + self.function_name
        self.log_group_name = "/aws/lambda/" + self.function_name
        self._deadline = float(env("AWS_LAMBDA_DEADLINE_MS", "0")) / 1000

    def get_remaining_time_in_millis(self):
        if not self._deadline:
            return 0
        return max(0, int((self._deadline - time.time()) * 1000))


def main():
    out = os.fdopen(3, "w")
    handler = sys.argv[1]
    task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    version = "python%d.%d" % sys.version_info[:2]
    # Lambda's search order: the function's code, then its layers' two directories.
    for i, p in enumerate([task, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]):
        sys.path.insert(i, p)
    module_name, _, function_name = handler.rpartition(".")
    try:
        raw = sys.stdin.read()
        event = json.loads(raw) if raw.strip() else None
        module = importlib.import_module(module_name.replace("/", "."))
        result = getattr(module, function_name)(event, Context())
        out.write(json.dumps(result))
    except Exception as e:  # the handler's failure is the invocation's answer
        out.write(json.dumps({
            "errorMessage": str(e),
            "errorType": type(e).__name__,
            "stackTrace": traceback.format_exc().splitlines(),
        }))
        out.flush()
        sys.exit(1)
    out.flush()


if __name__ == "__main__":
    main()
