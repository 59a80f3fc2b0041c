package dindtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/dind/dindtest"
	"github.com/dindbundler/dindbundler/internal/engine"
	"github.com/dindbundler/dindbundler/internal/engine/enginetest"
)

// provisionCompose is the echo stack plus a one-shot provisioner (profile deploy) that the
// container's PROVISION_RESULT makes succeed ("ok", the default) or fail.
const provisionCompose = `services:
  echo:
    image: IMAGE
    ports:
      - "8080:8080"
    environment:
      GREETING: ${GREETING}
    volumes:
      - ${CERT_DIR}:/certs:ro
      - ./config:/config:ro
  provisioner:
    image: IMAGE
    profiles: [deploy]
    command: ["-provision"] # the image's entrypoint is /app
    environment:
      PROVISION_RESULT: ${PROVISION_RESULT:-ok}
`

// TestFirstBootProvisioning boots a bundle whose stack has a provisioner: it runs once, before
// the stack, and a restart on the same volume skips it; a failing one stops the boot naming the
// service and showing its last lines; AUTO_PROVISION_ON_BOOT=0 boots without it.
func TestFirstBootProvisioning(t *testing.T) { enginetest.Each(t, firstBootProvisioningOn) }

func firstBootProvisioningOn(t *testing.T, e enginetest.Engine, api *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	base := ensureBase(t, ctx, e, "")
	im := buildServiceImages(t, api, "artifact-provision")
	spec := im.okSpec("")
	spec.compose = strings.ReplaceAll(provisionCompose, "IMAGE", im.echo)
	img := buildBundle(t, ctx, api, "artifact-provision-bundle:ok", base, spec)

	t.Run("once, before the stack; a restart skips it", func(t *testing.T) {
		is := is.New(t)
		c := dindtest.Run(t, api, engine.RunSpec{Name: "artifact-provision-run-ok", Image: img, Volume: "artifact-provision-vol-ok", Ports: []string{"8080/tcp"}})
		_, err := engine.WaitForLog(ctx, api, c.ID, "stack "+project+" is up", 1)
		is.NoErr(err)
		is.Equal(waitHTTP(t, ctx, api, c.ID, "http://"+hostAddr(t, ctx, e, api, c.ID)+"/"), greeting)
		logs, err := engine.Logs(ctx, api, c.ID)
		is.NoErr(err)
		ran, done, up := strings.Index(logs, "running the provisioner service (first boot)"), strings.Index(logs, "provisioner service done"), strings.Index(logs, "starting stack")
		is.True(ran >= 0)
		is.True(done > ran)
		is.True(up > done) // before the stack
		out, code, err := engine.Exec(ctx, api, c.ID, "cat", "/var/lib/docker/dindbundler-provisioned")
		is.NoErr(err)
		is.Equal(code, 0) // recorded on the inner engine's volume
		t.Logf("recorded: %s", strings.TrimSpace(out))

		stop := 60
		is.NoErr(api.ContainerRestart(ctx, c.ID, container.StopOptions{Timeout: &stop}))
		_, err = engine.WaitForLog(ctx, api, c.ID, "stack "+project+" is up", 2)
		is.NoErr(err)
		logs, err = engine.Logs(ctx, api, c.ID)
		is.NoErr(err)
		is.Equal(strings.Count(logs, "running the provisioner service"), 1) // once
		is.True(strings.Contains(logs, "provisioner already ran on this volume; skipping it"))
	})

	t.Run("a failure stops the boot with its last lines", func(t *testing.T) {
		is := is.New(t)
		logs := failedBoot(t, ctx, api, engine.RunSpec{Name: "artifact-provision-run-fail", Image: img, Volume: "artifact-provision-vol-fail",
			Env: []string{"PROVISION_RESULT=broken"}}, 3*time.Minute)
		is.True(strings.Contains(logs, "the provisioner service failed; its last lines:"))
		is.True(strings.Contains(logs, "provisioning failed: boom (PROVISION_RESULT=broken)")) // its own output
		is.True(strings.Contains(logs, "AUTO_PROVISION_ON_BOOT=0"))                            // what to do
		is.True(!strings.Contains(logs, "starting stack"))                                     // the stack never started
	})

	t.Run("AUTO_PROVISION_ON_BOOT=0 boots without it", func(t *testing.T) {
		is := is.New(t)
		c := dindtest.Run(t, api, engine.RunSpec{Name: "artifact-provision-run-off", Image: img, Volume: "artifact-provision-vol-off",
			Env: []string{"AUTO_PROVISION_ON_BOOT=0", "PROVISION_RESULT=broken"}})
		_, err := engine.WaitForLog(ctx, api, c.ID, "stack "+project+" is up", 1)
		is.NoErr(err)
		logs, err := engine.Logs(ctx, api, c.ID)
		is.NoErr(err)
		is.True(strings.Contains(logs, "provisioning skipped: AUTO_PROVISION_ON_BOOT=0"))
		is.True(!strings.Contains(logs, "running the provisioner"))
	})
}
