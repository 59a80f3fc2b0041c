package ocilayout

import (
	"context"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/opencontainers/go-digest"
)

// TestClaimWaitsForTheLoadBringingALayer: a load that needs a layer another load is bringing
// waits for it; when that load succeeds the layer is present (not claimed again), when it fails
// the waiting load claims it itself. A load never waits once it has claimed (no deadlock).
func TestClaimWaitsForTheLoadBringingALayer(t *testing.T) {
	base, top1, top2 := digest.FromString("base"), digest.FromString("top1"), digest.FromString("top2")
	for _, firstLoads := range []bool{true, false} {
		is := is.New(t)
		ld := &Loader{layers: map[digest.Digest]*arrival{}}
		ctx := context.Background()
		first, err := ld.claim(ctx, []digest.Digest{base, top1})
		is.NoErr(err)
		is.Equal(first, map[digest.Digest]bool{base: true, top1: true})

		got := make(chan map[digest.Digest]bool)
		go func() {
			second, err := ld.claim(ctx, []digest.Digest{base, top2})
			is.NoErr(err)
			got <- second
		}()
		select {
		case <-got:
			t.Fatal("the second load claimed while the first was bringing the base")
		case <-time.After(50 * time.Millisecond):
		}
		ld.settle(first, []digest.Digest{base, top1}, firstLoads)
		second := <-got
		if firstLoads {
			is.Equal(second, map[digest.Digest]bool{top2: true}) // the base is there now
		} else {
			is.Equal(second, map[digest.Digest]bool{base: true, top2: true}) // the base is its to send
		}
		ld.settle(second, []digest.Digest{base, top2}, true)
		third, err := ld.claim(ctx, []digest.Digest{base, top1, top2})
		is.NoErr(err)
		is.Equal(len(third), map[bool]int{true: 0, false: 1}[firstLoads]) // top1 only if the first failed
	}
}

// TestClaimGivesUpWithItsContext: a load waiting for another's layer stops with its context.
func TestClaimGivesUpWithItsContext(t *testing.T) {
	is := is.New(t)
	ld := &Loader{layers: map[digest.Digest]*arrival{}}
	_, err := ld.claim(context.Background(), []digest.Digest{digest.FromString("base")})
	is.NoErr(err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = ld.claim(ctx, []digest.Digest{digest.FromString("base")})
	is.Equal(err, context.DeadlineExceeded)
}
