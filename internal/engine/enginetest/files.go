package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// File is one entry read out of an image.
type File struct {
	Content  string
	Mode     os.FileMode
	Dir      bool
	UID, GID int
}

// ImageFiles reads paths (files or directories, recursively) out of image through a created,
// never started container, keyed by absolute path inside the image. A path the image lacks is
// simply absent from the result.
func ImageFiles(t testing.TB, api client.APIClient, image string, paths ...string) map[string]File {
	t.Helper()
	ctx := context.Background()
	created, err := api.ContainerCreate(ctx, &container.Config{Image: image}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create a container of %s: %v", image, err)
	}
	defer func() {
		if err := api.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Errorf("remove the container of %s: %v", image, err)
		}
	}()
	files := map[string]File{}
	for _, p := range paths {
		rc, _, err := api.CopyFromContainer(ctx, created.ID, p)
		if err != nil {
			continue // not in the image
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				t.Fatalf("read %s of %s: %v", p, image, err)
			}
			var buf bytes.Buffer
			if hdr.Typeflag == tar.TypeReg {
				if _, err := io.Copy(&buf, tr); err != nil {
					rc.Close()
					t.Fatalf("read %s of %s: %v", hdr.Name, image, err)
				}
			}
			// Names in the copy are relative to the copied path's parent.
			files[path.Join(path.Dir(p), hdr.Name)] = File{Content: buf.String(), Mode: hdr.FileInfo().Mode(), Dir: hdr.Typeflag == tar.TypeDir, UID: hdr.Uid, GID: hdr.Gid}
		}
		rc.Close()
	}
	return files
}
