// Command gateway is the demo stack's HTTPS entry point, written from ESB's documented
// behaviour: it serves on :8443 with the server certificate the bundle carries (mounted from
// CERT_DIR), routes each request by routing.yml (method and path, with path parameters) to a
// function of functions.yml, asks the agent to invoke it with an API Gateway proxy event, and
// answers the function's proxy response (statusCode, headers, body). The configuration is read
// from CONFIG_DIR (default /app/config) and read again when it changes. It also forwards
// /storage/ and /logs/ to the other services.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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

	g := &gateway{
		config: &configCache{dir: svc.Env("CONFIG_DIR", "/app/config")},
		agent:  strings.TrimRight(svc.Env("AGENT_URL", "http://agent:8081"), "/"),
		client: &http.Client{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	proxies := map[string]string{
		"/storage/": svc.Env("STORAGE_URL", "http://storage:9000"),
		"/logs/":    svc.Env("LOGS_URL", "http://logs:9428"),
	}
	for prefix, target := range proxies {
		u, err := url.Parse(target)
		if err != nil {
			log.Fatalf("route %s: %v", prefix, err)
		}
		mux.Handle(prefix, http.StripPrefix(prefix[:len(prefix)-1], httputil.NewSingleHostReverseProxy(u)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if g.serveFunction(w, r) {
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		cfg, err := g.config.get()
		w.Header().Set("Content-Type", "application/json")
		answer := map[string]any{"service": "gateway", "proxies": proxies, "routes": cfg.Routes}
		if err != nil {
			answer["config_error"] = err.Error()
		}
		_ = json.NewEncoder(w).Encode(answer)
	})
	cfg, err := g.config.get()
	if err != nil {
		log.Printf("gateway: configuration in %s: %v", g.config.dir, err)
	}
	log.Printf("gateway: %d routes to %d functions from %s; agent %s", len(cfg.Routes), len(cfg.Functions), g.config.dir, g.agent)
	svc.Run(svc.Server{Addr: *addr, Handler: mux, CertFile: *certDir + "/server.crt", KeyFile: *certDir + "/server.key"})
}

type gateway struct {
	config *configCache
	agent  string
	client *http.Client
}

// serveFunction answers r when a route matches it, and reports whether one did.
func (g *gateway) serveFunction(w http.ResponseWriter, r *http.Request) bool {
	cfg, err := g.config.get()
	if err != nil {
		if r.URL.Path != "/" {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "gateway configuration: " + err.Error()})
			return true
		}
		return false
	}
	route, params, ok := cfg.Match(r.Method, r.URL.Path)
	if !ok {
		return false
	}
	fn := cfg.Functions[route.Function]
	start := time.Now()
	event, err := proxyEvent(r, route, params)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return true
	}
	body, _ := json.Marshal(map[string]any{
		"function": route.Function, "image": fn.Image, "environment": fn.Environment,
		"timeout": fn.Timeout, "memory_size": fn.MemorySize, "event": event,
	})
	resp, err := g.client.Post(g.agent+"/invoke", "application/json", bytes.NewReader(body))
	if err != nil {
		log.Printf("gateway: %s %s → %s: agent: %v", r.Method, r.URL.Path, route.Function, err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "the agent did not answer: " + err.Error()})
		return true
	}
	defer resp.Body.Close()
	result, err := io.ReadAll(io.LimitReader(resp.Body, 7<<20))
	cold := resp.Header.Get("X-Agent-Cold-Start")
	log.Printf("gateway: %s %s → %s: agent %s (cold start %s) in %s", r.Method, r.URL.Path, route.Function, resp.Status, cold, time.Since(start).Round(time.Millisecond))
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "read the agent's answer: " + err.Error()})
	case resp.StatusCode != http.StatusOK:
		// The agent could not run the function (pull, start, timeout): its error, its status.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(result)
	case resp.Header.Get("X-Amz-Function-Error") != "":
		writeJSON(w, http.StatusBadGateway, map[string]any{"message": "Internal server error", "function": route.Function, "error": json.RawMessage(result)})
	default:
		if cold != "" {
			w.Header().Set("X-Cold-Start", cold)
		}
		writeProxyResponse(w, result)
	}
	return true
}

// proxyEvent is the API Gateway (REST, payload 1.0) proxy event for r.
func proxyEvent(r *http.Request, route Route, params map[string]string) (json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	headers, multiHeaders := map[string]string{}, map[string][]string{}
	for k, v := range r.Header {
		headers[k], multiHeaders[k] = v[len(v)-1], v
	}
	var query map[string]string
	var multiQuery map[string][]string
	if q := r.URL.Query(); len(q) > 0 {
		query, multiQuery = map[string]string{}, map[string][]string(q)
		for k, v := range q {
			query[k] = v[len(v)-1]
		}
	}
	var pathParams map[string]string
	if len(params) > 0 {
		pathParams = params
	}
	var bodyField *string
	encoded := false
	if len(body) > 0 {
		s := string(body)
		if !utf8.Valid(body) {
			s, encoded = base64.StdEncoding.EncodeToString(body), true
		}
		bodyField = &s
	}
	requestID := make([]byte, 8)
	_, _ = rand.Read(requestID)
	return json.Marshal(map[string]any{
		"resource": route.Path, "path": r.URL.Path, "httpMethod": r.Method,
		"headers": headers, "multiValueHeaders": multiHeaders,
		"queryStringParameters": query, "multiValueQueryStringParameters": multiQuery,
		"pathParameters": pathParams, "stageVariables": nil,
		"body": bodyField, "isBase64Encoded": encoded,
		"requestContext": map[string]any{
			"resourcePath": route.Path, "httpMethod": r.Method, "path": r.URL.Path, "stage": "local",
			"requestId": hex.EncodeToString(requestID), "requestTimeEpoch": time.Now().UnixMilli(),
			"identity": map[string]any{"sourceIp": strings.Split(r.RemoteAddr, ":")[0], "userAgent": r.UserAgent()},
		},
	})
}

// writeProxyResponse answers a function's result: a proxy response (statusCode, headers,
// multiValueHeaders, body, isBase64Encoded) as API Gateway does; anything else as JSON with 200.
func writeProxyResponse(w http.ResponseWriter, result []byte) {
	var pr struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Body              *string             `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if json.Unmarshal(result, &pr) != nil || pr.StatusCode == 0 {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(result)
		return
	}
	for k, vs := range pr.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pr.Headers)) {
		w.Header().Set(k, pr.Headers[k])
	}
	var body []byte
	if pr.Body != nil {
		body = []byte(*pr.Body)
		if pr.IsBase64Encoded {
			decoded, err := base64.StdEncoding.DecodeString(*pr.Body)
			if err != nil {
				writeJSON(w, http.StatusBadGateway, map[string]string{"message": "the function's body is not base64: " + err.Error()})
				return
			}
			body = decoded
		}
	}
	w.WriteHeader(pr.StatusCode)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
