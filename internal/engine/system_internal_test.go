package engine

import (
	"testing"

	"github.com/matryer/is"
)

func TestContainerdStore(t *testing.T) {
	is := is.New(t)
	is.True(containerdStore([][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}))
	is.True(!containerdStore([][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}))
}
