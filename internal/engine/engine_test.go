package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/matryer/is"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The client must talk down to the engine here (20.10, API 1.41) as well as to newer ones.
func TestNegotiatedAPIVersion(t *testing.T) { enginetest.Each(t, negotiatedAPIVersionOn) }

func negotiatedAPIVersionOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	v, err := c.ServerVersion(testCtx(t))
	is.NoErr(err)
	is.True(versions.LessThanOrEqualTo(c.ClientVersion(), v.APIVersion)) // client speaks no newer than the server
	t.Logf("client API %s, server API %s (engine %s)", c.ClientVersion(), v.APIVersion, v.Version)
}

func TestImageIDs(t *testing.T) { enginetest.Each(t, imageIDsOn) }

func imageIDsOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx := testCtx(t)
	id := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-ids:v1"), map[string][]byte{"a": []byte("a")})

	ids, missing, err := engine.ImageIDs(ctx, c, []string{enginetest.Unique("enginetest-ids:v1"), "enginetest-ids-absent:v1", id})
	is.NoErr(err)
	is.Equal(ids, map[string]string{enginetest.Unique("enginetest-ids:v1"): id, id: id})
	is.Equal(missing, []string{"enginetest-ids-absent:v1"})

	_, _, err = engine.ImageIDs(ctx, c, []string{"enginetest-ids:Not/Valid"})
	is.True(err != nil)                                                // an invalid name is an error, not "missing"
	is.True(strings.Contains(err.Error(), "enginetest-ids:Not/Valid")) // names the image
}

func TestPull(t *testing.T) { enginetest.Each(t, pullOn) }

func pullOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx := testCtx(t)
	host := e.Registry(t)
	ref := enginetest.PushRandom(t, host, "enginetest-pull", "v1", 3, 256<<10)
	enginetest.Cleanup(t, c, ref)

	_, missing, err := engine.ImageIDs(ctx, c, []string{ref})
	is.NoErr(err)
	is.Equal(missing, []string{ref}) // not there before the pull

	var progress bytes.Buffer
	is.NoErr(engine.Pull(ctx, c, ref, &progress))
	is.True(strings.Contains(progress.String(), "Downloaded newer image for "+ref)) // progress rendered

	ids, missing, err := engine.ImageIDs(ctx, c, []string{ref})
	is.NoErr(err)
	is.Equal(len(missing), 0)
	is.True(strings.HasPrefix(ids[ref], "sha256:"))
}

func TestPullFailures(t *testing.T) { enginetest.Each(t, pullFailuresOn) }

func pullFailuresOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	host := e.Registry(t)
	enginetest.PushRandom(t, host, "enginetest-tagged", "v1", 1, 1024)

	// A registry whose blobs cannot be fetched: the engine accepts the pull (HTTP 200) and
	// reports the failure inside the stream.
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	broken := e.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	brokenRef := enginetest.PushRandom(t, broken, "enginetest-broken", "v1", 1, 1024)
	enginetest.Cleanup(t, c, brokenRef)

	tests := []struct {
		name     string
		ref      string
		wantMsgs []string
	}{
		{name: "missing repository", ref: host + "/enginetest-absent:v1", wantMsgs: []string{"pull " + host + "/enginetest-absent:v1: ", "check the image name or registry access"}},
		{name: "missing tag", ref: host + "/enginetest-tagged:v2", wantMsgs: []string{"check the image name or registry access"}},
		// Each puller words a missing blob its own way ("unknown blob", containerd's "not
		// found"); the hint is the same.
		{name: "error inside the stream", ref: brokenRef, wantMsgs: []string{"pull " + brokenRef + ": ", "check the image name or registry access"}},
		{name: "invalid reference", ref: "enginetest-Upper:v1", wantMsgs: []string{"pull enginetest-Upper:v1: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			err := engine.Pull(testCtx(t), c, tt.ref, nil)
			is.True(err != nil) // the pull must fail, not pass silently
			for _, m := range tt.wantMsgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			_, missing, err := engine.ImageIDs(testCtx(t), c, []string{tt.ref})
			if err == nil {
				is.Equal(missing, []string{tt.ref}) // nothing half-pulled under that name
			}
		})
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// saveEntries runs SaveEach and counts the entries by name.
func saveEntries(ctx context.Context, api client.ImageAPIClient, names ...string) (map[string]int, error) {
	entries := map[string]int{}
	err := engine.SaveEach(ctx, api, names, func(h *tar.Header, r io.Reader) error {
		entries[h.Name]++
		_, err := io.Copy(io.Discard, r)
		return err
	})
	return entries, err
}

func TestSaveSharesLayers(t *testing.T) { enginetest.Each(t, saveSharesLayersOn) }

func saveSharesLayersOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	base := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-save-base:v1"), map[string][]byte{"base": randomBytes(t, 64<<10)})
	enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-save-a:v1"), map[string][]byte{"a": []byte("a")}, enginetest.From(enginetest.Unique("enginetest-save-base:v1")))
	enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-save-b:v1"), map[string][]byte{"b": []byte("b")}, enginetest.From(enginetest.Unique("enginetest-save-base:v1")))
	entries, err := saveEntries(testCtx(t), c, enginetest.Unique("enginetest-save-a:v1"), enginetest.Unique("enginetest-save-b:v1"))
	is.NoErr(err)
	is.Equal(entries["manifest.json"], 1)
	layers := 0
	for name, n := range entries {
		if strings.HasSuffix(name, "/layer.tar") || strings.HasPrefix(name, "blobs/") {
			layers++
			is.Equal(n, 1) // every layer stored once
		}
	}
	info, err := c.ImageInspect(testCtx(t), base)
	is.NoErr(err)
	is.True(layers >= len(info.RootFS.Layers)+2) // the shared base layer(s) once, plus one top layer each
}

// cancelling wraps a client so that the save stream cancels its context after some bytes,
// interrupting a real engine stream part-way.
type cancelling struct {
	client.ImageAPIClient
	cancel context.CancelFunc
	after  int
}

func (c cancelling) ImageSave(ctx context.Context, names []string, opts ...client.ImageSaveOption) (io.ReadCloser, error) {
	rc, err := c.ImageAPIClient.ImageSave(ctx, names, opts...)
	if err != nil {
		return nil, err
	}
	return &cancelAfter{ReadCloser: rc, cancel: c.cancel, left: c.after}, nil
}

type cancelAfter struct {
	io.ReadCloser
	cancel context.CancelFunc
	left   int
}

func (r *cancelAfter) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.left -= n
	if r.left <= 0 {
		r.cancel()
	}
	return n, err
}

type brokenWriter struct{ n int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > 1<<20 {
		return 0, errors.New("no space left on device")
	}
	w.n += len(p)
	return len(p), nil
}

func TestSaveInterrupted(t *testing.T) { enginetest.Each(t, saveInterruptedOn) }

func saveInterruptedOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-save-big:v1"), map[string][]byte{"big": randomBytes(t, 8<<20)})

	t.Run("cancelled mid-stream", func(t *testing.T) {
		is := is.New(t)
		ctx, cancel := context.WithCancel(testCtx(t))
		api := cancelling{ImageAPIClient: c, cancel: cancel, after: 1 << 20}
		_, err := saveEntries(ctx, api, enginetest.Unique("enginetest-save-big:v1"))
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "save "+enginetest.Unique("enginetest-save-big:v1"))) // names the image
		is.True(errors.Is(err, context.Canceled))                                                   // stopped by the cancel, mid-stream
	})
	t.Run("failing consumer", func(t *testing.T) {
		is := is.New(t)
		err := engine.SaveEach(testCtx(t), c, []string{enginetest.Unique("enginetest-save-big:v1")}, func(h *tar.Header, r io.Reader) error {
			_, err := io.Copy(&brokenWriter{}, r)
			return err
		})
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "no space left on device"))
	})
	t.Run("missing image", func(t *testing.T) {
		is := is.New(t)
		_, err := saveEntries(testCtx(t), c, enginetest.Unique("enginetest-save-big:v1"), "enginetest-save-absent:v1")
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), "enginetest-save-absent"))
	})
}

// contextTar makes a build context of name → content pairs.
func contextTar(t *testing.T, files ...string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestBuild(t *testing.T) { enginetest.Each(t, buildOn) }

func buildOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	tests := []struct {
		name       string
		dockerfile string
		opts       engine.BuildOptions
		wantErr    string
		wantLabels map[string]string
	}{
		{
			name:       "labels and build args",
			dockerfile: "FROM scratch\nARG GREETING=none\nCOPY hello /hello\nLABEL greeting=$GREETING\n",
			opts: engine.BuildOptions{Tag: enginetest.Unique("enginetest-build:ok"), BuildArgs: map[string]string{"GREETING": "hi"},
				Labels: map[string]string{"enginetest.label": "x"}},
			wantLabels: map[string]string{"greeting": "hi", "enginetest.label": "x"},
		},
		{
			name:       "other Dockerfile name and platform",
			dockerfile: "FROM scratch\nCOPY hello /hello\n",
			opts:       engine.BuildOptions{Tag: enginetest.Unique("enginetest-build:named"), Dockerfile: "build/Other.dockerfile", Platform: "linux/" + runtimeArch(t, c)},
		},
		{
			name:       "failing COPY",
			dockerfile: "FROM scratch\nCOPY absent /absent\n",
			opts:       engine.BuildOptions{Tag: enginetest.Unique("enginetest-build:copyfail")},
			wantErr:    "build " + enginetest.Unique("enginetest-build:copyfail") + ": ",
		},
		{
			name: "failing RUN",
			// RUN first: a failed build keeps its earlier steps' images as cache, which the
			// test could not clean up.
			dockerfile: "FROM scratch\nRUN /hello\n",
			opts:       engine.BuildOptions{Tag: enginetest.Unique("enginetest-build:runfail")},
			wantErr:    "build " + enginetest.Unique("enginetest-build:runfail") + ": ",
		},
		{
			name:       "unknown instruction",
			dockerfile: "FROM scratch\nFROBNICATE now\n",
			opts:       engine.BuildOptions{Tag: enginetest.Unique("enginetest-build:syntax")},
			wantErr:    "build " + enginetest.Unique("enginetest-build:syntax") + ": ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			ctx := testCtx(t)
			enginetest.Cleanup(t, c, tt.opts.Tag)
			dfName := tt.opts.Dockerfile
			if dfName == "" {
				dfName = "Dockerfile"
			}
			var progress bytes.Buffer
			id, err := engine.Build(ctx, c, contextTar(t, dfName, tt.dockerfile, "hello", "hello\n"), tt.opts, &progress)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.HasPrefix(err.Error(), tt.wantErr)) // names the build
				t.Logf("error: %v", err)
				_, missing, err := engine.ImageIDs(ctx, c, []string{tt.opts.Tag})
				is.NoErr(err)
				is.Equal(missing, []string{tt.opts.Tag}) // no image under the tag
				return
			}
			is.NoErr(err)
			is.True(strings.Contains(progress.String(), "Step 1/")) // output rendered
			info, err := c.ImageInspect(ctx, tt.opts.Tag)
			is.NoErr(err)
			is.Equal(id, info.ID) // the ID from the stream is the tagged image
			for k, v := range tt.wantLabels {
				is.Equal(info.Config.Labels[k], v)
			}
		})
	}
}

func runtimeArch(t *testing.T, c *engine.Engine) string {
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	switch info.Architecture {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return info.Architecture
}

func TestBuildQuietWithoutTag(t *testing.T) { enginetest.Each(t, buildQuietWithoutTagOn) }

func buildQuietWithoutTagOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx := testCtx(t)
	id, err := engine.Build(ctx, c, contextTar(t, "Dockerfile", "FROM scratch\nCOPY hello /enginetest-untagged\n", "hello", "untagged\n"), engine.BuildOptions{}, nil)
	is.NoErr(err)
	enginetest.Cleanup(t, c, id)
	info, err := c.ImageInspect(ctx, id)
	is.NoErr(err)
	is.Equal(info.ID, id)
}

func TestImport(t *testing.T) { enginetest.Each(t, importOn) }

func importOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	rootfs := func() io.Reader { return contextTar(t, "hello", "hello\n", "etc/motd", "imported\n") }
	tests := []struct {
		name    string
		rootfs  io.Reader
		ref     string
		changes []string
		wantErr string
	}{
		{name: "tagged with changes", rootfs: rootfs(), ref: enginetest.Unique("enginetest-import:v1"), changes: []string{`CMD ["/hello"]`, "ENV ENGINETEST=1"}},
		{name: "untagged", rootfs: rootfs()},
		{name: "bad change", rootfs: rootfs(), ref: enginetest.Unique("enginetest-import:bad"), changes: []string{"FROBNICATE x"}, wantErr: "import " + enginetest.Unique("enginetest-import:bad") + ": "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			ctx := testCtx(t)
			if tt.ref != "" {
				enginetest.Cleanup(t, c, tt.ref)
			}
			id, err := engine.Import(ctx, c, tt.rootfs, tt.ref, tt.changes)
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.HasPrefix(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			if tt.ref == "" {
				enginetest.Cleanup(t, c, id)
			}
			lookup := tt.ref
			if lookup == "" {
				lookup = id
			}
			info, err := c.ImageInspect(ctx, lookup)
			is.NoErr(err)
			is.Equal(info.ID, id)
			is.Equal(len(info.RootFS.Layers), 1)
			if tt.changes != nil {
				is.Equal(info.Config.Cmd, []string{"/hello"})
				is.True(strings.Contains(strings.Join(info.Config.Env, " "), "ENGINETEST=1"))
			}
		})
	}
}

func TestRemoveIgnoresMissing(t *testing.T) { enginetest.Each(t, removeIgnoresMissingOn) }

func removeIgnoresMissingOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx := testCtx(t)
	enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-remove:v1"), map[string][]byte{"r": []byte("r")})
	is.NoErr(engine.Remove(ctx, c, enginetest.Unique("enginetest-remove:v1"), "enginetest-remove-absent:v1"))
	_, missing, err := engine.ImageIDs(ctx, c, []string{enginetest.Unique("enginetest-remove:v1")})
	is.NoErr(err)
	is.Equal(missing, []string{enginetest.Unique("enginetest-remove:v1")})
	is.NoErr(engine.Remove(ctx, c, enginetest.Unique("enginetest-remove:v1"))) // twice is fine
}

func TestMain(m *testing.M) { os.Exit(enginetest.Main(m)) }

func TestPathHeaders(t *testing.T) { enginetest.Each(t, pathHeadersOn) }

func pathHeadersOn(t *testing.T, e enginetest.Engine, c *engine.Engine) {
	is := is.New(t)
	ctx := testCtx(t)
	tag := enginetest.Unique("enginetest-pathheaders:v1")
	// A base with a VOLUME, as docker:dind has: the container made to read it gets an anonymous
	// volume, which must go with it.
	enginetest.ScratchImage(t, c, tag, map[string][]byte{"d/sub/f": []byte("f"), "d/big": randomBytes(t, 4<<20)}, enginetest.Volume("/data"))
	before, err := c.VolumeList(ctx, volume.ListOptions{})
	is.NoErr(err)
	got, err := engine.PathHeaders(ctx, c, tag, []string{"/d", "/d/sub/f", "/missing"})
	is.NoErr(err)
	is.Equal(len(got), 2) // the missing path is absent, not an error
	is.Equal(got["/d"].Typeflag, byte(tar.TypeDir))
	is.Equal(got["/d"].Uid, 0)
	is.Equal(got["/d/sub/f"].Typeflag, byte(tar.TypeReg))
	is.Equal(got["/d/sub/f"].Mode&0o777, int64(0o644))
	left, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("ancestor", tag))})
	is.NoErr(err)
	is.Equal(len(left), 0) // its container is removed
	after, err := c.VolumeList(ctx, volume.ListOptions{})
	is.NoErr(err)
	is.Equal(len(after.Volumes), len(before.Volumes)) // and its anonymous volume
}
