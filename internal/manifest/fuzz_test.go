package manifest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// FuzzParseAndMerge feeds arbitrary bytes to the manifest reader and merges what parses, with
// itself and with a known-good manifest. Properties: no panic; a parsed manifest survives a
// write/parse round trip unchanged; a successful merge validates, has unique image names in
// sorted order, and merging a manifest with itself gives the same images.
func FuzzParseAndMerge(f *testing.F) {
	good := `{"schema_version":"1.0","template":{"path":"t.yaml","sha256":"ab"},"build":{"project":"p","env":"e"},"images":[{"name":"a:1","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","kind":"function"},{"name":"x:1","kind":"external"}]}`
	f.Add([]byte(good))
	f.Add([]byte(`{"schema_version":"1.1","templates":[{"path":"a"},{"path":"b","parameters":{"K":"V"}}],"build":{},"images":[{"name":"b","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","kind":"base"}]}`))
	f.Add([]byte(good[:50]))
	f.Add([]byte(good + good))
	f.Add([]byte(`{"schema_version":"1.0","template":{"path":"t"},"images":[{"name":"","digest":"d","kind":"service"}]}`))
	f.Add([]byte(`null`))
	known, err := Parse([]byte(good))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal a parsed manifest: %v", err)
		}
		back, err := Parse(again)
		if err != nil {
			t.Fatalf("a parsed manifest does not parse after a round trip: %v\n%s", err, again)
		}
		if !Equivalent(m, back) && !(len(m.Images) == 0 && len(back.Images) == 0) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, back)
		}
		for _, parts := range [][]Manifest{{m}, {m, m}, {m, known}, {known, m}} {
			merged, err := Merge(parts, now)
			if err != nil {
				continue
			}
			if err := merged.Validate(); err != nil {
				t.Fatalf("a merge does not validate: %v\n%+v", err, merged)
			}
			names := merged.Names()
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Fatalf("merged image names not sorted and unique: %q", names)
			}
		}
		if single, err := Merge([]Manifest{m}, now); err == nil {
			if twice, err := Merge([]Manifest{m, m}, now); err != nil || !slices.Equal(single.Names(), twice.Names()) {
				t.Fatalf("merging a manifest with itself changed it: %v %q %q", err, single.Names(), twice.Names())
			}
		}
	})
}
