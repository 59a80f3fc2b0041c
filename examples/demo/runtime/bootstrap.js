// Runs one invocation of a Node.js handler for the runtime stand-in (lambda-entrypoint).
// The event arrives on stdin, the handler (module.function) as the first argument; the result,
// or the error, is written as JSON to file descriptor 3, so whatever the handler logs stays in
// the function's log and never mixes with the answer. Layers are found through NODE_PATH
// (/opt/nodejs/node_modules), which lambda-entrypoint sets as Lambda does.
'use strict';
const fs = require('fs');
const path = require('path');
const url = require('url');

const handler = process.argv[2];
const taskRoot = process.env.LAMBDA_TASK_ROOT || '/var/task';

async function load() {
  const dot = handler.lastIndexOf('.');
  const mod = handler.slice(0, dot);
  const name = handler.slice(dot + 1);
  for (const ext of ['.js', '.cjs', '.mjs']) {
    const file = path.resolve(taskRoot, mod + ext);
    if (!fs.existsSync(file)) continue;
    const loaded = ext === '.mjs' ? await import(url.pathToFileURL(file).href) : require(file);
    const fn = loaded[name];
    if (typeof fn !== 'function') throw new TypeError(`${handler} is not a function in ${file}`);
    return fn;
  }
  throw new Error(`Cannot find module ${mod} in ${taskRoot}`);
}

function context() {
  const env = process.env;
  const deadline = Number(env.AWS_LAMBDA_DEADLINE_MS || 0);
  const name = env.AWS_LAMBDA_FUNCTION_NAME || 'function';
  return {
    functionName: name,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128',
    awsRequestId: env.AWS_LAMBDA_REQUEST_ID || '',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:' + name,
    logGroupName: '/aws/lambda/' + name,
    getRemainingTimeInMillis: () => (deadline ? Math.max(0, deadline - Date.now()) : 0),
  };
}

async function main() {
  const raw = fs.readFileSync(0, 'utf8');
  const event = raw.trim() ? JSON.parse(raw) : null;
  const fn = await load();
  // A handler taking a callback answers through it; an async one through its promise.
  const result = await new Promise((resolve, reject) => {
    const returned = fn(event, context(), (err, value) => (err ? reject(err) : resolve(value)));
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    else if (fn.length < 3) resolve(returned);
  });
  fs.writeSync(3, JSON.stringify(result === undefined ? null : result));
}

main().catch((e) => {
  const err = e instanceof Error ? e : new Error(String(e));
  fs.writeSync(3, JSON.stringify({
    errorMessage: err.message,
    errorType: err.name,
    trace: String(err.stack || '').split('\n'),
  }));
  process.exitCode = 1;
});
