package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/dindbundler/dindbundler/internal/atomicfile"
	"github.com/dindbundler/dindbundler/internal/runtimeconfig"
)

// maxRuntimeConfigFile bounds a runtime config file read into memory: these are a few kilobytes.
const maxRuntimeConfigFile = 16 << 20

// runtimeConfigParts reads each template's runtime config directory (<output root>/<env>/config,
// where the embedded producer writes functions.yml and routing.yml and an external producer may
// write its own); a template without one has no files.
func (b *Bundler) runtimeConfigParts() ([]runtimeconfig.DirPart, error) {
	parts := make([]runtimeconfig.DirPart, 0, len(b.Config.Templates))
	for _, t := range b.Config.Templates {
		files, err := readRuntimeConfigDir(t.RuntimeConfigDir)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		parts = append(parts, runtimeconfig.DirPart{Template: t.Path, Files: files})
	}
	return parts, nil
}

// readRuntimeConfigDir reads the regular files under dir by slash path; a missing dir has none.
// Links are not followed: the producer writes plain files.
func readRuntimeConfigDir(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxRuntimeConfigFile {
			return fmt.Errorf("%s holds %d MB: a runtime config file is a few kilobytes; remove it from %s", p, info.Size()>>20, dir)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the runtime config %s: %w", dir, err)
	}
	return files, nil
}

// writeRuntimeConfigDir makes dir hold exactly files: each written atomically where its content
// differs, files no longer merged removed; no files removes the directory.
func writeRuntimeConfigDir(dir string, files map[string][]byte) error {
	if len(files) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove the runtime config %s: %w", dir, err)
		}
		return nil
	}
	old, err := readRuntimeConfigDir(dir)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if prev, ok := old[name]; ok && string(prev) == string(files[name]) {
			continue
		}
		if err := atomicfile.Write(filepath.Join(dir, filepath.FromSlash(name)), files[name], 0o644); err != nil {
			return fmt.Errorf("write the runtime config: %w", err)
		}
	}
	for name := range old {
		if _, keep := files[name]; !keep {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				return fmt.Errorf("remove %s from the runtime config: %w", name, err)
			}
		}
	}
	return nil
}

// runtimeConfigKey lists the parts' files and contents, for the Manifest stage's freshness.
func runtimeConfigKey(parts []runtimeconfig.DirPart) []string {
	var key []string
	for _, p := range parts {
		key = append(key, "runtime config of "+p.Template)
		for _, name := range slices.Sorted(maps.Keys(p.Files)) {
			key = append(key, name, string(p.Files[name]))
		}
	}
	return key
}

// hasRuntimeConfig reports whether any part has a file.
func hasRuntimeConfig(parts []runtimeconfig.DirPart) bool {
	for _, p := range parts {
		if len(p.Files) > 0 {
			return true
		}
	}
	return false
}
