package pipeline

import (
	"context"
	"testing"

	"github.com/docker/docker/client"

	"github.com/dindbundler/dindbundler/dind/base"
)

// testBaseImage is the local DinD base (no registry here): built once per machine, then cached.
func testBaseImage(t *testing.T, api client.APIClient) string {
	t.Helper()
	if _, err := base.Ensure(context.Background(), api, base.Options{}); err != nil {
		t.Fatalf("build the DinD base image: %v", err)
	}
	return base.DefaultTag
}
