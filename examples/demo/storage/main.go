// Command storage is the demo stack's object store stand-in: objects in memory under
// /<bucket>/<key> on :9000, guarded by HTTP basic auth with RUSTFS_ACCESS_KEY and
// RUSTFS_SECRET_KEY, and a small status page on :9001.
package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

type store struct {
	mu      sync.RWMutex
	objects map[string][]byte
}

func main() {
	addr := flag.String("addr", ":9000", "API listen address")
	console := flag.String("console", ":9001", "status page listen address")
	health := flag.Bool("healthcheck", false, "probe the running service and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("http://127.0.0.1" + *addr + "/health")
	}
	access, secret := os.Getenv("RUSTFS_ACCESS_KEY"), os.Getenv("RUSTFS_SECRET_KEY")
	if access == "" || secret == "" {
		log.Fatal("set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY (the stack's .env holds them)")
	}
	s := &store{objects: map[string][]byte{}}

	api := http.NewServeMux()
	api.HandleFunc("/health", svc.Health)
	api.Handle("/", s.auth(access, secret, http.HandlerFunc(s.object)))

	status := http.NewServeMux()
	status.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		keys := make([]string, 0, len(s.objects))
		for k := range s.objects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "storage: %d objects\n%s\n", len(keys), strings.Join(keys, "\n"))
	})
	svc.Run(svc.Server{Addr: *addr, Handler: api}, svc.Server{Addr: *console, Handler: status})
}

func (s *store) auth(access, secret string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(access)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(secret)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="storage"`)
			http.Error(w, "access denied", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *store) object(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	if !strings.Contains(key, "/") {
		http.Error(w, "want /<bucket>/<key>", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodPut:
		data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.objects[key] = data
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet:
		s.mu.RLock()
		data, ok := s.objects[key]
		s.mu.RUnlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.objects, key)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "use PUT, GET or DELETE", http.StatusMethodNotAllowed)
	}
}
