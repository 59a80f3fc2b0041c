// Command lambda-entrypoint stands in for the AWS Lambda base images when no registry is
// reachable: demo.Prepare builds it into dindbundler/lambda-<language>:<version> images. Like
// the real images' entrypoint it takes the handler as its argument and answers the Runtime
// Interface Emulator's invoke path on :8080, here by describing the function instead of running
// it.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	health := flag.Bool("healthcheck", false, "probe the running function and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("http://127.0.0.1" + *addr + "/health")
	}
	handler := strings.Join(flag.Args(), " ")
	if handler == "" {
		handler = os.Getenv("_HANDLER")
	}
	taskRoot := env("LAMBDA_TASK_ROOT", "/var/task")

	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	mux.HandleFunc("/2015-03-31/functions/function/invocations", func(w http.ResponseWriter, r *http.Request) {
		event, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"runtime": os.Getenv("AWS_EXECUTION_ENV"),
			"handler": handler,
			"event":   json.RawMessage(orNull(event)),
			"task":    files(taskRoot),
			"opt":     files("/opt"),
		})
	})
	log.Printf("stand-in runtime %s, handler %q", os.Getenv("AWS_EXECUTION_ENV"), handler)
	svc.Run(svc.Server{Addr: *addr, Handler: mux})
}

// files lists the files under root, relative to it.
func files(root string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func orNull(b []byte) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return []byte("null")
	}
	return b
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
