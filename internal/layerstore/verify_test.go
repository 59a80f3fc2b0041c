package layerstore

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// storeLayer writes tar into s as the layer of its diffID, compressed as c, and returns the diffID.
func storeLayer(t *testing.T, s *Store, tar []byte, c Compression) string {
	t.Helper()
	d := digestOf(tar)
	var buf bytes.Buffer
	zw, err := c.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tar)
	zw.Close()
	if err := os.WriteFile(s.LayerPath(d, c), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// A damaged stored layer (a flipped byte, a truncation) or config fails VerifySet with its file
// and the images that use it; the file is removed, so the save stage exports it again. Intact
// files verify, and are recorded so an unchanged file is not read again.
func TestVerifySet(t *testing.T) {
	damage := []struct {
		name string
		hurt func([]byte) []byte
	}{
		{"flipped byte in the middle", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }},
		{"flipped first byte", func(b []byte) []byte { b[0] ^= 0x01; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, c := range []Compression{Zstd, Gzip, None} {
		for _, dm := range damage {
			t.Run(string(c)+"/"+dm.name, func(t *testing.T) {
				is := is.New(t)
				s, err := Open(t.TempDir())
				is.NoErr(err)
				shared := storeLayer(t, s, layerTar(t, "base.txt", strings.Repeat("base layer ", 500)), c)
				own := storeLayer(t, s, layerTar(t, "app.txt", strings.Repeat("app ", 500)), c)
				config := []byte(`{"rootfs":{}}`)
				is.NoErr(os.WriteFile(s.ConfigPath(digestOf(config)), config, 0o644))
				set := Set{Compression: c, Images: []Image{
					{Name: "esb-a:latest", ID: "sha256:a", Config: digestOf(config), DiffIDs: []string{shared, own}},
					{Name: "esb-b:latest", ID: "sha256:b", Config: digestOf(config), DiffIDs: []string{shared}},
				}}
				is.NoErr(s.VerifySet(set))                 // intact
				is.NoErr(s.VerifySet(set))                 // and again, from the record
				is.NoErr(s.VerifyLayer(shared, c))         // one layer
				_, err = os.Stat(s.Dir + "/verified.json") // the record
				is.NoErr(err)

				p := s.LayerPath(shared, c)
				data, err := os.ReadFile(p)
				is.NoErr(err)
				is.NoErr(os.WriteFile(p, dm.hurt(data), 0o644))
				is.True(s.VerifyLayer(shared, c) != nil) // the damage is seen
				err = s.VerifySet(set)
				is.True(err != nil) // the damaged file fails the set
				msg := err.Error()
				for _, want := range []string{p, "esb-a:latest, esb-b:latest", "is damaged", "want " + shared, "removed from the store", "run the build again"} {
					if !strings.Contains(msg, want) {
						t.Fatalf("error %q does not contain %q", msg, want)
					}
				}
				is.True(!strings.Contains(msg, own)) // the intact layer is not blamed
				is.True(!s.CompleteSet(set))         // so the save stage exports it again
				is.True(s.Complete(Image{Config: digestOf(config), DiffIDs: []string{own}, Sizes: []int64{1}}, c))
			})
		}
	}

	t.Run("damaged config", func(t *testing.T) {
		is := is.New(t)
		s, err := Open(t.TempDir())
		is.NoErr(err)
		config := []byte(`{"rootfs":{}}`)
		is.NoErr(os.WriteFile(s.ConfigPath(digestOf(config)), []byte(`{"rootfs":[]}`), 0o644))
		err = s.VerifySet(Set{Compression: Zstd, Images: []Image{{Name: "x:1", ID: "sha256:x", Config: digestOf(config)}}})
		is.True(err != nil)
		is.True(strings.Contains(err.Error(), s.ConfigPath(digestOf(config))+" of x:1 is damaged"))
	})
}

// FileDigests gives every file's own digest and size (what a registry serves), from the read
// that verifies it; an unchanged file is not read again, and a record of an older store (no
// file digest) is completed by one more read.
func TestFileDigests(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			is := is.New(t)
			s, err := Open(t.TempDir())
			is.NoErr(err)
			layer := storeLayer(t, s, layerTar(t, "a.txt", strings.Repeat("a line\n", 1000)), c)
			config := []byte(`{"rootfs":{}}`)
			is.NoErr(os.WriteFile(s.ConfigPath(digestOf(config)), config, 0o644))
			set := Set{Compression: c, Images: []Image{{Name: "a:1", ID: "sha256:a", Config: digestOf(config), DiffIDs: []string{layer}}}}

			got, err := s.FileDigests(set)
			is.NoErr(err)
			data, err := os.ReadFile(s.LayerPath(layer, c))
			is.NoErr(err)
			is.Equal(got[layer], FileDigest{Digest: digestOf(data), Size: int64(len(data))})
			is.Equal(got[digestOf(config)], FileDigest{Digest: digestOf(config), Size: int64(len(config))})
			if c == None {
				is.Equal(got[layer].Digest, layer) // an uncompressed file's digest is its diffID
			} else {
				is.True(got[layer].Digest != layer)
			}

			// The record is used as it is: a doctored digest comes back, so nothing was read.
			rec, err := os.ReadFile(s.verifiedPath())
			is.NoErr(err)
			is.NoErr(os.WriteFile(s.verifiedPath(), []byte(strings.ReplaceAll(string(rec), got[layer].Digest, "sha256:recorded")), 0o644))
			again, err := s.FileDigests(set)
			is.NoErr(err)
			is.Equal(again[layer].Digest, "sha256:recorded")

			// An older store's record (signature only) is read once more and completed.
			var old map[string]verifiedFile
			is.NoErr(json.Unmarshal(rec, &old))
			for k, v := range old {
				v.File = ""
				old[k] = v
			}
			data, err = json.Marshal(old)
			is.NoErr(err)
			is.NoErr(os.WriteFile(s.verifiedPath(), data, 0o644))
			again, err = s.FileDigests(set)
			is.NoErr(err)
			is.Equal(again, got)
		})
	}
}
