package bench

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/source"
	"github.com/dindbundler/dindbundler/internal/tarball"
)

// ModuleDir is the root of this module's source tree (the directory of magefile.go).
func ModuleDir() (string, error) { return source.Root() }

// Paths under Options.Dir().
func (h *harness) srcDir() string     { return filepath.Join(h.o.Dir(), "src") }
func (h *harness) projectDir() string { return filepath.Join(h.o.Dir(), "project") }
func (h *harness) runsDir() string    { return filepath.Join(h.o.Dir(), "runs") }
func (h *harness) logsDir() string    { return filepath.Join(h.o.Dir(), "logs", h.name) }
func (h *harness) cacheDir() string   { return filepath.Join(h.o.Dir(), "cache", h.name) }
func (h *harness) seedCtx() string    { return filepath.Join(h.o.Dir(), "seed", "ctx") }
func (h *harness) mageBin() string    { return filepath.Join(h.o.Dir(), "bin", "mage") }
func (h *harness) certDir() string    { return filepath.Join(h.projectDir(), ".esb", "certs") }
func (h *harness) layerPath(l Layer) string {
	return filepath.Join(h.srcDir(), LayerFile(l, h.o.Compressible))
}

// ensureLayer generates l's file unless the same content is already there (its name says what
// it holds; it only appears once complete).
func (h *harness) ensureLayer(l Layer) error {
	path := h.layerPath(l)
	if fi, err := os.Stat(path); err == nil && fi.Size() == l.Size {
		return nil
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("generate layer %s: %w", l.Name, err)
	}
	defer f.Abort()
	if err := WriteLayer(f, l, h.o.Compressible); err != nil {
		return err
	}
	return f.Commit()
}

// compileTools builds the service binary (static, for the engine's architecture) and the mage
// binary the pipeline runs as (`go run magefile.go -compile`).
func (h *harness) compileTools(ctx context.Context) error {
	root, err := ModuleDir()
	if err != nil {
		return err
	}
	ver, err := engine.Version(ctx, h.api)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.srcDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", h.srcDir(), err)
	}
	svc := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(h.srcDir(), "svc"), "./dev/bench/svc")
	svc.Dir = root
	svc.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+ver.Arch)
	if out, err := svc.CombinedOutput(); err != nil {
		return fmt.Errorf("compile the benchmark service (go build ./dev/bench/svc in %s): %w\n%s", root, err, out)
	}
	if err := source.CompileMage(ctx, h.mageBin()); err != nil {
		return err
	}
	if h.o.Functions > 0 {
		return compilePushreg(ctx, root, filepath.Join(h.srcDir(), "pushreg"), ver.Arch)
	}
	return nil
}

// ctxFile is one file of a build context: from disk (path) or from memory (data).
type ctxFile struct {
	name string
	path string
	data []byte
	mode int64
}

// writeTar streams files as a tar archive, file contents straight from disk.
func writeTar(w io.Writer, files []ctxFile) error {
	tw := tarball.NewWriter(w)
	for _, f := range files {
		size := int64(len(f.data))
		var src *os.File
		if f.path != "" {
			var err error
			if src, err = os.Open(f.path); err != nil {
				return err
			}
			fi, err := src.Stat()
			if err != nil {
				src.Close()
				return err
			}
			size = fi.Size()
		}
		err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: size, Typeflag: tar.TypeReg})
		if err == nil {
			if src != nil {
				_, err = io.Copy(tw, src)
			} else {
				_, err = tw.Write(f.data)
			}
		}
		if src != nil {
			src.Close()
		}
		if err != nil {
			return fmt.Errorf("build context %s: %w", f.name, err)
		}
	}
	return tw.Close()
}

// build builds tag from files through the engine (classic builder), the context streamed so a
// GiB of layers never sits in memory; output goes to the images log.
func (h *harness) build(ctx context.Context, tag string, files []ctxFile) (string, error) {
	logf, err := os.OpenFile(filepath.Join(h.logsDir(), "images.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	defer logf.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, files)) }()
	id, err := engine.Build(ctx, h.api, pr, engine.BuildOptions{Tag: tag, Labels: map[string]string{label: h.o.Prefix}}, logf)
	pr.CloseWithError(errors.New("build finished"))
	if err != nil {
		return "", fmt.Errorf("%w (build log: %s)", err, logf.Name())
	}
	return id, nil
}

// buildData builds one synthetic image from its generated layers.
func (h *harness) buildData(ctx context.Context, img Image) (string, error) {
	files := []ctxFile{{name: "Dockerfile", data: []byte(h.stack.DataDockerfile(img)), mode: 0o644}}
	if img.Runs {
		files = append(files, ctxFile{name: "svc", path: filepath.Join(h.srcDir(), "svc"), mode: 0o755})
	}
	for _, l := range img.Layers {
		files = append(files, ctxFile{name: l.Name + ".bin", path: h.layerPath(l), mode: 0o644})
	}
	return h.build(ctx, img.Data, files)
}

// generateLayers writes the layer files every engine's images are built from (those already
// there stay).
func (h *harness) generateLayers() error {
	layers := []Layer{h.stack.Shared}
	for _, img := range h.stack.Images {
		layers = append(layers, img.Layers...)
	}
	start := time.Now()
	for _, l := range layers {
		if err := h.ensureLayer(l); err != nil {
			return err
		}
	}
	h.logf("generated %d layer files (%s) in %s in %.1fs", len(layers), FormatBytes(h.stack.Total()), h.srcDir(), time.Since(start).Seconds())
	return nil
}

// buildStack builds the base and the synthetic images on h's engine from the layer files.
func (h *harness) buildStack(ctx context.Context) error {
	start := time.Now()
	base := []ctxFile{
		{name: "Dockerfile", data: []byte(h.stack.BaseDockerfile()), mode: 0o644},
		{name: "base.bin", path: h.layerPath(h.stack.Shared), mode: 0o644},
	}
	if _, err := h.build(ctx, h.stack.Base, base); err != nil {
		return err
	}
	h.dataIDs = map[string]string{}
	for _, img := range h.stack.Images {
		id, err := h.buildData(ctx, img)
		if err != nil {
			return err
		}
		h.dataIDs[img.Data] = id
	}
	h.logf("built %s and %d images in %.1fs", h.stack.Base, len(h.stack.Images), time.Since(start).Seconds())
	return nil
}

// writeProject lays out the stack's project from scratch: template, compose file, .env, the
// services' build contexts and development certificates.
func (h *harness) writeProject() error {
	return h.writeProjectAt(h.projectDir(), map[string]string{
		"template.yaml":      h.stack.Template(),
		"docker-compose.yml": h.stack.ComposeFile(),
	}, h.stack.Images)
}
