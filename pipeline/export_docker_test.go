package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/base"
	"github.com/dindbundler/dindbundler/internal/bundlefile"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/inspect"
	"github.com/dindbundler/dindbundler/internal/layerstore"
)

// loadSh runs the exported load.sh on file with the host's docker CLI, as the target would.
func loadSh(t *testing.T, buildDir, file string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(buildDir, "load.sh"), file)
	out, err := cmd.CombinedOutput()
	t.Logf("sh load.sh %s:\n%s", filepath.Base(file), out)
	return string(out), err
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// removeBundle removes every tag of the image id and the image, so the engine is like a target
// that never had it.
func removeBundle(t *testing.T, api client.APIClient, id string) {
	t.Helper()
	ctx := context.Background()
	info, err := api.ImageInspect(ctx, id)
	if err != nil {
		return
	}
	for _, tag := range info.RepoTags {
		if _, err := api.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Fatalf("remove %s: %v", tag, err)
		}
	}
	if _, err := api.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("remove %s: %v", id, err)
	}
}

// A real bundle is exported, checked and loaded back with load.sh; after a one-function change a
// differential export against the first file holds only the new layers, loads where the first
// bundle is and is refused where it is not.
func TestExportAndLoadSh(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	host := hostEngine(t)
	api := host.Client(t)
	p := newProject(t, host, api, "")
	b := p.bundler(t, api)
	tag := b.Config.BundleTag
	enginetest.Cleanup(t, api, tag)
	is.NoErr(runAll(t, ctx, b))
	v1, _, err := imageLayers(ctx, api, tag)
	is.NoErr(err)
	checkSummary(t, b, true)
	// Again in CI mode: every stage skips, each says so in one stable line.
	var ciLog bytes.Buffer
	bci := p.bundler(t, api, "CI=true")
	bci.Log = io.MultiWriter(&ciLog, testLog{t})
	is.NoErr(runAll(t, ctx, bci))
	checkSummary(t, bci, false)
	is.Equal(strings.Count(ciLog.String(), "\ndindbundler: stage="), 6)
	is.True(strings.Contains(ciLog.String(), "dindbundler: stage=image result=skipped "))

	// Full export: file, checksum, description.
	start := time.Now()
	is.NoErr(b.Export(ctx))
	full := bundlefile.Path(b.Config.BuildDir, tag, "gzip", "")
	t.Logf("full export: %d bytes in %s", fileSize(t, full), time.Since(start).Round(time.Millisecond))
	sum, err := os.ReadFile(bundlefile.SumPath(full))
	is.NoErr(err)
	is.Equal(string(sum), fileSHA256(t, full)+"  "+filepath.Base(full)+"\n") // sha256sum's format
	meta, err := bundlefile.ReadMeta(full)
	is.NoErr(err)
	is.Equal(meta.Image, v1)
	is.Equal(meta.Bundle, tag)
	is.True(meta.Requires == nil)
	is.True(strings.HasPrefix(meta.Run, "docker run -d --privileged -v "))

	// Inspect reads the same from the tag and from the file.
	checkInspect(t, p, b, tag, "")
	checkInspect(t, p, b, full, v1)

	// Nothing changed: skipped, the file untouched; the summary says so.
	mod := fileModTime(t, full)
	is.NoErr(b.runStage(ctx, "export", (*Bundler).Export))
	is.Equal(fileModTime(t, full), mod)
	data, err := os.ReadFile(b.SummaryPath())
	is.NoErr(err)
	var sum1 Summary
	is.NoErr(json.Unmarshal(data, &sum1))
	last := sum1.Stages[len(sum1.Stages)-1]
	is.Equal(last.Stage, "export")
	is.Equal(last.Ran, false)
	is.Equal(last.Bytes, fileSize(t, full))

	// Keep the first bundle under its own tag (the next build would remove it) and its file.
	v1Tag := strings.Replace(tag, ":latest", ":v1", 1)
	is.NoErr(api.ImageTag(ctx, v1, v1Tag))
	enginetest.Cleanup(t, api, v1Tag)
	v1File := filepath.Join(t.TempDir(), filepath.Base(full))
	is.NoErr(os.Rename(full, v1File))
	is.NoErr(os.Rename(bundlefile.SumPath(full), bundlefile.SumPath(v1File)))
	// The same bundle as zstd and uncompressed, for the sizes, and to load zstd on an old engine.
	var v1Zstd string
	for _, c := range []string{"none", "zstd"} {
		start := time.Now()
		is.NoErr(p.bundler(t, api, "EXPORT_COMPRESSION="+c).Export(ctx))
		f := bundlefile.Path(b.Config.BuildDir, tag, layerstore.Compression(c), "")
		t.Logf("full export, %s: %d bytes in %s", c, fileSize(t, f), time.Since(start).Round(time.Millisecond))
		if c == "zstd" {
			v1Zstd = filepath.Join(filepath.Dir(v1File), filepath.Base(f))
			is.NoErr(os.Rename(f, v1Zstd))
			is.NoErr(os.Rename(bundlefile.SumPath(f), bundlefile.SumPath(v1Zstd)))
		} else {
			is.NoErr(os.Remove(f))
		}
	}

	// One function changes.
	fn := p.manifest.Images[0].Name
	newID := enginetest.ScratchImage(t, api, fn, map[string][]byte{"handler": randomText(t, 2<<20)})
	p.manifest.Images[0].Digest = newID
	data, err = json.Marshal(p.manifest)
	is.NoErr(err)
	later := time.Now().Add(2 * time.Second)
	is.NoErr(os.Chtimes(filepath.Join(p.dir, "stack/src/app.py"), later, later))
	b2 := p.bundler(t, api, "FAKE_MANIFEST="+string(data), "EXPORT_AGAINST="+v1File)
	is.NoErr(runAll(t, ctx, b2))
	v2, _, err := imageLayers(ctx, api, tag)
	is.NoErr(err)
	is.True(v2 != v1)

	// Inspect says what changed since the first bundle's file: the one function.
	var cout bytes.Buffer
	is.NoErr(p.bundler(t, api, "INSPECT_AGAINST="+v1File, "INSPECT_FORMAT=json").InspectTo(ctx, &cout))
	var crep inspect.Report
	is.NoErr(json.Unmarshal(cout.Bytes(), &crep))
	is.Equal(len(crep.Changes.ImagesChanged), 1)
	is.Equal(crep.Changes.ImagesChanged[0].Name, fn)
	is.Equal(crep.Changes.ImagesChanged[0].To, newID)
	is.Equal(len(crep.Changes.ImagesAdded)+len(crep.Changes.ImagesRemoved)+len(crep.Changes.CertsChanged), 0)
	is.True(crep.Changes.NewLayerBytes > 0)
	t.Logf("inspect against the first bundle: %d compressed bytes of new image layers", crep.Changes.NewLayerBytes)

	start = time.Now()
	is.NoErr(b2.Export(ctx))
	diff := bundlefile.Path(b.Config.BuildDir, tag, "gzip", v1)
	t.Logf("differential export: %d bytes in %s (full: %d)", fileSize(t, diff), time.Since(start).Round(time.Millisecond), fileSize(t, v1File))
	is.True(fileSize(t, diff) < fileSize(t, v1File)/10) // only the new layers
	dmeta, err := bundlefile.ReadMeta(diff)
	is.NoErr(err)
	is.Equal(dmeta.Image, v2)
	is.Equal(dmeta.Requires.Image, v1)
	is.True(dmeta.Omitted > 0)
	// Inspecting the differential file says what it cannot show.
	var dout bytes.Buffer
	is.NoErr(p.bundler(t, api, "INSPECT_BUNDLE="+diff, "INSPECT_FORMAT=json").InspectTo(ctx, &dout))
	var drep inspect.Report
	is.NoErr(json.Unmarshal(dout.Bytes(), &drep))
	is.Equal(drep.Image, v2)
	is.True(strings.Contains(drep.File.Requires, v1))
	is.True(len(drep.Missing) > 0)
	// Against the tag instead of the file: the same layers are left out.
	b3 := p.bundler(t, api, "FAKE_MANIFEST="+string(data), "EXPORT_AGAINST="+v1Tag, "EXPORT_COMPRESSION=zstd")
	is.NoErr(b3.Export(ctx))
	zdiff := bundlefile.Path(b.Config.BuildDir, tag, "zstd", v1)
	zmeta, err := bundlefile.ReadMeta(zdiff)
	is.NoErr(err)
	is.Equal(zmeta.Omitted, dmeta.Omitted)
	t.Logf("differential export, zstd: %d bytes", fileSize(t, zdiff))

	// Where the first bundle is, the differential file loads.
	removeBundle(t, api, v2)
	out, err := loadSh(t, b.Config.BuildDir, diff)
	is.NoErr(err)
	is.True(strings.Contains(out, "docker run -d --privileged")) // the run line
	id, _, err := imageLayers(ctx, api, tag)
	is.NoErr(err)
	is.Equal(id, v2) // the very bundle, loaded back

	// A damaged file is refused before anything is loaded.
	damaged := filepath.Join(t.TempDir(), filepath.Base(diff))
	copyFile(t, diff, damaged)
	copyFile(t, bundlefile.SumPath(diff), bundlefile.SumPath(damaged))
	f, err := os.OpenFile(damaged, os.O_WRONLY|os.O_APPEND, 0)
	is.NoErr(err)
	_, err = f.Write([]byte{0})
	is.NoErr(err)
	is.NoErr(f.Close())
	out, err = loadSh(t, b.Config.BuildDir, damaged)
	is.True(err != nil)
	is.True(strings.Contains(out, "is damaged or incomplete"))

	// Where the first bundle is not, the differential file is refused, naming what to load.
	removeBundle(t, api, v2)
	removeBundle(t, api, v1)
	out, err = loadSh(t, b.Config.BuildDir, diff)
	is.True(err != nil)
	is.True(strings.Contains(out, "is a differential export"))
	is.True(strings.Contains(out, v1))
	_, _, err = imageLayers(ctx, api, tag)
	is.True(err != nil) // nothing loaded

	// The full file loads on such a target (zstd through the zstd binary on this Engine 20.10),
	// then the differential one on top of it.
	out, err = loadSh(t, b.Config.BuildDir, v1Zstd)
	is.NoErr(err)
	is.True(strings.Contains(out, "Loaded image: "+tag))
	id, _, err = imageLayers(ctx, api, tag)
	is.NoErr(err)
	is.Equal(id, v1)
	removeBundle(t, api, v1)
	_, err = loadSh(t, b.Config.BuildDir, v1File)
	is.NoErr(err)
	id, _, err = imageLayers(ctx, api, tag)
	is.NoErr(err)
	is.Equal(id, v1)
	enginetest.Cleanup(t, api, v1, v2)
	_, err = loadSh(t, b.Config.BuildDir, diff)
	is.NoErr(err)
	id, _, err = imageLayers(ctx, api, tag)
	is.NoErr(err)
	is.Equal(id, v2)
}

// checkSummary reads BUILD_DIR/summary.json after a whole run.
func checkSummary(t *testing.T, b *Bundler, built bool) {
	t.Helper()
	is := is.New(t)
	data, err := os.ReadFile(b.SummaryPath())
	is.NoErr(err)
	var s Summary
	is.NoErr(json.Unmarshal(data, &s))
	var names []string
	for _, st := range s.Stages {
		names = append(names, st.Stage)
	}
	is.Equal(names, []string{"certs", "deploy", "manifest", "pull", "save", "image"})
	image := s.Stages[5]
	is.Equal(image.Ran, built)
	is.True(image.Bytes > 0)       // the bundle image's size
	is.True(s.Stages[4].Bytes > 0) // the layer store
	if !built {
		is.True(strings.HasPrefix(image.Why, "skipped, "))
	}
}

// checkInspect inspects source (a tag or an export file) as JSON and as text.
func checkInspect(t *testing.T, p *project, b *Bundler, source, image string) {
	t.Helper()
	is := is.New(t)
	ctx := context.Background()
	bi := p.bundler(t, b.Docker, "INSPECT_BUNDLE="+source, "INSPECT_FORMAT=json")
	var out bytes.Buffer
	start := time.Now()
	is.NoErr(bi.InspectTo(ctx, &out))
	t.Logf("inspect %s: %s", filepath.Base(source), time.Since(start).Round(time.Millisecond))
	var rep inspect.Report
	is.NoErr(json.Unmarshal(out.Bytes(), &rep))
	is.Equal(rep.Image, image)
	is.Equal(rep.Compression, "zstd")
	is.Equal(rep.Project, "esb-default")
	is.True(rep.Engine != nil) // the inner engine, from the base's labels
	suite, err := base.LookupSuite(base.DefaultSuite)
	is.NoErr(err)
	is.Equal(rep.Engine.Version, suite.Engine)
	is.Equal(len(rep.Images), 3)
	kinds := map[string]string{}
	for _, img := range rep.Images {
		kinds[img.Name] = img.Kind
		is.True(img.CompressedSize > 0)
		is.True(img.Size > 0)
		is.Equal(img.ID, p.manifestDigest(img.Name, rep))
	}
	is.Equal(kinds[p.manifest.Images[0].Name], "function")
	is.Equal(kinds[p.manifest.Images[1].Name], "service")
	is.Equal(len(rep.Services), 1)
	is.Equal(rep.Services[0], inspect.Service{Name: "web", Image: "pipelinetest-web:1"})
	is.True(len(rep.Certs) >= 2) // the CA and the server certificate
	for _, c := range rep.Certs {
		is.True(c.DaysLeft > 0)
		is.True(c.Subject != "")
	}
	is.Equal(rep.EnvKeys, []string{"CERT_DIR", "ENV", "RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY"})
	generated, err := os.ReadFile(filepath.Join(b.Config.StateDir(), "generated.env"))
	is.NoErr(err)
	secret := regexp.MustCompile(`RUSTFS_SECRET_KEY=(\S+)`).FindSubmatch(generated)[1]

	out.Reset()
	bt := p.bundler(t, b.Docker, "INSPECT_BUNDLE="+source)
	is.NoErr(bt.InspectTo(ctx, &out))
	t.Logf("inspect %s:\n%s", filepath.Base(source), out.String())
	is.True(strings.Contains(out.String(), "RUSTFS_SECRET_KEY"))
	is.True(!strings.Contains(out.String(), string(secret))) // keys, never values
	is.True(strings.Contains(out.String(), "function"))
}

// manifestDigest is the image ID the bundle's manifest gives name.
func (p *project) manifestDigest(name string, rep inspect.Report) string {
	for _, img := range p.manifest.Images {
		if img.Name == name && img.Digest != "" {
			return img.Digest
		}
	}
	for _, img := range rep.Images { // the external image: its ID came from the pull
		if img.Name == name {
			return img.ID
		}
	}
	return ""
}

func fileModTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// randomText is n bytes of text that compresses like source code, not like zeros.
func randomText(t *testing.T, n int) []byte {
	t.Helper()
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		fmt.Fprintf(&sb, "line %d %x\n", i, sha256.Sum256([]byte(fmt.Sprint(i))))
	}
	return []byte(sb.String()[:n])
}

// hostEngine is the host's engine when TEST_ENGINES selects it: export and load.sh drive the
// docker CLI of this machine, which talks to that engine.
func hostEngine(t *testing.T) enginetest.Engine {
	t.Helper()
	for _, e := range enginetest.Engines(t) {
		if !e.Matrix() {
			return e
		}
	}
	t.Skip("TEST_ENGINES does not select the host engine, which export and load.sh use")
	return enginetest.Engine{}
}

// hostBundler is the usual start of a host-engine test: a new project, its Bundler on the host
// engine, and the bundle image removed when the test ends.
func hostBundler(t *testing.T) (*engine.Engine, *project, *Bundler) {
	t.Helper()
	host := hostEngine(t)
	api := host.Client(t)
	p := newProject(t, host, api, "")
	b := p.bundler(t, api)
	enginetest.Cleanup(t, api, b.Config.BundleTag)
	return api, p, b
}

// An export file is used again only while it is what was written: a truncated or damaged file,
// or a checksum file that no longer matches, is written anew without FORCE (load.sh would refuse
// it on the target).
func TestExportRewritesDamagedFile(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	_, _, b := hostBundler(t)
	is.NoErr(runAll(t, ctx, b))
	is.NoErr(b.Export(ctx))
	out := bundlefile.Path(b.Config.BuildDir, b.Config.BundleTag, "gzip", "")
	good := fileSHA256(t, out)
	old := time.Now().Add(-time.Hour)
	for _, damage := range []struct {
		name string
		do   func(path string) error
	}{
		{"truncated", func(p string) error { return os.Truncate(p, fileSize(t, p)/2) }},
		{"a byte flipped, times set back", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte{0xff}, fileSize(t, p)/2); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			return os.Chtimes(p, old, old)
		}},
		{"checksum file emptied", func(p string) error { return os.WriteFile(bundlefile.SumPath(p), nil, 0o644) }},
	} {
		is.NoErr(damage.do(out))
		var log bytes.Buffer
		b.Log = io.MultiWriter(&log, testLog{t})
		is.NoErr(b.Export(ctx))
		is.True(!strings.Contains(log.String(), "export: skipped")) // a damaged export is not up to date
		is.Equal(fileSHA256(t, out), good)                          // written again, equal bytes
		sum, err := os.ReadFile(bundlefile.SumPath(out))
		is.NoErr(err)
		is.Equal(string(sum), good+"  "+filepath.Base(out)+"\n")
		t.Logf("%s: %s", damage.name, strings.TrimSpace(log.String()))
	}
	var log bytes.Buffer
	b.Log = io.MultiWriter(&log, testLog{t})
	is.NoErr(b.Export(ctx))
	is.True(strings.Contains(log.String(), "export: skipped")) // intact: not written again
}
