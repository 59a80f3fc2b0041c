// Command svc is the benchmark stack's one running service: it answers HTTP on :8080 and, with
// -healthcheck, probes itself and exits 0 when it answers (its FROM scratch image has no shell
// or curl for a HEALTHCHECK); with -call it is a function image's entrypoint that answers one call
// and exits. The harness compiles it with CGO_ENABLED=0. It is benchmark
// payload only: nothing imports it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	health := flag.Bool("healthcheck", false, "probe the running service and exit 0 if it answers")
	call := flag.Bool("call", false, "answer one function call on stdout and exit (the function images' entrypoint)")
	flag.Parse()
	if *call {
		fmt.Println("dindbundler benchmark function: called")
		return
	}
	if *health {
		os.Exit(check("http://127.0.0.1" + *addr + "/health"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "dindbundler benchmark service") })
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// docker stop sends SIGTERM; shut down at once so the stack stops within its timeout.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("serving on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func check(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
