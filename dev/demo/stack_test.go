package demo_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/dev/demo"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/docker/docker/api/types/container"
	"github.com/matryer/is"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// start runs one of the example's compiled programs on the host until the test ends.
func start(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
}

// healthy runs bin -healthcheck until it succeeds: the probe the compose healthchecks use.
func healthy(t *testing.T, bin string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := exec.Command(bin, append([]string{"-healthcheck"}, args...)...).Run()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -healthcheck %v: %v", filepath.Base(bin), args, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStackPrograms runs the example's services as host processes, wired as compose wires them,
// and exercises them through the gateway's HTTPS endpoint with the generated certificates.
func TestStackPrograms(t *testing.T) {
	api := enginetest.Client(t) // Prepare asks the engine for its architecture
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "demo"))
	is.NoErr(err)
	_, err = demo.Prepare(ctx, api, dir, nil)
	is.NoErr(err)
	certDir := t.TempDir()
	_, err = certs.Generate(certDir, certs.GenerateOptions{})
	is.NoErr(err)

	logsPort, storagePort, consolePort, gwPort, fnPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	start(t, filepath.Join(dir, "logs/logs"), nil, "-addr", ":"+logsPort)
	start(t, filepath.Join(dir, "storage/storage"), []string{"RUSTFS_ACCESS_KEY=ak", "RUSTFS_SECRET_KEY=sk"}, "-addr", ":"+storagePort, "-console", ":"+consolePort)
	start(t, filepath.Join(dir, "gateway/gateway"),
		[]string{"STORAGE_URL=http://127.0.0.1:" + storagePort, "LOGS_URL=http://127.0.0.1:" + logsPort, "CONFIG_DIR=" + t.TempDir()},
		"-addr", ":"+gwPort, "-certs", certDir)
	// The runtime stand-in runs the thumbnail function's handler with the host's python3.
	start(t, filepath.Join(dir, "runtime/lambda-entrypoint"), []string{
		"AWS_EXECUTION_ENV=AWS_Lambda_python3.12", "LAMBDA_RUNTIME_DIR=" + filepath.Join(dir, "runtime"),
		"LAMBDA_TASK_ROOT=" + filepath.Join(dir, "functions", "thumbnail"),
	}, "-addr", ":"+fnPort, "app.handler")
	healthy(t, filepath.Join(dir, "logs/logs"), "-addr", ":"+logsPort)
	healthy(t, filepath.Join(dir, "storage/storage"), "-addr", ":"+storagePort)
	healthy(t, filepath.Join(dir, "gateway/gateway"), "-addr", ":"+gwPort)
	healthy(t, filepath.Join(dir, "runtime/lambda-entrypoint"), "-addr", ":"+fnPort)
	// Nothing listens on this port: the probe must fail.
	is.True(exec.Command(filepath.Join(dir, "logs/logs"), "-healthcheck", "-addr", ":"+freePort(t)).Run() != nil)

	// The gateway serves the bundled server certificate, which the bundled CA verifies.
	ca, err := os.ReadFile(filepath.Join(certDir, certs.RootCACert))
	is.NoErr(err)
	pool := x509.NewCertPool()
	is.True(pool.AppendCertsFromPEM(ca))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	gw := "https://localhost:" + gwPort
	do := func(method, url, body string, auth bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		is.NoErr(err)
		if auth {
			req.SetBasicAuth("ak", "sk")
		}
		resp, err := client.Do(req)
		is.NoErr(err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		is.NoErr(err)
		return resp.StatusCode, string(b)
	}
	code, _ := do("GET", gw+"/health", "", false)
	is.Equal(code, 200)
	code, _ = do("PUT", gw+"/storage/bucket/key", "object", false)
	is.Equal(code, 401) // storage requires the RUSTFS keys
	code, _ = do("PUT", gw+"/storage/bucket/key", "object", true)
	is.Equal(code, 201)
	code, body := do("GET", gw+"/storage/bucket/key", "", true)
	is.Equal(code, 200)
	is.Equal(body, "object")
	code, _ = do("POST", gw+"/logs/insert/jsonline", `{"msg":"hi"}`+"\n", false)
	is.Equal(code, 204)
	code, body = do("GET", gw+"/logs/select/logsql/query", "", false)
	is.Equal(code, 200)
	is.Equal(body, `{"msg":"hi"}`+"\n")

	// The runtime stand-in answers the Lambda invoke path with its handler's result.
	resp, err := http.Post("http://127.0.0.1:"+fnPort+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(`{"pathParameters":{"key":"k1"}}`))
	is.NoErr(err)
	defer resp.Body.Close()
	var inv struct {
		StatusCode int
		Body       string
	}
	is.NoErr(json.NewDecoder(resp.Body).Decode(&inv))
	is.Equal(inv.StatusCode, 200)
	is.Equal(inv.Body, "thumbnail of k1")
	is.Equal(resp.Header.Get("X-Amz-Function-Error"), "")
}

// TestLogsImageHealthcheck runs the logs image and its -healthcheck probe inside the container:
// a FROM scratch image has no shell, so the probe is the binary itself.
func TestLogsImageHealthcheck(t *testing.T) {
	api := enginetest.Client(t)
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := demo.Prepare(ctx, api, filepath.Join("..", "..", "examples", "demo"), nil)
	is.NoErr(err)

	c, err := api.ContainerCreate(ctx, &container.Config{Image: demo.LogsImage}, nil, nil, nil, "")
	is.NoErr(err)
	t.Cleanup(func() {
		_ = api.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	is.NoErr(api.ContainerStart(ctx, c.ID, container.StartOptions{}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ex, err := api.ContainerExecCreate(ctx, c.ID, container.ExecOptions{Cmd: []string{"/logs", "-healthcheck"}})
		is.NoErr(err)
		is.NoErr(api.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}))
		var st container.ExecInspect
		for st, err = api.ContainerExecInspect(ctx, ex.ID); err == nil && st.Running; st, err = api.ContainerExecInspect(ctx, ex.ID) {
			time.Sleep(50 * time.Millisecond)
		}
		is.NoErr(err)
		if st.ExitCode == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/logs -healthcheck in the container exits %d", st.ExitCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
