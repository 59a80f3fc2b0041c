package registry_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/layerstore"
	"github.com/dindbundler/dindbundler/internal/registry"
	"github.com/dindbundler/dindbundler/internal/registry/registrytest"
)

// serve starts the handler for b on an httptest server and returns its host:port and log.
func serve(t testing.TB, b testBundle, opts registry.Options) (string, *registrytest.SyncBuffer) {
	t.Helper()
	logs := &registrytest.SyncBuffer{}
	opts.Log = log.New(logs, "", 0)
	if opts.PullIdle == 0 {
		opts.PullIdle = 50 * time.Millisecond
	}
	h, err := registry.NewHandler(b.index, b.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return strings.TrimPrefix(srv.URL, "http://"), logs
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// twoImages share a base layer; they are named on the registry's host (the address is replaced
// by the test server's by renaming the index).
func twoImages(t *testing.T, c layerstore.Compression) testBundle {
	base := map[string]string{"etc/base.txt": strings.Repeat("shared base layer\n", 5000)}
	return makeBundle(t, registry.DefaultAddress, c,
		fakeImage{name: registry.DefaultAddress + "/esb-a:latest", layers: []map[string]string{base, {"a.txt": "a"}}},
		fakeImage{name: registry.DefaultAddress + "/esb-b:v1", layers: []map[string]string{base, {"b.txt": "b"}}},
		fakeImage{name: "esb-gateway:latest", layers: []map[string]string{{"gw": "not served"}}},
	)
}

// An engine-like client pulls every served image by tag and by digest, in both modes and every
// compression, and gets exactly the stored image: the config, the diffIDs, the blobs' digests and
// sizes (validate.Image reads every byte and checks them all).
func TestPullByTagAndDigest(t *testing.T) {
	for _, c := range []layerstore.Compression{layerstore.Zstd, layerstore.Gzip, layerstore.None} {
		for _, uncompressed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/uncompressed=%v", c, uncompressed), func(t *testing.T) {
				is := is.New(t)
				b := twoImages(t, c)
				is.Equal(len(b.index.Images), 2) // the gateway is not on this registry
				host, logs := serve(t, b, registry.Options{Uncompressed: uncompressed})
				for i, served := range b.index.Images {
					img, err := remote.Image(ref(t, host+"/"+served.Repository+":"+served.Tag))
					is.NoErr(err)
					is.NoErr(checkImage(img, b.set.Images[i]))
					layers, err := img.Layers()
					is.NoErr(err)
					for j, l := range layers {
						mt, err := l.MediaType()
						is.NoErr(err)
						dg, err := l.Digest()
						is.NoErr(err)
						switch {
						case uncompressed:
							is.Equal(mt, types.OCIUncompressedLayer)
							is.Equal(dg.String(), b.set.Images[i].DiffIDs[j]) // served under its diffID
						case c == layerstore.Zstd:
							is.Equal(mt, types.OCILayerZStd)
						case c == layerstore.Gzip:
							is.Equal(mt, types.OCILayer)
						default:
							is.Equal(mt, types.OCIUncompressedLayer)
						}
					}
					want := served.Digest
					if uncompressed {
						want = served.UncompressedDigest
					}
					got, err := img.Digest()
					is.NoErr(err)
					is.Equal(got, want)

					// By digest, and HEAD.
					byDigest, err := remote.Image(ref(t, host+"/"+served.Repository+"@"+want.String()))
					is.NoErr(err)
					is.NoErr(checkImage(byDigest, b.set.Images[i]))
					desc, err := remote.Head(ref(t, host+"/"+served.Repository+":"+served.Tag))
					is.NoErr(err)
					is.Equal(desc.Digest, want)
					is.Equal(desc.MediaType, types.OCIManifestSchema1)
				}
				// The pulls are logged, one line per image.
				time.Sleep(200 * time.Millisecond)
				for _, served := range b.index.Images {
					is.True(strings.Contains(logs.String(), "pull "+served.Name+": "))
				}
			})
		}
	}
}

// Blobs answer GET and HEAD with their digest, type and length; what a blob's GET sends hashes
// to its digest.
func TestBlobHeaders(t *testing.T) {
	is := is.New(t)
	b := twoImages(t, layerstore.Zstd)
	host, _ := serve(t, b, registry.Options{})
	img := b.index.Images[0]
	for _, blob := range []struct {
		digest v1.Hash
		size   int64
	}{{img.Config.Digest, img.Config.Size}, {img.Layers[0].FileDigest, img.Layers[0].FileSize}} {
		for _, method := range []string{http.MethodHead, http.MethodGet} {
			req, err := http.NewRequest(method, "http://"+host+"/v2/"+img.Repository+"/blobs/"+blob.digest.String(), nil)
			is.NoErr(err)
			resp, err := http.DefaultClient.Do(req)
			is.NoErr(err)
			body, err := io.ReadAll(resp.Body)
			is.NoErr(err)
			resp.Body.Close()
			is.Equal(resp.StatusCode, http.StatusOK)
			is.Equal(resp.Header.Get("Docker-Content-Digest"), blob.digest.String())
			is.Equal(resp.Header.Get("Content-Type"), "application/octet-stream")
			is.Equal(resp.ContentLength, blob.size)
			if method == http.MethodGet {
				h, n, err := v1.SHA256(bytes.NewReader(body))
				is.NoErr(err)
				is.Equal(h, blob.digest)
				is.Equal(n, blob.size)
			} else {
				is.Equal(len(body), 0)
			}
		}
	}
	// A range (an engine resuming a transfer) is sent as asked, after the whole blob verified.
	layer := img.Layers[0]
	url := "http://" + host + "/v2/" + img.Repository + "/blobs/" + layer.FileDigest.String()
	whole := get(t, url, "")
	for _, rg := range []struct {
		header     string
		start, end int64 // of the part sent
	}{
		{"bytes=10-", 10, layer.FileSize},
		{"bytes=5-9", 5, 10},
		{"bytes=0-", 0, layer.FileSize},
		{fmt.Sprintf("bytes=%d-", layer.FileSize-1), layer.FileSize - 1, layer.FileSize},
		{fmt.Sprintf("bytes=3-%d", layer.FileSize+100), 3, layer.FileSize},
	} {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		is.NoErr(err)
		req.Header.Set("Range", rg.header)
		resp, err := http.DefaultClient.Do(req)
		is.NoErr(err)
		part, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		is.NoErr(err)
		is.Equal(resp.StatusCode, http.StatusPartialContent)
		is.Equal(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, layer.FileSize))
		is.Equal(part, whole[rg.start:rg.end])
	}
	for _, header := range []string{"bytes=-5", "bytes=1-2,4-5", "pages=1-2"} { // ignored: the whole blob
		is.Equal(get(t, url, header), whole)
	}

	// tags/list and /v2/
	resp, err := http.Get("http://" + host + "/v2/esb-b/tags/list")
	is.NoErr(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	is.Equal(string(body), `{"name":"esb-b","tags":["v1"]}`)
	resp, err = http.Get("http://" + host + "/v2/")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusOK)
	is.Equal(resp.Header.Get("Docker-Distribution-API-Version"), "registry/2.0")
}

// regErrorCode is the registry error code inside err, or "".
func regErrorCode(err error) string {
	var te *transport.Error
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return string(te.Errors[0].Code)
	}
	return ""
}

// Unknown repositories, tags and blobs get the registry error codes engines print; pushes and
// deletes are refused as UNSUPPORTED (405), and nothing changes.
func TestUnknownAndRefused(t *testing.T) {
	is := is.New(t)
	b := twoImages(t, layerstore.Gzip)
	host, logs := serve(t, b, registry.Options{})

	_, err := remote.Image(ref(t, host+"/esb-nope:latest"))
	is.Equal(regErrorCode(err), "NAME_UNKNOWN")
	is.True(strings.Contains(err.Error(), "esb-a, esb-b")) // what the bundle has
	_, err = remote.Image(ref(t, host+"/esb-a:v2"))
	is.Equal(regErrorCode(err), "MANIFEST_UNKNOWN")
	is.True(strings.Contains(logs.String(), "no image "+registry.DefaultAddress+"/esb-a:v2 in this bundle (tags of esb-a: latest)"))
	l, err := remote.Layer(ref(t, host+"/esb-a@"+b.index.Images[1].Layers[1].FileDigest.String()).(name.Digest))
	if err == nil { // a lazy layer: the error comes with the bytes
		_, err = l.Compressed()
	}
	is.Equal(regErrorCode(err), "BLOB_UNKNOWN") // esb-b's own layer is not esb-a's

	rnd, err := random.Image(100, 1)
	is.NoErr(err)
	err = remote.Write(ref(t, host+"/esb-a:latest"), rnd)
	is.Equal(regErrorCode(err), "UNSUPPORTED")
	is.True(strings.Contains(err.Error(), "read-only"))
	err = remote.Delete(ref(t, host+"/esb-a@"+b.index.Images[0].Digest.String()))
	is.Equal(regErrorCode(err), "UNSUPPORTED")
	for _, method := range []string{http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		req, err := http.NewRequest(method, "http://"+host+"/v2/esb-a/manifests/latest", strings.NewReader("{}"))
		is.NoErr(err)
		resp, err := http.DefaultClient.Do(req)
		is.NoErr(err)
		resp.Body.Close()
		is.Equal(resp.StatusCode, http.StatusMethodNotAllowed)
		is.Equal(resp.Header.Get("Allow"), "GET, HEAD")
	}
	img, err := remote.Image(ref(t, host+"/esb-a:latest"))
	is.NoErr(err)
	is.NoErr(checkImage(img, b.set.Images[0])) // still the bundle's image
	d, err := img.Digest()
	is.NoErr(err)
	is.Equal(d, b.index.Images[0].Digest)
}

// A damaged layer file is never served as the image: the transfer breaks before its last bytes,
// whether the damage is a flipped byte, a truncation, an appended byte or a missing file, and
// one log line names the blob, the images using it and what to do.
func TestDamagedBlobAborts(t *testing.T) {
	damage := []struct {
		name string
		hurt func(path string) error
	}{
		{"flipped byte", func(p string) error { return rewrite(p, func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b }) }},
		{"truncated", func(p string) error { return rewrite(p, func(b []byte) []byte { return b[:len(b)-10] }) }},
		{"appended", func(p string) error { return rewrite(p, func(b []byte) []byte { return append(b, 0) }) }},
		{"missing", os.Remove},
	}
	for _, c := range []layerstore.Compression{layerstore.Zstd, layerstore.None} {
		for _, uncompressed := range []bool{false, true} {
			for _, dm := range damage {
				t.Run(fmt.Sprintf("%s/uncompressed=%v/%s", c, uncompressed, dm.name), func(t *testing.T) {
					is := is.New(t)
					b := twoImages(t, c)
					shared := b.index.Images[0].Layers[0]
					is.NoErr(dm.hurt(filepath.Join(b.dir, shared.File)))
					host, logs := serve(t, b, registry.Options{Uncompressed: uncompressed})
					digest := shared.FileDigest
					if uncompressed {
						digest = shared.DiffID
					}
					resp, err := http.Get("http://" + host + "/v2/esb-b/blobs/" + digest.String())
					switch {
					case dm.name == "missing":
						is.NoErr(err)
						resp.Body.Close()
						is.Equal(resp.StatusCode, http.StatusNotFound)
					case err == nil: // the status line went out, then the body breaks off…
						got, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						is.Equal(resp.StatusCode, http.StatusOK)
						is.True(err != nil)
						is.True(int64(len(got)) < resp.ContentLength)
					default: // …or, for a blob smaller than what is held back, nothing went out
						is.True(strings.Contains(err.Error(), "EOF"))
					}
					// …and so does a client's pull, which never gets a wrong image.
					img, err := remote.Image(ref(t, host+"/esb-a:latest"), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
					is.NoErr(err)
					is.True(checkImage(img, b.set.Images[0]) != nil)

					// Asked again (an engine retries, resuming), the blob is refused at once, with the
					// reason and what to do, in the registry's error JSON; the log has said it once.
					req, err := http.NewRequest(http.MethodGet, "http://"+host+"/v2/esb-a/blobs/"+digest.String(), nil)
					is.NoErr(err)
					req.Header.Set("Range", "bytes=100-")
					resp, err = http.DefaultClient.Do(req)
					is.NoErr(err)
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					is.NoErr(err)
					is.Equal(resp.StatusCode, http.StatusNotFound)
					is.True(strings.Contains(string(body), `"code":"BLOB_UNKNOWN"`))
					is.True(strings.Contains(string(body), "the bundle is damaged; rebuild the bundle"))

					line := logs.String()
					is.Equal(strings.Count(line, "the bundle is damaged"), 1)
					for _, want := range []string{"blob " + digest.String(), shared.File, registry.DefaultAddress + "/esb-a:latest, " + registry.DefaultAddress + "/esb-b:v1", "the bundle is damaged; rebuild the bundle"} {
						if !strings.Contains(line, want) {
							t.Fatalf("log %q does not contain %q", line, want)
						}
					}
				})
			}
		}
	}
}

func rewrite(path string, f func([]byte) []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, f(data), 0o644)
}

// checkImage reads every byte of img as a client does and checks it is want: the config blob
// hashes to want's config digest, each layer blob to its descriptor's digest and size, and
// decompresses to want's diffID. (validate.Image would do it, but takes every layer for gzip.)
func checkImage(img v1.Image, want layerstore.Image) error {
	cd, err := img.ConfigName()
	if err != nil {
		return err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if h, _, _ := v1.SHA256(bytes.NewReader(raw)); h != cd || cd.String() != want.Config {
		return fmt.Errorf("config %s hashes to %s, want %s", cd, h, want.Config)
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	if len(m.Layers) != len(want.DiffIDs) {
		return fmt.Errorf("%d layers, want %d", len(m.Layers), len(want.DiffIDs))
	}
	for i, desc := range m.Layers {
		l, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(data)); h != desc.Digest || n != desc.Size {
			return fmt.Errorf("layer %s: got %s (%d bytes), want %d bytes", desc.Digest, h, n, desc.Size)
		}
		zr, err := layerstore.Decompress(bytes.NewReader(data))
		if err != nil {
			return err
		}
		d, _, err := v1.SHA256(zr)
		if err != nil {
			return err
		}
		if d.String() != want.DiffIDs[i] {
			return fmt.Errorf("layer %d decompresses to %s, want %s", i, d, want.DiffIDs[i])
		}
	}
	return nil
}

// get fetches url (with a Range header unless "") and returns a 200's body.
func get(t *testing.T, url, rangeHeader string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s (Range %q): %s, %v", url, rangeHeader, resp.Status, err)
	}
	return body
}

// BenchmarkServeLayer measures a blob GET of a 64 MiB layer through the handler (over loopback
// HTTP), as stored and decompressed on the fly, digest checked either way.
func BenchmarkServeLayer(b *testing.B) {
	for _, uncompressed := range []bool{false, true} {
		b.Run(fmt.Sprintf("zstd/uncompressed=%v", uncompressed), func(b *testing.B) {
			data := make([]byte, 64<<20)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := range data { // text-like: compresses to about 60 %
				data[i] = "abcdefghijklmnopqrstuvwxyz \n"[rnd.IntN(28)]
			}
			bundle := makeBundle(b, registry.DefaultAddress, layerstore.Zstd,
				fakeImage{name: registry.DefaultAddress + "/esb-big:1", layers: []map[string]string{{"big": string(data)}}})
			host, _ := serve(b, bundle, registry.Options{Uncompressed: uncompressed})
			l := bundle.index.Images[0].Layers[0]
			d, size := l.FileDigest, l.FileSize
			if uncompressed {
				d, size = l.DiffID, l.Size
			}
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				resp, err := http.Get("http://" + host + "/v2/esb-big/blobs/" + d.String())
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("%d of %d bytes: %v", n, size, err)
				}
			}
		})
	}
}
