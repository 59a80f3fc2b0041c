// Package svc holds what the demo's services share: serving with graceful shutdown and the
// -healthcheck probe their images run (FROM scratch images have no shell, curl or wget, so each
// binary checks itself).
package svc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Check requests url and exits 0 on a 2xx answer, 1 otherwise: the body of a Docker
// HEALTHCHECK. TLS certificates are not verified: the probe only asks whether the service
// answers on its own port, and the certificate names the stack's host names, not 127.0.0.1.
func Check(url string) {
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // local liveness probe
	}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status)
		os.Exit(1)
	}
	os.Exit(0)
}

// Server is one listener of a service.
type Server struct {
	Addr    string
	Handler http.Handler
	// CertFile and KeyFile, when set, make it serve HTTPS.
	CertFile, KeyFile string
}

// Run serves every server until SIGINT/SIGTERM (docker stop), then shuts them down gracefully.
func Run(servers ...Server) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, len(servers))
	var https []*http.Server
	for _, s := range servers {
		hs := &http.Server{Addr: s.Addr, Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second}
		https = append(https, hs)
		go func(s Server) {
			var err error
			if s.CertFile != "" {
				log.Printf("serving HTTPS on %s", s.Addr)
				err = hs.ListenAndServeTLS(s.CertFile, s.KeyFile)
			} else {
				log.Printf("serving HTTP on %s", s.Addr)
				err = hs.ListenAndServe()
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", s.Addr, err)
			}
		}(s)
	}
	select {
	case err := <-errs:
		log.Fatal(err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range https {
		_ = hs.Shutdown(shutdown)
	}
}

// Health answers the health endpoint every service has.
func Health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "ok")
}

// Env is the environment variable k, or def when it is unset or empty.
func Env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
