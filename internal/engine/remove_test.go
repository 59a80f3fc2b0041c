package engine_test

import (
	"archive/tar"
	"context"
	"io"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// TestRemoveUntagged: a tagged image stays, an untagged one goes, a missing one is no error.
func TestRemoveUntagged(t *testing.T) {
	is := is.New(t)
	c := enginetest.Client(t)
	ctx := testCtx(t)
	tag := enginetest.Unique("enginetest-untagged:v1")
	old := enginetest.ScratchImage(t, c, tag, map[string][]byte{"a": []byte("old")})
	enginetest.Cleanup(t, c, old)

	is.NoErr(engine.RemoveUntagged(ctx, c, old))
	_, found, err := engine.Inspect(ctx, c, old)
	is.NoErr(err)
	is.True(found) // still tagged: stays

	current := enginetest.ScratchImage(t, c, tag, map[string][]byte{"a": []byte("new")}) // the tag moves on
	is.True(current != old)
	is.NoErr(engine.RemoveUntagged(ctx, c, old))
	_, found, err = engine.Inspect(ctx, c, old)
	is.NoErr(err)
	is.True(!found) // untagged: gone
	_, found, err = engine.Inspect(ctx, c, tag)
	is.NoErr(err)
	is.True(found) // the tagged image is untouched

	is.NoErr(engine.RemoveUntagged(ctx, c, old)) // already gone: fine
}

// TestRemoveNamed removes the containers and volumes whose names start with the prefix, and
// nothing that merely contains it.
func TestRemoveNamed(t *testing.T) {
	is := is.New(t)
	c := enginetest.Client(t)
	ctx := testCtx(t)
	prefix := "enginetest-named-" + enginetest.CheckoutID() + "-" // containers of this checkout's
	img := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-named:v1"), map[string][]byte{"a": []byte("a")}, enginetest.Cmd("/a"))
	create := func(name string) {
		t.Helper()
		_, err := c.ContainerCreate(ctx, &container.Config{Image: img}, nil, nil, nil, name)
		is.NoErr(err)
	}
	create(prefix + "one")
	create("x-" + prefix + "other") // holds the prefix, does not start with it
	_, err := c.VolumeCreate(ctx, volume.CreateOptions{Name: prefix + "vol"})
	is.NoErr(err)
	t.Cleanup(func() {
		is.NoErr(engine.RemoveContainer(context.Background(), c, "x-"+prefix+"other", ""))
		is.NoErr(engine.RemoveNamed(context.Background(), c, prefix))
	})

	is.NoErr(engine.RemoveNamed(ctx, c, prefix))
	_, err = c.ContainerInspect(ctx, prefix+"one")
	is.True(cerrdefs.IsNotFound(err)) // removed
	_, err = c.VolumeInspect(ctx, prefix+"vol")
	is.True(cerrdefs.IsNotFound(err)) // removed
	_, err = engine.InspectContainer(ctx, c, "x-"+prefix+"other")
	is.NoErr(err)                                // not ours: stays
	is.NoErr(engine.RemoveNamed(ctx, c, prefix)) // nothing left: fine
}

// TestCopyFile puts a file into a container's file system with its mode; it reads back the same.
func TestCopyFile(t *testing.T) {
	is := is.New(t)
	c := enginetest.Client(t)
	ctx := testCtx(t)
	img := enginetest.ScratchImage(t, c, enginetest.Unique("enginetest-copyfile:v1"), map[string][]byte{"etc/a": []byte("a")}, enginetest.Cmd("/a"))
	name := "enginetest-copyfile-" + enginetest.CheckoutID()
	created, err := c.ContainerCreate(ctx, &container.Config{Image: img}, nil, nil, nil, name)
	is.NoErr(err)
	t.Cleanup(func() { _ = engine.RemoveContainer(context.Background(), c, name, "") })

	is.NoErr(engine.CopyFile(ctx, c, created.ID, "/etc", "tool", []byte("#!/bin/sh\necho hi\n"), 0o755))
	rc, _, err := c.CopyFromContainer(ctx, created.ID, "/etc/tool")
	is.NoErr(err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	is.NoErr(err)
	is.Equal(hdr.Name, "tool")
	is.Equal(hdr.Mode&0o777, int64(0o755)) // executable, as asked
	data, err := io.ReadAll(tr)
	is.NoErr(err)
	is.Equal(string(data), "#!/bin/sh\necho hi\n")

	err = engine.CopyFile(ctx, c, created.ID, "/no/such/dir", "tool", []byte("x"), 0o644)
	is.True(err != nil) // a missing directory is an error naming the copy
	is.True(strings.Contains(err.Error(), "copy tool into"))
}
