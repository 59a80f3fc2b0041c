package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/matryer/is"
)

func TestStoreOf(t *testing.T) {
	is := is.New(t)
	is.Equal(storeOf([][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}), ContainerdStore)
	is.Equal(storeOf([][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}), ClassicStore)
}

// infoAnswers answers docker info with its queued results, counting the questions.
type infoAnswers struct {
	client.APIClient // nil: any other call panics
	answers          []error
	asked            int
}

func (a *infoAnswers) Info(context.Context) (system.Info, error) {
	err := a.answers[a.asked]
	a.asked++
	return system.Info{ID: "e1d2", DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}, err
}

// A handle asks the engine its store and ID once; a failed question is asked again.
func TestStoreAskedOnce(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	api := &infoAnswers{answers: []error{errors.New("engine away"), nil}}
	e := Of(api)
	is.Equal(Of(e), e) // the run's handle, handed on as a client, is the same handle
	_, err := e.Store(ctx)
	is.True(err != nil)
	for range 3 {
		s, err := e.Store(ctx)
		is.NoErr(err)
		is.Equal(s, ContainerdStore)
		id, err := e.ID(ctx)
		is.NoErr(err)
		is.Equal(id, "e1d2")
	}
	is.Equal(api.asked, 2)
}
