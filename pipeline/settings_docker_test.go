package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
	"github.com/dindbundler/dindbundler/internal/manifest"
)

func TestDeployRerunsWhenASettingOrABaseChanges(t *testing.T) {
	enginetest.Each(t, deployRerunsWhenASettingOrABaseChangesOn)
}

// deployRerunsWhenASettingOrABaseChangesOn: a setting the producer reads (IMAGE_TAG) reruns the
// producer, naming the setting; so does a base image the manifest records when the engine's
// image of that name changed (a patched runtime base rebuilt under its tag).
func deployRerunsWhenASettingOrABaseChangesOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	base := fmt.Sprintf("pipelinetest-runtime-base-%d:3.12", time.Now().UnixNano())
	id := enginetest.ScratchImage(t, api, base, map[string][]byte{"runtime": []byte("v1")})
	m := p.manifest
	m.Images = append(append([]manifest.Image{}, m.Images...), manifest.Image{Name: base, Digest: id, Kind: manifest.KindBase, Source: "runtime"})
	data, err := json.Marshal(m)
	is.NoErr(err)
	withBase := "FAKE_MANIFEST=" + string(data)

	deploy := func(extra ...string) string {
		t.Helper()
		var log bytes.Buffer
		b := p.bundler(t, api, append([]string{withBase}, extra...)...)
		b.Log = &log
		is.NoErr(b.Deploy(ctx))
		return log.String()
	}
	deploy()
	is.Equal(p.producerRuns(), 1)
	is.True(strings.Contains(deploy(), "skipped")) // nothing changed
	is.Equal(p.producerRuns(), 1)

	log := deploy("IMAGE_TAG=v2")
	is.Equal(p.producerRuns(), 2) // a setting changed: run again
	is.True(strings.Contains(log, "IMAGE_TAG changed"))
	deploy("IMAGE_TAG=v2")
	is.Equal(p.producerRuns(), 2) // and recorded

	// The base rebuilt under its name: the engine's ID differs from the manifest's.
	enginetest.ScratchImage(t, api, base, map[string][]byte{"runtime": []byte("v2 patched")})
	log = deploy("IMAGE_TAG=v2")
	is.Equal(p.producerRuns(), 3)
	is.True(strings.Contains(log, "images changed"))
	is.True(strings.Contains(log, base))
}

func TestBundleTagNamingAnInputIsRefused(t *testing.T) {
	enginetest.Each(t, bundleTagNamingAnInputIsRefusedOn)
}

// bundleTagNamingAnInputIsRefusedOn: BUNDLE_TAG naming an image the producer's manifest lists
// (the service image, spelled with its registry) is refused before anything is tagged, with
// FORCE=1 too: the service image keeps its ID and no bundle is made.
func bundleTagNamingAnInputIsRefusedOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	is := is.New(t)
	ctx := context.Background()
	p := newProject(t, e, api, "")
	service := p.service
	for _, force := range []string{"", "1"} {
		b := p.bundler(t, api, "BUNDLE_TAG=docker.io/library/"+service, "FORCE="+force)
		err := runAll(t, ctx, b)
		errHas(t, err, "BUNDLE_TAG=docker.io/library/"+service+" names the same image as "+service+" of the manifest", "choose another BUNDLE_TAG")
		ids, _, err := engine.ImageIDs(ctx, api, []string{service})
		is.NoErr(err)
		is.Equal(ids[service], p.ids[service]) // the input keeps its image
	}
}
