// Command gateway is the demo stack's HTTPS entry point: it serves on :8443 with the server
// certificate the bundle carries (mounted from CERT_DIR) and forwards /storage/ and /logs/ to the
// other services.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

func main() {
	addr := flag.String("addr", ":8443", "listen address")
	certDir := flag.String("certs", "/certs", "directory holding server.crt and server.key")
	health := flag.Bool("healthcheck", false, "probe the running gateway and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("https://127.0.0.1" + *addr + "/health")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	routes := map[string]string{
		"/storage/": env("STORAGE_URL", "http://storage:9000"),
		"/logs/":    env("LOGS_URL", "http://logs:9428"),
	}
	for prefix, target := range routes {
		u, err := url.Parse(target)
		if err != nil {
			log.Fatalf("route %s: %v", prefix, err)
		}
		mux.Handle(prefix, http.StripPrefix(prefix[:len(prefix)-1], httputil.NewSingleHostReverseProxy(u)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"service": "gateway", "routes": routes})
	})
	svc.Run(svc.Server{Addr: *addr, Handler: mux, CertFile: *certDir + "/server.crt", KeyFile: *certDir + "/server.key"})
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
