// Command logs is the demo stack's log store stand-in on :9428: POST /insert/jsonline appends
// JSON lines, GET /select/logsql/query returns them (the paths of VictoriaLogs, which a real
// stack would run here). Its image stands for one the stack pulls from a registry.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"net/http"
	"sync"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

func main() {
	addr := flag.String("addr", ":9428", "listen address")
	health := flag.Bool("healthcheck", false, "probe the running service and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("http://127.0.0.1" + *addr + "/health")
	}
	var (
		mu    sync.Mutex
		lines []json.RawMessage
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	mux.HandleFunc("/insert/jsonline", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var got []json.RawMessage
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				http.Error(w, "each line must be a JSON object", http.StatusBadRequest)
				return
			}
			got = append(got, json.RawMessage(append([]byte(nil), sc.Bytes()...)))
		}
		if err := sc.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		lines = append(lines, got...)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/select/logsql/query", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/stream+json")
		for _, l := range lines {
			_, _ = w.Write(append(append([]byte(nil), l...), '\n'))
		}
	})
	svc.Run(svc.Server{Addr: *addr, Handler: mux})
}
