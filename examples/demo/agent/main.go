// Command agent is the demo stack's function runner, written from ESB's documented Docker-mode
// behaviour: the gateway asks it to invoke a function with an event; on a cold start it pulls
// the function's image from CONTAINER_REGISTRY (when set: always, before creating the
// container, and a failed pull fails the invocation), creates the worker on the stack's network
// with the function's environment (${VAR} placeholders resolved from the agent's own
// environment) and the com.<brand>.kind=function label, starts it, waits for the emulator on
// 8080 and posts the event there. A warm worker is reused while it lives; the agent removes its
// workers when it stops, and those a previous run left behind when it starts.
//
// It talks to the engine on the Docker socket mounted into its container (the inner engine of
// the bundle) with the Docker Engine API client and API version negotiation.
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
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-connections/nat"

	"github.com/dindbundler/dindbundler/examples/demo/internal/svc"
)

// InvokeRequest is what the gateway sends to POST /invoke.
type InvokeRequest struct {
	Function    string            `json:"function"`
	Image       string            `json:"image"`
	Environment map[string]string `json:"environment"`
	Timeout     int               `json:"timeout"`     // seconds
	MemorySize  int               `json:"memory_size"` // MB
	Event       json.RawMessage   `json:"event"`
}

// Answer headers the gateway reads.
const (
	HeaderFunctionError = "X-Amz-Function-Error" // passed on from the emulator
	HeaderColdStart     = "X-Agent-Cold-Start"   // "true" when this call created the worker
)

const (
	invokePath = "/2015-03-31/functions/function/invocations"
	workerPort = "8080"
)

func main() {
	addr := flag.String("addr", ":8081", "listen address")
	health := flag.Bool("healthcheck", false, "probe the running agent and exit 0 if it answers")
	flag.Parse()
	if *health {
		svc.Check("http://127.0.0.1" + *addr + "/health")
	}
	ctx := context.Background()
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		log.Fatalf("agent: docker client: %v", err)
	}
	network, err := stackNetwork(ctx, api)
	if err != nil {
		log.Fatalf("agent: %v", err)
	}
	a := &agent{
		api:      api,
		brand:    svc.Env("BRAND", "esb"),
		network:  network,
		registry: os.Getenv("CONTAINER_REGISTRY"),
		workers:  map[string]*worker{},
		locks:    map[string]*sync.Mutex{},
	}
	a.removeWorkers(ctx, "left by an earlier run")
	log.Printf("agent: workers on network %s, registry %q, brand %s", a.network, a.registry, a.brand)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", svc.Health)
	mux.HandleFunc("/invoke", a.invoke)
	svc.Run(svc.Server{Addr: *addr, Handler: mux})
	a.removeWorkers(context.Background(), "on shutdown")
}

// stackNetwork is CONTAINERS_NETWORK, else the first network of the agent's own container
// (compose names it after the project, which the agent cannot know beforehand).
func stackNetwork(ctx context.Context, api client.APIClient) (string, error) {
	if n := os.Getenv("CONTAINERS_NETWORK"); n != "" {
		return n, nil
	}
	self, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("find the stack's network: %w (set CONTAINERS_NETWORK)", err)
	}
	info, err := api.ContainerInspect(ctx, self)
	if err != nil {
		return "", fmt.Errorf("find the stack's network from this container (%s): %w (set CONTAINERS_NETWORK)", self, err)
	}
	var names []string
	for n := range info.NetworkSettings.Networks {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("container %s is on no network: set CONTAINERS_NETWORK", self)
	}
	slices.Sort(names)
	return names[0], nil
}

type agent struct {
	api      client.APIClient
	brand    string
	network  string
	registry string

	mu      sync.Mutex
	workers map[string]*worker     // by function
	locks   map[string]*sync.Mutex // one cold start or invocation per function at a time
}

// worker is a running function container.
type worker struct {
	id, addr string
	key      string // image and environment it was created with
}

func (a *agent) labels(function string) map[string]string {
	return map[string]string{
		"com." + a.brand + ".kind":     "function",
		"com." + a.brand + ".function": function,
		"com." + a.brand + ".owner":    a.network,
		"created_by":                   a.brand + "-agent",
	}
}

func (a *agent) lock(function string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.locks[function]
	if !ok {
		l = &sync.Mutex{}
		a.locks[function] = l
	}
	return l
}

func (a *agent) invoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	var req InvokeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 7<<20)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("read the invoke request: %w", err))
		return
	}
	if req.Function == "" || req.Image == "" {
		fail(w, http.StatusBadRequest, errors.New("the invoke request needs function and image"))
		return
	}
	if req.Timeout <= 0 {
		req.Timeout = 3 // Lambda's default
	}
	l := a.lock(req.Function)
	l.Lock()
	defer l.Unlock()

	start := time.Now()
	wk, cold, err := a.ensure(r.Context(), req)
	if err != nil {
		log.Printf("agent: %s: %v", req.Function, err)
		fail(w, http.StatusBadGateway, err)
		return
	}
	ready := time.Since(start)
	resp, err := a.post(r.Context(), wk, req)
	if err != nil && !cold {
		// The warm worker is gone (stopped, removed, crashed): start a new one, once.
		log.Printf("agent: %s: warm worker %s failed (%v); starting a new one", req.Function, short(wk.id), err)
		a.drop(req.Function, wk)
		if wk, cold, err = a.ensure(r.Context(), req); err == nil {
			resp, err = a.post(r.Context(), wk, req)
		}
	}
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		fail(w, status, fmt.Errorf("invoke %s: %w", req.Function, err))
		return
	}
	defer resp.Body.Close()
	log.Printf("agent: %s: cold=%t ready in %s, answered in %s", req.Function, cold, ready.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderColdStart, strconv.FormatBool(cold))
	if fe := resp.Header.Get(HeaderFunctionError); fe != "" {
		w.Header().Set(HeaderFunctionError, fe)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// post sends the event to the worker's emulator; the function's timeout bounds the call.
func (a *agent) post(ctx context.Context, wk *worker, req InvokeRequest) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(req.Timeout)*time.Second+2*time.Second)
	event := req.Event
	if len(event) == 0 {
		event = json.RawMessage("{}")
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+wk.addr+invokePath, bytes.NewReader(event))
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// ensure returns the function's warm worker, or starts one: pull, create, start, wait.
func (a *agent) ensure(ctx context.Context, req InvokeRequest) (*worker, bool, error) {
	env := workerEnv(req, os.LookupEnv)
	key := req.Image + "\x00" + strings.Join(env, "\x00")
	a.mu.Lock()
	wk := a.workers[req.Function]
	a.mu.Unlock()
	if wk != nil && wk.key == key {
		return wk, false, nil
	}
	if wk != nil { // the function's image or settings changed
		a.drop(req.Function, wk)
	}
	if a.registry != "" {
		if err := a.pull(ctx, req.Image); err != nil {
			return nil, true, err
		}
	}
	name := fmt.Sprintf("%s-%s-%s", a.brand, sanitize(req.Function), randomHex(4))
	cfg := &container.Config{
		Image:        req.Image,
		Env:          env,
		Labels:       a.labels(req.Function),
		ExposedPorts: nat.PortSet{workerPort + "/tcp": {}},
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(a.network)}
	if req.MemorySize > 0 {
		host.Memory = int64(req.MemorySize) << 20
	}
	created, err := a.api.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return nil, true, fmt.Errorf("create the worker of %s from %s: %w", req.Function, req.Image, err)
	}
	wk = &worker{id: created.ID, key: key}
	if err := a.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		a.remove(created.ID)
		return nil, true, fmt.Errorf("start the worker of %s: %w", req.Function, err)
	}
	if wk.addr, err = a.waitReady(ctx, created.ID); err != nil {
		a.remove(created.ID)
		return nil, true, fmt.Errorf("worker of %s: %w", req.Function, err)
	}
	a.mu.Lock()
	a.workers[req.Function] = wk
	a.mu.Unlock()
	return wk, true, nil
}

// pull fetches ref from the registry, reading the whole progress stream: an error inside the
// stream (unknown image, unreachable registry) fails the pull, as the engine reports it there.
func (a *agent) pull(ctx context.Context, ref string) error {
	start := time.Now()
	rc, err := a.api.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	log.Printf("agent: pulled %s in %s", ref, time.Since(start).Round(time.Millisecond))
	return nil
}

// waitReady resolves the worker's address on the stack's network and waits until its emulator
// accepts connections; a worker that exits meanwhile fails with the end of its log.
func (a *agent) waitReady(ctx context.Context, id string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := a.api.ContainerInspect(ctx, id)
		if err != nil {
			return "", fmt.Errorf("inspect: %w", err)
		}
		if info.State != nil && !info.State.Running {
			return "", fmt.Errorf("exited with code %d before answering; its log ends:\n%s", info.State.ExitCode, a.logTail(id))
		}
		if ep := info.NetworkSettings.Networks[a.network]; ep != nil && ep.IPAddress != "" {
			addr := net.JoinHostPort(ep.IPAddress, workerPort)
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				return addr, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no answer on port %s after 30s; its log ends:\n%s", workerPort, a.logTail(id))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (a *agent) logTail(id string) string {
	rc, err := a.api.ContainerLogs(context.Background(), id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func (a *agent) drop(function string, wk *worker) {
	a.mu.Lock()
	if a.workers[function] == wk {
		delete(a.workers, function)
	}
	a.mu.Unlock()
	a.remove(wk.id)
}

func (a *agent) remove(id string) {
	err := a.api.ContainerRemove(context.Background(), id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		log.Printf("agent: remove worker %s: %v", short(id), err)
	}
}

// removeWorkers removes every worker of this stack (its kind and owner labels).
func (a *agent) removeWorkers(ctx context.Context, why string) {
	f := filters.NewArgs(
		filters.Arg("label", "com."+a.brand+".kind=function"),
		filters.Arg("label", "com."+a.brand+".owner="+a.network))
	list, err := a.api.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		log.Printf("agent: list workers: %v", err)
		return
	}
	for _, c := range list {
		a.remove(c.ID)
	}
	if len(list) > 0 {
		log.Printf("agent: removed %d workers %s", len(list), why)
	}
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// workerEnv is the worker's environment: the function's variables with ${VAR} resolved from
// lookup (the agent's environment; unset is empty, as compose does), then what Lambda sets
// for every function. Sorted, so equal settings give an equal key.
func workerEnv(req InvokeRequest, lookup func(string) (string, bool)) []string {
	var env []string
	for k, v := range req.Environment {
		v = placeholder.ReplaceAllStringFunc(v, func(m string) string {
			val, _ := lookup(m[2 : len(m)-1])
			return val
		})
		env = append(env, k+"="+v)
	}
	env = append(env,
		"AWS_LAMBDA_FUNCTION_NAME="+req.Function,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(req.Timeout),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	)
	if req.MemorySize > 0 {
		env = append(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(req.MemorySize))
	}
	slices.Sort(env)
	return env
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func sanitize(s string) string { return unsafeName.ReplaceAllString(s, "-") }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func short(id string) string { return id[:min(12, len(id))] }
