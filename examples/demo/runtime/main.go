// Command lambda-entrypoint stands in for the AWS Lambda base images' entrypoint and Runtime
// Interface Emulator when no registry is reachable: demo.Prepare builds it into the
// dindbundler/runtime-<language>:<version> images. Like the real images it takes the handler
// (module.function) as its argument and answers the emulator's invoke path on :8080. Each
// invocation runs the runtime's bootstrap script (/var/runtime/bootstrap.py or bootstrap.js)
// with the event on stdin; the script writes the handler's result to file descriptor 3. One
// invocation runs at a time, as in Lambda; the function's own output goes to the container log.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

// InvokePath is the Runtime Interface Emulator's invoke path.
const InvokePath = "/2015-03-31/functions/function/invocations"

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	health := flag.Bool("healthcheck", false, "probe the running function and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("http://127.0.0.1" + *addr + "/health")
	}
	rt := runtime{
		execEnv:    os.Getenv("AWS_EXECUTION_ENV"),
		handler:    strings.Join(flag.Args(), " "),
		runtimeDir: svc.Env("LAMBDA_RUNTIME_DIR", "/var/runtime"),
		timeout:    time.Duration(atoiOr(os.Getenv("AWS_LAMBDA_FUNCTION_TIMEOUT"), 3)) * time.Second,
	}
	if rt.handler == "" {
		rt.handler = os.Getenv("_HANDLER")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	mux.HandleFunc(InvokePath, rt.invoke)
	log.Printf("runtime stand-in %s, handler %q", rt.execEnv, rt.handler)
	svc.Run(svc.Server{Addr: *addr, Handler: mux})
}

type runtime struct {
	execEnv    string // AWS_Lambda_<runtime>
	handler    string
	runtimeDir string
	timeout    time.Duration
	mu         sync.Mutex // one invocation at a time
}

// command is the interpreter line of the runtime family, or an error for a runtime this
// stand-in does not run (its image has no interpreter: FROM scratch).
func (rt *runtime) command() ([]string, []string, error) {
	name := strings.TrimPrefix(rt.execEnv, "AWS_Lambda_")
	switch {
	case strings.HasPrefix(name, "python"):
		return []string{"python3", rt.runtimeDir + "/bootstrap.py", rt.handler}, nil, nil
	case strings.HasPrefix(name, "nodejs"):
		// Lambda's NODE_PATH: layers' node_modules, then the runtime's own.
		major := strings.TrimSuffix(strings.TrimPrefix(name, "nodejs"), ".x")
		nodePath := "NODE_PATH=/opt/nodejs/node" + major + "/node_modules:/opt/nodejs/node_modules:" + rt.runtimeDir + "/node_modules"
		return []string{"node", rt.runtimeDir + "/bootstrap.js", rt.handler}, []string{nodePath}, nil
	}
	return nil, nil, fmt.Errorf("the runtime stand-in does not run %q handlers (only python and nodejs)", name)
}

// invoke runs the handler once with the request body as its event and answers its result,
// or, as the emulator does, a 200 with X-Amz-Function-Error and the error as the body.
func (rt *runtime) invoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	event, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	start := time.Now()
	requestID := newRequestID()
	result, err := rt.run(r.Context(), event, requestID)
	log.Printf("invocation %s: %s in %s", requestID, outcome(err), time.Since(start).Round(time.Millisecond))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Lambda-Runtime-Aws-Request-Id", requestID)
	var fnErr *functionError
	switch {
	case errors.As(err, &fnErr):
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_, _ = w.Write(fnErr.body)
	case err != nil:
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": "Runtime.Error", "errorMessage": err.Error()})
	default:
		_, _ = w.Write(result)
	}
}

// functionError is a failure the handler reported itself (the bootstrap's error JSON).
type functionError struct{ body []byte }

func (e *functionError) Error() string { return "handler error: " + string(e.body) }

func (rt *runtime) run(ctx context.Context, event []byte, requestID string) ([]byte, error) {
	argv, extraEnv, err := rt.command()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(rt.timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	resultR, resultW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer resultR.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(event)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{resultW} // fd 3
	cmd.Env = append(append(os.Environ(), extraEnv...),
		"AWS_LAMBDA_REQUEST_ID="+requestID,
		"AWS_LAMBDA_DEADLINE_MS="+strconv.FormatInt(deadline.UnixMilli(), 10),
		"_HANDLER="+rt.handler)
	if err := cmd.Start(); err != nil {
		resultW.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	resultW.Close() // the child holds the write end now
	result, readErr := io.ReadAll(io.LimitReader(resultR, 6<<20))
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("Task timed out after %.2f seconds", rt.timeout.Seconds())
	case readErr != nil:
		return nil, fmt.Errorf("read the result: %w", readErr)
	case waitErr != nil && json.Valid(result):
		return nil, &functionError{body: result}
	case waitErr != nil:
		return nil, fmt.Errorf("%s exited: %w", argv[0], waitErr)
	case !json.Valid(result):
		return nil, fmt.Errorf("the handler's result is not JSON: %.200q", result)
	}
	return result, nil
}

func outcome(err error) string {
	if err != nil {
		return "failed: " + err.Error()
	}
	return "ok"
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
