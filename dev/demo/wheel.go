package demo

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Wheel packs the pure-Python package pkg (the directory wheelhouse/pkg) into a wheel of
// version: the package's files, METADATA, WHEEL and a RECORD with their hashes, as pip expects
// of a py3-none-any wheel. Entries carry a fixed time, so equal sources give equal bytes and
// the build image that holds the wheel is not rebuilt for nothing.
func Wheel(wheelhouse, pkg, version string) ([]byte, error) {
	root := filepath.Join(wheelhouse, pkg)
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".pyc") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(wheelhouse, p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pack the wheel of %s: %w", root, err)
	}
	info := fmt.Sprintf("%s-%s.dist-info", pkg, version)
	files[info+"/METADATA"] = fmt.Appendf(nil, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", strings.ReplaceAll(pkg, "_", "-"), version)
	files[info+"/WHEEL"] = []byte("Wheel-Version: 1.0\nGenerator: dindbundler-demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
	var record strings.Builder
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[name]))
		if err := add(name, files[name]); err != nil {
			return nil, fmt.Errorf("pack the wheel of %s: %w", pkg, err)
		}
	}
	recordName := path.Join(info, "RECORD")
	fmt.Fprintf(&record, "%s,,\n", recordName)
	if err := add(recordName, []byte(record.String())); err != nil {
		return nil, fmt.Errorf("pack the wheel of %s: %w", pkg, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack the wheel of %s: %w", pkg, err)
	}
	return buf.Bytes(), nil
}
