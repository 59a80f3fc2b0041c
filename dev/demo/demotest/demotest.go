// Package demotest is the test kit of the demo stack's functions: the calls that exercise
// every route of examples/demo through the gateway over HTTPS, with what each handler must
// answer, and the timing of each call. The host-engine test and the end-to-end test of the
// bundle use it alike. Never imported by shipped code.
package demotest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/dindbundler/dindbundler/internal/engine"
)

// Call is one request to a route of the demo stack and the answer it must get.
type Call struct {
	Name         string // the function it reaches
	Method, Path string
	Body         string
	// Check returns what is wrong with the answer, or "".
	Check func(status int, header http.Header, body []byte) string
}

// Calls reach every routed function of examples/demo: the Python one with the common layer,
// the Node.js one, the Python one with a dependency the pip builder installed, the Image one.
var Calls = []Call{
	{Name: "dev-hello", Method: "GET", Path: "/hello/tester", Check: jsonAnswer(map[string]string{
		"message": "Hello, tester!", "layer": "common_util", "function": "dev-hello", "storage": "http://storage:9000",
	})},
	{Name: "greet", Method: "POST", Path: "/greet", Body: `{"name":"node"}`, Check: func(status int, h http.Header, body []byte) string {
		if msg := jsonAnswer(map[string]string{"message": "Greetings, node!"})(status, h, body); msg != "" {
			return msg
		}
		if !strings.Contains(string(body), `"runtime":"node v`) {
			return fmt.Sprintf("no node version in %s", body)
		}
		return ""
	}},
	{Name: "quote", Method: "GET", Path: "/quote", Check: jsonAnswer(map[string]string{
		"quote": "Simple things should be simple.", "dependency": "demo-quotes 1.0",
	})},
	{Name: "thumbnail", Method: "GET", Path: "/thumbnails/cat.png", Check: func(status int, _ http.Header, body []byte) string {
		if status != 200 || string(body) != "thumbnail of cat.png" {
			return fmt.Sprintf("status %d, body %q", status, body)
		}
		return ""
	}},
}

// jsonAnswer checks for status 200 and a JSON object holding want's fields.
func jsonAnswer(want map[string]string) func(int, http.Header, []byte) string {
	return func(status int, h http.Header, body []byte) string {
		if status != 200 {
			return fmt.Sprintf("status %d: %s", status, body)
		}
		if ct := h.Get("Content-Type"); ct != "application/json" {
			return fmt.Sprintf("Content-Type %q", ct)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			return fmt.Sprintf("not a JSON object: %s", body)
		}
		for k, v := range want {
			if fmt.Sprint(got[k]) != v {
				return fmt.Sprintf("%s = %v, want %q (body %s)", k, got[k], v, body)
			}
		}
		return ""
	}
}

// HTTPSClient trusts only the CA in caFile (the bundle's rootCA.crt).
func HTTPSClient(t testing.TB, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// PushOnly pushes ref (named under a registry the engine reaches) and removes it locally, so
// only a pull brings it back.
func PushOnly(t testing.TB, api client.ImageAPIClient, ref string) {
	t.Helper()
	ctx := context.Background()
	rc, err := api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: base64.URLEncoding.EncodeToString([]byte("{}"))})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if err := engine.Remove(ctx, api, ref); err != nil {
		t.Fatal(err)
	}
}

// Do sends one request to base+path and returns the status, headers and body.
func Do(t testing.TB, hc *http.Client, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// CallAll makes every call of Calls against base (https://host:port) and fails the test on a
// wrong answer; it returns each call's duration by function name.
func CallAll(t testing.TB, hc *http.Client, base string) map[string]time.Duration {
	t.Helper()
	took := map[string]time.Duration{}
	for _, c := range Calls {
		start := time.Now()
		status, h, body := Do(t, hc, c.Method, base+c.Path, c.Body)
		took[c.Name] = time.Since(start)
		if msg := c.Check(status, h, body); msg != "" {
			t.Errorf("%s %s (%s): %s", c.Method, c.Path, c.Name, msg)
		}
	}
	return took
}

// Durations formats CallAll's durations in Calls' order.
func Durations(took map[string]time.Duration) string {
	var parts []string
	for _, c := range Calls {
		parts = append(parts, fmt.Sprintf("%s %s", c.Name, took[c.Name].Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}
