package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/builddir"
	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

// Who of the function boots: container names, phases and kept logs.
const (
	fnSeed     = "fn-seed"     // (a) FUNCTIONS_PRELOAD=boot: every image in before the stack
	fnOurs     = "fn-ours"     // (b) FUNCTIONS_PRELOAD=background
	fnNone     = "fn-none"     // (c) the same stack without functions
	fnUpstream = "fn-upstream" // (d) (a), then docker push of every function image
	fnSizes    = "fn-sizes"    // the first calls, FUNCTIONS_PRELOAD=none
)

// registryLog is the bundle's registry log (dind/registry.sh's REGISTRY_LOG default).
const registryLog = "/var/log/dindbundler-registry.log"

// functions measures the bundles with function images (BENCH_FUNCTIONS, BENCH_FUNCTION_SIZES):
// the four first boots in turns, the restart of ours, the first calls. The functionless bundle
// is the default compression's, which must still be there. Failures are recorded in the rows.
func (h *harness) functions(ctx context.Context) error {
	fns, sizes := h.stack.FunctionBundles(h.o)
	d := h.o.DefaultCompression()
	var errs []error
	if fns != nil {
		tag, err := h.functionBundle(ctx, *fns, d)
		if err != nil {
			h.failRows(FunctionRowIDs(h.o, true, false), err)
			errs = append(errs, err)
		} else {
			h.functionBoots(ctx, *fns, tag, h.bundleTag(d))
			errs = append(errs, h.dropBundle(ctx, fns.Name, tag))
		}
	}
	if sizes != nil {
		tag, err := h.functionBundle(ctx, *sizes, d)
		if err != nil {
			h.failRows(FunctionRowIDs(h.o, false, true), err)
			errs = append(errs, err)
		} else {
			h.firstCalls(ctx, *sizes, tag)
			errs = append(errs, h.dropBundle(ctx, sizes.Name, tag))
		}
	}
	return errors.Join(errs...)
}

func (h *harness) failRows(ids []string, err error) {
	for _, id := range ids {
		if r, ok := h.m[id]; !ok || r.Status != StatusOK {
			h.m.Fail(id, StatusError, lastLine(err.Error()))
		}
	}
	h.note("%v", err)
}

// dropBundle removes a function bundle's image and build directory: the next one needs the space.
func (h *harness) dropBundle(ctx context.Context, name, tag string) error {
	if err := engine.Remove(ctx, h.api, tag); err != nil {
		return err
	}
	if err := os.RemoveAll(h.runDir(name)); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// functionBundle builds b's function bases, writes its project and runs the pipeline on it
// (not measured: the figures are its boots), and checks the manifest names its function images
// as the registry serves them.
func (h *harness) functionBundle(ctx context.Context, b FunctionBundle, c string) (string, error) {
	start := time.Now()
	for _, l := range b.Layers() {
		if err := h.ensureLayer(l); err != nil {
			return "", err
		}
	}
	for _, base := range b.Bases {
		files := []ctxFile{
			{name: "Dockerfile", data: []byte(FunctionBaseDockerfile(base)), mode: 0o644},
			{name: "svc", path: filepath.Join(h.srcDir(), "svc"), mode: 0o755},
			{name: base.Data.Name + ".bin", path: h.layerPath(base.Data), mode: 0o644},
		}
		if _, err := h.build(ctx, base.Tag, files); err != nil {
			return "", err
		}
	}
	dir := h.functionProjectDir(b.Name)
	files := map[string]string{"template.yaml": b.Template(), "docker-compose.yml": ComposeFileOf(b.Services)}
	for _, f := range b.Functions {
		files[filepath.Join(FunctionDir(f), "Dockerfile")] = FunctionDockerfile(f)
	}
	if err := h.writeProjectAt(dir, files, b.Services); err != nil {
		return "", err
	}
	for _, f := range b.Functions {
		if err := linkOrCopy(h.layerPath(f.Own), filepath.Join(dir, FunctionDir(f), "own.bin")); err != nil {
			return "", err
		}
	}
	tag, run := h.bundleTag(b.Name), h.runDir(b.Name)
	if err := os.RemoveAll(run); err != nil {
		return "", fmt.Errorf("bench: reset %s: %w", run, err)
	}
	env := ChildEnv(h.environ, h.stack.FunctionRunSettings(h.o, run, h.cacheDir(), tag, c))
	took, _, err := h.child(ctx, "bundle-"+b.Name, dir, env, h.mageBin(), "bundle")
	h.harvest(builddir.Dir(run).State())
	if err != nil {
		return "", err
	}
	m, err := manifest.Read(builddir.Dir(run).MergedManifest())
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	want := map[string]bool{}
	for _, f := range b.Functions {
		want[h.stack.ImageName(f)] = true
	}
	for _, img := range m.Images {
		delete(want, img.Name)
	}
	if len(want) > 0 {
		return "", fmt.Errorf("bench: the %s bundle's manifest lacks %d function images named under %s (e.g. %s): did the producer name them otherwise?", b.Name, len(want), FunctionRegistry, firstKey(want))
	}
	h.logf("%s bundle: %d services, %d function images, bundled in %.1fs (%.1fs with the bases)", b.Name, len(b.Services), len(b.Functions), took.Seconds(), time.Since(start).Seconds())
	return tag, nil
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

func (h *harness) functionProjectDir(name string) string {
	return filepath.Join(h.o.Dir(), "project-"+name)
}

// linkOrCopy puts src at dst, hard-linked where the file system allows it.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return atomicfile.Write(dst, data, 0o644)
}

// functionBoots boots the functions bundle tag the seed's way, ours, without functions (the
// default compression's bundle none) and the upstream way, in turns, BENCH_BOOTS times.
func (h *harness) functionBoots(ctx context.Context, b FunctionBundle, tag, none string) {
	names := make([]string, 0, len(b.Functions))
	for _, f := range b.Functions {
		names = append(names, h.stack.ImageName(f))
	}
	for i := 0; i < h.o.Boots; i++ {
		h.bootRun(ctx, bootSpec{id: fnSeed, tag: tag, env: []string{"FUNCTIONS_PRELOAD=boot"}, bootRow: "fn.boot.seed"})
		h.bootRun(ctx, h.oursBoot(tag, len(names)))
		h.bootRun(ctx, bootSpec{id: fnNone, tag: none, bootRow: "fn.boot.none"})
		h.bootRun(ctx, bootSpec{id: fnUpstream, tag: tag, env: []string{"FUNCTIONS_PRELOAD=boot"}, bootRow: "fn.ready.upstream",
			rows: []string{"fn.boot.upstream", "fn.push.upstream"},
			afterBoot: func(ctx context.Context, id string, _ time.Time, first time.Duration) error {
				took, err := h.pushAll(ctx, id, names)
				if err != nil {
					return err
				}
				h.m.Sample("fn.push.upstream", took.Seconds())
				h.m.Sample("fn.boot.upstream", (first + took).Seconds())
				return nil
			}})
	}
	// The registry's start on restart, from the phases of ours.
	if r, ok := h.m[phaseID(fnOurs, "restart", "registry start")]; ok {
		r.ID = "fn.restart.registry"
		h.m["fn.restart.registry"] = r
	} else if r := h.m["fn.restart.ours"]; r.Status == StatusOK {
		h.m.Fail("fn.restart.registry", StatusError, "no \"registry ready\" line in the restart's log")
	}
}

// oursBoot is (b): the first boot, the background preload until its summary line, then the
// restart, checked to move no image again.
func (h *harness) oursBoot(tag string, n int) bootSpec {
	var pullsBefore int
	return bootSpec{id: fnOurs, tag: tag, env: []string{"FUNCTIONS_PRELOAD=background"}, bootRow: "fn.boot.ours", restartRow: "fn.restart.ours",
		rows: []string{"fn.preload.ours", "fn.restart.moved"},
		afterBoot: func(ctx context.Context, id string, firstAt time.Time, _ time.Duration) error {
			wctx, cancel := context.WithTimeout(ctx, h.o.BootTimeout)
			defer cancel()
			// The summary: "pulled N of N function images in Xs", also when some failed; not
			// the "pulling N function images in the background" before it.
			summary := fmt.Sprintf(" of %d function images in ", n)
			if _, err := engine.WaitForLog(wctx, h.api, id, summary, 1); err != nil {
				return fmt.Errorf("waiting for the background preload of %d function images: %w", n, err)
			}
			logs, err := engine.TimedLogs(ctx, h.api, id)
			if err != nil {
				return err
			}
			at, line, ok := FindLine(logs, summary, firstAt)
			if !ok {
				return fmt.Errorf("no preload summary in the log of %s", id)
			}
			h.m.Sample("fn.preload.ours", at.Sub(firstAt).Seconds())
			if !strings.Contains(line, fmt.Sprintf("pulled %d of %d ", n, n)) {
				h.m.Annotate("fn.preload.ours", strings.TrimSpace(line))
			}
			// The registry logs a pull once its repository is idle for 1 s.
			time.Sleep(1500 * time.Millisecond)
			regLog, err := h.registryLog(ctx, id)
			pullsBefore = len(RegistryPulls(regLog))
			return err
		},
		afterRestart: func(ctx context.Context, id string, againAt time.Time, _ time.Duration) error {
			time.Sleep(1500 * time.Millisecond)
			regLog, err := h.registryLog(ctx, id)
			if err != nil {
				return err
			}
			logs, err := engine.TimedLogs(ctx, h.api, id)
			if err != nil {
				return err
			}
			moved := MovedOnRestart(logs, againAt, len(RegistryPulls(regLog))-pullsBefore)
			h.m.Sample("fn.restart.moved", float64(moved))
			return nil
		}}
}

func (h *harness) registryLog(ctx context.Context, id string) (string, error) {
	out, code, err := engine.Exec(ctx, h.api, id, "cat", registryLog)
	if err == nil && code != 0 {
		err = fmt.Errorf("cat %s in %s: exit %d: %s", registryLog, id, code, strings.TrimSpace(out))
	}
	return out, err
}

// pushAll is the upstream way's seeding: a push-accepting registry started in the bundle
// (dev/bench/pushreg, for the upstream's registry:2), then `docker push` of every image, one
// after the other, as a boot script would; it returns the time from the registry's start to the
// last push.
func (h *harness) pushAll(ctx context.Context, id string, names []string) (time.Duration, error) {
	bin, err := os.ReadFile(filepath.Join(h.srcDir(), "pushreg"))
	if err != nil {
		return 0, fmt.Errorf("bench: the stand-in registry: %w", err)
	}
	if err := engine.CopyFile(ctx, h.api, id, filepath.Dir(pushregPath), filepath.Base(pushregPath), bin, 0o755); err != nil {
		return 0, err
	}
	start := time.Now()
	out, code, err := engine.Exec(ctx, h.api, id, "sh", "-c", PushScript(names))
	if err == nil && code != 0 {
		err = fmt.Errorf("pushing %d function images in %s failed (exit %d): %s", len(names), id, code, lastLine(out))
	}
	return time.Since(start), err
}

// firstCalls boots the sizes bundle with FUNCTIONS_PRELOAD=none and calls each function for the
// first time: `docker pull` from the bundle's registry, then `docker run --rm`, through docker
// exec, and the bytes the registry sent for it.
func (h *harness) firstCalls(ctx context.Context, b FunctionBundle, tag string) {
	var rows []string
	for _, n := range h.o.FunctionSizes {
		rows = append(rows, FirstCallRowIDs(n)...)
	}
	h.bootRun(ctx, bootSpec{id: fnSizes, tag: tag, env: []string{"FUNCTIONS_PRELOAD=none"}, bootRow: "fn.sizes.boot", rows: rows,
		afterBoot: func(ctx context.Context, id string, _ time.Time, _ time.Duration) error {
			for _, f := range b.Functions {
				if err := h.firstCall(ctx, id, f); err != nil {
					return err
				}
			}
			return nil
		}})
}

// firstCall times one function's first call and records the bytes its pull moved.
func (h *harness) firstCall(ctx context.Context, id string, f Function) error {
	name := h.stack.ImageName(f)
	row := FirstCallRow(f)
	start := time.Now()
	out, code, err := engine.Exec(ctx, h.api, id, "docker", "pull", "-q", name)
	if err == nil && code != 0 {
		err = fmt.Errorf("docker pull %s in the bundle: exit %d: %s", name, code, lastLine(out))
	}
	if err != nil {
		return err
	}
	pulled := time.Since(start)
	out, code, err = engine.Exec(ctx, h.api, id, "docker", "run", "--rm", name)
	if err == nil && (code != 0 || !strings.Contains(out, "called")) {
		err = fmt.Errorf("docker run --rm %s in the bundle: exit %d: %s", name, code, lastLine(out))
	}
	if err != nil {
		return err
	}
	total := time.Since(start)
	h.m.Sample(row, total.Seconds())
	h.m.Annotate(row, fmt.Sprintf("pull %.2f s + run %.2f s", pulled.Seconds(), (total-pulled).Seconds()))
	// The registry logs the pull once the repository is idle for 1 s.
	deadline := time.Now().Add(15 * time.Second)
	for {
		regLog, err := h.registryLog(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range RegistryPulls(regLog) {
			if p.Name == name {
				h.m.Set(row+".bytes", float64(p.Bytes))
				h.m.Annotate(row+".bytes", fmt.Sprintf("%d blobs", p.Blobs))
				h.logf("first call of %s: %.2fs, pulled %s", name, total.Seconds(), FormatBytes(p.Bytes))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the registry log of %s names no pull of %s", id, name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// compilePushreg builds the stand-in registry for the engine's architecture.
func compilePushreg(ctx context.Context, root, out, arch string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./dev/bench/pushreg")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compile the stand-in registry (go build ./dev/bench/pushreg in %s): %w\n%s", root, err, b)
	}
	return nil
}

// writeProjectAt lays out a project in dir from scratch: files (path → content), the services'
// build contexts, the .env and development certificates.
func (h *harness) writeProjectAt(dir string, files map[string]string, services []Image) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset %s: %w", dir, err)
	}
	files[".env"] = h.stack.DotEnv()
	for _, img := range services {
		files[filepath.Join("images", fmt.Sprintf("%02d", img.Index), "Dockerfile")] = h.stack.WrapperDockerfile(img, h.dataIDs[img.Data])
	}
	for name, text := range files {
		if err := atomicfile.Write(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if _, err := certs.Generate(filepath.Join(dir, ".esb", "certs"), certs.GenerateOptions{}); err != nil {
		return err
	}
	return nil
}
