package engine

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestDisplay(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantErr string // "" means success
		wantOut string
		wantAux []string
	}{
		{name: "progress only", stream: `{"status":"Pulling from x","id":"v1"}{"status":"Done"}`, wantOut: "v1: Pulling from x\nDone\n"},
		{name: "error detail", stream: `{"status":"a"}{"errorDetail":{"message":"boom"},"error":"boom"}{"status":"never"}`, wantErr: "boom", wantOut: "a\n"},
		{name: "old error field only", stream: `{"status":"a"}{"error":"old boom"}`, wantErr: "old boom", wantOut: "a\n"},
		{name: "aux is not printed", stream: `{"stream":"Step 1/1\n"}{"aux":{"ID":"sha256:abc"}}`, wantOut: "Step 1/1\n", wantAux: []string{`{"ID":"sha256:abc"}`}},
		{name: "garbage", stream: `{"status":"a"}not json`, wantErr: "read engine message stream"},
		{name: "empty", stream: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var out bytes.Buffer
			var aux []string
			err := display(strings.NewReader(tt.stream), &out, func(m json.RawMessage) { aux = append(aux, string(m)) })
			if tt.wantErr == "" {
				is.NoErr(err)
			} else {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
			}
			if tt.wantOut != "" || tt.wantErr == "" {
				is.Equal(out.String(), tt.wantOut)
			}
			is.Equal(aux, tt.wantAux)
		})
	}
}

func TestDisplayNilProgressIsQuiet(t *testing.T) {
	is := is.New(t)
	is.NoErr(display(strings.NewReader(`{"status":"a"}`), nil, nil))
	err := display(strings.NewReader(`{"errorDetail":{"message":"boom"}}`), nil, nil)
	is.True(err != nil)
}

// tarOf builds a tar stream of name → content, in order.
func tarOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWalkArchive(t *testing.T) {
	manifest := `[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l1/layer.tar"]}]`
	good := tarOf(t, "l1/layer.tar", strings.Repeat("x", 3000), "c.json", "{}", "manifest.json", manifest, "repositories", "{}")
	// The end of the last entry: everything before the end-of-archive marker.
	lastEntryEnd := len(good) - 1024
	tests := []struct {
		name    string
		stream  []byte
		wantErr string
	}{
		{name: "complete", stream: good},
		{name: "complete with extra zero padding", stream: append(append([]byte{}, good...), make([]byte, 9216)...)},
		{name: "cut between entries", stream: good[:lastEntryEnd], wantErr: "ended early"},
		{name: "cut inside an entry", stream: good[:1000], wantErr: "unexpected EOF"},
		{name: "error appended after the archive", stream: append(append([]byte{}, good...), `{"errorDetail":{"message":"boom"}}`...), wantErr: "after its end"},
		{name: "error in place of an entry", stream: append(append([]byte{}, good[:1536]...), bytes.Repeat([]byte(`{"errorDetail":{"message":"boom"}}`), 20)...), wantErr: "read archive stream"},
		{name: "no manifest", stream: tarOf(t, "l1/layer.tar", "x"), wantErr: "no manifest.json"},
		{name: "empty", stream: nil, wantErr: "ended early"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var out bytes.Buffer
			err := walkArchive(io.TeeReader(bytes.NewReader(tt.stream), &out), nil)
			if tt.wantErr == "" {
				is.NoErr(err)
				is.Equal(out.Bytes(), tt.stream) // byte for byte, padding included
				return
			}
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tt.wantErr)) // error names the problem
		})
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		return w.after, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWalkArchiveStopsWhenTheCallerFails(t *testing.T) {
	is := is.New(t)
	good := tarOf(t, "l1/layer.tar", strings.Repeat("x", 30000), "manifest.json", "[]")
	err := walkArchive(bytes.NewReader(good), func(h *tar.Header, r io.Reader) error {
		_, err := io.Copy(&failingWriter{after: 4096}, r)
		return err
	})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "disk full"))
}

func TestNotFoundMessage(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"repository 127.0.0.1:5000/x not found: name unknown: Unknown name", true},
		{"manifest for x:1 not found: manifest unknown", true},
		{"pull access denied for x, repository does not exist or may require 'docker login'", true},
		// Engine 28.5, classic store: the registry's JSON error.
		{`Error response from daemon: unknown: {"errors":[{"code":"NAME_UNKNOWN","message":"Unknown name"}]}`, true},
		{`Error response from daemon: unknown: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"Unknown manifest"}]}`, true},
		// Engine 28.5, containerd store, a blob the registry lacks.
		{"failed to copy: httpReadSeeker: failed open: could not fetch content descriptor sha256:6fa3 (application/vnd.docker.container.image.v1+json) from remote: not found", true},
		// Engine 20.10, classic store, the same blob.
		{"error pulling image configuration: download failed after attempts=1: unknown blob", true},
		{"dial tcp 127.0.0.1:1: connect: connection refused", false},
		{"unauthorized: authentication required", false},
	}
	for _, tt := range tests {
		is.New(t).Equal(notFoundMessage(tt.msg), tt.want)
	}
}
